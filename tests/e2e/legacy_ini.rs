//! The legacy INI files most frp guides still show start the real binaries and carry traffic.

use crate::common;

use std::time::Duration;

use common::*;

#[test]
fn wiki_style_ini_files_run_frps_and_frpc_with_dashboard() {
    let bind = next_port();
    let dashboard = next_port();
    let remote = next_port();
    let frps_ini = format!(
        "[common]\nbind_addr = 127.0.0.1\nbind_port = {bind}\ntoken = 12345678\ndashboard_addr = 127.0.0.1\ndashboard_port = {dashboard}\ndashboard_user = admin\ndashboard_pwd = admin\n"
    );
    let frps = Daemon::start(frps_bin(), "frps.ini", &frps_ini);
    wait_port(bind, Duration::from_secs(10));
    wait_port(dashboard, Duration::from_secs(10));
    assert!(
        frps.log_text().contains("deprecated"),
        "one deprecation warning is logged"
    );

    let echo = echo_server();
    let frpc_ini = format!(
        "[common]\nserver_addr = 127.0.0.1\nserver_port = {bind}\ntoken = 12345678\n\n[ssh]\ntype = tcp\nlocal_ip = 127.0.0.1\nlocal_port = {}\nremote_port = {remote}\n",
        echo.port
    );
    let _frpc = Daemon::start(frpc_bin(), "frpc.ini", &frpc_ini);
    assert!(
        wait_echo(remote, Duration::from_secs(20)),
        "tunnel from INI configs"
    );
    let (a, b) = echo_random(remote, 4 << 20);
    assert_eq!(a, b);

    // The dashboard of [common] answers with its credentials.
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(format!(
            "import urllib.request,base64,json;r=urllib.request.Request('http://127.0.0.1:{dashboard}/api/serverinfo',headers={{'Authorization':'Basic '+base64.b64encode(b'admin:admin').decode()}});print(json.load(urllib.request.urlopen(r))['bindPort'])"
        ))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        bind.to_string(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
