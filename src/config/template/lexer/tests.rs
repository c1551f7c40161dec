use super::*;

fn toks(s: &str) -> Vec<(Tok, String)> {
    let mut l = Lexer::new(s);
    let mut out = Vec::new();
    loop {
        let i = l.next_item();
        let end = matches!(i.typ, Tok::Eof | Tok::Error);
        out.push((i.typ, i.val.into_owned()));
        if end {
            return out;
        }
    }
}

#[test]
fn lexes_trim_markers_and_fields() {
    let t = toks("a  {{- .Envs.X -}}  b");
    assert_eq!(
        t,
        vec![
            (Tok::Text, "a".into()),
            (Tok::LeftDelim, "{{".into()),
            (Tok::Field, ".Envs".into()),
            (Tok::Field, ".X".into()),
            (Tok::RightDelim, "}}".into()),
            (Tok::Text, "b".into()),
            (Tok::Eof, "".into()),
        ]
    );
    // "{{-3}}" is the number -3, not a trim marker.
    assert_eq!(toks("{{-3}}")[1], (Tok::Number, "-3".into()));
}

#[test]
fn lexes_errors() {
    assert_eq!(
        toks("{{ .X").last().map(|t| t.1.clone()),
        Some("unclosed action".into())
    );
    assert_eq!(
        toks("{{/* x").last().map(|t| t.1.clone()),
        Some("unclosed comment".into())
    );
    assert_eq!(
        toks("{{ \"x }}").last().map(|t| t.1.clone()),
        Some("unterminated quoted string".into())
    );
}
