//! A self-contained demo on loopback: frps, frpc and a tiny built-in web service, with frpc
//! exposing the service through a tcp proxy. Prints the config files it used and how to reach
//! the service, checks the tunnel once, then runs until Ctrl-C (or exits with `--once`).

use std::net::TcpListener as StdListener;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn free_port() -> std::io::Result<u16> {
    Ok(StdListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The "home" service being exposed: answers every HTTP request with a greeting.
async fn hello_service(listener: TcpListener) {
    while let Ok((mut conn, peer)) = listener.accept().await {
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            let _ = conn.read(&mut buf).await;
            let body = format!("Hello from the service behind frpc! (you came from {peer} as seen by the service)\n");
            let resp = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = conn.write_all(resp.as_bytes()).await;
            let _ = conn.shutdown().await;
        });
    }
}

async fn fetch(port: u16) -> std::io::Result<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).await?;
    s.write_all(b"GET / HTTP/1.1\r\nHost: demo\r\n\r\n").await?;
    let mut out = String::new();
    s.read_to_string(&mut out).await?;
    Ok(out)
}

async fn demo(dir: &Path, once: bool) -> anyhow::Result<()> {
    let (bind_port, remote_port) = (free_port()?, free_port()?);
    let service = TcpListener::bind("127.0.0.1:0").await?;
    let local_port = service.local_addr()?.port();
    tokio::spawn(hello_service(service));

    let token = frp::rand_id();
    let frps_toml =
        format!("bindAddr = \"127.0.0.1\"\nbindPort = {bind_port}\nauth.token = \"{token}\"\n");
    let frpc_toml = format!(
        "serverAddr = \"127.0.0.1\"\nserverPort = {bind_port}\nauth.token = \"{token}\"\n\n[[proxies]]\nname = \"demo-web\"\ntype = \"tcp\"\nlocalIP = \"127.0.0.1\"\nlocalPort = {local_port}\nremotePort = {remote_port}\n"
    );
    let (frps_path, frpc_path) = (dir.join("frps.toml"), dir.join("frpc.toml"));
    std::fs::write(&frps_path, &frps_toml)?;
    std::fs::write(&frpc_path, &frpc_toml)?;
    println!("--- {} ---\n{frps_toml}", frps_path.display());
    println!("--- {} ---\n{frpc_toml}", frpc_path.display());

    let server_cfg = frp::config::load_server(&frps_path)?;
    let client_cfg = frp::config::load_client(&frpc_path)?;
    let (stop, life) = frp::daemon::Lifecycle::manual();
    let frps = tokio::spawn(frp::server::run::run(server_cfg, None, life.clone()));
    // Start frpc once frps listens, so its first login (loginFailExit) finds the server.
    for _ in 0..100 {
        if TcpStream::connect(("127.0.0.1", bind_port)).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let frpc = tokio::spawn(frp::client::run(client_cfg, None, life));

    // Wait until the proxy answers through the tunnel (frpc logs in and registers it).
    let mut answer = None;
    for _ in 0..100 {
        if let Ok(a) = fetch(remote_port).await {
            if a.starts_with("HTTP/1.1 200") {
                answer = Some(a);
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let answer = answer.ok_or_else(|| anyhow::anyhow!("the tunnel did not come up within 10 s"))?;
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or("").trim();
    println!("frps listens on 127.0.0.1:{bind_port}; frpc exposes 127.0.0.1:{local_port} as 127.0.0.1:{remote_port}.");
    println!("Through the tunnel: {body}");
    if !once {
        println!("\nTry it:  curl http://127.0.0.1:{remote_port}/   (Ctrl-C to stop)");
        frp::daemon::signals::terminate().await;
    }
    stop.request();
    frpc.await??;
    frps.await??;
    Ok(())
}

fn main() -> ExitCode {
    frp::alloc::configure();
    let once = std::env::args().any(|a| a == "--once");
    let _ = frp::daemon::logging::init(
        "frp-demo",
        &frp::config::types::LogConfig {
            level: "info".into(),
            ..Default::default()
        },
    );
    let dir = match tempfile_dir() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("frp-demo: {e}");
            return ExitCode::FAILURE;
        }
    };
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("frp-demo: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(demo(&dir, once));
    let _ = std::fs::remove_dir_all(&dir);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("frp-demo: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn tempfile_dir() -> std::io::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("frp-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
