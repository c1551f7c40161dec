//! `static_file`: files under `localPath` over HTTP, as frp serves them (a gorilla/mux route for
//! GET on `/<stripPrefix>/`, basic auth, Go's `http.FileServer`): directory listings, index.html,
//! trailing-slash redirects, Last-Modified, single byte ranges. Request paths are cleaned first
//! (a path with `.` or `..` segments is redirected to its clean form, as mux does), so a
//! served path never leaves `localPath`. Not done: gzip (frp compresses when asked) and
//! multi-range answers (a multi-range request gets the whole file).

use std::io::SeekFrom;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::SystemTime;

use bytes::Bytes;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper::header::{
    HeaderValue, ACCEPT_RANGES, AUTHORIZATION, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE,
    IF_MODIFIED_SINCE, LAST_MODIFIED, LOCATION, RANGE, WWW_AUTHENTICATE,
};
use hyper::{Method, Request, Response, StatusCode};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncSeekExt, ReadBuf};

use super::http::{self, BoxError, Resp};
use super::Opts;
use crate::transport::BoxStream;

/// Bytes per body chunk read from a file.
const CHUNK: usize = 64 * 1024;

pub struct StaticFile {
    root: PathBuf,
    /// `/` or `/<stripPrefix>/`.
    prefix: String,
    user: String,
    password: String,
}

pub(super) fn new(o: &Opts) -> Result<StaticFile, String> {
    let strip = o.string("stripPrefix")?;
    Ok(StaticFile {
        root: PathBuf::from(o.required("localPath")?),
        prefix: if strip.is_empty() {
            "/".into()
        } else {
            format!("/{strip}/")
        },
        user: o.string("httpUser")?,
        password: o.string("httpPassword")?,
    })
}

impl StaticFile {
    pub async fn handle(self: Arc<Self>, proxy_name: &str, work: BoxStream) {
        let handler = move |req, _tunnels| {
            let this = self.clone();
            async move { this.serve(req).await }
        };
        http::serve(work, false, proxy_name, handler).await;
    }

    async fn serve(&self, req: Request<Incoming>) -> Resp {
        let Some(path) = percent_decode(req.uri().path()) else {
            return http::error(StatusCode::BAD_REQUEST, "invalid URL path");
        };
        let query = req.uri().query();
        let clean = clean_path(&path);
        if clean != path {
            return redirect(&clean, query);
        }
        let Some(rest) = path.strip_prefix(&self.prefix) else {
            return http::error(StatusCode::NOT_FOUND, "404 page not found");
        };
        if req.method() != Method::GET {
            return http::empty(StatusCode::METHOD_NOT_ALLOWED);
        }
        if !self.authorized(&req).await {
            let mut r = http::error(StatusCode::UNAUTHORIZED, "Unauthorized");
            r.headers_mut().insert(
                WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"Restricted\""),
            );
            return r;
        }
        // What http.FileServer sees after StripPrefix: always rooted.
        let url = format!("/{rest}");
        if url.ends_with("/index.html") {
            return redirect("./", query);
        }
        let file = rest
            .split('/')
            .filter(|s| !s.is_empty())
            .fold(self.root.clone(), |p, s| p.join(s));
        let meta = match tokio::fs::metadata(&file).await {
            Ok(m) => m,
            Err(e) => return io_error(&e),
        };
        let base = url.trim_end_matches('/').rsplit('/').next().unwrap_or("");
        if meta.is_dir() {
            if !url.ends_with('/') {
                return redirect(&format!("{base}/"), query);
            }
            let index = file.join("index.html");
            if let Ok(m) = tokio::fs::metadata(&index).await {
                if m.is_file() {
                    return serve_file(&req, &index, &m).await;
                }
            }
            return dir_list(&req, &file, &meta).await;
        }
        if url.ends_with('/') {
            return redirect(&format!("../{base}"), query);
        }
        serve_file(&req, &file, &meta).await
    }

    async fn authorized(&self, req: &Request<Incoming>) -> bool {
        if self.user.is_empty() && self.password.is_empty() {
            return true;
        }
        let ok = req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| http::basic_credentials(v, false))
            .is_some_and(|got| http::credentials_match(&got, &self.user, &self.password));
        if !ok {
            tokio::time::sleep(http::AUTH_FAIL_DELAY).await;
        }
        ok
    }
}

fn redirect(to: &str, query: Option<&str>) -> Resp {
    let location = match query {
        Some(q) => format!("{}?{q}", href(to)),
        None => href(to),
    };
    let mut r = http::empty(StatusCode::MOVED_PERMANENTLY);
    if let Ok(v) = HeaderValue::from_str(&location) {
        r.headers_mut().insert(LOCATION, v);
    }
    r
}

fn io_error(e: &std::io::Error) -> Resp {
    match e.kind() {
        std::io::ErrorKind::NotFound => http::error(StatusCode::NOT_FOUND, "404 page not found"),
        std::io::ErrorKind::PermissionDenied => http::error(StatusCode::FORBIDDEN, "403 Forbidden"),
        _ => http::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "500 Internal Server Error",
        ),
    }
}

/// Last-Modified, and 304 when the client already has exactly that version.
fn not_modified(req: &Request<Incoming>, modified: Option<SystemTime>) -> (Option<String>, bool) {
    let Some(date) = modified.and_then(http_date) else {
        return (None, false);
    };
    let same = req
        .headers()
        .get(IF_MODIFIED_SINCE)
        .is_some_and(|v| v.as_bytes() == date.as_bytes());
    (Some(date), same)
}

async fn serve_file(req: &Request<Incoming>, path: &Path, meta: &std::fs::Metadata) -> Resp {
    let (last_modified, unchanged) = not_modified(req, meta.modified().ok());
    let mut resp = if unchanged {
        http::empty(StatusCode::NOT_MODIFIED)
    } else {
        match file_response(req, path, meta.len()).await {
            Ok(r) => r,
            Err(e) => return io_error(&e),
        }
    };
    if let Some(v) = last_modified.and_then(|d| HeaderValue::from_str(&d).ok()) {
        resp.headers_mut().insert(LAST_MODIFIED, v);
    }
    resp
}

async fn file_response(req: &Request<Incoming>, path: &Path, size: u64) -> std::io::Result<Resp> {
    let mut file = tokio::fs::File::open(path).await?;
    let content_type = match mime_type(path) {
        Some(t) => t,
        None => {
            let mut head = vec![0u8; 512];
            let n = read_some(&mut file, &mut head).await?;
            file.seek(SeekFrom::Start(0)).await?;
            sniff(&head[..n])
        }
    };
    let range = req
        .headers()
        .get(RANGE)
        .and_then(|v| v.to_str().ok())
        .map(|v| parse_range(v, size));
    let (status, start, len) = match range {
        Some(Range::Unsatisfiable) => {
            let mut r = http::error(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "invalid range: failed to overlap",
            );
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                r.headers_mut().insert(CONTENT_RANGE, v);
            }
            return Ok(r);
        }
        Some(Range::Bytes(start, len)) => (StatusCode::PARTIAL_CONTENT, start, len),
        Some(Range::Whole) | None => (StatusCode::OK, 0, size),
    };
    if start > 0 {
        file.seek(SeekFrom::Start(start)).await?;
    }
    let mut resp = Response::new(http::boxed(FileBody {
        file,
        remaining: len,
        buf: vec![0u8; CHUNK],
    }));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(CONTENT_LENGTH, HeaderValue::from(len));
    if status == StatusCode::PARTIAL_CONTENT {
        let v = format!("bytes {start}-{}/{size}", start + len - 1);
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.insert(CONTENT_RANGE, v);
        }
    }
    Ok(resp)
}

async fn read_some(file: &mut tokio::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        let m = file.read(&mut buf[n..]).await?;
        if m == 0 {
            break;
        }
        n += m;
    }
    Ok(n)
}

/// Go's directory listing: entries sorted by name, directories with a trailing slash.
async fn dir_list(req: &Request<Incoming>, dir: &Path, meta: &std::fs::Metadata) -> Resp {
    let (last_modified, unchanged) = not_modified(req, meta.modified().ok());
    let mut resp = if unchanged {
        http::empty(StatusCode::NOT_MODIFIED)
    } else {
        match list(dir).await {
            Ok(body) => http::with_body(StatusCode::OK, "text/html; charset=utf-8", body),
            Err(_) => http::error(StatusCode::INTERNAL_SERVER_ERROR, "Error reading directory"),
        }
    };
    if let Some(v) = last_modified.and_then(|d| HeaderValue::from_str(&d).ok()) {
        resp.headers_mut().insert(LAST_MODIFIED, v);
    }
    resp
}

async fn list(dir: &Path) -> std::io::Result<String> {
    let mut names = Vec::new();
    let mut rd = tokio::fs::read_dir(dir).await?;
    while let Some(e) = rd.next_entry().await? {
        let mut name = e.file_name().to_string_lossy().into_owned();
        if e.file_type().await.is_ok_and(|t| t.is_dir()) {
            name.push('/');
        }
        names.push(name);
    }
    names.sort();
    let mut out = String::from(
        "<!doctype html>\n<meta name=\"viewport\" content=\"width=device-width\">\n<pre>\n",
    );
    for name in names {
        out.push_str(&format!(
            "<a href=\"{}\">{}</a>\n",
            html_escape(&href(&name)),
            html_escape(&name)
        ));
    }
    out.push_str("</pre>\n");
    Ok(out)
}

/// A file's body, read in chunks as the peer takes them.
struct FileBody {
    file: tokio::fs::File,
    remaining: u64,
    buf: Vec<u8>,
}

impl hyper::body::Body for FileBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if self.remaining == 0 {
            return Poll::Ready(None);
        }
        let this = &mut *self;
        let want = this
            .buf
            .len()
            .min(this.remaining.min(usize::MAX as u64) as usize);
        let mut rb = ReadBuf::new(&mut this.buf[..want]);
        match Pin::new(&mut this.file).poll_read(cx, &mut rb) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(e)) => Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(Ok(())) => {
                let n = rb.filled().len();
                if n == 0 {
                    // The file shrank while we served it: the peer sees a short body.
                    return Poll::Ready(Some(Err("file changed while being read".into())));
                }
                let chunk = Bytes::copy_from_slice(rb.filled());
                this.remaining -= n as u64;
                Poll::Ready(Some(Ok(Frame::data(chunk))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

enum Range {
    Whole,
    Bytes(u64, u64),
    Unsatisfiable,
}

/// One `bytes=a-b`, `bytes=a-` or `bytes=-n` range; anything else is served whole.
fn parse_range(v: &str, size: u64) -> Range {
    let Some(spec) = v.trim().strip_prefix("bytes=") else {
        return Range::Whole;
    };
    if spec.contains(',') {
        return Range::Whole;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return Range::Whole;
    };
    let (a, b) = (a.trim(), b.trim());
    let parsed = if a.is_empty() {
        b.parse::<u64>().ok().map(|n| {
            let n = n.min(size);
            (size - n, n)
        })
    } else {
        a.parse::<u64>().ok().and_then(|start| {
            let end = if b.is_empty() {
                Some(size.saturating_sub(1))
            } else {
                b.parse::<u64>().ok().map(|e| e.min(size.saturating_sub(1)))
            };
            end.map(|end| (start, (end + 1).saturating_sub(start)))
        })
    };
    match parsed {
        None => Range::Whole,
        Some((start, len)) if len == 0 || start >= size => Range::Unsatisfiable,
        Some((start, len)) => Range::Bytes(start, len),
    }
}

/// Go's path.Clean for an absolute URL path, keeping a trailing slash (gorilla/mux cleanPath).
fn clean_path(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    let mut out = format!("/{}", parts.join("/"));
    if p.ends_with('/') && out != "/" {
        out.push('/');
    }
    out
}

/// The URL path, %XX decoded (what Go's `URL.Path` holds); `None` if not UTF-8 or with NUL.
fn percent_decode(p: &str) -> Option<String> {
    let b = p.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b.get(i + 1..i + 3)?;
            let s = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(s, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    if out.contains(&0) {
        return None;
    }
    String::from_utf8(out).ok()
}

/// A path as a URL reference (listing entries, redirects): Go's `url.URL{Path: p}.String()`.
fn href(name: &str) -> String {
    let mut out = String::new();
    for &c in name.as_bytes() {
        let keep = c.is_ascii_alphanumeric() || b"-_.~$&+,/:;=@".contains(&c);
        if keep {
            out.push(c as char);
        } else {
            out.push_str(&format!("%{c:02X}"));
        }
    }
    // A colon in the first segment would read as a scheme.
    if let Some(i) = out.find(':') {
        if !out[..i].contains('/') {
            out.insert_str(0, "./");
        }
    }
    out
}

fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// IMF-fixdate, as in Last-Modified.
fn http_date(t: SystemTime) -> Option<String> {
    let t = time::OffsetDateTime::from(t);
    let f = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    t.format(&f).ok()
}

/// Go's built-in extension table (mime.TypeByExtension without the system's).
fn mime_type(path: &Path) -> Option<&'static str> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    Some(match ext.as_str() {
        "avif" => "image/avif",
        "css" => "text/css; charset=utf-8",
        "gif" => "image/gif",
        "htm" | "html" => "text/html; charset=utf-8",
        "jpeg" | "jpg" => "image/jpeg",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "json" => "application/json",
        "pdf" => "application/pdf",
        "png" => "image/png",
        "svg" => "image/svg+xml",
        "wasm" => "application/wasm",
        "webp" => "image/webp",
        "xml" => "text/xml; charset=utf-8",
        "txt" => "text/plain; charset=utf-8",
        _ => return None,
    })
}

/// A small part of Go's content sniffing: text or not.
fn sniff(head: &[u8]) -> &'static str {
    let text = match std::str::from_utf8(head) {
        Ok(_) => true,
        // A multi-byte character cut off at the end of the sample is still text.
        Err(e) => e.error_len().is_none(),
    };
    let control = head
        .iter()
        .any(|&b| b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r' | 0x0c | 0x1b));
    if text && !control {
        "text/plain; charset=utf-8"
    } else {
        "application/octet-stream"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_cleaned_like_mux() {
        assert_eq!(clean_path("/a/../b"), "/b");
        assert_eq!(clean_path("/../../etc/passwd"), "/etc/passwd");
        assert_eq!(clean_path("/a/./b/"), "/a/b/");
        assert_eq!(clean_path("//a"), "/a");
        assert_eq!(clean_path("/"), "/");
        assert_eq!(percent_decode("/a%2e%2E/%2fb").as_deref(), Some("/a..//b"));
        assert_eq!(percent_decode("/a%00"), None);
        assert_eq!(percent_decode("/a%zz"), None);
    }

    #[test]
    fn ranges() {
        assert!(matches!(parse_range("bytes=0-3", 10), Range::Bytes(0, 4)));
        assert!(matches!(parse_range("bytes=5-", 10), Range::Bytes(5, 5)));
        assert!(matches!(parse_range("bytes=-3", 10), Range::Bytes(7, 3)));
        assert!(matches!(parse_range("bytes=4-100", 10), Range::Bytes(4, 6)));
        assert!(matches!(parse_range("bytes=10-", 10), Range::Unsatisfiable));
        assert!(matches!(parse_range("bytes=0-1,3-4", 10), Range::Whole));
        assert!(matches!(parse_range("items=1-2", 10), Range::Whole));
    }

    #[test]
    fn listing_entries_are_escaped() {
        assert_eq!(href("a b?.txt"), "a%20b%3F.txt");
        assert_eq!(href("c:d"), "./c:d");
        assert_eq!(html_escape("<x&'\">"), "&lt;x&amp;&#39;&#34;&gt;");
    }

    #[test]
    fn dates_and_types() {
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(784111777);
        assert_eq!(
            http_date(t).as_deref(),
            Some("Sun, 06 Nov 1994 08:49:37 GMT")
        );
        assert_eq!(sniff(b"hello\n"), "text/plain; charset=utf-8");
        assert_eq!(sniff(&[0, 1, 2]), "application/octet-stream");
    }
}
