//! frpc's admin API (apis.md §4) on `webServer.*`: reload, stop, proxy status and the config
//! file, behind HTTP basic auth, and a small status page at `/static/`. `frpc reload|status|stop`
//! are its command-line clients.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use tokio::sync::{mpsc, oneshot, watch};
use tracing::info;

use super::proxy::{Proxies, ProxyStatus};
use crate::config::ClientConfig;
use crate::daemon::shutdown::ShutdownTrigger;
use crate::web::{self, Resp};

/// The status page: one self-contained file (no build step, nothing fetched from elsewhere).
const STATUS_PAGE: &str = include_str!("admin_page.html");

/// A reload asked for over the API; the client answers on `done`.
pub struct AdminReload {
    pub strict: bool,
    pub done: oneshot::Sender<Result<(), ReloadError>>,
}

pub enum ReloadError {
    /// The file does not load or validate (400).
    Invalid(String),
}

/// What the API handlers reach.
pub struct Admin {
    pub proxies: Arc<Proxies>,
    /// The running configuration (credentials, server address), updated by reloads.
    pub cfg: watch::Receiver<Arc<ClientConfig>>,
    pub reload: mpsc::Sender<AdminReload>,
    pub stop: ShutdownTrigger,
    /// The file given with `-c`, if any.
    pub path: Option<PathBuf>,
}

/// Bind `webServer.addr:port` and serve the API in the background.
pub async fn start(admin: Admin) -> anyhow::Result<()> {
    let cfg = admin.cfg.borrow().web_server.clone();
    let listener = web::bind(&cfg, "admin API").await?;
    let admin = Arc::new(admin);
    tokio::spawn(web::serve(listener, move |req| handle(admin.clone(), req)));
    Ok(())
}

async fn handle(admin: Arc<Admin>, req: Request<Incoming>) -> Resp {
    let creds = admin.cfg.borrow().web_server.clone();
    if let Some(r) = web::guard(&creds, &req).await {
        return r;
    }
    let path = req.uri().path().to_string();
    // Without a password and beyond this host: only the status and the page (see
    // web::read_only). The config file holds the token, so even reading it is refused.
    let changes_or_secrets = matches!(
        (path.as_str(), req.method()),
        ("/api/reload", &Method::GET)
            | ("/api/stop", &Method::POST)
            | ("/api/config", &Method::GET | &Method::PUT)
    );
    if changes_or_secrets {
        if let Some(refused) = web::refuse_when_read_only(&creds) {
            return refused;
        }
    }
    match (path.as_str(), req.method().clone()) {
        ("/api/reload", Method::GET) => reload(&admin, &req).await,
        ("/api/stop", Method::POST) => {
            info!("stop requested through the admin API");
            // Answer first; stopping closes this server too.
            let stop = admin.stop.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(100)).await;
                stop.request();
            });
            web::response(StatusCode::OK, "", "")
        }
        ("/api/status", Method::GET) => {
            let server_addr = admin.cfg.borrow().server_addr.clone();
            let status: BTreeMap<String, Vec<ProxyStatus>> = admin.proxies.status(&server_addr);
            let body = serde_json::to_vec(&status).unwrap_or_default();
            web::response(StatusCode::OK, "application/json", body)
        }
        ("/api/config", Method::GET) => match &admin.path {
            None => web::text(StatusCode::BAD_REQUEST, "frpc has no config file path"),
            Some(p) => match tokio::fs::read(p).await {
                Ok(bytes) => web::text(StatusCode::OK, bytes),
                Err(e) => web::text(StatusCode::BAD_REQUEST, e.to_string()),
            },
        },
        ("/api/config", Method::PUT) => put_config(&admin, req).await,
        // As frp's frpc: `/` sends the browser to the status page.
        ("/", Method::GET) => web::redirect("/static/"),
        ("/static/" | "/static/index.html", Method::GET) => web::response(
            StatusCode::OK,
            "text/html; charset=utf-8",
            web::with_read_only_banner(STATUS_PAGE, &creds),
        ),
        ("/api/reload" | "/api/status" | "/api/config", _) | ("/api/stop", _) => {
            web::method_not_allowed()
        }
        _ => web::not_found(),
    }
}

async fn reload(admin: &Admin, req: &Request<Incoming>) -> Resp {
    // As frp: strict only when asked (`frpc reload` asks by default).
    let strict = req
        .uri()
        .query()
        .unwrap_or("")
        .split('&')
        .any(|kv| kv == "strictConfig=true");
    let (done, answer) = oneshot::channel();
    if admin
        .reload
        .send(AdminReload { strict, done })
        .await
        .is_err()
    {
        return web::text(StatusCode::INTERNAL_SERVER_ERROR, "frpc is stopping");
    }
    match answer.await {
        Ok(Ok(())) => web::response(StatusCode::OK, "", ""),
        Ok(Err(ReloadError::Invalid(e))) => web::text(StatusCode::BAD_REQUEST, e),
        Err(_) => web::text(StatusCode::INTERNAL_SERVER_ERROR, "frpc is stopping"),
    }
}

async fn put_config(admin: &Admin, req: Request<Incoming>) -> Resp {
    let body = match web::body(req).await {
        Ok(b) => b,
        Err(e) => {
            return web::text(
                StatusCode::BAD_REQUEST,
                format!("read request body error: {e}"),
            )
        }
    };
    if body.is_empty() {
        return web::text(StatusCode::BAD_REQUEST, "body can't be empty");
    }
    let Some(path) = admin.path.clone() else {
        return web::text(StatusCode::BAD_REQUEST, "frpc has no config file path");
    };
    let written = tokio::task::spawn_blocking(move || write_private(&path, &body)).await;
    match written {
        Ok(Ok(())) => web::response(StatusCode::OK, "", ""),
        Ok(Err(e)) => web::text(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("write content to frpc config file error: {e}"),
        ),
        Err(e) => web::text(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("write content to frpc config file error: {e}"),
        ),
    }
}

/// Overwrite the file; a file created here gets mode 0600 (it holds the token). An existing
/// file keeps its mode and owner, as with frp.
fn write_private(path: &std::path::Path, body: &[u8]) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    std::io::Write::write_all(&mut opts.open(path)?, body)
}
