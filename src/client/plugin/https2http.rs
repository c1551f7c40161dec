//! `https2http`: TLS terminated on the work connection (`crtPath`/`keyPath`, or a self-signed
//! certificate), HTTP/1.1 or HTTP/2 (`enableHTTP2`), forwarded to an HTTP `localAddr`.

use super::reverse::{Forward, XForwarded};
use super::{front_tls, Opts};

pub(super) fn new(o: &Opts) -> Result<Forward, String> {
    Ok(Forward {
        local_addr: o.required("localAddr")?,
        backend_tls: None,
        front_tls: Some(front_tls(o)?),
        host_rewrite: o.host_rewrite()?,
        set_headers: o.header_set()?,
        x_forwarded: XForwarded::Append,
    })
}
