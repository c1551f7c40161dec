//! Float formatting as Go's `strconv.FormatFloat` does it: `%e`, `%f`, `%g`, `%x` and the
//! shortest representation.

use super::{LOWER_HEX, UPPER_HEX};

/// Decimal digits of a finite non-negative float: `(digits, dp)` with value `0.digits × 10^dp`,
/// trailing zeros removed (Go's `decimalSlice`). `sig` = significant digits, `None` = shortest.
pub(super) fn float_digits(a: f64, sig: Option<usize>) -> (Vec<u8>, i64) {
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

pub(super) fn fmt_e(out: &mut String, d: &[u8], dp: i64, prec: i64, ech: char) {
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

pub(super) fn fmt_f(out: &mut String, d: &[u8], dp: i64, prec: i64) {
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
pub(super) fn float_mant_exp(v: f64) -> (u64, i64) {
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
pub(super) fn fmt_x(out: &mut String, prec: Option<usize>, fmt: char, mant: u64, exp: i64) {
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
