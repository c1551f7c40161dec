//! The parts of Go's `fmt` and `strconv` that templates need: `%v` printing of template values,
//! `Sprint`/`Sprintln`/`Sprintf`, string quoting, and the `html`/`js`/`urlquery` escapers.
//!
//! Values are printed the way Go prints the corresponding Go types: `[]int64` lists as
//! `[1 2 3]`, `NumberPair` structs as `{6000 7000}`, maps as `map[K:V]`, and so on.

use super::exec::{IntType, Value};

mod float;
mod printer;

/// Go's `fmt` refuses widths and precisions above this (`%!(BADWIDTH)`).
const TOO_LARGE: usize = 1_000_000;

/// Approximation of Go's `unicode.IsPrint` (letters, marks, numbers, punctuation, symbols
/// and the ASCII space). Rust does not expose general categories, so format characters and
/// private-use code points are listed explicitly.
pub(crate) fn is_print(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    if c.is_control() || c.is_whitespace() {
        return false;
    }
    let u = c as u32;
    !matches!(u,
        0xAD | 0x600..=0x605 | 0x61C | 0x6DD | 0x70F | 0x180E | 0x200B..=0x200F
        | 0x202A..=0x202E | 0x2060..=0x2064 | 0x2066..=0x206F | 0xFEFF | 0xFFF9..=0xFFFB
        | 0xE000..=0xF8FF | 0xFFFE | 0xFFFF | 0x110BD | 0x1D173..=0x1D17A | 0xE0001
        | 0xE0020..=0xE007F | 0xF0000..=0x10FFFF)
}

const LOWER_HEX: &[u8; 16] = b"0123456789abcdef";
const UPPER_HEX: &[u8; 16] = b"0123456789ABCDEF";

fn append_escaped_rune(buf: &mut String, r: char, quote: char, ascii_only: bool) {
    if r == quote || r == '\\' {
        buf.push('\\');
        buf.push(r);
        return;
    }
    if ascii_only {
        if r.is_ascii() && is_print(r) {
            buf.push(r);
            return;
        }
    } else if is_print(r) {
        buf.push(r);
        return;
    }
    match r {
        '\u{7}' => buf.push_str("\\a"),
        '\u{8}' => buf.push_str("\\b"),
        '\u{c}' => buf.push_str("\\f"),
        '\n' => buf.push_str("\\n"),
        '\r' => buf.push_str("\\r"),
        '\t' => buf.push_str("\\t"),
        '\u{b}' => buf.push_str("\\v"),
        _ => {
            let u = r as u32;
            if u < 0x20 || u == 0x7f {
                buf.push_str("\\x");
                buf.push(LOWER_HEX[(u >> 4) as usize & 0xF] as char);
                buf.push(LOWER_HEX[u as usize & 0xF] as char);
            } else if u < 0x10000 {
                buf.push_str("\\u");
                for s in [12, 8, 4, 0] {
                    buf.push(LOWER_HEX[(u >> s) as usize & 0xF] as char);
                }
            } else {
                buf.push_str("\\U");
                for s in [28, 24, 20, 16, 12, 8, 4, 0] {
                    buf.push(LOWER_HEX[(u >> s) as usize & 0xF] as char);
                }
            }
        }
    }
}

/// Go's `strconv.Quote` (or `QuoteToASCII` when `ascii_only`).
pub(crate) fn quote(s: &str, ascii_only: bool) -> String {
    let mut buf = String::with_capacity(s.len() + 2);
    buf.push('"');
    for c in s.chars() {
        append_escaped_rune(&mut buf, c, '"', ascii_only);
    }
    buf.push('"');
    buf
}

/// Go's `strconv.QuoteRune` (or `QuoteRuneToASCII`).
fn quote_rune(r: char, ascii_only: bool) -> String {
    let mut buf = String::from("'");
    append_escaped_rune(&mut buf, r, '\'', ascii_only);
    buf.push('\'');
    buf
}

/// Go's `strconv.CanBackquote`.
fn can_backquote(s: &str) -> bool {
    s.chars()
        .all(|c| c != '`' && c != '\u{FEFF}' && c != '\u{7f}' && (c >= ' ' || c == '\t'))
}

/// Go's `reflect.Type.String()` for a template value.
pub(crate) fn type_name(v: &Value) -> String {
    match v {
        Value::Missing => "<nil>".into(),
        Value::Bool(_) => "bool".into(),
        Value::Int(_, t) => t.name().into(),
        Value::Float(_) => "float64".into(),
        Value::Str(_) => "string".into(),
        Value::List(l) => format!("[]{}", l.elem),
        Value::Map(_) => "map[string]string".into(),
        Value::Struct(s) => {
            if s.ptr {
                format!("*{}", s.ty)
            } else {
                s.ty.to_string()
            }
        }
    }
}

#[derive(Default, Clone)]
struct Flags {
    plus: bool,
    minus: bool,
    sharp: bool,
    space: bool,
    zero: bool,
    plus_v: bool,
    sharp_v: bool,
    wid: Option<usize>,
    prec: Option<usize>,
}

#[derive(Default)]
struct Printer {
    buf: String,
    f: Flags,
}

/// `fmt.Sprint`: operands are separated by a space when neither side is a string.
pub(crate) fn sprint(args: &[Value]) -> String {
    let mut p = Printer::default();
    let mut prev_string = false;
    for (i, a) in args.iter().enumerate() {
        let is_string = matches!(a, Value::Str(_));
        if i > 0 && !is_string && !prev_string {
            p.buf.push(' ');
        }
        p.print_arg(a, 'v');
        prev_string = is_string;
    }
    p.buf
}

/// `fmt.Sprintln`: operands always separated by spaces, newline appended.
pub(crate) fn sprintln(args: &[Value]) -> String {
    let mut p = Printer::default();
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            p.buf.push(' ');
        }
        p.print_arg(a, 'v');
    }
    p.buf.push('\n');
    p.buf
}

/// How a template action prints a value (`fmt.Fprint` after `printableValue`, which
/// dereferences pointers, so the root data prints as `{map[...]}` rather than `&{...}`).
pub(crate) fn print_value(v: &Value) -> String {
    if let Value::Missing = v {
        return "<no value>".into();
    }
    let mut p = Printer::default();
    p.print_value(v, 'v', 1);
    p.buf
}

/// Parses a decimal number at `s[i..end]`, like Go's `parsenum`.
fn parsenum(s: &[u8], start: usize, end: usize) -> (usize, bool, usize) {
    if start >= end {
        return (0, false, end);
    }
    let mut num = 0usize;
    let mut isnum = false;
    let mut i = start;
    while i < end && s[i].is_ascii_digit() {
        if num > TOO_LARGE {
            return (0, false, end);
        }
        num = num * 10 + (s[i] - b'0') as usize;
        isnum = true;
        i += 1;
    }
    (num, isnum, i)
}

fn parse_arg_number(format: &[u8]) -> (usize, usize, bool) {
    if format.len() < 3 {
        return (0, 1, false);
    }
    for i in 1..format.len() {
        if format[i] == b']' {
            let (width, ok, newi) = parsenum(format, 1, i);
            if !ok || newi != i || width == 0 {
                return (0, i + 1, false);
            }
            return (width - 1, i + 1, true);
        }
    }
    (0, 1, false)
}

/// `fmt.Sprintf`, including Go's error annotations (`%!d(string=x)`, `%!d(MISSING)`,
/// `%!(EXTRA ...)`, `%!(NOVERB)`, `%!(BADWIDTH)`, `%!(BADPREC)`, `%!d(BADINDEX)`).
pub(crate) fn sprintf(format: &str, args: &[Value]) -> String {
    let mut p = Printer::default();
    let fb = format.as_bytes();
    let end = fb.len();
    let mut arg_num = 0usize;
    let mut reordered = false;
    let mut i = 0usize;
    while i < end {
        let mut good_arg_num = true;
        let lasti = i;
        while i < end && fb[i] != b'%' {
            i += 1;
        }
        if i > lasti {
            p.buf.push_str(format.get(lasti..i).unwrap_or(""));
        }
        if i >= end {
            break;
        }
        i += 1; // skip %
        p.f = Flags::default();
        while i < end {
            match fb[i] {
                b'#' => p.f.sharp = true,
                b'0' => p.f.zero = !p.f.minus,
                b'+' => p.f.plus = true,
                b'-' => {
                    p.f.minus = true;
                    p.f.zero = false;
                }
                b' ' => p.f.space = true,
                _ => break,
            }
            i += 1;
        }
        // Explicit argument index?
        let mut after_index;
        let mut arg_number = |arg_num: usize, i: usize, good: &mut bool| -> (usize, usize, bool) {
            if i >= end || fb[i] != b'[' {
                return (arg_num, i, false);
            }
            reordered = true;
            let (index, wid, ok) = parse_arg_number(&fb[i..]);
            if ok && index < args.len() {
                return (index, i + wid, true);
            }
            *good = false;
            (arg_num, i + wid, ok)
        };
        (arg_num, i, after_index) = arg_number(arg_num, i, &mut good_arg_num);
        // Width.
        if i < end && fb[i] == b'*' {
            i += 1;
            let (num, ok, next) = int_from_arg(args, arg_num);
            arg_num = next;
            if !ok {
                p.buf.push_str("%!(BADWIDTH)");
                p.f.wid = None;
            } else if num < 0 {
                p.f.wid = Some(num.unsigned_abs() as usize);
                p.f.minus = true;
                p.f.zero = false;
            } else {
                p.f.wid = Some(num as usize);
            }
            after_index = false;
        } else {
            let (num, isnum, newi) = parsenum(fb, i, end);
            i = newi;
            p.f.wid = isnum.then_some(num);
            if after_index && isnum {
                good_arg_num = false;
            }
        }
        // Precision.
        if i + 1 < end && fb[i] == b'.' {
            i += 1;
            if after_index {
                good_arg_num = false;
            }
            (arg_num, i, after_index) = arg_number(arg_num, i, &mut good_arg_num);
            if i < end && fb[i] == b'*' {
                i += 1;
                let (num, ok, next) = int_from_arg(args, arg_num);
                arg_num = next;
                if num < 0 || !ok {
                    p.f.prec = None;
                    p.buf.push_str("%!(BADPREC)");
                } else {
                    p.f.prec = Some(num as usize);
                }
                after_index = false;
            } else {
                let (num, isnum, newi) = parsenum(fb, i, end);
                i = newi;
                p.f.prec = Some(if isnum { num } else { 0 });
            }
        }
        if !after_index {
            (arg_num, i, _) = arg_number(arg_num, i, &mut good_arg_num);
        }
        if i >= end {
            p.buf.push_str("%!(NOVERB)");
            break;
        }
        let verb = format
            .get(i..)
            .and_then(|s| s.chars().next())
            .unwrap_or('\u{FFFD}');
        i += verb.len_utf8();
        if verb == '%' {
            p.buf.push('%');
        } else if !good_arg_num {
            p.buf.push_str("%!");
            p.buf.push(verb);
            p.buf.push_str("(BADINDEX)");
        } else if arg_num >= args.len() {
            p.buf.push_str("%!");
            p.buf.push(verb);
            p.buf.push_str("(MISSING)");
        } else {
            if verb == 'v' {
                p.f.sharp_v = p.f.sharp;
                p.f.sharp = false;
                p.f.plus_v = p.f.plus;
                p.f.plus = false;
            }
            p.print_arg(&args[arg_num], verb);
            arg_num += 1;
        }
    }
    if !reordered && arg_num < args.len() {
        p.f = Flags::default();
        p.buf.push_str("%!(EXTRA ");
        for (k, a) in args[arg_num..].iter().enumerate() {
            if k > 0 {
                p.buf.push_str(", ");
            }
            if let Value::Missing = a {
                p.buf.push_str("<nil>");
            } else {
                p.buf.push_str(&type_name(a));
                p.buf.push('=');
                p.print_arg(a, 'v');
            }
        }
        p.buf.push(')');
    }
    p.buf
}

fn int_from_arg(args: &[Value], arg_num: usize) -> (i64, bool, usize) {
    match args.get(arg_num) {
        Some(v) => {
            let (mut num, mut ok) = match v {
                Value::Int(n, _) => (*n, true),
                _ => (0, false),
            };
            if num.unsigned_abs() > TOO_LARGE as u64 {
                num = 0;
                ok = false;
            }
            (num, ok, arg_num + 1)
        }
        None => (0, false, arg_num),
    }
}

fn rune_of(n: i64) -> char {
    u32::try_from(n)
        .ok()
        .and_then(char::from_u32)
        .unwrap_or('\u{FFFD}')
}

/// Go's `template.HTMLEscapeString`.
pub(crate) fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\0' => out.push('\u{FFFD}'),
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            _ => out.push(c),
        }
    }
    out
}

/// Go's `template.JSEscapeString`.
pub(crate) fn js_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            c if (c as u32) < 0x20 => {
                out.push_str("\\u00");
                out.push(UPPER_HEX[(c as usize >> 4) & 0xF] as char);
                out.push(UPPER_HEX[c as usize & 0xF] as char);
            }
            c if c.is_ascii() => out.push(c),
            c if is_print(c) => out.push(c),
            c => out.push_str(&format!("\\u{:04X}", c as u32)),
        }
    }
    out
}

/// Go's `url.QueryEscape`.
pub(crate) fn url_query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => {
                out.push('%');
                out.push(UPPER_HEX[(b >> 4) as usize] as char);
                out.push(UPPER_HEX[(b & 0xF) as usize] as char);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests;
