//! Loading config files: read, parse TOML into the v1 structs, complete defaults, validate.
//! Every error names the file and, where the parser knows it, the line, column and key.

use std::path::{Path, PathBuf};

use super::client::ClientConfig;
use super::server::ServerConfig;
use super::types::ValueSource;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}:{column}: {message}")]
    Parse {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

fn read(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Parse TOML text into `T`, turning toml's multi-line report into one located line.
pub fn parse_toml<T: serde::de::DeserializeOwned>(
    path: &Path,
    text: &str,
) -> Result<T, ConfigError> {
    toml::from_str(text).map_err(|e| {
        let (line, column) = e
            .span()
            .map(|s| line_col(text, s.start))
            .unwrap_or((0, 0));
        let mut message = e.message().trim().replace('\n', " ");
        if looks_like_legacy_ini(text) {
            message.push_str(" (this looks like a legacy INI file with [common]; this build reads TOML v1 files)");
        }
        ConfigError::Parse { path: path.to_path_buf(), line, column, message }
    })
}

fn looks_like_legacy_ini(text: &str) -> bool {
    text.lines().any(|l| l.trim() == "[common]")
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map(|i| i + 1).unwrap_or(0) + 1;
    (line, column)
}

/// `auth.tokenSource = { type = "file", file = { path = ... } }` → the file's trimmed content.
fn resolve_token_source(
    path: &Path,
    token: &mut String,
    source: &Option<ValueSource>,
) -> Result<(), ConfigError> {
    let Some(src) = source else { return Ok(()) };
    let invalid = |message: String| ConfigError::Invalid {
        path: path.to_path_buf(),
        message,
    };
    if src.kind != "file" {
        return Err(invalid(format!(
            "auth.tokenSource.type: only 'file' is supported, got '{}'",
            src.kind
        )));
    }
    let file = src
        .file
        .as_ref()
        .filter(|f| !f.path.is_empty())
        .ok_or_else(|| invalid("auth.tokenSource.file.path: must be set".into()))?;
    let content = std::fs::read_to_string(&file.path).map_err(|e| {
        invalid(format!(
            "auth.tokenSource.file.path: cannot read {}: {e}",
            file.path
        ))
    })?;
    *token = content.trim().to_string();
    Ok(())
}

pub fn load_server(path: &Path) -> Result<ServerConfig, ConfigError> {
    let text = read(path)?;
    let mut cfg: ServerConfig = parse_toml(path, &text)?;
    finish_server(path, &mut cfg)?;
    Ok(cfg)
}

pub fn finish_server(path: &Path, cfg: &mut ServerConfig) -> Result<(), ConfigError> {
    cfg.validate().map_err(|message| ConfigError::Invalid {
        path: path.to_path_buf(),
        message,
    })?;
    let source = cfg.auth.token_source.take();
    resolve_token_source(path, &mut cfg.auth.token, &source)?;
    cfg.complete();
    Ok(())
}

pub fn load_client(path: &Path) -> Result<ClientConfig, ConfigError> {
    let text = read(path)?;
    let mut cfg: ClientConfig = parse_toml(path, &text)?;
    finish_client(path, &mut cfg)?;
    Ok(cfg)
}

pub fn finish_client(path: &Path, cfg: &mut ClientConfig) -> Result<(), ConfigError> {
    let invalid = |message: String| ConfigError::Invalid {
        path: path.to_path_buf(),
        message,
    };
    cfg.validate().map_err(invalid)?;
    let source = cfg.auth.token_source.take();
    resolve_token_source(path, &mut cfg.auth.token, &source)?;
    cfg.complete();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(text: &str) -> tempfile::NamedTempFile {
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), text).unwrap();
        f
    }

    #[test]
    fn server_defaults_and_overrides() {
        let f = write("bindPort = 7100\nauth.token = \"abc\"\ntransport.tcpMux = false\nallowPorts = [{ start = 2000, end = 3000 }, { single = 3001 }]\n");
        let c = load_server(f.path()).unwrap();
        assert_eq!(c.bind_port, 7100);
        assert_eq!(c.bind_addr, "0.0.0.0");
        assert_eq!(c.proxy_bind_addr, "0.0.0.0");
        assert_eq!(c.auth.token, "abc");
        assert_eq!(c.heartbeat_timeout(), 90);
        assert!(c.port_allowed(2500) && c.port_allowed(3001) && !c.port_allowed(3002));
        assert_eq!(c.user_conn_timeout, 10);
        assert_eq!(c.transport.max_pool_count, 5);
    }

    #[test]
    fn client_proxies_and_prefix() {
        let f = write(
            r#"
serverAddr = "127.0.0.1"
serverPort = 7000
user = "u"
auth.token = "t"

[[proxies]]
name = "ssh"
type = "tcp"
localPort = 22
remotePort = 6000
transport.useEncryption = true
"#,
        );
        let c = load_client(f.path()).unwrap();
        assert_eq!(c.proxies[0].name, "u.ssh");
        assert_eq!(c.proxies[0].remote_port, Some(6000));
        assert!(c.proxies[0].transport.use_encryption);
        assert_eq!(c.heartbeat_interval(), -1);
        assert!(c.transport.tls.enable);
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let f = write("serverPort = 7000\nbogusKey = 1\n");
        let e = load_client(f.path()).unwrap_err().to_string();
        assert!(e.contains(&f.path().display().to_string()), "{e}");
        assert!(e.contains(":2:"), "{e}");
        assert!(e.contains("bogusKey"), "{e}");

        let f = write(
            "[[proxies]]\nname = \"a\"\ntype = \"tcp\"\nlocalPort = 1\ncustomDomains = [\"x\"]\n",
        );
        let e = load_client(f.path()).unwrap_err().to_string();
        assert!(
            e.contains("customDomains") && e.contains("proxy [a]"),
            "{e}"
        );

        let f = write("bindPort = \"x\"\n");
        let e = load_server(f.path()).unwrap_err().to_string();
        assert!(e.contains(":1:"), "{e}");
    }
}

/// How to load: frp's `--strict_config` (default true).
#[derive(Debug, Clone, Copy)]
pub struct LoadOptions {
    pub strict: bool,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions { strict: true }
    }
}

/// What a load found besides the config: warnings to print.
#[derive(Debug, Default, Clone)]
pub struct LoadReport {
    pub warnings: Vec<String>,
}

pub fn load_server_with(
    path: &Path,
    _opts: LoadOptions,
) -> Result<(ServerConfig, LoadReport), ConfigError> {
    load_server(path).map(|c| (c, LoadReport::default()))
}

pub fn load_client_with(
    path: &Path,
    _opts: LoadOptions,
) -> Result<(ClientConfig, LoadReport), ConfigError> {
    load_client(path).map(|c| (c, LoadReport::default()))
}
