use super::float::format_float;
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
