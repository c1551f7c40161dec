//! TLS options between frpc and frps: verification with a trusted CA, mutual TLS, `tls.force`.

use crate::common;

use std::path::Path;
use std::time::Duration;

use common::*;
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};

struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    /// A CA, a server certificate for 127.0.0.1 and a client certificate, all signed by the CA.
    fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let write = |name: &str, text: String| std::fs::write(dir.path().join(name), text).unwrap();
        write("ca.crt", ca.pem());
        for (name, san) in [("server", "127.0.0.1"), ("client", "frpc.test")] {
            let key = KeyPair::generate().unwrap();
            let cert = CertificateParams::new(vec![san.to_string()])
                .unwrap()
                .signed_by(&key, &ca, &ca_key)
                .unwrap();
            write(&format!("{name}.crt"), cert.pem());
            write(&format!("{name}.key"), key.serialize_pem());
        }
        // A second, unrelated CA: certificates from it must not be accepted.
        let other_key = KeyPair::generate().unwrap();
        let mut other_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        other_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        write(
            "other-ca.crt",
            other_params.self_signed(&other_key).unwrap().pem(),
        );
        Pki { dir }
    }

    fn path(&self, name: &str) -> String {
        Path::new(self.dir.path()).join(name).display().to_string()
    }
}

const UP: Duration = Duration::from_secs(20);

#[test]
fn frpc_verifies_frps_with_trusted_ca_and_mutual_tls_works() {
    let pki = Pki::new();
    let bind = next_port();
    let remote = next_port();
    let _frps = start_frps(
        bind,
        &format!(
            "auth.token = \"t\"\ntransport.tls.certFile = \"{}\"\ntransport.tls.keyFile = \"{}\"\ntransport.tls.trustedCaFile = \"{}\"",
            pki.path("server.crt"),
            pki.path("server.key"),
            pki.path("ca.crt")
        ),
    );
    let echo = echo_server();
    let common = format!(
        "transport.tls.trustedCaFile = \"{}\"\ntransport.tls.certFile = \"{}\"\ntransport.tls.keyFile = \"{}\"",
        pki.path("ca.crt"),
        pki.path("client.crt"),
        pki.path("client.key")
    );
    let _frpc = start_frpc(&frpc_toml(bind, "t", &common, echo.port, remote, ""));
    assert!(wait_echo(remote, UP), "mutual TLS tunnel did not come up");
    let (a, b) = echo_random(remote, 1 << 20);
    assert_eq!(a, b);
}

#[test]
fn frps_requiring_client_certs_refuses_frpc_without_one() {
    let pki = Pki::new();
    let bind = next_port();
    let _frps = start_frps(
        bind,
        &format!(
            "auth.token = \"t\"\ntransport.tls.certFile = \"{}\"\ntransport.tls.keyFile = \"{}\"\ntransport.tls.trustedCaFile = \"{}\"",
            pki.path("server.crt"),
            pki.path("server.key"),
            pki.path("ca.crt")
        ),
    );
    let echo = echo_server();
    let mut frpc = FrpcToml::new(bind)
        .login_fail_exit(true)
        .proxy(Proxy::tcp("echo", echo.port, next_port()))
        .start();
    assert_eq!(frpc.wait_exit(UP), Some(1), "{}", frpc.log_text());
    assert!(
        frpc.log_text().contains("login to the server failed"),
        "{}",
        frpc.log_text()
    );
}

#[test]
fn frpc_with_trusted_ca_refuses_a_server_cert_from_another_ca() {
    let pki = Pki::new();
    let bind = next_port();
    // frps presents its own self-signed certificate.
    let _frps = start_frps(bind, "auth.token = \"t\"");
    let echo = echo_server();
    let mut frpc = FrpcToml::new(bind)
        .login_fail_exit(true)
        .line(format!(
            "transport.tls.trustedCaFile = \"{}\"",
            pki.path("other-ca.crt")
        ))
        .proxy(Proxy::tcp("echo", echo.port, next_port()))
        .start();
    assert_eq!(frpc.wait_exit(UP), Some(1), "{}", frpc.log_text());
    let log = frpc.log_text();
    assert!(
        log.contains("certificate") || log.contains("Certificate"),
        "{log}"
    );
}

#[test]
fn tls_force_refuses_plain_clients() {
    let bind = next_port();
    let _frps = start_frps(bind, "auth.token = \"t\"\ntransport.tls.force = true");
    let echo = echo_server();
    let mut frpc = FrpcToml::new(bind)
        .login_fail_exit(true)
        .line("transport.tls.enable = false")
        .proxy(Proxy::tcp("echo", echo.port, next_port()))
        .start();
    assert_eq!(frpc.wait_exit(UP), Some(1));
    // And a TLS client is still welcome.
    let remote = next_port();
    let _ok = start_frpc(&frpc_toml(bind, "t", "", echo.port, remote, ""));
    assert!(wait_echo(remote, UP));
}
