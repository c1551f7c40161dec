//! Local HTTP/1.1 backends for vhost tests: a keep-alive server that answers every request with
//! what it received (so tests assert on the rewritten request), and a raw HTTP client.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

/// A request as the backend saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub target: String,
    /// Header lines as received, in order (original case).
    pub headers: Vec<(String, String)>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

pub struct Backend {
    pub port: u16,
    /// TCP connections accepted so far.
    pub connections: Arc<AtomicUsize>,
}

/// Start a backend named `name`. Every response body is
/// `<name> <METHOD> <target>\n` followed by the request's header lines (`Name: value\n`).
/// `GET /slow` waits 3 s first; `Upgrade: websocket` gets a 101 and then an echo of raw bytes;
/// `CONNECT` gets a 200 and then an echo.
pub fn http_backend(name: &str) -> Backend {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let connections = Arc::new(AtomicUsize::new(0));
    let count = connections.clone();
    let name = name.to_string();
    thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(c) = conn else { continue };
            count.fetch_add(1, Ordering::SeqCst);
            let name = name.clone();
            thread::spawn(move || serve(c, &name));
        }
    });
    Backend { port, connections }
}

/// Read one request head (and its Content-Length body) from `r`; `None` at EOF.
pub fn read_request<R: BufRead>(r: &mut R) -> Option<(Seen, Vec<u8>)> {
    let mut line = String::new();
    if r.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.trim_end().splitn(3, ' ');
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).ok()? == 0 {
            return None;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        headers.push((k.to_string(), v.trim().to_string()));
    }
    let seen = Seen {
        method,
        target,
        headers,
    };
    let len: usize = seen
        .header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    r.read_exact(&mut body).ok()?;
    Some((seen, body))
}

fn serve(c: TcpStream, name: &str) {
    let mut w = c.try_clone().unwrap();
    let mut r = BufReader::new(c);
    while let Some((seen, body)) = read_request(&mut r) {
        if seen.target == "/slow" {
            thread::sleep(Duration::from_secs(3));
        }
        let mut text = format!("{name} {} {}\n", seen.method, seen.target);
        for (k, v) in &seen.headers {
            text.push_str(&format!("{k}: {v}\n"));
        }
        if !body.is_empty() {
            text.push_str(&format!("body: {}\n", String::from_utf8_lossy(&body)));
        }
        let tunnel = seen.method == "CONNECT"
            || seen
                .header("upgrade")
                .is_some_and(|u| u.eq_ignore_ascii_case("websocket"));
        if tunnel {
            let head = if seen.method == "CONNECT" {
                "HTTP/1.1 200 Connection established\r\n\r\n".to_string()
            } else {
                "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
                    .to_string()
            };
            if w.write_all(head.as_bytes()).is_err() {
                return;
            }
            // Echo whatever follows (bytes already buffered first).
            let buffered = r.buffer().to_vec();
            if w.write_all(&buffered).is_err() {
                return;
            }
            let mut inner = r.into_inner();
            let mut buf = [0u8; 4096];
            while let Ok(n) = inner.read(&mut buf) {
                if n == 0 || w.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            return;
        }
        let resp = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Backend: {name}\r\nContent-Length: {}\r\n\r\n{text}",
            text.len()
        );
        if w.write_all(resp.as_bytes()).is_err() {
            return;
        }
    }
}

/// A response read by [`Client`].
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A keep-alive HTTP/1.1 client on one TCP connection (responses need Content-Length).
pub struct Client {
    w: TcpStream,
    r: BufReader<TcpStream>,
}

impl Client {
    pub fn connect(port: u16) -> Client {
        let c = TcpStream::connect(("127.0.0.1", port)).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        Client {
            w: c.try_clone().unwrap(),
            r: BufReader::new(c),
        }
    }

    /// Send `GET path` for `host` with extra header lines; read the response.
    pub fn get(&mut self, host: &str, path: &str, extra: &str) -> Option<Resp> {
        let req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n{extra}\r\n");
        self.w.write_all(req.as_bytes()).ok()?;
        self.read_response()
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.w.write_all(bytes).unwrap();
    }

    pub fn read_response(&mut self) -> Option<Resp> {
        let mut line = String::new();
        if self.r.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let status = line.split(' ').nth(1)?.parse().ok()?;
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            self.r.read_line(&mut h).ok()?;
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            let (k, v) = h.split_once(':')?;
            headers.push((k.to_string(), v.trim().to_string()));
        }
        let mut resp = Resp {
            status,
            headers,
            body: String::new(),
        };
        if status == 101 || status == 200 && resp.header("content-length").is_none() {
            // A tunnel: the caller reads the rest.
            return Some(resp);
        }
        let len: usize = resp
            .header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0u8; len];
        self.r.read_exact(&mut body).ok()?;
        resp.body = String::from_utf8_lossy(&body).to_string();
        Some(resp)
    }

    /// Write `bytes` and read exactly as many back (through a tunnel to an echo).
    pub fn echo(&mut self, bytes: &[u8]) -> Vec<u8> {
        self.w.write_all(bytes).unwrap();
        let mut back = vec![0u8; bytes.len()];
        self.r.read_exact(&mut back).unwrap();
        back
    }
}
