//! TLS for the frpc⇄frps connection (protocol.md §2.2): rustls client and server configs, the
//! self-signed certificate frps makes at start, and frps's first-byte sniffing.

use std::io;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};

use super::prefixed::Prefixed;

/// The byte frpc writes before its ClientHello when `disableCustomTLSFirstByte = false`.
pub const CUSTOM_TLS_FIRST_BYTE: u8 = 0x17;
const TLS_HANDSHAKE_BYTE: u8 = 0x16;

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn load_certs(path: &str) -> io::Result<Vec<CertificateDer<'static>>> {
    let data = std::fs::read(path).map_err(|e| io::Error::new(e.kind(), format!("{path}: {e}")))?;
    let certs: Vec<_> = rustls_pemfile::certs(&mut data.as_slice()).collect::<Result<_, _>>()?;
    if certs.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{path}: no PEM certificate found"),
        ));
    }
    Ok(certs)
}

fn load_key(path: &str) -> io::Result<PrivateKeyDer<'static>> {
    let data = std::fs::read(path).map_err(|e| io::Error::new(e.kind(), format!("{path}: {e}")))?;
    rustls_pemfile::private_key(&mut data.as_slice())?.ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{path}: no PEM private key found"),
        )
    })
}

fn load_roots(path: &str) -> io::Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    for cert in load_certs(path)? {
        roots
            .add(cert)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{path}: {e}")))?;
    }
    Ok(roots)
}

fn tls_err(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, e)
}

/// Accepts any server certificate: frp's default when no `trustedCaFile` is configured, since
/// frps presents a fresh self-signed certificate at every start. Signatures are still checked
/// so the handshake itself stays sound.
#[derive(Debug)]
struct AcceptAnyServerCert(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyServerCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// What frpc needs to open TLS to frps.
pub struct ClientTls {
    pub config: Arc<ClientConfig>,
    pub server_name: ServerName<'static>,
}

/// Build frpc's TLS client: verification only with a trusted CA, optional client certificate.
pub fn client_config(
    server_name: &str,
    cert_file: &str,
    key_file: &str,
    trusted_ca_file: &str,
) -> io::Result<ClientTls> {
    let p = provider();
    let builder = ClientConfig::builder_with_provider(p.clone())
        .with_safe_default_protocol_versions()
        .map_err(tls_err)?;
    let builder = if trusted_ca_file.is_empty() {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyServerCert(p)))
    } else {
        builder.with_root_certificates(load_roots(trusted_ca_file)?)
    };
    let config = if !cert_file.is_empty() && !key_file.is_empty() {
        builder
            .with_client_auth_cert(load_certs(cert_file)?, load_key(key_file)?)
            .map_err(tls_err)?
    } else {
        builder.with_no_client_auth()
    };
    // Go sends no SNI for an IP literal; rustls does the same for an IP ServerName.
    let server_name = self::server_name(server_name)?;
    Ok(ClientTls {
        config: Arc::new(config),
        server_name,
    })
}

/// Where Go's `crypto/x509` looks for the system's trusted CAs on Linux and the BSDs;
/// `SSL_CERT_FILE` replaces the list when set.
const SYSTEM_CA_FILES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/pki/tls/cacert.pem",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// The system's trusted CAs (the first bundle found), for HTTPS requests frps itself makes.
/// Empty when no bundle is found: every verified handshake then fails, which the caller logs.
pub fn system_roots() -> RootCertStore {
    let env = std::env::var("SSL_CERT_FILE")
        .ok()
        .filter(|f| !f.is_empty());
    let files: Vec<String> = match env {
        Some(f) => vec![f],
        None => SYSTEM_CA_FILES.iter().map(|f| f.to_string()).collect(),
    };
    for f in files {
        let Ok(data) = std::fs::read(&f) else {
            continue;
        };
        let mut roots = RootCertStore::empty();
        for cert in rustls_pemfile::certs(&mut data.as_slice()).flatten() {
            // A bundle may hold certificates webpki cannot parse; skip those, as Go does.
            let _ = roots.add(cert);
        }
        if !roots.is_empty() {
            return roots;
        }
    }
    RootCertStore::empty()
}

/// A TLS client config for HTTPS requests frps makes (server plugins): the certificate is
/// verified against `roots` when given, otherwise any certificate is accepted (Go's
/// `InsecureSkipVerify`). No ALPN: the requests are HTTP/1.1.
pub fn http_client_config(roots: Option<RootCertStore>) -> io::Result<Arc<ClientConfig>> {
    let p = provider();
    let builder = ClientConfig::builder_with_provider(p.clone())
        .with_safe_default_protocol_versions()
        .map_err(tls_err)?;
    let config = match roots {
        Some(roots) => builder.with_root_certificates(roots),
        None => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyServerCert(p))),
    };
    Ok(Arc::new(config.with_no_client_auth()))
}

/// The name to present and verify for `host` (a DNS name or an IP literal, brackets allowed).
pub fn server_name(host: &str) -> io::Result<ServerName<'static>> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    match host.parse::<IpAddr>() {
        Ok(ip) => Ok(ServerName::IpAddress(ip.into())),
        Err(_) => ServerName::try_from(host.to_string()).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("tls server name '{host}': {e}"),
            )
        }),
    }
}

/// Build frps's TLS server config: the configured cert/key, or a self-signed certificate made
/// now; with `trusted_ca_file`, client certificates are required and verified.
pub fn server_config(
    cert_file: &str,
    key_file: &str,
    trusted_ca_file: &str,
) -> io::Result<Arc<ServerConfig>> {
    let p = provider();
    let (certs, key) = if !cert_file.is_empty() && !key_file.is_empty() {
        (load_certs(cert_file)?, load_key(key_file)?)
    } else {
        self_signed()?
    };
    let builder = ServerConfig::builder_with_provider(p.clone())
        .with_safe_default_protocol_versions()
        .map_err(tls_err)?;
    let builder = if trusted_ca_file.is_empty() {
        builder.with_no_client_auth()
    } else {
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(load_roots(trusted_ca_file)?),
            p,
        )
        .build()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
        builder.with_client_cert_verifier(verifier)
    };
    Ok(Arc::new(
        builder.with_single_cert(certs, key).map_err(tls_err)?,
    ))
}

fn self_signed() -> io::Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)> {
    let cert = rcgen::generate_simple_self_signed(Vec::<String>::new())
        .map_err(|e| io::Error::other(format!("generate self-signed certificate: {e}")))?;
    let key = PrivateKeyDer::try_from(cert.key_pair.serialize_der())
        .map_err(|e| io::Error::other(format!("self-signed key: {e}")))?;
    Ok((vec![cert.cert.der().clone()], key))
}

/// How frps should treat a new connection, from its first byte.
pub enum Sniffed<S> {
    Tls(Prefixed<S>),
    Plain(Prefixed<S>),
}

/// Read one byte (10 s limit): `0x17` is consumed and means TLS, `0x16` means TLS from this byte
/// on, anything else is plain frp (refused when `force_tls`).
pub async fn sniff<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    force_tls: bool,
) -> io::Result<Sniffed<S>> {
    let mut first = [0u8; 1];
    tokio::time::timeout(Duration::from_secs(10), stream.read_exact(&mut first))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no data within 10s"))??;
    match first[0] {
        CUSTOM_TLS_FIRST_BYTE => Ok(Sniffed::Tls(Prefixed::new(Vec::new(), stream))),
        TLS_HANDSHAKE_BYTE => Ok(Sniffed::Tls(Prefixed::new(first.to_vec(), stream))),
        _ if force_tls => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "non-TLS connection received on a TlsOnly server",
        )),
        _ => Ok(Sniffed::Plain(Prefixed::new(first.to_vec(), stream))),
    }
}
