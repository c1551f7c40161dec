//! Logging straight to the systemd journal (its native protocol: one datagram per entry to
//! `/run/systemd/journal/socket`), with every field escaped.
//!
//! Why not `tracing-journald` (the design card's choice, which this replaced): it writes field
//! values verbatim, length-framed, so a newline a peer puts in a proxy name or a user becomes a
//! multi-line `MESSAGE`, and a NUL goes in raw; its layer offers no hook to escape them. The
//! protocol is small enough to speak here, and escaping first makes every value one line, so
//! the plain `NAME=value` form always applies.
//!
//! Entries carry `PRIORITY` (syslog: error 3, warn 4, info 6, debug and trace 7),
//! `SYSLOG_IDENTIFIER` (the program), `MESSAGE`, `TARGET`, `CODE_FILE`, `CODE_LINE` and each
//! event field under its upper-cased name (`proxy_name` → `PROXY_NAME`), as tracing-journald
//! named them, so `journalctl -u frps PROXY_NAME=ssh` works.

use std::fmt::Write as _;
use std::io;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::Context;

use super::logging::EventText;
use crate::escape::escaped;

const JOURNAL_SOCKET: &str = "/run/systemd/journal/socket";

/// No single value is longer than this (a peer's string is bounded by the message size limit
/// anyway); an entry stays well inside one datagram.
const MAX_VALUE: usize = 16 * 1024;

pub struct JournalLayer {
    #[cfg(unix)]
    socket: std::os::unix::net::UnixDatagram,
    identifier: String,
}

impl JournalLayer {
    /// A layer sending to the journal as `identifier`; fails when the journal socket is not
    /// there.
    pub fn new(identifier: &str) -> io::Result<JournalLayer> {
        #[cfg(unix)]
        {
            let socket = std::os::unix::net::UnixDatagram::unbound()?;
            // Fail now, not at the first entry, when there is no journal.
            socket.connect(JOURNAL_SOCKET)?;
            Ok(JournalLayer {
                socket,
                identifier: identifier.to_string(),
            })
        }
        #[cfg(not(unix))]
        {
            let _ = identifier;
            Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "no journal here",
            ))
        }
    }

    /// The datagram for one event.
    fn entry(&self, event: &Event<'_>) -> Vec<u8> {
        let meta = event.metadata();
        let priority = match *meta.level() {
            Level::ERROR => "3",
            Level::WARN => "4",
            Level::INFO => "6",
            Level::DEBUG | Level::TRACE => "7",
        };
        let mut text = EventText::default();
        event.record(&mut FieldsByName(&mut text));
        let mut out = String::with_capacity(256 + text.message.len() + text.fields.len());
        put(&mut out, "PRIORITY", priority);
        put(&mut out, "SYSLOG_IDENTIFIER", &self.identifier);
        put(&mut out, "MESSAGE", &text.message);
        put(&mut out, "TARGET", meta.target());
        if let Some(file) = meta.file() {
            put(&mut out, "CODE_FILE", file);
        }
        if let Some(line) = meta.line() {
            put(&mut out, "CODE_LINE", &line.to_string());
        }
        // FieldsByName left `NAME\tvalue` lines in `fields`.
        for line in text.fields.lines() {
            if let Some((name, value)) = line.split_once('\t') {
                put(&mut out, name, value);
            }
        }
        out.into_bytes()
    }
}

impl<S: Subscriber> tracing_subscriber::Layer<S> for JournalLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        #[cfg(unix)]
        {
            // Nowhere to report a failure to log; the entry is lost, the daemon goes on.
            let _ = self.socket.send(&self.entry(event));
        }
        #[cfg(not(unix))]
        let _ = event;
    }
}

/// `NAME=value\n`, the value escaped (so on one line) and bounded.
fn put(out: &mut String, name: &str, value: &str) {
    let value = escaped(value);
    let value = match value.char_indices().nth(MAX_VALUE) {
        Some((cut, _)) => format!("{}…", &value[..cut]),
        None => value.into_owned(),
    };
    let _ = writeln!(out, "{name}={value}");
}

/// A journal field name for a tracing field: upper case, `.` as `_`, only `A-Z0-9_`, not
/// starting with `_` (those are the journal's own trusted fields).
fn field_name(name: &str) -> String {
    name.chars()
        .map(|c| if c == '.' { '_' } else { c })
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .skip_while(|&c| c == '_')
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// Records an event for the journal: the message as text, each other field as a
/// `NAME\tvalue` line in [`EventText::fields`] (tabs and newlines in values are escaped first,
/// so the framing cannot be confused).
struct FieldsByName<'a>(&'a mut EventText);

impl FieldsByName<'_> {
    fn add(&mut self, field: &tracing::field::Field, value: &str) {
        let name = field_name(field.name());
        if !name.is_empty() {
            let _ = writeln!(self.0.fields, "{name}\t{}", escaped(value));
        }
    }
}

impl tracing::field::Visit for FieldsByName<'_> {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "message" {
            self.0.message.push_str(value);
        } else {
            self.add(field, value);
        }
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0.message, "{value:?}");
        } else {
            self.add(field, &format!("{value:?}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_names_follow_the_journal_rules() {
        assert_eq!(field_name("proxy_name"), "PROXY_NAME");
        assert_eq!(field_name("_private.key-x"), "PRIVATE_KEYX");
        assert_eq!(field_name("__"), "");
    }

    #[test]
    fn values_are_one_escaped_line_and_bounded() {
        let mut out = String::new();
        put(&mut out, "USER", "eve\nPRIORITY=0\0");
        assert_eq!(out, "USER=eve\\nPRIORITY=0\\u{0}\n");
        let mut out = String::new();
        put(&mut out, "MESSAGE", &"x".repeat(MAX_VALUE + 10));
        assert_eq!(out.chars().count(), "MESSAGE=".len() + MAX_VALUE + 2);
    }
}
