//! `http2http`: HTTP on the work connection, forwarded to an HTTP `localAddr` with
//! `hostHeaderRewrite` and `requestHeaders.set`.

use super::reverse::{Forward, XForwarded};
use super::Opts;

pub(super) fn new(o: &Opts) -> Result<Forward, String> {
    Ok(Forward {
        local_addr: o.string("localAddr")?,
        backend_tls: None,
        front_tls: None,
        host_rewrite: o.host_rewrite()?,
        set_headers: o.header_set()?,
        x_forwarded: XForwarded::Strip,
    })
}
