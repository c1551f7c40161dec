//! String and number literals as Go reads them (strconv's Unquote, UnquoteChar, ParseInt,
//! ParseFloat), for the parser.

use super::ast::NumValue;
use crate::config::template::lexer::Tok;

/// Go's `strconv.UnquoteChar`: returns (value, is_multibyte_rune, tail).
pub(super) fn unquote_char(s: &str, quote: char) -> Option<(u32, bool, &str)> {
    let c = s.chars().next()?;
    if c == quote && (quote == '\'' || quote == '"') {
        return None;
    }
    if c != '\\' {
        return Some((c as u32, !c.is_ascii(), &s[c.len_utf8()..]));
    }
    let b = s.as_bytes();
    let esc = *b.get(1)?;
    // `get` rather than indexing: the escaped character may be multi-byte (`"\é"`).
    let rest = s.get(2..)?;
    let simple = |v: u32| Some((v, false, rest));
    match esc {
        b'a' => simple(7),
        b'b' => simple(8),
        b'f' => simple(12),
        b'n' => simple(10),
        b'r' => simple(13),
        b't' => simple(9),
        b'v' => simple(11),
        b'\\' => simple(u32::from(b'\\')),
        b'\'' | b'"' => {
            if esc as char != quote {
                return None;
            }
            simple(u32::from(esc))
        }
        b'x' | b'u' | b'U' => {
            let n = match esc {
                b'x' => 2,
                b'u' => 4,
                _ => 8,
            };
            let hex = rest.get(..n)?;
            if !hex.bytes().all(|h| h.is_ascii_hexdigit()) {
                return None;
            }
            let v = u32::from_str_radix(hex, 16).ok()?;
            if esc == b'x' {
                return Some((v, false, &rest[n..]));
            }
            char::from_u32(v)?;
            Some((v, true, &rest[n..]))
        }
        b'0'..=b'7' => {
            let oct = s.get(1..4)?;
            if !oct.bytes().all(|o| (b'0'..=b'7').contains(&o)) {
                return None;
            }
            let v = u32::from_str_radix(oct, 8).ok()?;
            if v > 255 {
                return None;
            }
            Some((v, false, &s[4..]))
        }
        _ => None,
    }
}

/// Go's `strconv.Unquote` for `"..."` and `` `...` `` literals. Byte escapes that do not form
/// valid UTF-8 are replaced by U+FFFD (Rust strings must be UTF-8).
pub(super) fn unquote(lit: &str) -> Option<String> {
    if lit.len() < 2 {
        return None;
    }
    let inner = lit.get(1..lit.len() - 1)?;
    if lit.starts_with('`') {
        if !lit.ends_with('`') || inner.contains('`') {
            return None;
        }
        return Some(inner.replace('\r', ""));
    }
    if !lit.starts_with('"') || !lit.ends_with('"') || inner.contains('\n') {
        return None;
    }
    if !inner.contains('\\') && !inner.contains('"') {
        return Some(inner.to_owned());
    }
    let mut bytes = Vec::with_capacity(inner.len());
    let mut s = inner;
    while !s.is_empty() {
        let (v, multibyte, tail) = unquote_char(s, '"')?;
        if v < 0x80 || !multibyte {
            bytes.push(v as u8);
        } else {
            let c = char::from_u32(v)?;
            bytes.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
        }
        s = tail;
    }
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

/// Go's `underscoreOK` (strconv, base-0 parsing): `_` only between digits or after a base
/// prefix; an optional sign first. The legacy INI parser uses it too.
pub(crate) fn underscore_ok(s: &str) -> bool {
    let mut b = s.as_bytes();
    if let Some(&(b'-' | b'+')) = b.first() {
        b = &b[1..];
    }
    let mut saw = b'^';
    let mut i = 0;
    let mut hex = false;
    if b.len() >= 2 && b[0] == b'0' && matches!(b[1].to_ascii_lowercase(), b'b' | b'o' | b'x') {
        i = 2;
        saw = b'0';
        hex = b[1].eq_ignore_ascii_case(&b'x');
    }
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_digit() || hex && c.is_ascii_hexdigit() {
            saw = b'0';
        } else if c == b'_' {
            if saw != b'0' {
                return false;
            }
            saw = b'_';
        } else {
            if saw == b'_' {
                return false;
            }
            saw = b'!';
        }
        i += 1;
    }
    saw != b'_'
}

/// Go's `strconv.ParseUint(s, 0, 64)` magnitude parsing (no sign).
pub(super) fn parse_uint_base0(s: &str) -> Option<u64> {
    if s.is_empty() || s.starts_with(['+', '-']) {
        return None;
    }
    let (base, digits) = if s.len() >= 2 && s.as_bytes()[0] == b'0' {
        match s.as_bytes()[1].to_ascii_lowercase() {
            b'x' => (16, &s[2..]),
            b'o' => (8, &s[2..]),
            b'b' => (2, &s[2..]),
            _ => (8, &s[1..]),
        }
    } else {
        (10, s)
    };
    if s.contains('_') && !underscore_ok(s) {
        return None;
    }
    let digits: String = digits.chars().filter(|&c| c != '_').collect();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    u64::from_str_radix(&digits, base).ok()
}

pub(super) fn parse_int_base0(s: &str) -> Option<i64> {
    let (neg, mag) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if mag.starts_with(['+', '-']) {
        return None;
    }
    let u = parse_uint_base0(mag)?;
    if neg {
        if u > 1u64 << 63 {
            return None;
        }
        Some((u as i64).wrapping_neg())
    } else {
        i64::try_from(u).ok()
    }
}

/// Decimal float parsing as Go's `strconv.ParseFloat` (hexadecimal floats are not supported).
pub(super) fn parse_float(s: &str) -> Option<f64> {
    if s.contains('_') && !underscore_ok(s) {
        return None;
    }
    let t: String = s.chars().filter(|&c| c != '_').collect();
    if !t
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
    {
        return None;
    }
    let f: f64 = t.parse().ok()?;
    f.is_finite().then_some(f)
}

/// Go's `newNumber` followed by the `idealConstant` resolution.
pub(super) fn new_number(text: &str, typ: Tok) -> Result<NumValue, String> {
    if typ == Tok::CharConstant {
        let inner = text.get(1..).unwrap_or("");
        let (v, _, tail) = unquote_char(inner, '\'').ok_or_else(|| "invalid syntax".to_string())?;
        if tail != "'" {
            return Err(format!("malformed character constant: {text}"));
        }
        return Ok(NumValue::Int(i64::from(v)));
    }
    if typ == Tok::Complex || text.ends_with('i') {
        return Err(format!(
            "complex constants are not supported: {}",
            crate::config::template::fmt::quote(text, false)
        ));
    }
    let u = parse_uint_base0(text);
    let i = parse_int_base0(text);
    let is_hex_int = text.len() > 2
        && text.as_bytes()[0] == b'0'
        && matches!(text.as_bytes()[1], b'x' | b'X')
        && !text.contains(['p', 'P']);
    let float_syntax = !is_hex_int && text.contains(['.', 'e', 'E', 'p', 'P']);
    if let Some(i) = i {
        // idealConstant checks float syntax first (only reachable through odd spellings).
        return Ok(if float_syntax {
            NumValue::Float(i as f64)
        } else {
            NumValue::Int(i)
        });
    }
    if u.is_some() {
        return Ok(NumValue::UintOverflow);
    }
    match parse_float(text) {
        Some(f) => {
            if !text.contains(['.', 'e', 'E', 'p', 'P']) {
                return Err(format!(
                    "integer overflow: {}",
                    crate::config::template::fmt::quote(text, false)
                ));
            }
            Ok(NumValue::Float(f))
        }
        None => Err(format!(
            "illegal number syntax: {}",
            crate::config::template::fmt::quote(text, false)
        )),
    }
}
