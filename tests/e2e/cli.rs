//! The command lines: frps and frpc without config files, versions, help, admin commands.

use crate::common;

use std::process::Command;
use std::time::Duration;

use common::*;

#[test]
fn frps_flags_and_frpc_tcp_subcommand_carry_traffic() {
    let bind = next_port();
    let remote = next_port();
    let echo = echo_server();
    let mut frps = Command::new(frps_bin())
        .args([
            "--bind_addr",
            "127.0.0.1",
            "--bind-port",
            &bind.to_string(),
            "-t",
            "flag-token",
            "--allow_ports",
            &format!("{remote}"),
        ])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_port(bind, Duration::from_secs(10));
    let mut frpc = Command::new(frpc_bin())
        .args([
            "tcp",
            "-s",
            "127.0.0.1",
            "-P",
            &bind.to_string(),
            "-t",
            "flag-token",
            "-n",
            "quick",
            "-l",
        ])
        .arg(echo.port.to_string())
        .args(["-r", &remote.to_string(), "--ue", "--uc"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let ok = wait_echo(remote, Duration::from_secs(20));
    let _ = frpc.kill();
    let _ = frps.kill();
    let _ = (frpc.wait(), frps.wait());
    assert!(ok, "tunnel from command-line flags");
}

#[test]
fn version_prints_ours_and_the_protocol_level() {
    for bin in [frps_bin(), frpc_bin()] {
        let out = Command::new(bin).arg("-v").output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success());
        assert!(
            text.contains(env!("CARGO_PKG_VERSION")) && text.contains("0.65.0"),
            "{text}"
        );
    }
}

#[test]
fn help_is_available_for_every_command() {
    for args in [vec!["--help"], vec!["verify", "--help"]] {
        assert!(Command::new(frps_bin())
            .args(&args)
            .output()
            .unwrap()
            .status
            .success());
    }
    for sub in [
        "verify", "reload", "status", "stop", "tcp", "udp", "http", "https", "tcpmux", "stcp",
        "sudp", "xtcp",
    ] {
        let out = Command::new(frpc_bin())
            .args([sub, "--help"])
            .output()
            .unwrap();
        assert!(out.status.success(), "frpc {sub} --help");
        assert!(!out.stdout.is_empty());
    }
    let out = Command::new(frpc_bin())
        .args(["stcp", "visitor", "--help"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("--server_name"));
}

#[test]
fn admin_commands_need_the_admin_api_configured() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("frpc.toml");
    std::fs::write(&cfg, "serverPort = 7000\n").unwrap();
    for sub in ["reload", "status", "stop"] {
        let out = Command::new(frpc_bin())
            .args([sub, "-c"])
            .arg(&cfg)
            .output()
            .unwrap();
        assert!(!out.status.success(), "frpc {sub} must fail");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("web server port should be set"),
            "frpc {sub}"
        );
    }
}

/// `verify` gives the answer start gives: every option this build cannot run and every file the
/// config names that cannot be read is refused by both, with the same words and the file named.
#[test]
fn verify_refuses_exactly_what_start_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.pem");
    let missing = missing.display();
    let frps_cases = [
        ("kcpBindPort = 7000\n", "kcpBindPort is not supported"),
        ("quicBindPort = 7000\n", "quicBindPort is not supported"),
        (
            "auth.method = \"oidc\"\n",
            "auth.method = oidc is not supported",
        ),
        (
            "sshTunnelGateway.bindPort = 2200\n",
            "sshTunnelGateway.bindPort is not supported",
        ),
        (
            "webServer.pprofEnable = true\n",
            "webServer.pprofEnable is not supported",
        ),
        (
            &format!(
                "transport.tls.certFile = \"{missing}\"\ntransport.tls.keyFile = \"{missing}\"\n"
            ),
            "transport.tls: ",
        ),
    ];
    for (i, (body, refusal)) in frps_cases.iter().enumerate() {
        let path = dir.path().join(format!("frps{i}.toml"));
        let body = format!(
            "bindAddr = \"127.0.0.1\"\nbindPort = {}\n{body}",
            next_port()
        );
        std::fs::write(&path, body).unwrap();
        assert_same_refusal(frps_bin(), &path, refusal);
    }
    let frpc_cases = [
        ("dnsServer = \"10.0.0.53\"\n", "dnsServer is not supported"),
        ("transport.protocol = \"kcp\"\n", "transport.protocol = kcp is not supported"),
        ("transport.proxyURL = \"http://127.0.0.1:3128\"\n", "transport.proxyURL is not supported"),
        ("virtualNet.address = \"100.86.0.1/24\"\n", "virtualNet.address is not supported"),
        (
            "[[visitors]]\nname = \"v\"\ntype = \"xtcp\"\nserverName = \"s\"\nsecretKey = \"k\"\nbindPort = 6000\nprotocol = \"kcp\"\n",
            "visitor [v]: protocol kcp is not supported",
        ),
        (
            "[[proxies]]\nname = \"p\"\ntype = \"tcp\"\nremotePort = 6000\n[proxies.plugin]\ntype = \"https2http\"\nlocalAddr = \"127.0.0.1:80\"\ncrtPath = \"/nonexistent.crt\"\nkeyPath = \"/nonexistent.key\"\n",
            "proxy [p]: plugin https2http: ",
        ),
        (
            &format!("transport.tls.certFile = \"{missing}\"\ntransport.tls.keyFile = \"{missing}\"\n"),
            "transport.tls: ",
        ),
    ];
    for (i, (body, refusal)) in frpc_cases.iter().enumerate() {
        let path = dir.path().join(format!("frpc{i}.toml"));
        let body = format!(
            "serverAddr = \"127.0.0.1\"\nserverPort = {}\nloginFailExit = true\n{body}",
            next_port()
        );
        std::fs::write(&path, body).unwrap();
        assert_same_refusal(frpc_bin(), &path, refusal);
    }
}

/// `BIN verify -c PATH` and `BIN -c PATH` both fail, each naming `refusal` once.
fn assert_same_refusal(bin: &str, path: &std::path::Path, refusal: &str) {
    let name = std::path::Path::new(bin)
        .file_name()
        .unwrap()
        .to_string_lossy();
    let verify = Command::new(bin)
        .args(["verify", "-c"])
        .arg(path)
        .output()
        .unwrap();
    let verify_err = String::from_utf8_lossy(&verify.stderr);
    assert!(
        !verify.status.success(),
        "{name} verify {}: {verify_err}",
        path.display()
    );
    assert!(
        verify_err.contains(refusal) && verify_err.contains(&*path.to_string_lossy()),
        "{name} verify names the file and {refusal:?}: {verify_err}"
    );
    let mut start = Command::new(bin)
        .arg("-c")
        .arg(path)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let status = poll_for(Duration::from_secs(10), || start.try_wait().ok().flatten());
    if status.is_none() {
        let _ = start.kill();
    }
    let out = start.wait_with_output().unwrap();
    let start_err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{name} -c {}: {start_err}",
        path.display()
    );
    assert!(
        start_err.contains(refusal),
        "{name} start refuses with {refusal:?}: {start_err}"
    );
}

#[test]
fn config_dir_runs_one_client_per_file() {
    let bind = next_port();
    let _frps = start_frps(bind, "auth.token = \"t\"");
    let echo = echo_server();
    let dir = tempfile::tempdir().unwrap();
    let (r1, r2) = (next_port(), next_port());
    std::fs::write(
        dir.path().join("a.toml"),
        frpc_toml(bind, "t", "", echo.port, r1, "").replace("name = \"echo\"", "name = \"a\""),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("b.toml"),
        frpc_toml(bind, "t", "", echo.port, r2, "").replace("name = \"echo\"", "name = \"b\""),
    )
    .unwrap();
    let mut frpc = Command::new(frpc_bin())
        .arg("--config_dir")
        .arg(dir.path())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let ok = wait_echo(r1, Duration::from_secs(20)) && wait_echo(r2, Duration::from_secs(20));
    let _ = frpc.kill();
    let _ = frpc.wait();
    assert!(ok, "both clients of the directory run");
}

/// `frps completion bash` and `frpc completion bash` print scripts that bash loads and that
/// complete subcommands (zsh and fish scripts come from the same command line description).
#[test]
fn completion_scripts_complete_subcommands_in_bash() {
    for (bin, name, word, expected) in [
        (frpc_bin(), "frpc", "rel", "reload"),
        (frpc_bin(), "frpc", "ver", "verify"),
        (frps_bin(), "frps", "ver", "verify"),
    ] {
        let script = Command::new(bin)
            .args(["completion", "bash"])
            .output()
            .unwrap();
        assert!(script.status.success());
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(name);
        std::fs::write(&file, &script.stdout).unwrap();
        let out = Command::new("bash")
            .arg("-c")
            .arg(format!(
                "source '{}'; COMP_WORDS=({name} {word}); COMP_CWORD=1; _{name} {name} {word} {name}; echo \"${{COMPREPLY[@]}}\"",
                file.display()
            ))
            .output()
            .unwrap();
        let words = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            words.trim(),
            expected,
            "{name} {word}<TAB>: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    for shell in ["zsh", "fish", "powershell"] {
        let out = Command::new(frps_bin())
            .args(["completion", shell])
            .output()
            .unwrap();
        assert!(out.status.success() && out.stdout.len() > 100, "{shell}");
    }
    let out = Command::new(frps_bin())
        .args(["completion", "tcsh"])
        .output()
        .unwrap();
    assert!(!out.status.success(), "an unknown shell is refused");
}
