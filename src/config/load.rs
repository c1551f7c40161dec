//! Loading config files as frp v0.65.0 does (config.md §1): detect the format by content
//! (legacy INI with `[common]`, else TOML, JSON, YAML), render templates, decode with
//! case-insensitive keys (strict mode refuses unknown ones), add included proxies, complete
//! defaults and validate. Every error names the file and, where the format allows, the line and
//! the key.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::client::ClientConfig;
use super::normalize::{normalize, Sample};
use super::server::ServerConfig;
use super::types::{Secret, ValueSource};
use super::{glob, legacy, template};

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

impl ConfigError {
    fn invalid(path: &Path, message: impl Into<String>) -> Self {
        ConfigError::Invalid {
            path: path.to_path_buf(),
            message: message.into(),
        }
    }
}

/// The formats frp reads, detected by content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    LegacyIni,
    Toml,
    Json,
    Yaml,
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

/// Where a running daemon's configuration came from, so that a reload can read it again.
#[derive(Debug, Clone)]
pub struct ConfigSource {
    pub path: std::path::PathBuf,
    pub opts: LoadOptions,
}

impl ConfigSource {
    pub fn load_server(&self) -> Result<(ServerConfig, LoadReport), ConfigError> {
        load_server_to_run(&self.path, self.opts)
    }

    pub fn load_client(&self) -> Result<(ClientConfig, LoadReport), ConfigError> {
        load_client_to_run(&self.path, self.opts)
    }
}

/// What a load found besides the config: the format and warnings to print.
#[derive(Debug, Default, Clone)]
pub struct LoadReport {
    pub format: Option<Format>,
    pub warnings: Vec<String>,
}

fn read(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })
}

pub fn load_server(path: &Path) -> Result<ServerConfig, ConfigError> {
    load_server_with(path, LoadOptions::default()).map(|(c, _)| c)
}

pub fn load_client(path: &Path) -> Result<ClientConfig, ConfigError> {
    load_client_with(path, LoadOptions::default()).map(|(c, _)| c)
}

/// Load a file to run it (start, reload, `verify`): as [`load_server_with`], and refuse what
/// this build cannot run yet ([`super::support`]), naming the file. The plain loaders read
/// frp's whole schema.
pub fn load_server_to_run(
    path: &Path,
    opts: LoadOptions,
) -> Result<(ServerConfig, LoadReport), ConfigError> {
    let (cfg, report) = load_server_with(path, opts)?;
    super::support::server(&cfg).map_err(|m| ConfigError::invalid(path, m))?;
    Ok((cfg, report))
}

/// The client's [`load_server_to_run`].
pub fn load_client_to_run(
    path: &Path,
    opts: LoadOptions,
) -> Result<(ClientConfig, LoadReport), ConfigError> {
    let (cfg, report) = load_client_with(path, opts)?;
    super::support::client(&cfg).map_err(|m| ConfigError::invalid(path, m))?;
    Ok((cfg, report))
}

pub fn load_server_with(
    path: &Path,
    opts: LoadOptions,
) -> Result<(ServerConfig, LoadReport), ConfigError> {
    let text = read(path)?;
    let mut report = LoadReport::default();
    let mut cfg: ServerConfig = if legacy::is_legacy_ini(&text) {
        report.format = Some(Format::LegacyIni);
        report.warnings.push(deprecation_warning(path));
        let rendered = render(path, &text, false)?;
        let v1 = legacy::server_ini_to_v1(&rendered)
            .map_err(|e| ConfigError::invalid(path, e.to_string()))?;
        decode_value(path, v1)?
    } else {
        let (cfg, format) = decode_document(path, &text, opts.strict)?;
        report.format = Some(format);
        cfg
    };
    finish_server(path, &mut cfg)?;
    Ok((cfg, report))
}

pub fn load_client_with(
    path: &Path,
    opts: LoadOptions,
) -> Result<(ClientConfig, LoadReport), ConfigError> {
    let text = read(path)?;
    let mut report = LoadReport::default();
    let mut cfg: ClientConfig = if legacy::is_legacy_ini(&text) {
        report.format = Some(Format::LegacyIni);
        report.warnings.push(deprecation_warning(path));
        let rendered = render(path, &text, false)?;
        // Relative include paths resolve against the working directory, as in frp.
        let base = Path::new(".");
        let render_include =
            |t: &str| template::render_with_env(t, false).map_err(|e| e.to_string());
        let v1 = legacy::client_ini_to_v1(&rendered, base, &render_include)
            .map_err(|e| ConfigError::invalid(path, e.to_string()))?;
        decode_value(path, v1)?
    } else {
        let (mut cfg, format): (ClientConfig, Format) = decode_document(path, &text, opts.strict)?;
        report.format = Some(format);
        add_includes(path, &mut cfg, opts)?;
        cfg
    };
    finish_client(path, &mut cfg)?;
    Ok((cfg, report))
}

fn deprecation_warning(path: &Path) -> String {
    format!(
        "{}: the legacy INI config format is deprecated (as in frp); it still works, but please move to TOML, YAML or JSON",
        path.display()
    )
}

fn render(path: &Path, text: &str, number_funcs: bool) -> Result<String, ConfigError> {
    template::render_with_env(text, number_funcs).map_err(|e| ConfigError::Parse {
        path: path.to_path_buf(),
        line: e.line,
        column: 0,
        message: format!("template: {}", e.message),
    })
}

/// A v1 document (TOML, JSON or YAML) after template rendering.
pub fn decode_document<T: DeserializeOwned + Sample>(
    path: &Path,
    text: &str,
    strict: bool,
) -> Result<(T, Format), ConfigError> {
    let rendered = render(path, text, true)?;
    let (format, value) = parse_any(path, &rendered)?;
    // A direct typed decode gives the best located errors; keys that differ from ours only in
    // case (Go matches them case-insensitively) or unknown keys in non-strict mode make it fail,
    // so then decode the normalised value instead, and report the direct error if that fails too.
    let direct: Result<T, ConfigError> = match format {
        V1::Toml => toml::from_str(&rendered).map_err(|e| toml_error(path, &rendered, e)),
        V1::Json => serde_json::from_str(&rendered).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            line: e.line(),
            column: e.column(),
            message: friendly(&strip_location(&e.to_string())),
        }),
        V1::Yaml => serde_yaml::from_str(&strip_dot_keys(&rendered, strict))
            .map_err(|e| yaml_error(path, e)),
    };
    let format_out = Format::from(format);
    match direct {
        Ok(cfg) => Ok((cfg, format_out)),
        Err(direct_err) => {
            let value = if format == V1::Yaml {
                drop_dot_keys(value, strict)
            } else {
                value
            };
            match normalize(value, &T::sample_value(), strict) {
                Ok(v) => serde_json::from_value(v)
                    .map(|c| (c, format_out))
                    .map_err(|_| direct_err),
                Err(_) => Err(direct_err),
            }
        }
    }
}

/// The v1 formats, which share one decoding path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum V1 {
    Toml,
    Json,
    Yaml,
}

impl From<V1> for Format {
    fn from(f: V1) -> Format {
        match f {
            V1::Toml => Format::Toml,
            V1::Json => Format::Json,
            V1::Yaml => Format::Yaml,
        }
    }
}

/// Decode an already-built v1 value (from the INI mapping): keys are ours, so no normalising.
fn decode_value<T: DeserializeOwned>(path: &Path, v: Value) -> Result<T, ConfigError> {
    serde_json::from_value(v).map_err(|e| ConfigError::invalid(path, e.to_string()))
}

/// frp's detection: TOML if it parses as TOML, else JSON if it starts with `{`, else YAML.
fn parse_any(path: &Path, text: &str) -> Result<(V1, Value), ConfigError> {
    let toml_result = text.parse::<toml::Table>();
    if let Ok(table) = toml_result {
        let v =
            serde_json::to_value(table).map_err(|e| ConfigError::invalid(path, e.to_string()))?;
        return Ok((V1::Toml, v));
    }
    if text.trim_start().starts_with('{') {
        return serde_json::from_str::<Value>(text)
            .map(|v| (V1::Json, v))
            .map_err(|e| ConfigError::Parse {
                path: path.to_path_buf(),
                line: e.line(),
                column: e.column(),
                message: friendly(&strip_location(&e.to_string())),
            });
    }
    match serde_yaml::from_str::<Value>(text) {
        Ok(v) if v.is_object() || v.is_null() => Ok((
            V1::Yaml,
            if v.is_null() {
                Value::Object(Default::default())
            } else {
                v
            },
        )),
        Ok(_) => {
            // Neither TOML nor a YAML mapping: the TOML error is the most useful one to show.
            Err(match text.parse::<toml::Table>() {
                Err(e) => toml_error(path, text, e),
                Ok(_) => ConfigError::invalid(path, "not a config document"),
            })
        }
        Err(yaml_err) => {
            // If the text looks like TOML (has `key = value` or `[table]` lines), show the TOML
            // error: that is what the author meant.
            let looks_toml = text.lines().any(|l| {
                let l = l.trim();
                l.starts_with('[') || (l.contains('=') && !l.contains(": "))
            });
            match text.parse::<toml::Table>() {
                Err(e) if looks_toml => Err(toml_error(path, text, e)),
                _ => Err(yaml_error(path, yaml_err)),
            }
        }
    }
}

fn toml_error(path: &Path, text: &str, e: toml::de::Error) -> ConfigError {
    let (line, column) = e.span().map(|s| line_col(text, s.start)).unwrap_or((0, 0));
    let mut message = friendly(e.message().trim()).replace('\n', " ");
    // A type error points at the value; name the key written before it on that line.
    if let Some(key) = text
        .lines()
        .nth(line.wrapping_sub(1))
        .and_then(|l| l.split_once('='))
        .map(|(k, _)| k.trim())
    {
        if !key.is_empty() && !key.starts_with('[') && !message.contains(key) {
            message = format!("{key}: {message}");
        }
    }
    ConfigError::Parse {
        path: path.to_path_buf(),
        line,
        column,
        message,
    }
}

/// serde's type names are Rust's; say what a person writing the file knows.
fn friendly(msg: &str) -> String {
    msg.replace("expected i64", "expected an integer")
        .replace("expected u16", "expected an integer between 0 and 65535")
        .replace("expected u32", "expected a non-negative integer")
}

/// serde_json and serde_yaml append " at line X column Y"; we show the location ourselves.
fn strip_location(msg: &str) -> String {
    msg.split(" at line ").next().unwrap_or(msg).to_string()
}

fn yaml_error(path: &Path, e: serde_yaml::Error) -> ConfigError {
    let (line, column) = e
        .location()
        .map(|l| (l.line(), l.column()))
        .unwrap_or((0, 0));
    ConfigError::Parse {
        path: path.to_path_buf(),
        line,
        column,
        message: friendly(&strip_location(&e.to_string())),
    }
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map(|i| i + 1).unwrap_or(0) + 1;
    (line, column)
}

/// In strict YAML mode frp removes top-level keys starting with `.` (anchor holders).
fn strip_dot_keys(text: &str, strict: bool) -> String {
    if !strict {
        return text.to_string();
    }
    match serde_yaml::from_str::<serde_yaml::Value>(text) {
        Ok(serde_yaml::Value::Mapping(mut m)) => {
            let dot: Vec<serde_yaml::Value> = m
                .keys()
                .filter(|k| k.as_str().is_some_and(|s| s.starts_with('.')))
                .cloned()
                .collect();
            if dot.is_empty() {
                return text.to_string();
            }
            for k in dot {
                m.remove(&k);
            }
            serde_yaml::to_string(&serde_yaml::Value::Mapping(m))
                .unwrap_or_else(|_| text.to_string())
        }
        _ => text.to_string(),
    }
}

fn drop_dot_keys(v: Value, strict: bool) -> Value {
    match v {
        Value::Object(mut m) if strict => {
            m.retain(|k, _| !k.starts_with('.'));
            Value::Object(m)
        }
        other => other,
    }
}

/// frpc `includes`: every file matching each glob is a full client document of which only
/// `proxies` and `visitors` are used.
fn add_includes(path: &Path, cfg: &mut ClientConfig, opts: LoadOptions) -> Result<(), ConfigError> {
    for pattern in cfg.includes.clone() {
        let files = glob::glob_files(Path::new(&pattern))
            .map_err(|e| ConfigError::invalid(path, format!("includes: {pattern}: {e}")))?;
        for file in files {
            let text = read(&file)?;
            if legacy::is_legacy_ini(&text) {
                return Err(ConfigError::invalid(
                    &file,
                    "included files cannot be legacy INI",
                ));
            }
            let (inc, _): (ClientConfig, Format) = decode_document(&file, &text, opts.strict)?;
            cfg.proxies.extend(inc.proxies);
            cfg.visitors.extend(inc.visitors);
        }
    }
    Ok(())
}

/// `auth.tokenSource = { type = "file", file = { path = ... } }` → the file's trimmed content.
fn resolve_token_source(
    path: &Path,
    token: &mut Secret,
    source: &Option<ValueSource>,
) -> Result<(), ConfigError> {
    let Some(src) = source else { return Ok(()) };
    if src.kind != "file" {
        return Err(ConfigError::invalid(
            path,
            format!(
                "auth.tokenSource.type: only 'file' is supported, got '{}'",
                src.kind
            ),
        ));
    }
    let file = src
        .file
        .as_ref()
        .filter(|f| !f.path.is_empty())
        .ok_or_else(|| ConfigError::invalid(path, "auth.tokenSource.file.path: must be set"))?;
    let content = std::fs::read_to_string(&file.path).map_err(|e| {
        ConfigError::invalid(
            path,
            format!("auth.tokenSource.file.path: cannot read {}: {e}", file.path),
        )
    })?;
    *token = Secret::new(content.trim());
    Ok(())
}

pub fn finish_server(path: &Path, cfg: &mut ServerConfig) -> Result<(), ConfigError> {
    cfg.validate().map_err(|m| ConfigError::invalid(path, m))?;
    let source = cfg.auth.token_source.take();
    resolve_token_source(path, &mut cfg.auth.token, &source)?;
    cfg.complete();
    Ok(())
}

pub fn finish_client(path: &Path, cfg: &mut ClientConfig) -> Result<(), ConfigError> {
    cfg.validate().map_err(|m| ConfigError::invalid(path, m))?;
    let source = cfg.auth.token_source.take();
    resolve_token_source(path, &mut cfg.auth.token, &source)?;
    cfg.complete();
    Ok(())
}
