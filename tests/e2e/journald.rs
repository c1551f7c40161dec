//! Native journald logging, against a real systemd-journald started in a private mount
//! namespace with its own /run (needs root, `unshare` and Debian's `systemd` package, which
//! .ci/run installs).

use crate::common;

use std::process::Command;

use common::*;

#[test]
fn frps_and_frpc_log_to_the_journal_with_identifier_priority_and_fields() {
    let dir = tempfile::tempdir().unwrap();
    let bind = next_port();
    let remote = next_port();
    let echo = echo_server();
    std::fs::write(
        dir.path().join("frps.toml"),
        format!("bindAddr = \"127.0.0.1\"\nbindPort = {bind}\nauth.token = \"tok-SECRET-123\"\nlog.to = \"journald\"\n"),
    )
    .unwrap();
    let frpc = frpc_toml(
        bind,
        "tok-SECRET-123",
        "log.to = \"journald\"",
        echo.port,
        remote,
        "",
    );
    std::fs::write(dir.path().join("frpc.toml"), frpc).unwrap();
    let script = r#"
set -e
mount -t tmpfs tmpfs /run
mkdir -p /run/systemd/journal /run/log/journal
/lib/systemd/systemd-journald >/dev/null 2>&1 &
JOURNALD=$!
for i in $(seq 100); do [ -S /run/systemd/journal/socket ] && break; sleep 0.05; done
"$FRPS" -c "$DIR/frps.toml" & S=$!
for i in $(seq 100); do (echo > /dev/tcp/127.0.0.1/$BIND) 2>/dev/null && break; sleep 0.05; done
"$FRPC" -c "$DIR/frpc.toml" & C=$!
for i in $(seq 200); do (echo > /dev/tcp/127.0.0.1/$REMOTE) 2>/dev/null && break; sleep 0.05; done
# A hostile login (yamux stream 1, as frps expects with tcpMux): a user with a newline, a NUL
# and a forged field; frps refuses it and logs it, escaped.
python3 - "$BIND" <<'PY'
import hashlib, json, socket, struct, sys, time
ts = int(time.time())
key = hashlib.md5(("tok-SECRET-123" + str(ts)).encode()).hexdigest()
body = json.dumps({"version": "0.65.0", "user": "eve\nPRIORITY=0\u0000x",
                   "privilege_key": key, "timestamp": ts}).encode()
frame = b"o" + struct.pack(">q", len(body)) + body
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(struct.pack(">BBHII", 0, 1, 1, 1, 0) + struct.pack(">BBHII", 0, 0, 0, 1, len(frame)) + frame)
s.settimeout(5)
try:
    s.recv(4096)
except OSError:
    pass
PY
kill -TERM $C; wait $C || true
kill -TERM $S; wait $S || true
journalctl -D /run/log/journal -o json --no-pager
kill $JOURNALD
"#;
    let out = Command::new("unshare")
        .args(["-m", "bash", "-c", script])
        .env("FRPS", frps_bin())
        .env("FRPC", frpc_bin())
        .env("DIR", dir.path())
        .env("BIND", bind.to_string())
        .env("REMOTE", remote.to_string())
        .output()
        .expect("unshare runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let entries: Vec<serde_json::Value> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let find = |ident: &str, needle: &str| {
        entries
            .iter()
            .find(|e| {
                e["SYSLOG_IDENTIFIER"] == ident
                    && e["MESSAGE"].as_str().is_some_and(|m| m.contains(needle))
            })
            .cloned()
            .unwrap_or_else(|| panic!("no {ident} entry containing '{needle}' in:\n{stdout}"))
    };
    let listen = find("frps", "tcp proxy listen port");
    assert_eq!(listen["PRIORITY"], "6", "info is priority 6");
    assert_eq!(listen["PROXY_NAME"], "echo");
    assert_eq!(listen["PROXY_TYPE"], "tcp");
    // The client's tag, never its run id.
    assert!(listen["CLIENT"].as_str().is_some_and(|r| r.len() == 8));
    assert!(listen.get("RUN_ID").is_none());
    let ok = find("frpc", "start proxy success");
    assert_eq!(ok["PROXY_NAME"], "echo");
    assert_eq!(ok["PRIORITY"], "6");
    let login = find("frps", "client login info");
    assert!(login["REMOTE"]
        .as_str()
        .is_some_and(|r| r.starts_with("127.0.0.1:")));
    assert!(
        !stdout.contains("tok-SECRET-123"),
        "the token never reaches the journal"
    );
    // The hostile user reached the journal escaped, in the message and in its field, and
    // forged nothing.
    let refused = find("frps", "login refused");
    assert_eq!(refused["USER"], "eve\\nPRIORITY=0\\u{0}x", "{refused}");
    assert!(
        refused["MESSAGE"]
            .as_str()
            .is_some_and(|m| m.contains("eve\\nPRIORITY=0\\u{0}x") && !m.contains('\n')),
        "{refused}"
    );
    assert!(
        entries.iter().all(|e| e["PRIORITY"] != "0"),
        "a forged priority"
    );
}
