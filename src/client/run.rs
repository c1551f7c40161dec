//! frpc's outer loop (protocol.md §7.2, §7.6): log in, run the session, and when it ends log in
//! again with backoff, reusing the run id so frps replaces the stale session.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use super::admin::{self, Admin, AdminReload, ReloadError};
use super::connector::Connector;
use super::control::{self, End, Session};
use super::proxy::Proxies;
use super::visitor;
use crate::config::diff::{Apply, Rules};
use crate::config::load::ConfigSource;
use crate::config::ClientConfig;
use crate::daemon::signals::{next_reload, Reloads};
use crate::daemon::{notify, Lifecycle};
use crate::proto::crypto::{auth_key, derive_key};
use crate::proto::msg::{self, Message};
use crate::proto::{self as proto_mod};
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

/// What the running client is configured with; replaced piece by piece on reload.
struct Client {
    cfg: Arc<ClientConfig>,
    tls: Option<Arc<ClientTls>>,
    key: [u8; 16],
    proxies: Arc<Proxies>,
    visitors: Arc<visitor::Manager>,
    source: Option<ConfigSource>,
    /// Publishes the running configuration to the admin API.
    published: watch::Sender<Arc<ClientConfig>>,
}

/// What a successful reload asks of the session.
struct Reloaded {
    reconnect: bool,
}

impl Client {
    fn new(cfg: ClientConfig, source: Option<ConfigSource>) -> anyhow::Result<Client> {
        let tls = check_files(&cfg)?;
        let cfg = Arc::new(cfg);
        Ok(Client {
            key: derive_key(cfg.auth.token.as_bytes()),
            proxies: Proxies::new(&cfg.proxies),
            visitors: visitor::Manager::new(&cfg.visitors),
            published: watch::channel(cfg.clone()).0,
            cfg,
            tls,
            source,
        })
    }

    fn server(&self) -> String {
        crate::transport::tcp::join_host_port(&self.cfg.server_addr, self.cfg.server_port as u16)
    }

    /// Re-read the config file and apply it (protocol-wise: CloseProxy/NewProxy for the proxies
    /// that changed; a new login when the session settings changed). A config that does not
    /// load or validate changes nothing. `admin` is the API request to answer, if it came from
    /// there (else SIGHUP).
    fn reload(&mut self, admin: Option<AdminReload>, status_now: &str) -> Option<Reloaded> {
        notify::reloading();
        let strict = admin.as_ref().map(|a| a.strict);
        let answer = |result: Result<(), ReloadError>| {
            if let Some(a) = admin {
                let _ = a.done.send(result);
            }
        };
        let Some(source) = &self.source else {
            warn!(
                "reload requested, but frpc was started without a config file; nothing to reload"
            );
            notify::ready(status_now);
            answer(Err(ReloadError::Invalid(
                "frpc has no config file path".into(),
            )));
            return None;
        };
        let mut source = source.clone();
        if let Some(strict) = strict {
            source.opts.strict = strict;
        }
        let new = match source
            .load_client()
            .map_err(anyhow::Error::from)
            .and_then(|(cfg, _)| check_files(&cfg).map(|tls| (cfg, tls)))
        {
            Ok(new) => new,
            Err(e) => {
                error!("reload failed, keeping the running configuration: {e:#}");
                notify::ready(&format!("reload failed: {e:#}; {status_now}"));
                answer(Err(ReloadError::Invalid(format!("{e:#}"))));
                return None;
            }
        };
        let (new, tls) = new;
        let old = self.cfg.clone();
        if new.log.level != old.log.level {
            if let Err(e) = crate::daemon::logging::set_level(&new.log.level) {
                warn!("reload: log.level: {e}");
            }
        }
        let plan = RULES.plan(&*old, &new);
        let ignored = &plan.restart;
        if !ignored.is_empty() {
            warn!(
                "reload: {} changed but only take effect after a restart",
                ignored.join(", ")
            );
        }
        let reconnect = !plan.session.is_empty();
        let diff = self.proxies.apply(&new.proxies);
        let vdiff = self.visitors.apply(&new.visitors);
        if reconnect {
            self.tls = tls;
            self.key = derive_key(new.auth.token.as_bytes());
        }
        self.cfg = Arc::new(new);
        self.published.send_replace(self.cfg.clone());
        let what = if reconnect {
            format!(
                "{}, {}; {} changed: reconnecting to {}",
                diff.summary("proxies"),
                vdiff.summary("visitors"),
                plan.session.join(", "),
                self.server()
            )
        } else {
            format!("{}, {}", diff.summary("proxies"), vdiff.summary("visitors"))
        };
        info!("configuration reloaded: {what}");
        notify::ready(&format!("reloaded: {what}"));
        answer(Ok(()));
        Some(Reloaded { reconnect })
    }
}

fn build_tls(cfg: &ClientConfig) -> anyhow::Result<Option<Arc<ClientTls>>> {
    if !cfg.transport.tls.enable {
        return Ok(None);
    }
    let t = &cfg.transport.tls;
    let c = client_config(
        cfg.tls_server_name(),
        &t.cert_file,
        &t.key_file,
        &t.trusted_ca_file,
    )
    .map_err(|e| anyhow::anyhow!("transport.tls: {e}"))?;
    Ok(Some(Arc::new(c)))
}

/// What a reload of frpc can apply. Logging's file and colours and the admin API's socket stay
/// as started; the log level, the admin API's credentials, `includes`, `start` and the stop
/// timeout apply at once; proxies and visitors are diffed by name (CloseProxy/NewProxy); any
/// other change (server address, auth, transport, ...) needs a new login to frps.
pub const RULES: Rules = Rules {
    restart: &[
        "log.to",
        "log.maxDays",
        "log.disablePrintColor",
        "webServer.addr",
        "webServer.port",
        "webServer.tls",
    ],
    live: &[
        "log.level",
        "webServer",
        "includes",
        "start",
        "gracefulStopTimeout",
    ],
    otherwise: Apply::Session,
    by_name: &["proxies", "visitors"],
};

/// Run frpc until a stop is requested (or the first login fails with `loginFailExit`);
/// `source` is the file a reload (SIGHUP) reads again.
pub async fn run(
    cfg: ClientConfig,
    source: Option<ConfigSource>,
    life: Lifecycle,
) -> anyhow::Result<()> {
    let Lifecycle {
        stop,
        mut reloads,
        trigger,
    } = life;
    let mut client = Client::new(cfg, source)?;
    let (admin_tx, mut admin_rx) = mpsc::channel(4);
    if client.cfg.web_server.port > 0 {
        admin::start(Admin {
            proxies: client.proxies.clone(),
            cfg: client.published.subscribe(),
            reload: admin_tx,
            stop: trigger,
            path: client.source.as_ref().map(|s| s.path.clone()),
        })
        .await?;
    } else {
        // No API: the channel is closed and never yields.
        drop(admin_tx);
    }
    let mut run_id = String::new();
    let mut ever_logged_in = false;
    let mut told_ready = false;
    notify::spawn_watchdog();
    let mut delay = Duration::ZERO;
    loop {
        let attempt = tokio::select! {
            r = login(&client.cfg, client.tls.clone(), &run_id) => r,
            _ = stop.requested() => {
                stopped();
                return Ok(());
            }
            r = reload_requested(&mut reloads, &mut admin_rx) => {
                // Not logged in: apply and try again at once with what was just loaded.
                let status = format!("logging in to {}", client.server());
                client.reload(r, &status);
                continue;
            }
        };
        let server = client.server();
        match attempt {
            Ok((connector, control_stream, id)) => {
                // The run id itself stays out of the log: it is frps's key for this session.
                let tag = crate::client_tag(&id);
                info!(client = %tag, "login to server success, client [{tag}]");
                run_id = id;
                ever_logged_in = true;
                let session = Arc::new(Session {
                    cfg: client.cfg.clone(),
                    connector,
                    run_id: run_id.clone(),
                    key: client.key,
                    proxies: client.proxies.clone(),
                    cancel: CancellationToken::new(),
                    reconnect: CancellationToken::new(),
                    nathole: Arc::default(),
                });
                announce(&mut told_ready, &session.status_line());
                client.visitors.start(session.clone());
                let control = control::run(session.clone(), control_stream, &stop);
                tokio::pin!(control);
                let end = loop {
                    tokio::select! {
                        end = &mut control => break end,
                        r = reload_requested(&mut reloads, &mut admin_rx) => {
                            if let Some(r) = client.reload(r, &session.status_line()) {
                                if r.reconnect {
                                    session.reconnect.cancel();
                                }
                            }
                        }
                    }
                };
                client.visitors.stop().await;
                match end {
                    // control::run already said STOPPING and drained.
                    End::Shutdown => return Ok(()),
                    End::Reconnect => {
                        info!("session settings changed, logging in again");
                        delay = Duration::ZERO;
                        continue;
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
                if !ever_logged_in && client.cfg.login_fail_exit {
                    error!("login to the server failed: {e}. With loginFailExit enabled, no additional retries will be attempted");
                    return Err(anyhow::anyhow!("login to the server failed: {e}"));
                }
                error!("login to the server failed: {e}");
                // A down server must not block boot: ready after the first failed attempt.
                announce(
                    &mut told_ready,
                    &format!("login to {server} failed: {e}; retrying"),
                );
                delay = next_delay(delay, ever_logged_in);
            }
        }
        if !delay.is_zero() {
            tokio::select! {
                _ = tokio::time::sleep(jitter(delay)) => {}
                _ = stop.requested() => {
                stopped();
                return Ok(());
            }
                r = reload_requested(&mut reloads, &mut admin_rx) => {
                    let status = format!("waiting to log in to {}", client.server());
                    client.reload(r, &status);
                }
            }
        }
    }
}

/// The next reload request: SIGHUP (`None`) or the admin API (its request).
async fn reload_requested(
    reloads: &mut Reloads,
    admin: &mut mpsc::Receiver<AdminReload>,
) -> Option<AdminReload> {
    tokio::select! {
        _ = next_reload(reloads) => None,
        Some(r) = admin.recv() => Some(r),
    }
}

/// READY=1 with the first status line, plain STATUS= after it.
fn announce(told_ready: &mut bool, line: &str) {
    if *told_ready {
        notify::status(line);
    } else {
        notify::ready(line);
        *told_ready = true;
    }
}

fn stopped() {
    info!("frpc is stopping");
    notify::stopping();
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

/// What start and a reload refuse beyond the config's own checks (which loading ran): plugins
/// whose options or files are wrong, certificates and keys that cannot be read. `frpc verify`
/// runs it too. Gives the TLS configuration for frps, if TLS is on.
pub fn check_files(cfg: &ClientConfig) -> anyhow::Result<Option<Arc<ClientTls>>> {
    for p in &cfg.proxies {
        if let Some(opts) = &p.plugin {
            let kind = crate::config::proxy::plugin_type(opts);
            crate::client::plugin::Plugin::new(opts)
                .map_err(|e| anyhow::anyhow!("proxy [{}]: plugin {kind}: {e}", p.name))?;
        }
    }
    if cfg.web_server.port != 0 {
        crate::web::tls_acceptor(&cfg.web_server)?;
    }
    build_tls(cfg)
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
