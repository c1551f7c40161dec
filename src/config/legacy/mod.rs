//! The deprecated INI format (`frps.ini` / `frpc.ini`), converted key by key into a v1 document
//! (config.md §6, frp's `pkg/config/legacy/*.go`).
//!
//! The output is JSON with the v1 camelCase keys, holding only what the INI file set (plus the
//! INI defaults that differ from v1); the caller deserialises it into the v1 structs and then
//! applies the v1 defaults and validation, as frp does after `conversion.go`.
//!
//! The INI text itself is read by [`ini`], following ini.v1's rules.
//!
//! # Values
//!
//! frp maps sections onto structs with ini.v1's non-strict `MapTo`, which silently keeps the
//! default when a value does not parse (`bind_port = abc`). Here such a value is an error naming
//! section and key. Integers accept Go's `ParseInt(s, 0, 64)` forms (`0x1F`, `0o17`, `017`,
//! `1_000`); Go's extra reading of `90s` as a duration in nanoseconds is rejected as an error.
//! Booleans accept Go's `1 t T true TRUE True yes YES Yes y on ON On` and the false forms.
//! An empty value sets nothing (ini.v1 skips empty strings and unparsable numbers).
//! An integer set to 0 is left out: frp's conversion cannot tell 0 from unset and v1's
//! `Complete()` then applies the v1 default (`EmptyOr`), which the caller's serde defaults do.
//! Keys frp does not know are ignored, as frp does, and listed in [`Converted::unknown_keys`].

use std::collections::BTreeSet;

use serde_json::{Map, Value};

mod client;
mod ini;
mod server;

pub(crate) use ini::{IniFile, IniSection, DEFAULT_SECTION};

pub use client::{client_ini_convert, client_ini_to_v1};
pub use server::{server_ini_convert, server_ini_to_v1};

/// An error in a legacy INI file, naming the section and key when known.
#[derive(Debug, thiserror::Error)]
#[error("{}{}{message}", section.as_ref().map(|s| format!("[{s}] ")).unwrap_or_default(), key.as_ref().map(|k| format!("{k}: ")).unwrap_or_default())]
pub struct LegacyError {
    pub section: Option<String>,
    pub key: Option<String>,
    pub message: String,
}

impl LegacyError {
    pub(crate) fn new(
        section: Option<&str>,
        key: Option<&str>,
        message: impl Into<String>,
    ) -> Self {
        LegacyError {
            section: section.map(str::to_string),
            key: key.map(str::to_string),
            message: message.into(),
        }
    }

    pub(crate) fn at(section: &str, key: &str, message: impl Into<String>) -> Self {
        Self::new(Some(section), Some(key), message)
    }
}

/// A converted v1 document plus the INI keys frp's legacy loader does not know (it ignores them;
/// so does the conversion). Each entry reads `[section] key`, or `[section]` for a whole section
/// frps ignores.
#[derive(Debug, Clone, PartialEq)]
pub struct Converted {
    pub value: Value,
    pub unknown_keys: Vec<String>,
}

/// True if `text` parses as INI and has a `[common]` section (frp's detection rule, §1.1).
pub fn is_legacy_ini(text: &str) -> bool {
    IniFile::parse(text)
        .map(|f| f.section("common").is_some())
        .unwrap_or(false)
}

// ---------------------------------------------------------------------------------------------
// Value conversions (Go semantics)

/// Go `strconv.ParseInt(s, 0, 64)`.
pub(crate) fn parse_go_int(s: &str) -> Option<i64> {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'+') => (false, &s[1..]),
        Some(b'-') => (true, &s[1..]),
        _ => (false, s),
    };
    let b = body.as_bytes();
    if b.is_empty() {
        return None;
    }
    let (radix, digits) = if b[0] == b'0' {
        match b.get(1).map(|c| c | 0x20) {
            Some(b'b') if b.len() >= 3 => (2, &body[2..]),
            Some(b'o') if b.len() >= 3 => (8, &body[2..]),
            Some(b'x') if b.len() >= 3 => (16, &body[2..]),
            _ => (8, &body[1..]),
        }
    } else {
        (10, body)
    };
    if digits.contains('_') && !crate::config::template::underscore_ok(body) {
        return None;
    }
    let cleaned: String = digits.chars().filter(|&c| c != '_').collect();
    if cleaned.is_empty() {
        // Only "0" (and "-0", "+0") get here with nothing after the octal prefix.
        return digits.is_empty().then_some(0);
    }
    if !cleaned.chars().all(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    let magnitude = u64::from_str_radix(&cleaned, radix).ok()?;
    if neg {
        if magnitude <= i64::MAX as u64 + 1 {
            Some((magnitude as i64).wrapping_neg())
        } else {
            None
        }
    } else {
        i64::try_from(magnitude).ok()
    }
}

/// ini.v1 `parseBool`.
pub(crate) fn parse_go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "true" | "TRUE" | "True" | "YES" | "yes" | "Yes" | "y" | "ON" | "on"
        | "On" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" | "NO" | "no" | "No" | "n" | "OFF"
        | "off" | "Off" => Some(false),
        _ => None,
    }
}

/// ini.v1 `Key.Strings(",")`: split on `,`, trim items, `\,` is a literal comma, `\\` a
/// backslash; empty items in the middle are kept, a trailing empty item is dropped.
pub(crate) fn split_list(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    if s.is_empty() {
        return out;
    }
    let mut buf = String::new();
    let mut escape = false;
    // A trailing lone backslash is dropped, as in ini.v1.
    for c in s.chars() {
        if escape {
            escape = false;
            if c != '\\' && c != ',' {
                buf.push('\\');
            }
            buf.push(c);
        } else if c == '\\' {
            escape = true;
        } else if c == ',' {
            out.push(buf.trim().to_string());
            buf.clear();
        } else {
            buf.push(c);
        }
    }
    if !buf.is_empty() {
        out.push(buf.trim().to_string());
    }
    out
}

/// frp's `util.ParseRangeNumbers`: `"6010-6020,6022"` → every number (base 10).
pub(crate) fn parse_range_numbers(s: &str) -> Result<Vec<i64>, String> {
    const LIMIT: i64 = 65536;
    let mut out = Vec::new();
    for item in s.trim().split(',') {
        let num = |t: &str| {
            t.trim()
                .parse::<i64>()
                .map_err(|_| format!("range number is invalid: '{item}'"))
        };
        let parts: Vec<&str> = item.split('-').collect();
        match parts.as_slice() {
            [one] => out.push(num(one)?),
            [lo, hi] => {
                let (lo, hi) = (num(lo)?, num(hi)?);
                if hi < lo {
                    return Err(format!("range number is invalid: '{item}'"));
                }
                // frp has no limit; a port range cannot need more numbers than this.
                if hi - lo >= LIMIT || out.len() as i64 + (hi - lo) >= LIMIT {
                    return Err(format!("range '{item}' is too large"));
                }
                out.extend(lo..=hi);
            }
            _ => return Err(format!("range number is invalid: '{item}'")),
        }
    }
    Ok(out)
}

/// `allow_ports = 2000-3000,3001` → `[{start,end},{single}]` (frp drops the whole list on a
/// bad item; here it is an error).
pub(crate) fn parse_ports_ranges(s: &str) -> Result<Value, String> {
    let ranges = crate::config::types::parse_port_ranges(s)?;
    Ok(Value::Array(
        ranges
            .iter()
            .map(|r| match r.single {
                0 => serde_json::json!({ "start": r.start, "end": r.end }),
                n => serde_json::json!({ "single": n }),
            })
            .collect(),
    ))
}

// ---------------------------------------------------------------------------------------------
// Section → JSON

/// Set `root.a.b.c = v` for the path `"a.b.c"`, creating objects on the way.
pub(crate) fn put(root: &mut Map<String, Value>, path: &str, v: Value) {
    let parts: Vec<&str> = path.split('.').collect();
    put_parts(root, &parts, v);
}

fn put_parts(root: &mut Map<String, Value>, path: &[&str], v: Value) {
    match path {
        [] => {}
        [last] => {
            root.insert((*last).to_string(), v);
        }
        [first, rest @ ..] => {
            let entry = root
                .entry((*first).to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(m) = entry {
                put_parts(m, rest, v);
            } else {
                let mut m = Map::new();
                put_parts(&mut m, rest, v);
                *entry = Value::Object(m);
            }
        }
    }
}

/// How an INI value becomes a v1 value.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    /// Non-empty string.
    Str,
    /// Integer, left out when 0 (v1 `EmptyOr` default).
    Int,
    /// Integer, kept even when 0 (`remotePort = 0` means "any port").
    IntKeep,
    /// Integer, left out when ≤ 0 (legacy xtcp visitor fields reset those to the default).
    IntPos,
    Bool,
    /// Comma-separated list, left out when empty.
    List,
}

/// One row of a mapping table: INI key, v1 path, kind.
pub(crate) type Field = (&'static str, &'static str, Kind);

/// Typed reads from one section, remembering which keys were read.
pub(crate) struct SectionReader<'a> {
    file: &'a IniFile,
    sec: &'a IniSection,
    used: BTreeSet<String>,
}

impl<'a> SectionReader<'a> {
    pub fn new(file: &'a IniFile, sec: &'a IniSection) -> Self {
        SectionReader {
            file,
            sec,
            used: BTreeSet::new(),
        }
    }

    pub fn name(&self) -> &'a str {
        &self.sec.name
    }

    pub fn err(&self, key: &str, message: impl Into<String>) -> LegacyError {
        LegacyError::at(&self.sec.name, key, message)
    }

    /// Count `key` as known without reading it.
    pub fn mark(&mut self, key: &str) {
        self.used.insert(key.to_string());
    }

    /// The value of `key` (own or inherited, `%(x)s` expanded), `None` if absent.
    pub fn value(&mut self, key: &str) -> Result<Option<String>, LegacyError> {
        self.mark(key);
        match self.file.lookup(&self.sec.name, key) {
            None => Ok(None),
            Some((holder, raw)) => self
                .file
                .expand(holder, key, raw)
                .map(Some)
                .map_err(|m| self.err(key, m)),
        }
    }

    /// A non-empty string value.
    pub fn string(&mut self, key: &str) -> Result<Option<String>, LegacyError> {
        Ok(self.value(key)?.filter(|v| !v.is_empty()))
    }

    pub fn int(&mut self, key: &str) -> Result<Option<i64>, LegacyError> {
        match self.string(key)? {
            None => Ok(None),
            Some(v) => parse_go_int(&v)
                .map(Some)
                .ok_or_else(|| self.err(key, format!("invalid integer '{v}'"))),
        }
    }

    pub fn bool(&mut self, key: &str) -> Result<Option<bool>, LegacyError> {
        match self.string(key)? {
            None => Ok(None),
            Some(v) => parse_go_bool(&v)
                .map(Some)
                .ok_or_else(|| self.err(key, format!("invalid boolean '{v}'"))),
        }
    }

    pub fn list(&mut self, key: &str) -> Result<Option<Vec<String>>, LegacyError> {
        Ok(self
            .value(key)?
            .map(|v| split_list(&v))
            .filter(|l| !l.is_empty()))
    }

    /// The section's own keys starting with `prefix` (ini.v1 `KeysHash`: raw values, no
    /// inheritance, no `%(x)s` expansion), with the prefix removed. Marks them as known.
    pub fn prefixed(&mut self, prefix: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (k, v) in &self.sec.keys {
            if let Some(rest) = k.strip_prefix(prefix) {
                out.push((rest.to_string(), v.clone()));
                self.used.insert(k.clone());
            }
        }
        out
    }

    /// The raw value of the section's own `key`, without marking it as known.
    pub fn own(&self, key: &str) -> Option<&'a str> {
        self.sec.get(key)
    }

    /// Apply a mapping table.
    pub fn apply(
        &mut self,
        out: &mut Map<String, Value>,
        fields: &[Field],
    ) -> Result<(), LegacyError> {
        for &(key, path, kind) in fields {
            let v = match kind {
                Kind::Str => self.string(key)?.map(Value::from),
                Kind::Int => self.int(key)?.filter(|&n| n != 0).map(Value::from),
                Kind::IntKeep => self.int(key)?.map(Value::from),
                Kind::IntPos => self.int(key)?.filter(|&n| n > 0).map(Value::from),
                Kind::Bool => self.bool(key)?.map(Value::from),
                Kind::List => self.list(key)?.map(Value::from),
            };
            if let Some(v) = v {
                put(out, path, v);
            }
        }
        Ok(())
    }

    /// `authenticate_heartbeats` / `authenticate_new_work_conns` → `auth.additionalScopes`.
    pub fn auth_scopes(&mut self, out: &mut Map<String, Value>) -> Result<(), LegacyError> {
        let mut scopes = Vec::new();
        if self.bool("authenticate_heartbeats")? == Some(true) {
            scopes.push(Value::from("HeartBeats"));
        }
        if self.bool("authenticate_new_work_conns")? == Some(true) {
            scopes.push(Value::from("NewWorkConns"));
        }
        if !scopes.is_empty() {
            put(out, "auth.additionalScopes", Value::Array(scopes));
        }
        Ok(())
    }

    /// Own keys never read, as `[section] key`.
    pub fn unknown(&self) -> Vec<String> {
        self.sec
            .keys
            .iter()
            .filter(|(k, _)| !self.used.contains(k))
            .map(|(k, _)| format!("[{}] {k}", self.sec.name))
            .collect()
    }
}

/// `key = value` pairs as a JSON object.
pub(crate) fn object(pairs: Vec<(String, String)>) -> Value {
    Value::Object(
        pairs
            .into_iter()
            .map(|(k, v)| (k, Value::from(v)))
            .collect(),
    )
}

/// Keys before the first section: frp ignores them (they only serve `%(x)s` references).
pub(crate) fn default_section_keys(file: &IniFile) -> Vec<String> {
    file.section(DEFAULT_SECTION)
        .map(|s| {
            s.keys
                .iter()
                .map(|(k, _)| format!("[{DEFAULT_SECTION}] {k}"))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> IniFile {
        IniFile::parse(text).unwrap()
    }

    fn get<'a>(f: &'a IniFile, sec: &str, key: &str) -> Option<&'a str> {
        f.section(sec).and_then(|s| s.get(key))
    }

    #[test]
    fn ini_inline_comments_are_kept_and_line_comments_dropped() {
        let f =
            parse("# top\n[common]\n  ; indented comment\ntoken = abc # not a comment\nx=1;2\n");
        assert_eq!(get(&f, "common", "token"), Some("abc # not a comment"));
        assert_eq!(get(&f, "common", "x"), Some("1;2"));
        assert_eq!(f.section("common").unwrap().keys.len(), 2);
    }

    #[test]
    fn ini_boolean_keys_colon_delimiter_and_case() {
        let f = parse("[common]\ntls_enable\nserver_addr: 10.0.0.1\nToken = A\ntoken = b\n");
        assert_eq!(get(&f, "common", "tls_enable"), Some("true"));
        assert_eq!(get(&f, "common", "server_addr"), Some("10.0.0.1"));
        assert_eq!(get(&f, "common", "Token"), Some("A"));
        assert_eq!(get(&f, "common", "token"), Some("b"));
    }

    #[test]
    fn ini_quotes_continuations_and_multiline() {
        let f = parse(concat!(
            "[s]\n",
            "a = \"quoted value\"\n",
            "b = 'single'\n",
            "c = \"not\" stripped\n",
            "d = \"a\"b\"\n",
            "e = one \\\n  two\\\n three\n",
            "f = \"\"\"line1\nline2\"\"\"\n",
            "g = `raw # x`\n",
            "h =\n",
        ));
        assert_eq!(get(&f, "s", "a"), Some("quoted value"));
        assert_eq!(get(&f, "s", "b"), Some("single"));
        assert_eq!(get(&f, "s", "c"), Some("\"not\" stripped"));
        assert_eq!(get(&f, "s", "d"), Some("\"a\"b\""));
        assert_eq!(get(&f, "s", "e"), Some("one twothree"));
        assert_eq!(get(&f, "s", "f"), Some("line1\nline2"));
        assert_eq!(get(&f, "s", "g"), Some("raw # x"));
        assert_eq!(get(&f, "s", "h"), Some(""));
    }

    #[test]
    fn ini_sections_merge_and_take_text_to_last_bracket() {
        let f = parse("[a]\nx = 1\n[b] # c\n[a]\nx = 2\ny = 3\n[[proxies]]\n\r\n[c]\r\nk = v\r\n");
        assert_eq!(get(&f, "a", "x"), Some("2"));
        assert_eq!(get(&f, "a", "y"), Some("3"));
        assert!(f.section("b").is_some());
        assert!(f.section("[proxies]").is_some());
        assert_eq!(get(&f, "c", "k"), Some("v"));
        let names: Vec<&str> = f.sections.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["DEFAULT", "a", "b", "[proxies]", "c"]);
    }

    #[test]
    fn ini_parse_errors() {
        assert!(IniFile::parse("[common\nx = 1\n").is_err());
        assert!(IniFile::parse("[]\n").is_err());
        assert!(IniFile::parse("[common]\n= 1\n").is_err());
        assert!(IniFile::parse("[common]\nx = \"\"\"abc\n").is_err());
    }

    #[test]
    fn ini_child_sections_and_references() {
        let f = parse(concat!(
            "base = /srv\n",
            "[web]\ntype = http\nport = 80\n",
            "[web.1]\nlocal_port = %(port)s\npath = %(base)s/www\nloop = %(loop)s\n",
            "[other.1]\nk = v\n",
        ));
        assert_eq!(f.lookup("web.1", "type"), Some(("web", "http")));
        assert_eq!(f.lookup("other.1", "type"), None);
        let sec = f.section("web.1").unwrap();
        let mut r = SectionReader::new(&f, sec);
        assert_eq!(r.value("local_port").unwrap().as_deref(), Some("80"));
        assert_eq!(r.value("path").unwrap().as_deref(), Some("/srv/www"));
        let e = r.value("loop").unwrap_err();
        assert_eq!(e.section.as_deref(), Some("web.1"));
        assert_eq!(e.key.as_deref(), Some("loop"));
    }

    #[test]
    fn detection() {
        assert!(is_legacy_ini("[common]\nbind_port = 7000\n"));
        assert!(is_legacy_ini("# x\n[common] # frps\n"));
        assert!(!is_legacy_ini("bindPort = 7000\n"));
        assert!(!is_legacy_ini("[[proxies]]\nname = \"a\"\n"));
        assert!(!is_legacy_ini("[common\n"));
        // A TOML file with a [common] table is detected as INI, as in frp.
        assert!(is_legacy_ini(
            "[common]\nbindPort = 7000\nallowPorts = [\n  { single = 1 },\n]\n"
        ));
    }

    #[test]
    fn go_integers() {
        assert_eq!(parse_go_int("7000"), Some(7000));
        assert_eq!(parse_go_int("-1"), Some(-1));
        assert_eq!(parse_go_int("+5"), Some(5));
        assert_eq!(parse_go_int("0"), Some(0));
        assert_eq!(parse_go_int("0x1F"), Some(31));
        assert_eq!(parse_go_int("0o17"), Some(15));
        assert_eq!(parse_go_int("017"), Some(15));
        assert_eq!(parse_go_int("0b101"), Some(5));
        assert_eq!(parse_go_int("1_000"), Some(1000));
        assert_eq!(parse_go_int("-9223372036854775808"), Some(i64::MIN));
        for bad in [
            "",
            "abc",
            "08",
            "1_",
            "_1",
            "1__0",
            "0x",
            "90s",
            "1.5",
            "9223372036854775808",
            "0+7",
            " 1",
        ] {
            assert_eq!(parse_go_int(bad), None, "{bad}");
        }
    }

    #[test]
    fn go_bools_and_lists() {
        assert_eq!(parse_go_bool("on"), Some(true));
        assert_eq!(parse_go_bool("F"), Some(false));
        assert_eq!(parse_go_bool("tRue"), None);
        assert_eq!(split_list("a, b ,c"), ["a", "b", "c"]);
        assert_eq!(split_list("a,,b,"), ["a", "", "b"]);
        assert_eq!(split_list("a\\,b,c\\d"), ["a,b", "c\\d"]);
        assert!(split_list("").is_empty());
    }

    #[test]
    fn ranges() {
        assert_eq!(
            parse_range_numbers("6010-6012, 6022").unwrap(),
            [6010, 6011, 6012, 6022]
        );
        assert!(parse_range_numbers("3-1").is_err());
        assert!(parse_range_numbers("1-2-3").is_err());
        assert!(parse_range_numbers("x").is_err());
        assert!(parse_range_numbers("1-100000000").is_err());
        assert_eq!(
            parse_ports_ranges("2000-3000,3001").unwrap(),
            serde_json::json!([{ "start": 2000, "end": 3000 }, { "single": 3001 }])
        );
        assert!(parse_ports_ranges("2000-3000,").is_err());
    }

    #[test]
    fn error_display() {
        let e = LegacyError::at("common", "bind_port", "invalid integer 'abc'");
        assert_eq!(e.to_string(), "[common] bind_port: invalid integer 'abc'");
        let e = LegacyError::new(None, None, "line 3: empty key name");
        assert_eq!(e.to_string(), "line 3: empty key name");
    }
}
