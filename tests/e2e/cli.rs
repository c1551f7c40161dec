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

#[test]
fn verify_reports_ok_and_unbuilt_features_are_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("frpc.toml");
    std::fs::write(&p, "serverPort = 1\ndnsServer = \"10.0.0.53\"\n[[proxies]]\nname = \"s\"\ntype = \"xtcp\"\nlocalPort = 22\nsecretKey = \"k\"\n").unwrap();
    let out = Command::new(frpc_bin())
        .args(["verify", "-c"])
        .arg(&p)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("syntax is ok"));
    let out = Command::new(frpc_bin()).arg("-c").arg(&p).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("dnsServer") && err.contains("not supported"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
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
