//! Control characters, made harmless. Strings from peers (names, users, run ids, error texts)
//! and from files end up in log lines and journal fields; a raw newline there forges a log
//! line, a NUL or an escape sequence confuses whatever reads the log. Every log output escapes
//! them (see [`crate::daemon::logging`]), and names and users that contain one are refused
//! where they come in (a newline in a name is never legitimate).

use std::borrow::Cow;
use std::fmt::{self, Write};

/// Characters that never appear raw in a log line: the C0 and C1 controls and DEL, and the
/// Unicode line and paragraph separators (some viewers break lines there).
fn needs_escape(c: char) -> bool {
    c.is_control() || c == '\u{2028}' || c == '\u{2029}'
}

/// The first control character of `s`, if any.
pub fn control_char(s: &str) -> Option<char> {
    s.chars().find(|&c| needs_escape(c))
}

/// Err naming `what` when `s` holds a control character: for names and users, which are
/// refused rather than escaped.
pub fn check_no_control(what: &str, s: &str) -> Result<(), String> {
    match control_char(s) {
        None => Ok(()),
        Some(c) => Err(format!(
            "{what} [{}] contains the control character U+{:04X}",
            escaped(s),
            c as u32
        )),
    }
}

/// `s` with every control character written as an escape: `\n`, `\r`, `\t`, else `\u{..}`.
pub fn escaped(s: &str) -> Cow<'_, str> {
    if control_char(s).is_none() {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    let _ = Escaping(&mut out).write_str(s);
    Cow::Owned(out)
}

/// A [`fmt::Write`] that escapes control characters on their way to the inner writer.
pub struct Escaping<W>(pub W);

impl<W: fmt::Write> fmt::Write for Escaping<W> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let mut start = 0;
        for (i, c) in s.char_indices() {
            if !needs_escape(c) {
                continue;
            }
            self.0.write_str(&s[start..i])?;
            match c {
                '\n' => self.0.write_str("\\n")?,
                '\r' => self.0.write_str("\\r")?,
                '\t' => self.0.write_str("\\t")?,
                c => write!(self.0, "\\u{{{:x}}}", c as u32)?,
            }
            start = i + c.len_utf8();
        }
        self.0.write_str(&s[start..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_and_the_rest_kept() {
        assert_eq!(escaped("plain ünïcode"), "plain ünïcode");
        assert!(matches!(escaped("plain"), Cow::Borrowed(_)));
        assert_eq!(
            escaped("a\nINFO forged\r\0\t\u{1b}[31m\u{7f}\u{85}\u{2028}z"),
            "a\\nINFO forged\\r\\u{0}\\t\\u{1b}[31m\\u{7f}\\u{85}\\u{2028}z"
        );
    }

    #[test]
    fn names_with_control_characters_are_refused_with_the_escaped_name() {
        assert!(check_no_control("proxy name", "web").is_ok());
        assert_eq!(
            check_no_control("proxy name", "we\nb").unwrap_err(),
            "proxy name [we\\nb] contains the control character U+000A"
        );
    }
}
