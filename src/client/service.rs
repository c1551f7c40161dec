//! frpc's outer loop (protocol.md §7.2, §7.6): log in, run the session, and when it ends log in
//! again with backoff, reusing the run id so frps replaces the stale session.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use super::connector::Connector;
use super::control::{self, End, Session};
use super::proxy::Proxies;
use crate::config::ClientConfig;
use crate::proto::crypto::{auth_key, derive_key};
use crate::proto::msg::{self, Message};
use crate::proto::{self as proto_mod};
use crate::service::notify;
use crate::transport::tls::{client_config, ClientTls};
use crate::transport::BoxStream;

const LOGIN_RESP_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// frps answered with an error (wrong token, plugin refusal, ...).
    #[error("{0}")]
    Rejected(String),
    #[error("{0}")]
    Connect(String),
}

/// Run frpc until `shutdown` resolves (or the first login fails with `loginFailExit`).
pub async fn run(cfg: ClientConfig, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    check_supported(&cfg)?;
    let cfg = Arc::new(cfg);
    let tls = if cfg.transport.tls.enable {
        let t = &cfg.transport.tls;
        let c = client_config(
            cfg.tls_server_name(),
            &t.cert_file,
            &t.key_file,
            &t.trusted_ca_file,
        )
        .map_err(|e| anyhow::anyhow!("transport.tls: {e}"))?;
        Some(Arc::new(c))
    } else {
        None
    };
    let key = derive_key(cfg.auth.token.as_bytes());
    let proxies = Proxies::new(&cfg.proxies);
    tokio::pin!(shutdown);

    let mut run_id = String::new();
    let mut ever_logged_in = false;
    let mut told_ready = false;
    let server = crate::transport::tcp::join_host_port(&cfg.server_addr, cfg.server_port as u16);
    notify::spawn_watchdog();
    let mut delay = Duration::ZERO;
    loop {
        let attempt = tokio::select! {
            r = login(&cfg, tls.clone(), &run_id) => r,
            _ = &mut shutdown => {
                notify::stopping();
                return Ok(());
            }
        };
        match attempt {
            Ok((connector, control_stream, id)) => {
                info!(run_id = %id, "login to server success, get run id [{id}]");
                let line = format!(
                    "logged in to {server}, run id {id}, {} proxies",
                    cfg.proxies.len()
                );
                if ever_logged_in || told_ready {
                    notify::status(&line);
                } else {
                    notify::ready(&line);
                    told_ready = true;
                }
                run_id = id;
                ever_logged_in = true;
                let session = Arc::new(Session {
                    cfg: cfg.clone(),
                    connector,
                    run_id: run_id.clone(),
                    key,
                    proxies: proxies.clone(),
                    cancel: CancellationToken::new(),
                });
                match control::run(session, control_stream, &mut shutdown).await {
                    End::Shutdown => {
                        info!("frpc is stopping");
                        notify::stopping();
                        return Ok(());
                    }
                    End::Lost => {
                        warn!("session to the server ended, reconnecting");
                        notify::status(&format!("session to {server} lost, reconnecting"));
                        // The first retry after a working session is immediate (after a short
                        // pause so a flapping server is not hammered).
                        delay = Duration::from_millis(200);
                    }
                }
            }
            Err(e) => {
                if !ever_logged_in && cfg.login_fail_exit {
                    error!("login to the server failed: {e}. With loginFailExit enabled, no additional retries will be attempted");
                    return Err(anyhow::anyhow!("login to the server failed: {e}"));
                }
                error!("login to the server failed: {e}");
                // A down server must not block boot: ready after the first failed attempt.
                let line = format!("login to {server} failed: {e}; retrying");
                if told_ready {
                    notify::status(&line);
                } else {
                    notify::ready(&line);
                    told_ready = true;
                }
                delay = next_delay(delay, ever_logged_in);
            }
        }
        if !delay.is_zero() {
            tokio::select! {
                _ = tokio::time::sleep(jitter(delay)) => {}
                _ = &mut shutdown => {
                notify::stopping();
                return Ok(());
            }
            }
        }
    }
}

/// Backoff between failed logins: 1 s doubling to 10 s before the first success, 2 s doubling
/// to 20 s after a session was lost.
fn next_delay(prev: Duration, ever_logged_in: bool) -> Duration {
    let (first, max) = if ever_logged_in {
        (Duration::from_secs(2), Duration::from_secs(20))
    } else {
        (Duration::from_secs(1), Duration::from_secs(10))
    };
    if prev < first {
        first
    } else {
        (prev * 2).min(max)
    }
}

/// ±10 % jitter so many clients of one restarted server do not reconnect in lockstep.
fn jitter(d: Duration) -> Duration {
    let f = 0.9 + rand::random::<f64>() * 0.2;
    d.mul_f64(f)
}

fn check_supported(cfg: &ClientConfig) -> anyhow::Result<()> {
    if cfg.transport.protocol != "tcp" {
        anyhow::bail!(
            "transport.protocol = {} is not supported by this frpc build yet",
            cfg.transport.protocol
        );
    }
    if !cfg.transport.proxy_url.is_empty() {
        anyhow::bail!("transport.proxyURL is not supported by this frpc build yet");
    }
    if cfg.auth.method == "oidc" {
        anyhow::bail!("auth.method = oidc is not supported by this frpc build yet");
    }
    if !cfg.dns_server.is_empty() {
        anyhow::bail!("dnsServer is not supported by this frpc build yet");
    }
    if !cfg.virtual_net.address.is_empty() {
        anyhow::bail!("virtualNet.address is not supported by this frpc build yet");
    }
    if cfg.web_server.port != 0 {
        anyhow::bail!("webServer.port (admin API) is not supported by this frpc build yet");
    }
    if let Some(v) = cfg.visitors.first() {
        anyhow::bail!(
            "visitor [{}]: visitors are not supported by this frpc build yet",
            v.name
        );
    }
    for p in &cfg.proxies {
        if p.kind != "tcp" {
            anyhow::bail!(
                "proxy [{}]: type {} is not supported by this frpc build yet",
                p.name,
                p.kind
            );
        }
        if p.plugin.is_some() {
            anyhow::bail!(
                "proxy [{}]: plugin is not supported by this frpc build yet",
                p.name
            );
        }
        if !p.health_check.kind.is_empty() {
            anyhow::bail!(
                "proxy [{}]: healthCheck is not supported by this frpc build yet",
                p.name
            );
        }
        if !p.load_balancer.group.is_empty() {
            anyhow::bail!(
                "proxy [{}]: loadBalancer.group is not supported by this frpc build yet",
                p.name
            );
        }
    }
    Ok(())
}

/// Connect, open the control stream, send Login and read LoginResp (10 s limit).
async fn login(
    cfg: &Arc<ClientConfig>,
    tls: Option<Arc<ClientTls>>,
    run_id: &str,
) -> Result<(Connector, BoxStream, String), LoginError> {
    let connect_err = |e: std::io::Error| LoginError::Connect(e.to_string());
    let connector = Connector::connect(cfg.clone(), tls)
        .await
        .map_err(connect_err)?;
    let result = async {
        let mut stream = connector.open().await.map_err(connect_err)?;
        let ts = crate::unix_now();
        let login = msg::Login {
            version: crate::FRP_PROTOCOL_VERSION.into(),
            os: super::go_os().into(),
            arch: super::go_arch().into(),
            user: cfg.user.clone(),
            privilege_key: auth_key(&cfg.auth.token, ts),
            timestamp: ts,
            run_id: run_id.to_string(),
            metas: cfg.metadatas.clone(),
            pool_count: cfg.transport.pool_count,
            ..Default::default()
        };
        proto_mod::write_msg(&mut stream, &Message::Login(login))
            .await
            .map_err(|e| LoginError::Connect(e.to_string()))?;
        let resp = tokio::time::timeout(LOGIN_RESP_TIMEOUT, proto_mod::read_msg(&mut stream))
            .await
            .map_err(|_| LoginError::Connect("timeout waiting for the login response".into()))?
            .map_err(|e| LoginError::Connect(e.to_string()))?;
        match resp {
            Message::LoginResp(r) if !r.error.is_empty() => Err(LoginError::Rejected(r.error)),
            Message::LoginResp(r) => Ok((stream, r.run_id)),
            other => Err(LoginError::Connect(format!(
                "unexpected {} instead of LoginResp",
                other.name()
            ))),
        }
    }
    .await;
    match result {
        Ok((stream, id)) => Ok((connector, stream, id)),
        Err(e) => {
            connector.close();
            Err(e)
        }
    }
}
