//! Server plugins (apis.md §5): frps asks external HTTP services about logins, new proxies,
//! heartbeats, work connections and user connections, and tells them about closed proxies.
//!
//! [`Manager`] holds the `httpPlugins` in configuration order. [`Manager::call`] runs one
//! operation through every plugin that lists it, each seeing the content as the previous one
//! left it; [`Manager::notify`] sends `CloseProxy` in the background. The content types mirror
//! frp's (`pkg/plugin/server/types.go`) by embedding the protocol messages, so the JSON field
//! names and `omitempty` rules are the wire's.

use std::sync::Arc;

use hyper::StatusCode;
use serde::{Deserialize, Serialize};
use tracing::{debug, info, warn};

use crate::config::server::HttpPluginOptions;
use crate::proto::msg;
use endpoint::{Endpoint, REQUEST_TIMEOUT};

mod content;
mod endpoint;

pub use content::*;

/// Keys of nested structs inside a content, matched case-insensitively like the top level.
const CONTENT_NESTED_KEYS: &[&str] = &["user", "client_spec"];

#[derive(Serialize)]
struct PluginRequest<'a, C> {
    version: &'a str,
    op: &'a str,
    content: &'a C,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawResponse {
    reject: bool,
    reject_reason: String,
    unchange: bool,
    content: Option<serde_json::Value>,
}

/// A plugin's answer, its content decoded onto an empty content of the operation's type.
struct PluginResponse<C> {
    reject: bool,
    reject_reason: String,
    unchange: bool,
    content: Option<C>,
}

/// One plugin. Its URL is never logged: a path may carry a secret (`?key=...`).
struct HttpPlugin {
    name: String,
    ops: Vec<Op>,
    endpoint: Result<Endpoint, String>,
}

/// The `httpPlugins` of a running frps. Cheap to clone.
#[derive(Clone, Default)]
pub struct Manager {
    plugins: Arc<Vec<HttpPlugin>>,
}

impl Manager {
    pub fn new(opts: &[HttpPluginOptions]) -> Manager {
        let plugins = opts
            .iter()
            .map(|o| {
                let p = HttpPlugin::new(o);
                match &p.endpoint {
                    Ok(_) => info!("plugin [{}] has been registered", p.name),
                    Err(e) => warn!(
                        "plugin [{}]: invalid address: {e}; its operations will fail",
                        p.name
                    ),
                }
                p
            })
            .collect();
        Manager {
            plugins: Arc::new(plugins),
        }
    }

    /// True when some plugin handles `op` (callers skip building the content otherwise).
    pub fn handles(&self, op: Op) -> bool {
        self.plugins.iter().any(|p| p.ops.contains(&op))
    }

    /// Run an operation through its plugins in configuration order. Returns the content as the
    /// last plugin left it, or the error text for the operation: a plugin's `reject_reason`, or
    /// `send <Op> request to plugin error` when a plugin could not be asked (details logged).
    pub async fn call<C: Content>(&self, mut content: C) -> Result<C, String> {
        let op = C::OP;
        if !self.handles(op) {
            return Ok(content);
        }
        // One request id for all plugins of this operation, as frp does.
        let reqid = crate::rand_id();
        for p in self.plugins.iter().filter(|p| p.ops.contains(&op)) {
            let resp = match p.handle(&reqid, &content).await {
                Ok(r) => r,
                Err(e) => {
                    warn!(reqid = %reqid, "send {op} request to plugin [{}] error: {e}", p.name);
                    return Err(format!("send {op} request to plugin error"));
                }
            };
            if resp.reject {
                debug!(reqid = %reqid, "plugin [{}] rejected {op}", p.name);
                if resp.reject_reason.is_empty() {
                    // frp would pass on an empty error, which frpc reads as success.
                    return Err(format!("{op} rejected by server plugin"));
                }
                return Err(resp.reject_reason);
            }
            if !resp.unchange {
                match resp.content {
                    Some(c) => content = c,
                    // frp would replace the content with an empty one here; keeping it is
                    // what the plugin most likely meant by answering without content.
                    None => warn!(
                        reqid = %reqid,
                        "plugin [{}] answered {op} with unchange = false but no content; keeping the content unchanged",
                        p.name
                    ),
                }
            }
        }
        Ok(content)
    }

    /// Tell the plugins about an operation without waiting for them (`CloseProxy`): answers
    /// are ignored, failures logged.
    pub fn notify<C: Content>(&self, content: C) {
        let op = C::OP;
        if !self.handles(op) {
            return;
        }
        let plugins = self.plugins.clone();
        tokio::spawn(async move {
            let reqid = crate::rand_id();
            for p in plugins.iter().filter(|p| p.ops.contains(&op)) {
                if let Err(e) = p.handle(&reqid, &content).await {
                    warn!(reqid = %reqid, "send {op} request to plugin [{}] error: {e}", p.name);
                }
            }
        });
    }
}

impl HttpPlugin {
    fn new(o: &HttpPluginOptions) -> HttpPlugin {
        let mut url = format!("{}{}", o.addr, o.path);
        if !url.starts_with("https://") && !url.starts_with("http://") {
            url = format!("http://{url}");
        }
        HttpPlugin {
            name: o.name.clone(),
            // Validation refuses unknown ops; ignore any that slip through.
            ops: o.ops.iter().filter_map(|s| Op::parse(s)).collect(),
            endpoint: Endpoint::parse(&url, o.tls_verify),
        }
    }

    /// One request to this plugin; Err describes why no usable answer came (for the log: it
    /// names no value from the content).
    async fn handle<C: Content>(
        &self,
        reqid: &str,
        content: &C,
    ) -> Result<PluginResponse<C>, String> {
        let ep = self.endpoint.as_ref().map_err(|e| e.clone())?;
        let op = C::OP.as_str();
        let body = serde_json::to_vec(&PluginRequest {
            version: API_VERSION,
            op,
            content,
        })
        .map_err(|e| format!("encode request: {e}"))?;
        let body = msg::go_escape(body);
        debug!(reqid = %reqid, "send {op} request to plugin [{}]", self.name);
        let (status, bytes) = tokio::time::timeout(REQUEST_TIMEOUT, ep.post(op, reqid, body))
            .await
            .map_err(|_| format!("no answer within {}s", REQUEST_TIMEOUT.as_secs()))??;
        if status != StatusCode::OK {
            return Err(format!("do http request error code: {}", status.as_u16()));
        }
        decode_response(&bytes)
    }
}

/// Parse a plugin's answer the way frp does: the whole body must be valid JSON for a Response,
/// with the content decoded (case-insensitively) onto an empty content of type `C`.
fn decode_response<C: Content>(body: &[u8]) -> Result<PluginResponse<C>, String> {
    // Errors name only the position: serde's messages can quote values (secrets included).
    let at = |what: &str, e: &serde_json::Error| {
        format!(
            "{what} ({:?} error at line {} column {})",
            e.classify(),
            e.line(),
            e.column()
        )
    };
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| at("invalid JSON in response", &e))?;
    if !value.is_object() {
        return Err("response is not a JSON object".into());
    }
    let raw: RawResponse = msg::from_go_json(value, &[]).map_err(|e| at("invalid response", &e))?;
    let content = match raw.content {
        Some(v) => Some(
            msg::from_go_json::<C>(v, CONTENT_NESTED_KEYS)
                .map_err(|e| at("invalid content in response", &e))?,
        ),
        None => None,
    };
    Ok(PluginResponse {
        reject: raw.reject,
        reject_reason: raw.reject_reason,
        unchange: raw.unchange,
        content,
    })
}

#[cfg(test)]
mod tests;
