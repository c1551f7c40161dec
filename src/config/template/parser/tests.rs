use super::literal::new_number;
use super::*;

#[test]
fn numbers_resolve_like_go() {
    let n = |t: &str| new_number(t, Tok::Number);
    assert!(matches!(n("42"), Ok(NumValue::Int(42))));
    assert!(matches!(n("-0x1F"), Ok(NumValue::Int(-31))));
    assert!(matches!(n("0o17"), Ok(NumValue::Int(15))));
    assert!(matches!(n("017"), Ok(NumValue::Int(15))));
    assert!(matches!(n("1_000"), Ok(NumValue::Int(1000))));
    assert!(matches!(n("1.5"), Ok(NumValue::Float(f)) if f == 1.5));
    assert!(matches!(n("1e3"), Ok(NumValue::Float(f)) if f == 1000.0));
    assert!(matches!(
        n("18446744073709551615"),
        Ok(NumValue::UintOverflow)
    ));
    assert!(n("99999999999999999999")
        .unwrap_err()
        .starts_with("integer overflow"));
    assert!(n("1__0").unwrap_err().starts_with("illegal number syntax"));
    assert!(matches!(
        new_number("'a'", Tok::CharConstant),
        Ok(NumValue::Int(97))
    ));
    assert!(matches!(
        new_number("'\\n'", Tok::CharConstant),
        Ok(NumValue::Int(10))
    ));
}

#[test]
fn unquotes_like_go() {
    assert_eq!(
        unquote("\"a\\tb\\u00e9\\x41\\101\"").as_deref(),
        Some("a\tbéAA")
    );
    assert_eq!(unquote("`raw\\n\r`").as_deref(), Some("raw\\n"));
    assert_eq!(unquote("\"\\'\""), None);
    assert_eq!(unquote("\"\\q\""), None);
}
