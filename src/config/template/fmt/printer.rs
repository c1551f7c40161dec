//! The printer behind `Sprintf`: one verb applied to one value, with Go's flags, width and
//! precision, and Go's `%!verb(type=value)` forms for a wrong verb.

use super::float::*;
use super::*;

impl Printer {
    pub(super) fn write_padding(&mut self, n: usize, zero: bool) {
        let c = if zero { '0' } else { ' ' };
        self.buf.extend(std::iter::repeat(c).take(n));
    }

    /// Go's `fmt.pad`: left padding uses zeros when the `0` flag is set.
    pub(super) fn pad(&mut self, s: &str) {
        self.pad_with(s, self.f.zero && !self.f.minus);
    }

    /// Padding for strings, where modern Go ignores the `0` flag.
    pub(super) fn pad_str(&mut self, s: &str) {
        self.pad_with(s, false);
    }

    pub(super) fn pad_with(&mut self, s: &str, zero: bool) {
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

    pub(super) fn print_arg(&mut self, v: &Value, verb: char) {
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

    pub(super) fn bad_verb(&mut self, verb: char, v: &Value) {
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

    pub(super) fn print_value(&mut self, v: &Value, verb: char, depth: usize) {
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

    pub(super) fn truncate<'s>(&self, s: &'s str) -> &'s str {
        match self.f.prec {
            Some(p) => match s.char_indices().nth(p) {
                Some((idx, _)) => &s[..idx],
                None => s,
            },
            None => s,
        }
    }

    pub(super) fn fmt_s(&mut self, s: &str) {
        let s = self.truncate(s);
        self.pad_str(s);
    }

    pub(super) fn fmt_q(&mut self, s: &str) {
        let s = self.truncate(s);
        if self.f.sharp && can_backquote(s) {
            self.pad_str(&format!("`{s}`"));
            return;
        }
        let q = quote(s, self.f.plus);
        self.pad_str(&q);
    }

    pub(super) fn fmt_sx(&mut self, s: &str, digits: &[u8; 16]) {
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

    pub(super) fn fmt_int(&mut self, n: i64, t: IntType, verb: char, v: &Value) {
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
    pub(super) fn fmt_integer(&mut self, n: i64, base: u32, verb: char, digits: &[u8; 16]) {
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

    pub(super) fn fmt_unicode(&mut self, n: i64) {
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
    pub(super) fn fmt_float(&mut self, x: f64, verb: char, v: &Value) {
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
