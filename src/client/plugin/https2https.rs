//! `https2https`: as `https2http`, to an HTTPS `localAddr` (certificate not verified, as frp
//! does).

use super::reverse::{Forward, XForwarded};
use super::{backend_tls, front_tls, Opts};

pub(super) fn new(o: &Opts) -> Result<Forward, String> {
    let local_addr = o.required("localAddr")?;
    Ok(Forward {
        backend_tls: Some(backend_tls(&local_addr)?),
        local_addr,
        front_tls: Some(front_tls(o)?),
        host_rewrite: o.host_rewrite()?,
        set_headers: o.header_set()?,
        x_forwarded: XForwarded::Append,
    })
}
