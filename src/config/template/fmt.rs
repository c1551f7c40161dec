//! The parts of Go's `fmt` and `strconv` that templates need: `%v` printing of template values,
//! `Sprint`/`Sprintln`/`Sprintf`, string quoting, and the `html`/`js`/`urlquery` escapers.
//!
//! Values are printed the way Go prints the corresponding Go types: `[]int64` lists as
//! `[1 2 3]`, `NumberPair` structs as `{6000 7000}`, maps as `map[K:V]`, and so on.

use super::exec::{IntType, Value};

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

/// Decimal digits of a finite non-negative float: `(digits, dp)` with value `0.digits × 10^dp`,
/// trailing zeros removed (Go's `decimalSlice`). `sig` = significant digits, `None` = shortest.
fn float_digits(a: f64, sig: Option<usize>) -> (Vec<u8>, i64) {
    let s = match sig {
        Some(n) => format!("{:.*e}", n.saturating_sub(1), a),
        None => format!("{:e}", a),
    };
    let (mant, exp) = s.split_once('e').unwrap_or((s.as_str(), "0"));
    let exp: i64 = exp.parse().unwrap_or(0);
    let mut digits: Vec<u8> = mant.bytes().filter(u8::is_ascii_digit).collect();
    while digits.last() == Some(&b'0') {
        digits.pop();
    }
    if digits.is_empty() {
        return (digits, 0);
    }
    (digits, exp + 1)
}

fn fmt_e(out: &mut String, d: &[u8], dp: i64, prec: i64, ech: char) {
    out.push(d.first().map(|&c| c as char).unwrap_or('0'));
    if prec > 0 {
        out.push('.');
        let mut i = 1usize;
        let m = d.len().min(prec as usize + 1);
        while i < m {
            out.push(d[i] as char);
            i += 1;
        }
        while (i as i64) <= prec {
            out.push('0');
            i += 1;
        }
    }
    out.push(ech);
    let mut exp = if d.is_empty() { 0 } else { dp - 1 };
    if exp < 0 {
        out.push('-');
        exp = -exp;
    } else {
        out.push('+');
    }
    if exp < 10 {
        out.push('0');
    }
    out.push_str(&exp.to_string());
}

fn fmt_f(out: &mut String, d: &[u8], dp: i64, prec: i64) {
    if dp > 0 {
        let m = d.len().min(dp as usize);
        out.extend(d[..m].iter().map(|&c| c as char));
        for _ in m as i64..dp {
            out.push('0');
        }
    } else {
        out.push('0');
    }
    if prec > 0 {
        out.push('.');
        for i in 1..=prec {
            let j = dp + i - 1;
            let c = if j >= 0 && (j as usize) < d.len() {
                d[j as usize] as char
            } else {
                '0'
            };
            out.push(c);
        }
    }
}

/// Mantissa (with implicit bit) and unbiased exponent of a float64, as strconv computes them.
fn float_mant_exp(v: f64) -> (u64, i64) {
    let bits = v.to_bits();
    let mut exp = ((bits >> 52) & 0x7FF) as i64;
    let mut mant = bits & ((1u64 << 52) - 1);
    if exp == 0 {
        exp += 1;
    } else {
        mant |= 1u64 << 52;
    }
    (mant, exp - 1023)
}

/// strconv's `%x` float format: `0x1.yyyyp±dd`.
fn fmt_x(out: &mut String, prec: Option<usize>, fmt: char, mant: u64, exp: i64) {
    let (mut mant, mut exp) = (mant, exp);
    if mant == 0 {
        exp = 0;
    }
    mant <<= 60 - 52;
    while mant != 0 && mant & (1 << 60) == 0 {
        mant <<= 1;
        exp -= 1;
    }
    if let Some(p) = prec.filter(|&p| p < 15) {
        let shift = (p * 4) as u32;
        let extra = (mant << shift) & ((1u64 << 60) - 1);
        mant >>= 60 - shift;
        if extra | (mant & 1) > 1 << 59 {
            mant += 1;
        }
        mant <<= 60 - shift;
        if mant & (1 << 61) != 0 {
            mant >>= 1;
            exp += 1;
        }
    }
    let hex = if fmt == 'X' { UPPER_HEX } else { LOWER_HEX };
    out.push('0');
    out.push(fmt);
    out.push(if (mant >> 60) & 1 == 1 { '1' } else { '0' });
    mant <<= 4;
    match prec {
        None if mant != 0 => {
            out.push('.');
            while mant != 0 {
                out.push(hex[((mant >> 60) & 15) as usize] as char);
                mant <<= 4;
            }
        }
        Some(p) if p > 0 => {
            out.push('.');
            for _ in 0..p {
                out.push(hex[((mant >> 60) & 15) as usize] as char);
                mant <<= 4;
            }
        }
        _ => {}
    }
    out.push(if fmt == 'X' { 'P' } else { 'p' });
    if exp < 0 {
        out.push('-');
        exp = -exp;
    } else {
        out.push('+');
    }
    if exp < 10 {
        out.push('0');
    }
    out.push_str(&exp.to_string());
}

/// `strconv.FormatFloat(v, fmt, prec, 64)` for fmt in b, e, E, f, g, G, x, X (prec `None` = shortest).
pub(crate) fn format_float(v: f64, fmt: char, prec: Option<usize>) -> String {
    let mut out = String::new();
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v < 0.0 {
            "-Inf".into()
        } else {
            "+Inf".into()
        };
    }
    if v.is_sign_negative() {
        out.push('-');
    }
    let a = v.abs();
    match fmt {
        'b' => {
            let (mant, exp) = float_mant_exp(v);
            out.push_str(&mant.to_string());
            out.push('p');
            let e = exp - 52;
            if e >= 0 {
                out.push('+');
            }
            out.push_str(&e.to_string());
        }
        'x' | 'X' => {
            let (mant, exp) = float_mant_exp(v);
            fmt_x(&mut out, prec, fmt, mant, exp);
        }
        'f' | 'F' => match prec {
            Some(p) => out.push_str(&format!("{:.*}", p, a)),
            None => {
                let (d, dp) = float_digits(a, None);
                fmt_f(&mut out, &d, dp, (d.len() as i64 - dp).max(0));
            }
        },
        'e' | 'E' => {
            let (d, dp) = float_digits(a, prec.map(|p| p + 1));
            let p = prec.map(|p| p as i64).unwrap_or(d.len() as i64 - 1);
            fmt_e(&mut out, &d, dp, p, fmt);
        }
        _ => {
            // 'g' / 'G'
            let shortest = prec.is_none();
            let sig = prec.map(|p| p.max(1));
            let (d, dp) = float_digits(a, sig);
            let nd = d.len() as i64;
            let mut prec = sig.map(|p| p as i64).unwrap_or(nd);
            let mut eprec = prec;
            if eprec > nd && nd >= dp {
                eprec = nd;
            }
            if shortest {
                eprec = 6;
            }
            let exp = dp - 1;
            let ech = if fmt == 'G' { 'E' } else { 'e' };
            if exp < -4 || exp >= eprec {
                if prec > nd {
                    prec = nd;
                }
                fmt_e(&mut out, &d, dp, prec - 1, ech);
            } else {
                if prec > dp {
                    prec = nd;
                }
                fmt_f(&mut out, &d, dp, (prec - dp).max(0));
            }
        }
    }
    out
}

impl Printer {
    fn write_padding(&mut self, n: usize, zero: bool) {
        let c = if zero { '0' } else { ' ' };
        self.buf.extend(std::iter::repeat(c).take(n));
    }

    /// Go's `fmt.pad`: left padding uses zeros when the `0` flag is set.
    fn pad(&mut self, s: &str) {
        self.pad_with(s, self.f.zero && !self.f.minus);
    }

    /// Padding for strings, where modern Go ignores the `0` flag.
    fn pad_str(&mut self, s: &str) {
        self.pad_with(s, false);
    }

    fn pad_with(&mut self, s: &str, zero: bool) {
        let Some(wid) = self.f.wid else {
            self.buf.push_str(s);
            return;
        };
        let width = wid.saturating_sub(s.chars().count());
        if !self.f.minus {
            self.write_padding(width, zero);
            self.buf.push_str(s);
        } else {
            self.buf.push_str(s);
            self.write_padding(width, false);
        }
    }

    fn print_arg(&mut self, v: &Value, verb: char) {
        if let Value::Missing = v {
            match verb {
                'T' | 'v' => self.pad("<nil>"),
                _ => self.bad_verb(verb, v),
            }
            return;
        }
        if verb == 'T' {
            let t = type_name(v);
            self.fmt_s(&t);
            return;
        }
        self.print_value(v, verb, 0);
    }

    fn bad_verb(&mut self, verb: char, v: &Value) {
        self.buf.push_str("%!");
        self.buf.push(verb);
        self.buf.push('(');
        if let Value::Missing = v {
            self.buf.push_str("<nil>");
        } else {
            self.buf.push_str(&type_name(v));
            self.buf.push('=');
            let saved = (self.f.sharp_v, self.f.plus_v);
            self.f.sharp_v = false;
            self.f.plus_v = false;
            self.print_value(v, 'v', 0);
            (self.f.sharp_v, self.f.plus_v) = saved;
        }
        self.buf.push(')');
    }

    fn print_value(&mut self, v: &Value, verb: char, depth: usize) {
        match v {
            Value::Missing => {
                if depth == 0 {
                    self.buf.push_str("<invalid reflect.Value>");
                } else if verb == 'v' {
                    self.buf.push_str("<nil>");
                } else {
                    self.bad_verb(verb, v);
                }
            }
            Value::Bool(b) => match verb {
                't' | 'v' => self.pad(if *b { "true" } else { "false" }),
                _ => self.bad_verb(verb, v),
            },
            Value::Int(n, t) => self.fmt_int(*n, *t, verb, v),
            Value::Float(x) => self.fmt_float(*x, verb, v),
            Value::Str(s) => match verb {
                'v' if self.f.sharp_v => self.fmt_q(s),
                'v' | 's' => self.fmt_s(s),
                'x' => self.fmt_sx(s, LOWER_HEX),
                'X' => self.fmt_sx(s, UPPER_HEX),
                'q' => self.fmt_q(s),
                _ => self.bad_verb(verb, v),
            },
            Value::Map(m) => {
                if self.f.sharp_v {
                    self.buf.push_str("map[string]string{");
                } else {
                    self.buf.push_str("map[");
                }
                for (i, (k, val)) in m.iter().enumerate() {
                    if i > 0 {
                        self.buf.push_str(if self.f.sharp_v { ", " } else { " " });
                    }
                    self.print_value(&Value::Str(k.as_str().into()), verb, depth + 1);
                    self.buf.push(':');
                    self.print_value(&Value::Str(val.as_str().into()), verb, depth + 1);
                }
                self.buf.push(if self.f.sharp_v { '}' } else { ']' });
            }
            Value::Struct(s) => {
                if s.ptr && depth == 0 {
                    self.buf.push('&');
                }
                if self.f.sharp_v {
                    self.buf.push_str(s.ty);
                }
                self.buf.push('{');
                for (i, (name, val)) in s.fields.iter().enumerate() {
                    if i > 0 {
                        self.buf.push_str(if self.f.sharp_v { ", " } else { " " });
                    }
                    if self.f.plus_v || self.f.sharp_v {
                        self.buf.push_str(name);
                        self.buf.push(':');
                    }
                    self.print_value(val, verb, depth + 1);
                }
                self.buf.push('}');
            }
            Value::List(l) => {
                if self.f.sharp_v {
                    self.buf.push_str("[]");
                    self.buf.push_str(l.elem);
                    self.buf.push('{');
                    for (i, e) in l.items.iter().enumerate() {
                        if i > 0 {
                            self.buf.push_str(", ");
                        }
                        self.print_value(e, verb, depth + 1);
                    }
                    self.buf.push('}');
                } else {
                    self.buf.push('[');
                    for (i, e) in l.items.iter().enumerate() {
                        if i > 0 {
                            self.buf.push(' ');
                        }
                        self.print_value(e, verb, depth + 1);
                    }
                    self.buf.push(']');
                }
            }
        }
    }

    fn truncate<'s>(&self, s: &'s str) -> &'s str {
        match self.f.prec {
            Some(p) => match s.char_indices().nth(p) {
                Some((idx, _)) => &s[..idx],
                None => s,
            },
            None => s,
        }
    }

    fn fmt_s(&mut self, s: &str) {
        let s = self.truncate(s);
        self.pad_str(s);
    }

    fn fmt_q(&mut self, s: &str) {
        let s = self.truncate(s);
        if self.f.sharp && can_backquote(s) {
            self.pad_str(&format!("`{s}`"));
            return;
        }
        let q = quote(s, self.f.plus);
        self.pad_str(&q);
    }

    fn fmt_sx(&mut self, s: &str, digits: &[u8; 16]) {
        let b = s.as_bytes();
        let length = match self.f.prec {
            Some(p) if p < b.len() => p,
            _ => b.len(),
        };
        let mut width = 2 * length;
        if width > 0 {
            if self.f.space {
                if self.f.sharp {
                    width *= 2;
                }
                width += length - 1;
            } else if self.f.sharp {
                width += 2;
            }
        } else {
            if let Some(w) = self.f.wid {
                self.write_padding(w, false);
            }
            return;
        }
        let wid = self.f.wid.unwrap_or(0);
        if wid > width && !self.f.minus {
            self.write_padding(wid - width, false);
        }
        if self.f.sharp {
            self.buf.push('0');
            self.buf.push(if digits[10] == b'a' { 'x' } else { 'X' });
        }
        for (i, &c) in b[..length].iter().enumerate() {
            if self.f.space && i > 0 {
                self.buf.push(' ');
                if self.f.sharp {
                    self.buf.push('0');
                    self.buf.push(if digits[10] == b'a' { 'x' } else { 'X' });
                }
            }
            self.buf.push(digits[(c >> 4) as usize] as char);
            self.buf.push(digits[(c & 0xF) as usize] as char);
        }
        if wid > width && self.f.minus {
            self.write_padding(wid - width, false);
        }
    }

    fn fmt_int(&mut self, n: i64, t: IntType, verb: char, v: &Value) {
        let signed = !matches!(t, IntType::Uint8);
        match verb {
            'v' => {
                if self.f.sharp_v && !signed {
                    let saved = self.f.sharp;
                    self.f.sharp = true;
                    self.fmt_integer(n, 16, verb, LOWER_HEX);
                    self.f.sharp = saved;
                } else {
                    self.fmt_integer(n, 10, verb, LOWER_HEX);
                }
            }
            'd' => self.fmt_integer(n, 10, verb, LOWER_HEX),
            'b' => self.fmt_integer(n, 2, verb, LOWER_HEX),
            'o' | 'O' => self.fmt_integer(n, 8, verb, LOWER_HEX),
            'x' => self.fmt_integer(n, 16, verb, LOWER_HEX),
            'X' => self.fmt_integer(n, 16, verb, UPPER_HEX),
            'c' => {
                let c = rune_of(n);
                self.pad(c.encode_utf8(&mut [0; 4]));
            }
            'q' => {
                let q = quote_rune(rune_of(n), self.f.plus);
                self.pad(&q);
            }
            'U' => self.fmt_unicode(n),
            _ => self.bad_verb(verb, v),
        }
    }

    /// Go's `fmt.fmtInteger`.
    fn fmt_integer(&mut self, n: i64, base: u32, verb: char, digits: &[u8; 16]) {
        let negative = n < 0;
        let mut u = n.unsigned_abs();
        let mut prec = 0usize;
        if let Some(p) = self.f.prec {
            prec = p;
            if p == 0 && u == 0 {
                if let Some(w) = self.f.wid {
                    self.write_padding(w, false);
                }
                return;
            }
        } else if self.f.zero && !self.f.minus {
            if let Some(w) = self.f.wid {
                prec = w;
                if negative || self.f.plus || self.f.space {
                    prec = prec.saturating_sub(1);
                }
            }
        }
        let mut rev: Vec<u8> = Vec::with_capacity(24);
        loop {
            rev.push(digits[(u % base as u64) as usize]);
            u /= base as u64;
            if u == 0 {
                break;
            }
        }
        while rev.len() < prec {
            rev.push(b'0');
        }
        if self.f.sharp {
            match base {
                2 => rev.extend_from_slice(b"b0"),
                8 if rev.last() != Some(&b'0') => rev.push(b'0'),
                16 => {
                    rev.push(if digits[10] == b'a' { b'x' } else { b'X' });
                    rev.push(b'0');
                }
                _ => {}
            }
        }
        if verb == 'O' {
            rev.extend_from_slice(b"o0");
        }
        if negative {
            rev.push(b'-');
        } else if self.f.plus {
            rev.push(b'+');
        } else if self.f.space {
            rev.push(b' ');
        }
        rev.reverse();
        let s = String::from_utf8_lossy(&rev).into_owned();
        self.pad_with(&s, false);
    }

    fn fmt_unicode(&mut self, n: i64) {
        let u = n as u64;
        let prec = self.f.prec.unwrap_or(4).max(4);
        let mut s = format!("U+{:0width$X}", u, width = prec);
        if self.f.sharp {
            if let Some(c) = u32::try_from(u).ok().and_then(char::from_u32) {
                if is_print(c) {
                    s.push_str(" '");
                    s.push(c);
                    s.push('\'');
                }
            }
        }
        self.pad_with(&s, false);
    }

    /// Go's `pp.fmtFloat` + `fmt.fmtFloat`.
    fn fmt_float(&mut self, x: f64, verb: char, v: &Value) {
        let (fmt, default_prec) = match verb {
            'v' => ('g', None),
            'b' | 'g' | 'G' | 'x' | 'X' => (if self.f.sharp_v { 'g' } else { verb }, None),
            'f' | 'e' | 'E' | 'F' => {
                if self.f.sharp_v {
                    ('g', None)
                } else {
                    (verb, Some(6))
                }
            }
            _ => return self.bad_verb(verb, v),
        };
        let prec = self.f.prec.or(default_prec);
        let body = format_float(x, fmt, if fmt == 'b' { None } else { prec });
        let mut num: Vec<u8> = if body.starts_with('-') {
            body.into_bytes()
        } else {
            format!("+{body}").into_bytes()
        };
        if self.f.space && num[0] == b'+' && !self.f.plus {
            num[0] = b' ';
        }
        if num.get(1).is_some_and(|&c| c == b'I' || c == b'N') {
            let mut n: &[u8] = &num;
            if num[1] == b'N' && !self.f.space && !self.f.plus {
                n = &num[1..];
            }
            let s = String::from_utf8_lossy(n).into_owned();
            self.pad_with(&s, false);
            return;
        }
        if self.f.sharp && fmt != 'b' {
            let mut digits: i64 = 0;
            if matches!(fmt, 'v' | 'g' | 'G' | 'x') {
                digits = prec.map(|p| p as i64).unwrap_or(6);
            }
            let mut tail: Vec<u8> = Vec::new();
            let mut has_decimal_point = false;
            let mut saw_nonzero_digit = false;
            let mut i = 1;
            while i < num.len() {
                match num[i] {
                    b'.' => has_decimal_point = true,
                    b'p' | b'P' => {
                        tail.extend_from_slice(&num[i..]);
                        num.truncate(i);
                        break;
                    }
                    b'e' | b'E' if fmt != 'x' && fmt != 'X' => {
                        tail.extend_from_slice(&num[i..]);
                        num.truncate(i);
                        break;
                    }
                    c => {
                        if c != b'0' {
                            saw_nonzero_digit = true;
                        }
                        if saw_nonzero_digit {
                            digits -= 1;
                        }
                    }
                }
                i += 1;
            }
            if !has_decimal_point {
                if num.len() == 2 && num[1] == b'0' {
                    digits -= 1;
                }
                num.push(b'.');
            }
            while digits > 0 {
                num.push(b'0');
                digits -= 1;
            }
            num.extend_from_slice(&tail);
        }
        let num = String::from_utf8_lossy(&num).into_owned();
        if self.f.plus || !num.starts_with('+') {
            let wid = self.f.wid.unwrap_or(0);
            let len = num.chars().count();
            if self.f.zero && !self.f.minus && wid > len {
                let (sign, rest) = num.split_at(1);
                self.buf.push_str(sign);
                self.write_padding(wid - len, true);
                self.buf.push_str(rest);
                return;
            }
            self.pad(&num);
            return;
        }
        self.pad(&num[1..]);
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
mod tests {
    use super::*;

    fn i(n: i64) -> Value {
        Value::Int(n, IntType::Int)
    }

    fn s(x: &str) -> Value {
        Value::Str(x.into())
    }

    #[test]
    fn sprintf_verbs() {
        assert_eq!(
            sprintf(
                "%d|%5d|%-5d|%05d|%x|%X|%#x|%o|%b",
                &[
                    i(42),
                    i(42),
                    i(42),
                    i(-42),
                    i(255),
                    i(255),
                    i(255),
                    i(8),
                    i(5)
                ]
            ),
            "42|   42|42   |-0042|ff|FF|0xff|10|101"
        );
        assert_eq!(
            sprintf(
                "%s|%q|%10s|%-4s|%.2s|%x",
                &[s("a"), s("b\n"), s("right"), s("l"), s("abc"), s("hi")]
            ),
            "a|\"b\\n\"|     right|l   |ab|6869"
        );
        assert_eq!(
            sprintf(
                "%f|%.2f|%8.3f|%e|%g|%v",
                &[
                    Value::Float(1.5),
                    Value::Float(2.34567),
                    Value::Float(2.0),
                    Value::Float(123456.0),
                    Value::Float(1e6),
                    Value::Float(0.1)
                ]
            ),
            "1.500000|2.35|   2.000|1.234560e+05|1e+06|0.1"
        );
        assert_eq!(
            sprintf("%t %v", &[Value::Bool(true), Value::Bool(false)]),
            "true false"
        );
        assert_eq!(
            sprintf("%d %s", &[s("x"), i(3)]),
            "%!d(string=x) %!s(int=3)"
        );
        assert_eq!(sprintf("%d %d", &[i(1)]), "1 %!d(MISSING)");
        assert_eq!(sprintf("%d", &[i(1), s("x")]), "1%!(EXTRA string=x)");
        assert_eq!(sprintf("100%%", &[]), "100%");
        assert_eq!(sprintf("%", &[]), "%!(NOVERB)");
        assert_eq!(sprintf("%[2]d %[1]d", &[i(1), i(2)]), "2 1");
        assert_eq!(sprintf("%*d", &[i(4), i(7)]), "   7");
        assert_eq!(
            sprintf("%v %s", &[Value::Missing, Value::Missing]),
            "<nil> %!s(<nil>)"
        );
        assert_eq!(
            sprintf("%c%c %U", &[i(72), i(105), i(0x1F600)]),
            "Hi U+1F600"
        );
        assert_eq!(sprintf("%+d % d", &[i(5), i(5)]), "+5  5");
    }

    #[test]
    fn floats_like_go() {
        assert_eq!(format_float(100000.0, 'g', None), "100000");
        assert_eq!(format_float(1e21, 'g', None), "1e+21");
        assert_eq!(format_float(0.00001, 'g', None), "1e-05");
        assert_eq!(format_float(0.0001, 'g', None), "0.0001");
        assert_eq!(format_float(0.0, 'g', None), "0");
        assert_eq!(format_float(-2.5, 'g', None), "-2.5");
        assert_eq!(format_float(1234.5678, 'g', Some(3)), "1.23e+03");
        assert_eq!(format_float(1.0, 'e', Some(2)), "1.00e+00");
    }

    #[test]
    fn sprint_spacing() {
        assert_eq!(
            sprint(&[i(1), i(2), s("a"), i(3), s("b"), s("c")]),
            "1 2a3bc"
        );
        assert_eq!(sprintln(&[s("a"), i(1)]), "a 1\n");
    }

    #[test]
    fn escapers() {
        assert_eq!(
            html_escape("<a href='x'>&\"</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&#34;&lt;/a&gt;"
        );
        assert_eq!(
            js_escape("a'b\"<=>\n"),
            "a\\'b\\\"\\u003C\\u003D\\u003E\\u000A"
        );
        assert_eq!(url_query_escape("a b&c=d/é"), "a+b%26c%3Dd%2F%C3%A9");
        assert_eq!(quote("tab\there \u{1}é", false), "\"tab\\there \\x01é\"");
        assert_eq!(quote("é", true), "\"\\u00e9\"");
    }
}
