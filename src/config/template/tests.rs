//! Tests for Go-template rendering of config files.

use std::collections::BTreeMap;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::{render, render_with_env, TemplateError};

fn envs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn r(text: &str) -> String {
    r_env(text, &[])
}

fn r_env(text: &str, pairs: &[(&str, &str)]) -> String {
    match render(text, &envs(pairs), true) {
        Ok(s) => s,
        Err(e) => panic!("render {text:?} failed: {e}"),
    }
}

fn err(text: &str) -> TemplateError {
    err_env(text, &[], true)
}

fn err_env(text: &str, pairs: &[(&str, &str)], number_funcs: bool) -> TemplateError {
    match render(text, &envs(pairs), number_funcs) {
        Ok(s) => panic!("render {text:?} unexpectedly succeeded: {s:?}"),
        Err(e) => e,
    }
}

// ---- config.md §1.2 examples ----

#[test]
fn spec_envs_and_missing_value() {
    assert_eq!(
        r_env("user = \"{{ .Envs.FRP_USER }}\"", &[("FRP_USER", "alice")]),
        "user = \"alice\""
    );
    assert_eq!(
        r("token = \"{{ .Envs.NOT_SET }}\""),
        "token = \"<no value>\""
    );
    assert_eq!(r_env("{{ $.Envs.X }}", &[("X", "1")]), "1");
}

#[test]
fn spec_parse_number_range() {
    assert_eq!(
        r("{{ parseNumberRange \"1000-1002,2000\" }}"),
        "[1000 1001 1002 2000]"
    );
    assert_eq!(r("{{ parseNumberRange \" 1 - 3 , 7 \" }}"), "[1 2 3 7]");
    assert_eq!(r("{{ len (parseNumberRange \"1-65535\") }}"), "65535");
}

#[test]
fn spec_parse_number_range_pair() {
    assert_eq!(
        r("{{ parseNumberRangePair \"6000-6002\" \"7000-7002\" }}"),
        "[{6000 7000} {6001 7001} {6002 7002}]"
    );
    assert_eq!(
        r("{{ printf \"%+v\" (index (parseNumberRangePair \"1\" \"2\") 0) }}"),
        "{First:1 Second:2}"
    );
}

#[test]
fn generates_toml_proxies_blocks() {
    let tmpl = r#"serverAddr = "{{ .Envs.SERVER }}"
serverPort = 7000
{{- range $_, $v := parseNumberRangePair "6000-6002" "7000-7002" }}

[[proxies]]
name = "tcp-{{ $v.First }}"
type = "tcp"
localIP = "127.0.0.1"
localPort = {{ $v.First }}
remotePort = {{ $v.Second }}
{{- end }}
"#;
    let out = r_env(tmpl, &[("SERVER", "x.example.com")]);
    let expected = r#"serverAddr = "x.example.com"
serverPort = 7000

[[proxies]]
name = "tcp-6000"
type = "tcp"
localIP = "127.0.0.1"
localPort = 6000
remotePort = 7000

[[proxies]]
name = "tcp-6001"
type = "tcp"
localIP = "127.0.0.1"
localPort = 6001
remotePort = 7001

[[proxies]]
name = "tcp-6002"
type = "tcp"
localIP = "127.0.0.1"
localPort = 6002
remotePort = 7002
"#;
    assert_eq!(out, expected);
    let parsed: toml::Value = toml::from_str(&out).expect("rendered TOML parses");
    let proxies = parsed
        .get("proxies")
        .and_then(|p| p.as_array())
        .expect("proxies array");
    assert_eq!(proxies.len(), 3);
    assert_eq!(
        proxies[2].get("remotePort").and_then(|v| v.as_integer()),
        Some(7002)
    );
}

#[test]
fn generates_proxies_from_single_range() {
    let tmpl = "{{- range $i, $port := parseNumberRange \"8080,9000-9001\" }}\n[[proxies]]\nname = \"p{{ $i }}\"\nremotePort = {{ $port }}\n{{- end }}\n";
    assert_eq!(
        r(tmpl),
        "\n[[proxies]]\nname = \"p0\"\nremotePort = 8080\n[[proxies]]\nname = \"p1\"\nremotePort = 9000\n[[proxies]]\nname = \"p2\"\nremotePort = 9001\n"
    );
}

// ---- text, trimming, comments, literals ----

#[test]
fn text_without_actions_is_identical() {
    let samples = [
        "",
        "plain",
        "a = 1\n[b]\nc = \"}}\" # ünïcödé\r\n",
        "single { brace } and }} closers",
        "trailing {",
    ];
    for s in samples {
        assert_eq!(render(s, &BTreeMap::new(), true).unwrap(), s);
        assert_eq!(render_with_env(s, false).unwrap(), s);
    }
}

#[test]
fn trim_markers() {
    assert_eq!(r("a  {{- 1 -}}  b"), "a1b");
    assert_eq!(r("a  {{ 1 }}  b"), "a  1  b");
    assert_eq!(r("a \n\t {{- 1 }} \n b"), "a1 \n b");
    assert_eq!(r("a {{ 1 -}} \n\n b"), "a 1b");
    assert_eq!(r("{{-3}}"), "-3"); // not a trim marker: the number -3
    assert_eq!(r("x\n{{- /* comment */ -}}\ny"), "xy");
    assert_eq!(r("x{{/* a\nmultiline comment */}}y"), "xy");
}

#[test]
fn literals() {
    assert_eq!(r("{{ \"a\\tb\\u00e9\" }}"), "a\tbé");
    assert_eq!(r("{{ `raw \"str\" \\n` }}"), "raw \"str\" \\n");
    assert_eq!(
        r("{{ 42 }} {{ -7 }} {{ 0x1F }} {{ 1.5 }} {{ 1e3 }} {{ true }} {{ 'a' }}"),
        "42 -7 31 1.5 1000 true 97"
    );
    assert_eq!(r("{{ print nil }}"), "<nil>");
}

// ---- variables, pipelines, fields ----

#[test]
fn variables_and_pipelines() {
    assert_eq!(r("{{ $x := 1 }}{{ $x = 2 }}{{ $x }}"), "2");
    assert_eq!(r("{{ \"a\" | printf \"%s-%s\" \"b\" }}"), "b-a");
    assert_eq!(r("{{ (printf \"%d\" 5) | printf \"<%s>\" }}"), "<5>");
    assert_eq!(r_env("{{ $e := .Envs }}{{ $e.A }}", &[("A", "x")]), "x");
    assert_eq!(r("{{ $p := index (parseNumberRangePair \"1-2\" \"3-4\") 1 }}{{ $p.First }}/{{ $p.Second }}"), "2/4");
    assert_eq!(
        r("{{ (index (parseNumberRangePair \"5\" \"6\") 0).Second }}"),
        "6"
    );
}

#[test]
fn missing_values() {
    assert_eq!(r("{{ .Envs.A.B }}"), "<no value>");
    assert_eq!(r("{{ print .Envs.A }}"), "<nil>");
    assert_eq!(r("{{ printf \"%s\" .Envs.A }}"), "%!s(<nil>)");
    assert_eq!(r("{{ index .Envs \"A\" }}"), "");
    assert_eq!(r("{{ or .Envs.PORT \"7000\" }}"), "7000");
    assert_eq!(
        r_env("{{ or .Envs.PORT \"7000\" }}", &[("PORT", "8000")]),
        "8000"
    );
    assert_eq!(r("{{ html .Envs.A }}"), "&lt;no value&gt;");
    let e = err_env("{{ .Envs.A.B }}", &[("A", "x")], true);
    assert!(
        e.message.contains("can't evaluate field B in type string"),
        "{e}"
    );
}

#[test]
fn printing_values_like_go() {
    let env = [("B", "2"), ("A", "1")];
    assert_eq!(r_env("{{ .Envs }}", &env), "map[A:1 B:2]");
    assert_eq!(r_env("{{ . }}", &env), "{map[A:1 B:2]}");
    assert_eq!(r_env("{{ print . }}", &env), "&{map[A:1 B:2]}");
    assert_eq!(r("{{ printf \"%v %d %T\" (parseNumberRange \"1-2\") (parseNumberRange \"3\") (parseNumberRange \"3\") }}"), "[1 2] [3] []int64");
    assert_eq!(
        r("{{ printf \"%#v\" (parseNumberRangePair \"1\" \"2\") }}"),
        "[]config.NumberPair{config.NumberPair{First:1, Second:2}}"
    );
    assert_eq!(r("{{ println 1 2 }}{{ print 1 2 \"a\" 3 }}"), "1 2\n1 2a3");
}

// ---- control structures ----

#[test]
fn if_else_chains() {
    let t = "{{ if eq .Envs.MODE \"a\" }}A{{ else if eq .Envs.MODE \"b\" }}B{{ else if not .Envs.MODE }}unset{{ else }}other{{ end }}";
    assert_eq!(r_env(t, &[("MODE", "a")]), "A");
    assert_eq!(r_env(t, &[("MODE", "b")]), "B");
    assert_eq!(r_env(t, &[("MODE", "c")]), "other");
    assert_eq!(r_env(t, &[("MODE", "")]), "unset");
    assert_eq!(r(t), "unset");
    // Truthiness like Go.
    assert_eq!(
        r("{{ if 0 }}x{{ else }}0{{ end }}{{ if \"\" }}x{{ else }}e{{ end }}{{ if parseNumberRange \"1\" }}L{{ end }}{{ if false }}x{{ else }}f{{ end }}"),
        "0eLf"
    );
    assert_eq!(
        r("{{ if and 1 \"\" }}x{{ else }}y{{ end }}{{ if or 0 \"s\" }}z{{ end }}"),
        "yz"
    );
}

#[test]
fn with_blocks() {
    assert_eq!(
        r_env(
            "{{ with .Envs.A }}[{{ . }}]{{ else }}none{{ end }}",
            &[("A", "v")]
        ),
        "[v]"
    );
    assert_eq!(
        r("{{ with .Envs.A }}[{{ . }}]{{ else }}none{{ end }}"),
        "none"
    );
    assert_eq!(
        r_env("{{ with $x := .Envs.A }}{{ $x }}{{ end }}", &[("A", "q")]),
        "q"
    );
}

#[test]
fn range_variants() {
    assert_eq!(
        r_env(
            "{{ range $k, $v := .Envs }}{{ $k }}={{ $v }};{{ end }}",
            &[("Z", "1"), ("A", "2")]
        ),
        "A=2;Z=1;"
    );
    assert_eq!(r("{{ range .Envs }}x{{ else }}empty{{ end }}"), "empty");
    assert_eq!(r("{{ range .Envs.NOPE }}x{{ else }}none{{ end }}"), "none");
    assert_eq!(
        r("{{ range parseNumberRange \"3-5\" }}{{ . }},{{ end }}"),
        "3,4,5,"
    );
    assert_eq!(r("{{ range 3 }}{{ . }}{{ end }}"), "012");
    assert_eq!(
        r("{{ $x := 0 }}{{ range $x = parseNumberRange \"7-8\" }}{{ end }}{{ $x }}"),
        "8"
    );
}

#[test]
fn nested_range_with_break_and_continue() {
    let t = "{{ range $i := parseNumberRange \"1-5\" }}{{ if eq $i 2 }}{{ continue }}{{ end }}{{ if eq $i 5 }}{{ break }}{{ end }}{{ range $j := parseNumberRange \"1-3\" }}{{ if gt $j $i }}{{ break }}{{ end }}{{ $i }}{{ $j }} {{ end }}|{{ end }}";
    assert_eq!(r(t), "11 |31 32 33 |41 42 43 |");
    let t2 = "{{ range $i, $p := parseNumberRangePair \"1-4\" \"5-8\" }}{{ if eq $i 1 }}{{ continue }}{{ end }}{{ $p.Second }}{{ end }}";
    assert_eq!(r(t2), "578");
}

#[test]
fn define_and_template() {
    assert_eq!(
        r("{{ define \"p\" }}[{{ . }}]{{ end }}a{{ template \"p\" 5 }}b{{ template \"p\" }}"),
        "a[5]b[<no value>]"
    );
    assert_eq!(r("{{ block \"b\" \"x\" }}<{{ . }}>{{ end }}"), "<x>");
    let e = err("{{ define \"r\" }}{{ template \"r\" }}{{ end }}{{ template \"r\" }}");
    assert!(e.message.contains("exceeded maximum template depth"), "{e}");
    let e = err("{{ template \"nope\" }}");
    assert!(e.message.contains("template \"nope\" not defined"), "{e}");
}

// ---- functions ----

#[test]
fn printf_formats() {
    assert_eq!(
        r("{{ printf \"%05d|%-6s|%x|%q|%.2f|%v|%s|%6.1f|%t\" 42 \"ab\" 255 \"q\" 3.14159 (parseNumberRange \"1-3\") \"s\" 2.25 true }}"),
        "00042|ab    |ff|\"q\"|3.14|[1 2 3]|s|   2.2|true"
    );
    assert_eq!(r("{{ printf \"%d-%s\" 1 }}"), "1-%!s(MISSING)");
    assert_eq!(r("{{ printf \"%d\" \"x\" }}"), "%!d(string=x)");
    assert_eq!(r("{{ printf \"%s:%d\" .Envs.HOST 80 }}"), "%!s(<nil>):80");
    assert_eq!(
        r_env("{{ printf \"%s:%d\" .Envs.HOST 80 }}", &[("HOST", "h")]),
        "h:80"
    );
    assert_eq!(r("{{ printf \"%08.3f|%+d|%X|%o|%#x|%c|%U|%5.2s|\" 3.14159 3 3054 8 255 65 9731 \"abc\" }}"), "0003.142|+3|BEE|10|0xff|A|U+2603|   ab|");
    assert_eq!(r("{{ printf \"%d%%\" 50 }}"), "50%");
}

#[test]
fn builtin_functions() {
    assert_eq!(
        r("{{ len \"héllo\" }} {{ len (parseNumberRange \"1-4\") }}"),
        "6 4"
    );
    assert_eq!(
        r("{{ index (parseNumberRange \"10-12\") 2 }} {{ index \"abc\" 1 }}"),
        "12 98"
    );
    assert_eq!(
        r("{{ slice \"abcdef\" 1 3 }} {{ slice (parseNumberRange \"1-5\") 3 }}"),
        "bc [4 5]"
    );
    assert_eq!(r("{{ eq 1 2 3 1 }} {{ ne \"a\" \"b\" }} {{ lt 1 2 }} {{ le 2 2 }} {{ gt \"b\" \"a\" }} {{ ge 1.5 2.5 }}"), "true true true true true false");
    assert_eq!(r("{{ eq (index (parseNumberRange \"5\") 0) 5 }}"), "true");
    assert_eq!(r("{{ not 0 }} {{ and 1 2 }} {{ or 0 \"\" }}"), "true 2 ");
    assert_eq!(
        r("{{ html \"<a href='x'>&</a>\" }}"),
        "&lt;a href=&#39;x&#39;&gt;&amp;&lt;/a&gt;"
    );
    assert_eq!(
        r("{{ urlquery \"a b&c\" }} {{ js \"it's\" }}"),
        "a+b%26c it\\'s"
    );
    assert_eq!(
        r_env("{{ if eq .Envs.A \"1\" }}yes{{ end }}", &[("A", "1")]),
        "yes"
    );
    let e = err("{{ eq 1 \"a\" }}");
    assert!(
        e.message.contains("incompatible types for comparison"),
        "{e}"
    );
    let e = err("{{ lt true false }}");
    assert!(e.message.contains("invalid type for comparison"), "{e}");
    let e = err("{{ index (parseNumberRange \"1\") 5 }}");
    assert!(e.message.contains("index out of range: 5"), "{e}");
    let e = err("{{ len 3 }}");
    assert!(e.message.contains("len of type int"), "{e}");
}

// ---- errors ----

#[test]
fn error_unclosed_action() {
    let e = err("a = 1\nb = {{ .Envs.X\n");
    assert!(e.message.contains("unclosed action"), "{e}");
    assert_eq!(e.line, 3);
    let e = err("a = 1\nb = {{ .Envs.X ");
    assert!(e.message.contains("unclosed action"), "{e}");
    assert_eq!(e.line, 2);
    let e = err("{{ if 1 }}x");
    assert!(e.message.contains("unexpected EOF"), "{e}");
    let e = err("x\n{{/* never closed");
    assert_eq!((e.line, e.message.as_str()), (2, "unclosed comment"));
    let e = err("{{ (1 }}");
    assert!(e.message.contains("unclosed left paren"), "{e}");
}

#[test]
fn error_unknown_function() {
    let e = err("a = 1\n\nb = {{ nosuchfunc 1 }}");
    assert_eq!(e.line, 3);
    assert_eq!(e.message, "function \"nosuchfunc\" not defined");
    assert_eq!(
        e.to_string(),
        "template: line 3: function \"nosuchfunc\" not defined"
    );
}

#[test]
fn error_number_functions_disabled_for_ini() {
    let e = err_env(
        "[common]\nports = {{ parseNumberRange \"1-2\" }}",
        &[],
        false,
    );
    assert_eq!(
        (e.line, e.message.as_str()),
        (2, "function \"parseNumberRange\" not defined")
    );
    let e = err_env("{{ parseNumberRangePair \"1\" \"2\" }}", &[], false);
    assert_eq!(e.message, "function \"parseNumberRangePair\" not defined");
    // Everything else still works for INI.
    assert_eq!(
        render("x = {{ .Envs.V }}", &envs(&[("V", "1")]), false).unwrap(),
        "x = 1"
    );
}

#[test]
fn error_pair_count_mismatch() {
    let e = err("a\nb\n{{ range parseNumberRangePair \"6000-6002\" \"7000-7001\" }}{{ end }}");
    assert_eq!(e.line, 3);
    assert!(
        e.message.contains(
            "error calling parseNumberRangePair: first and second range numbers are not in pairs"
        ),
        "{e}"
    );
}

#[test]
fn error_bad_ranges() {
    let e = err("x\n{{ parseNumberRange \"5-3\" }}");
    assert_eq!(e.line, 2);
    assert!(
        e.message
            .ends_with("error calling parseNumberRange: range number is invalid"),
        "{e}"
    );
    let e = err("{{ parseNumberRange \"1-2-3\" }}");
    assert!(e.message.ends_with("range number is invalid"), "{e}");
    let e = err("{{ parseNumberRange \"abc\" }}");
    assert!(
        e.message
            .contains("strconv.ParseInt: parsing \"abc\": invalid syntax"),
        "{e}"
    );
    let e = err("{{ parseNumberRange \"\" }}");
    assert!(e.message.contains("parsing \"\": invalid syntax"), "{e}");
    let e = err("{{ parseNumberRange \"99999999999999999999\" }}");
    assert!(e.message.contains("value out of range"), "{e}");
    let e = err("{{ parseNumberRange \"0-9223372036854775807\" }}");
    assert!(e.message.contains("range number is invalid"), "{e}");
    let e = err("{{ parseNumberRangePair \"1-2\" \"x\" }}");
    assert!(e.message.contains("range number is invalid"), "{e}");
    let e = err("{{ parseNumberRange 5 }}");
    assert!(e.message.contains("expected string; found 5"), "{e}");
    let e = err("{{ parseNumberRange .Envs.PORTS }}");
    assert!(e.message.contains("invalid value; expected string"), "{e}");
}

#[test]
fn parse_errors() {
    let cases = [
        ("{{ $x }}", "undefined variable \"$x\""),
        ("{{ break }}", "{{break}} outside {{range}}"),
        ("{{ end }}", "unexpected {{end}}"),
        ("{{ else }}", "unexpected {{else}}"),
        ("{{ }}", "missing value for command"),
        ("{{ 1 | 2 }}", "non executable command in pipeline stage 2"),
        ("{{ \"a\".B }}", "unexpected . after term \"\\\"a\\\"\""),
        ("{{ .A! }}", "bad character U+0021 '!'"),
        ("{{ \"unterminated }}", "unterminated quoted string"),
        (
            "{{ range $a, $b, $c := 1 }}{{ end }}",
            "too many declarations in range",
        ),
        (
            "{{ range $a, 1 }}{{ end }}",
            "range can only initialize variables",
        ),
        (
            "{{ with $a, $b := 1 }}{{ end }}",
            "too many declarations in with",
        ),
        ("{{ 1 2 }}", "can't give argument to non-function 1"),
        (
            "{{ 18446744073709551615 }}",
            "18446744073709551615 overflows int",
        ),
        ("{{ \"\\q\" }}", "invalid syntax"),
        ("{{ \"\\é\" }}", "invalid syntax"),
        ("{{ '\\é' }}", "invalid syntax"),
        ("{{ 'ab' }}", "malformed character constant: 'ab'"),
    ];
    for (t, want) in cases {
        let e = err(t);
        assert!(e.message.contains(want), "{t:?}: got {e}, want {want:?}");
    }
}

#[test]
fn exec_errors_carry_lines() {
    let e = err_env("a\nb\nc = {{ .Envs.A.B }}", &[("A", "x")], true);
    assert_eq!(e.line, 3);
    assert!(
        e.message.starts_with("executing \"frp\" at <.Envs.A.B>:"),
        "{e}"
    );
    let e = err("{{ if 1 }}\n\n{{ printf }}{{ end }}");
    assert_eq!(e.line, 3);
    assert!(
        e.message
            .contains("wrong number of args for printf: want at least 1 got 0"),
        "{e}"
    );
}

// ---- robustness ----

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let deep_if = "{{ if 1 }}".repeat(5000) + &"{{ end }}".repeat(5000);
    assert!(err(&deep_if).message.contains("nesting too deep"));
    let deep_paren = format!("{{{{ {}1{} }}}}", "(".repeat(5000), ")".repeat(5000));
    assert!(err(&deep_paren).message.contains("nesting too deep"));
    let ok_if = "{{ if 1 }}".repeat(50) + "x" + &"{{ end }}".repeat(50);
    assert_eq!(r(&ok_if), "x");
    let else_chain = format!(
        "{{{{ if 0 }}}}{}z{{{{ end }}}}",
        "{{ else if 0 }}".repeat(5000)
    );
    assert!(render(&else_chain, &BTreeMap::new(), true).is_err());
    // Worst case for the stack: recursion through a template whose body nests 60 ifs, with a
    // 39-deep parenthesised expression at the bottom (the parser allows 100 levels of both
    // combined). Must end in an error, not a crash.
    let body = format!(
        "{}{{{{ print {}1{} }}}}{{{{ template \"t\" }}}}{}",
        "{{ if 1 }}".repeat(60),
        "(print ".repeat(39),
        ")".repeat(39),
        "{{ end }}".repeat(60)
    );
    let worst = format!("{{{{ define \"t\" }}}}{body}{{{{ end }}}}{{{{ template \"t\" }}}}");
    assert!(
        err(&worst).message.contains("exceeded maximum"),
        "{}",
        err(&worst)
    );
    let huge_loop = "{{ range parseNumberRange \"1-60000\" }}{{ range parseNumberRange \"1-60000\" }}{{ end }}{{ end }}";
    assert!(err(huge_loop).message.contains("exceeded"));
    // Found by fuzz/run (template): a million-number range printing the data each time ran for
    // seconds. The range is now refused before the loop starts.
    let fuzz_timeout = "{{ .Envs.OORT }} {{- range $_, $v := parseNumberRange \"0500-1002020,0\" }}\nx = {{ $ }}v {{ printf \"!N%l\" 3 }}{{ end }}";
    assert!(
        err(fuzz_timeout)
            .message
            .contains("more than 65536 numbers"),
        "{}",
        err(fuzz_timeout)
    );
    // The whole port space is still one range.
    assert!(render(
        "{{ range parseNumberRange \"0-65535\" }}{{ end }}",
        &BTreeMap::new(),
        true
    )
    .is_ok());
    // Output is bounded too: 65536 iterations of 300 bytes is over 16 MiB.
    let wide = format!(
        "{{{{ range parseNumberRange \"1-65536\" }}}}{}{{{{ end }}}}",
        "x".repeat(300)
    );
    assert!(
        err(&wide).message.contains("output exceeds"),
        "{}",
        err(&wide)
    );
    assert!(
        err("{{ printf \"%999999999d\" 1 }}{{ parseNumberRange \"1-99999999999\" }}")
            .message
            .contains("range number is invalid")
    );
}

const FRAGMENTS: &[&str] = &[
    "{{",
    "}}",
    "{{-",
    "-}}",
    " ",
    "\n",
    "text",
    "{{ .Envs.A }}",
    "{{ . }}",
    ".Envs",
    ".Envs.A",
    "$",
    "$x",
    "$x :=",
    "$x =",
    ":=",
    "=",
    "|",
    "(",
    ")",
    "\"",
    "\"str\"",
    "`raw`",
    "`",
    "'a'",
    "'",
    "1",
    "-1",
    "0x1F",
    "1.5",
    "1e400",
    "99999999999999999999",
    "nil",
    "true",
    "if",
    "else",
    "else if",
    "end",
    "range",
    "with",
    "break",
    "continue",
    "define",
    "template",
    "block",
    "\"t\"",
    "printf",
    "\"%d %s %v %q %x %5.2f %[2]d %*d %!\"",
    "print",
    "println",
    "len",
    "index",
    "slice",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "and",
    "or",
    "not",
    "html",
    "js",
    "urlquery",
    "call",
    "parseNumberRange",
    "parseNumberRangePair",
    "\"1-3,5\"",
    "\"5-3\"",
    "\"1-9999999\"",
    "/*",
    "*/",
    "{{/*",
    "*/}}",
    ",",
    "$i, $v :=",
    "{{ end }}",
    "{{ else }}",
    "{{ if 1 }}",
    "{{ range 3 }}",
    "{{ break }}",
    "é",
    "\"\\é\"",
    "'\\é'",
    "\"\\",
    "\u{0}",
    "\\",
    "\\u00e9",
    ".First",
    ".Second",
    "{{ define \"t\" }}",
    "{{ template \"t\" . }}",
    "0",
];

fn random_template(rng: &mut StdRng) -> String {
    let n = rng.gen_range(1..24);
    let mut s = String::new();
    for _ in 0..n {
        s.push_str(FRAGMENTS[rng.gen_range(0..FRAGMENTS.len())]);
        if rng.gen_bool(0.4) {
            s.push(' ');
        }
    }
    s
}

#[test]
fn fuzz_random_inputs_never_panic() {
    let mut rng = StdRng::seed_from_u64(0x6672_7074_6d70);
    let env = envs(&[("A", "1"), ("B", "x y")]);
    for _ in 0..4000 {
        let t = random_template(&mut rng);
        for number_funcs in [true, false] {
            let _ = render(&t, &env, number_funcs);
        }
        // Well-formed wrapping of random pipelines, to get past the parser more often.
        let wrapped = format!("{{{{ {} }}}}", t.replace("{{", "").replace("}}", ""));
        let _ = render(&wrapped, &env, true);
    }
    for _ in 0..3000 {
        let len = rng.gen_range(0..64);
        let mut bytes: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
        if rng.gen_bool(0.5) {
            bytes.splice(0..0, b"{{ ".iter().copied());
        }
        let t = String::from_utf8_lossy(&bytes).into_owned();
        let _ = render(&t, &env, true);
    }
}
