//! Parser for Go `text/template`, a port of `text/template/parse/parse.go`.
//!
//! Builds the set of named templates (the main one is called `frp`, like frp's
//! `template.New("frp")`) from the lexer's tokens, with Go's checks: functions must be
//! defined, variables declared, `break`/`continue` only inside `range`.

use std::collections::HashMap;
use std::fmt;

use super::lexer::{Item, Lexer, Tok};
use super::TemplateError;

/// The name of the main template (frp calls `template.New("frp")`).
pub(crate) const ROOT_NAME: &str = "frp";
/// Maximum nesting of control structures and parenthesised expressions.
pub(crate) const MAX_DEPTH: usize = 100;
/// Maximum number of commands in one pipeline.
const MAX_PIPELINE_CMDS: usize = 10_000;

const BUILTINS: &[&str] = &[
    "and", "call", "html", "index", "slice", "js", "len", "not", "or", "print", "printf",
    "println", "urlquery", "eq", "ge", "gt", "le", "lt", "ne",
];
const NUMBER_FUNCS: &[&str] = &["parseNumberRange", "parseNumberRangePair"];

/// An ideal numeric constant, resolved as Go's `idealConstant` would.
#[derive(Debug, Clone)]
pub(crate) enum NumValue {
    Int(i64),
    Float(f64),
    /// Fits in uint64 but not int: an error when evaluated ("... overflows int").
    UintOverflow,
}

#[derive(Debug, Clone)]
pub(crate) enum OpKind {
    /// `.A.B` (names without dots).
    Field(Vec<String>),
    /// `$x.A.B`: the variable name (with `$`) then field names.
    Variable(Vec<String>),
    Identifier(String),
    Dot,
    Nil,
    Bool(bool),
    Number {
        text: String,
        value: NumValue,
    },
    Str {
        quoted: String,
        text: String,
    },
    Pipe(Box<Pipe>),
    /// `(pipeline).A.B` or `func.A`.
    Chain(Box<Operand>, Vec<String>),
}

#[derive(Debug, Clone)]
pub(crate) struct Operand {
    pub pos: usize,
    pub kind: OpKind,
}

#[derive(Debug, Clone)]
pub(crate) struct Command {
    pub pos: usize,
    pub args: Vec<Operand>,
}

#[derive(Debug, Clone)]
pub(crate) struct Pipe {
    pub pos: usize,
    pub is_assign: bool,
    pub decl: Vec<String>,
    pub cmds: Vec<Command>,
}

#[derive(Debug, Clone)]
pub(crate) struct Branch {
    pub pos: usize,
    pub pipe: Pipe,
    pub list: Vec<Node>,
    pub else_list: Option<Vec<Node>>,
}

#[derive(Debug, Clone)]
pub(crate) enum Node {
    Text(String),
    Action(Pipe),
    If(Branch),
    Range(Branch),
    With(Branch),
    Break,
    Continue,
    Template {
        pos: usize,
        name: String,
        pipe: Option<Pipe>,
    },
}

/// Named templates; the main one is [`ROOT_NAME`].
pub(crate) type TemplateSet = HashMap<String, Vec<Node>>;

// ---- Display, mirroring Go's Node.String() (used in error messages) ----

fn write_idents(f: &mut fmt::Formatter<'_>, idents: &[String]) -> fmt::Result {
    for id in idents {
        write!(f, ".{id}")?;
    }
    Ok(())
}

impl fmt::Display for Operand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            OpKind::Field(ids) => write_idents(f, ids),
            OpKind::Variable(ids) => {
                f.write_str(ids.first().map(String::as_str).unwrap_or("$"))?;
                write_idents(f, ids.get(1..).unwrap_or(&[]))
            }
            OpKind::Identifier(name) => f.write_str(name),
            OpKind::Dot => f.write_str("."),
            OpKind::Nil => f.write_str("nil"),
            OpKind::Bool(b) => write!(f, "{b}"),
            OpKind::Number { text, .. } => f.write_str(text),
            OpKind::Str { quoted, .. } => f.write_str(quoted),
            OpKind::Pipe(p) => write!(f, "({p})"),
            OpKind::Chain(node, fields) => {
                write!(f, "{node}")?;
                write_idents(f, fields)
            }
        }
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, a) in self.args.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{a}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Pipe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.decl.is_empty() {
            f.write_str(&self.decl.join(", "))?;
            f.write_str(if self.is_assign { " = " } else { " := " })?;
        }
        for (i, c) in self.cmds.iter().enumerate() {
            if i > 0 {
                f.write_str(" | ")?;
            }
            write!(f, "{c}")?;
        }
        Ok(())
    }
}

// ---- String and number literals (strconv.Unquote / UnquoteChar / ParseInt / ParseFloat) ----

/// Go's `strconv.UnquoteChar`: returns (value, is_multibyte_rune, tail).
fn unquote_char(s: &str, quote: char) -> Option<(u32, bool, &str)> {
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
fn unquote(lit: &str) -> Option<String> {
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
fn parse_uint_base0(s: &str) -> Option<u64> {
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

fn parse_int_base0(s: &str) -> Option<i64> {
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
fn parse_float(s: &str) -> Option<f64> {
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
fn new_number(text: &str, typ: Tok) -> Result<NumValue, String> {
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
            super::fmt::quote(text, false)
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
                    super::fmt::quote(text, false)
                ));
            }
            Ok(NumValue::Float(f))
        }
        None => Err(format!(
            "illegal number syntax: {}",
            super::fmt::quote(text, false)
        )),
    }
}

// ---- The parser ----

enum Parsed {
    Node(Node),
    End,
    Else,
}

impl Parsed {
    fn describe(&self) -> &'static str {
        match self {
            Parsed::End => "{{end}}",
            Parsed::Else => "{{else}}",
            Parsed::Node(_) => "node",
        }
    }
}

struct Parser<'a> {
    lex: Lexer<'a>,
    token: [Item<'a>; 3],
    peek_count: usize,
    vars: Vec<String>,
    action_line: usize,
    range_depth: usize,
    depth: usize,
    number_funcs: bool,
    set: TemplateSet,
}

type PResult<T> = Result<T, TemplateError>;

/// Parses `text` into its set of templates.
pub(crate) fn parse(text: &str, number_funcs: bool) -> PResult<TemplateSet> {
    let eof = Item {
        typ: Tok::Eof,
        pos: 0,
        val: "".into(),
        line: 1,
    };
    let mut p = Parser {
        lex: Lexer::new(text),
        token: [eof.clone(), eof.clone(), eof],
        peek_count: 0,
        vars: vec!["$".into()],
        action_line: 0,
        range_depth: 0,
        depth: 0,
        number_funcs,
        set: TemplateSet::new(),
    };
    let root = p.parse_root()?;
    p.add(ROOT_NAME.into(), root)?;
    Ok(p.set)
}

fn is_empty_tree(nodes: &[Node]) -> bool {
    nodes
        .iter()
        .all(|n| matches!(n, Node::Text(t) if t.trim().is_empty()))
}

impl<'a> Parser<'a> {
    fn errorf(&self, message: impl Into<String>) -> TemplateError {
        TemplateError {
            line: self.token[0].line,
            message: message.into(),
        }
    }

    fn next(&mut self) -> Item<'a> {
        if self.peek_count > 0 {
            self.peek_count -= 1;
        } else {
            self.token[0] = self.lex.next_item();
        }
        self.token[self.peek_count].clone()
    }

    fn backup(&mut self) {
        self.peek_count += 1;
    }

    fn backup2(&mut self, t1: Item<'a>) {
        self.token[1] = t1;
        self.peek_count = 2;
    }

    fn backup3(&mut self, t2: Item<'a>, t1: Item<'a>) {
        self.token[1] = t1;
        self.token[2] = t2;
        self.peek_count = 3;
    }

    fn peek(&mut self) -> Item<'a> {
        if self.peek_count > 0 {
            return self.token[self.peek_count - 1].clone();
        }
        self.peek_count = 1;
        self.token[0] = self.lex.next_item();
        self.token[0].clone()
    }

    fn next_non_space(&mut self) -> Item<'a> {
        loop {
            let t = self.next();
            if t.typ != Tok::Space {
                return t;
            }
        }
    }

    fn peek_non_space(&mut self) -> Item<'a> {
        let t = self.next_non_space();
        self.backup();
        t
    }

    fn expect(&mut self, expected: Tok, context: &str) -> PResult<Item<'a>> {
        let t = self.next_non_space();
        if t.typ != expected {
            return Err(self.unexpected(&t, context));
        }
        Ok(t)
    }

    fn unexpected(&self, token: &Item<'a>, context: &str) -> TemplateError {
        if token.typ == Tok::Error {
            let mut extra = String::new();
            if self.action_line != 0 && self.action_line != token.line {
                extra = if token.val.ends_with(" action") {
                    format!(" started at line {}", self.action_line)
                } else {
                    format!(" in action started at line {}", self.action_line)
                };
            }
            return self.errorf(format!("{token}{extra}"));
        }
        self.errorf(format!("unexpected {token} in {context}"))
    }

    fn has_function(&self, name: &str) -> bool {
        BUILTINS.contains(&name) || self.number_funcs && NUMBER_FUNCS.contains(&name)
    }

    fn add(&mut self, name: String, list: Vec<Node>) -> PResult<()> {
        match self.set.get(&name) {
            Some(existing) if !is_empty_tree(existing) => {
                if !is_empty_tree(&list) {
                    return Err(self.errorf(format!(
                        "template: multiple definition of template {}",
                        super::fmt::quote(&name, false)
                    )));
                }
            }
            _ => {
                self.set.insert(name, list);
            }
        }
        Ok(())
    }

    fn enter(&mut self) -> PResult<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.errorf(format!("template nesting too deep (max {MAX_DEPTH})")));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    fn parse_root(&mut self) -> PResult<Vec<Node>> {
        let mut root = Vec::new();
        while self.peek().typ != Tok::Eof {
            if self.peek().typ == Tok::LeftDelim {
                let delim = self.next();
                if self.next_non_space().typ == Tok::Define {
                    self.parse_definition()?;
                    continue;
                }
                self.backup2(delim);
            }
            match self.text_or_action()? {
                Parsed::Node(n) => root.push(n),
                other => return Err(self.errorf(format!("unexpected {}", other.describe()))),
            }
        }
        Ok(root)
    }

    fn parse_definition(&mut self) -> PResult<()> {
        const CONTEXT: &str = "define clause";
        let name = self.next_non_space();
        if !matches!(name.typ, Tok::String | Tok::RawString) {
            return Err(self.unexpected(&name, CONTEXT));
        }
        let name = unquote(&name.val).ok_or_else(|| self.errorf("invalid syntax"))?;
        self.expect(Tok::RightDelim, CONTEXT)?;
        let (list, end) = self.sub_tree(|p| p.item_list())?;
        if !matches!(end, Parsed::End) {
            return Err(self.errorf(format!("unexpected {} in {CONTEXT}", end.describe())));
        }
        self.add(name, list)
    }

    /// Runs `f` with the fresh per-tree state Go gives a nested template definition.
    fn sub_tree<T>(&mut self, f: impl FnOnce(&mut Self) -> PResult<T>) -> PResult<T> {
        let vars = std::mem::replace(&mut self.vars, vec!["$".into()]);
        let range_depth = std::mem::replace(&mut self.range_depth, 0);
        let r = f(self);
        self.vars = vars;
        self.range_depth = range_depth;
        r
    }

    fn item_list(&mut self) -> PResult<(Vec<Node>, Parsed)> {
        let mut list = Vec::new();
        while self.peek_non_space().typ != Tok::Eof {
            match self.text_or_action()? {
                Parsed::Node(n) => list.push(n),
                other => return Ok((list, other)),
            }
        }
        Err(self.errorf("unexpected EOF"))
    }

    fn text_or_action(&mut self) -> PResult<Parsed> {
        let token = self.next_non_space();
        match token.typ {
            Tok::Text => Ok(Parsed::Node(Node::Text(token.val.into_owned()))),
            Tok::LeftDelim => {
                self.action_line = token.line;
                let r = self.action();
                self.action_line = 0;
                r
            }
            _ => Err(self.unexpected(&token, "input")),
        }
    }

    fn action(&mut self) -> PResult<Parsed> {
        let token = self.next_non_space();
        match token.typ {
            Tok::Block => return self.block_control().map(Parsed::Node),
            Tok::Break | Tok::Continue => {
                let name = if token.typ == Tok::Break {
                    "break"
                } else {
                    "continue"
                };
                let t = self.next_non_space();
                if t.typ != Tok::RightDelim {
                    return Err(self.unexpected(&t, &format!("{{{{{name}}}}}")));
                }
                if self.range_depth == 0 {
                    return Err(self.errorf(format!("{{{{{name}}}}} outside {{{{range}}}}")));
                }
                return Ok(Parsed::Node(if token.typ == Tok::Break {
                    Node::Break
                } else {
                    Node::Continue
                }));
            }
            Tok::Else => return self.else_control(),
            Tok::End => {
                self.expect(Tok::RightDelim, "end")?;
                return Ok(Parsed::End);
            }
            Tok::If => return self.control("if").map(|b| Parsed::Node(Node::If(b))),
            Tok::Range => return self.control("range").map(|b| Parsed::Node(Node::Range(b))),
            Tok::With => return self.control("with").map(|b| Parsed::Node(Node::With(b))),
            Tok::Template => return self.template_control().map(Parsed::Node),
            _ => {}
        }
        self.backup();
        let pipe = self.pipeline("command", Tok::RightDelim)?;
        Ok(Parsed::Node(Node::Action(pipe)))
    }

    fn else_control(&mut self) -> PResult<Parsed> {
        let peek = self.peek_non_space();
        if matches!(peek.typ, Tok::If | Tok::With) {
            return Ok(Parsed::Else);
        }
        self.expect(Tok::RightDelim, "else")?;
        Ok(Parsed::Else)
    }

    fn control(&mut self, context: &str) -> PResult<Branch> {
        self.enter()?;
        let saved_vars = self.vars.len();
        let r = self.control_inner(context);
        self.vars.truncate(saved_vars);
        self.leave();
        r
    }

    fn control_inner(&mut self, context: &str) -> PResult<Branch> {
        let pipe = self.pipeline(context, Tok::RightDelim)?;
        let is_range = context == "range";
        if is_range {
            self.range_depth += 1;
        }
        let body = self.item_list();
        if is_range {
            self.range_depth -= 1;
        }
        let (list, next) = body?;
        let else_list = match next {
            Parsed::Else => {
                if context == "if" && self.peek().typ == Tok::If {
                    self.next();
                    Some(vec![Node::If(self.control("if")?)])
                } else if context == "with" && self.peek().typ == Tok::With {
                    self.next();
                    Some(vec![Node::With(self.control("with")?)])
                } else {
                    let (l, n) = self.item_list()?;
                    if !matches!(n, Parsed::End) {
                        return Err(self.errorf(format!("expected end; found {}", n.describe())));
                    }
                    Some(l)
                }
            }
            _ => None,
        };
        Ok(Branch {
            pos: pipe.pos,
            pipe,
            list,
            else_list,
        })
    }

    fn template_name(&mut self, token: &Item<'a>, context: &str) -> PResult<String> {
        match token.typ {
            Tok::String | Tok::RawString => {
                unquote(&token.val).ok_or_else(|| self.errorf("invalid syntax"))
            }
            _ => Err(self.unexpected(token, context)),
        }
    }

    fn template_control(&mut self) -> PResult<Node> {
        const CONTEXT: &str = "template clause";
        let token = self.next_non_space();
        let name = self.template_name(&token, CONTEXT)?;
        let pipe = if self.next_non_space().typ != Tok::RightDelim {
            self.backup();
            Some(self.pipeline(CONTEXT, Tok::RightDelim)?)
        } else {
            None
        };
        Ok(Node::Template {
            pos: token.pos,
            name,
            pipe,
        })
    }

    fn block_control(&mut self) -> PResult<Node> {
        const CONTEXT: &str = "block clause";
        let token = self.next_non_space();
        let name = self.template_name(&token, CONTEXT)?;
        let pipe = self.pipeline(CONTEXT, Tok::RightDelim)?;
        self.enter()?;
        let body = self.sub_tree(|p| p.item_list());
        self.leave();
        let (list, end) = body?;
        if !matches!(end, Parsed::End) {
            return Err(self.errorf(format!("unexpected {} in {CONTEXT}", end.describe())));
        }
        self.add(name.clone(), list)?;
        Ok(Node::Template {
            pos: token.pos,
            name,
            pipe: Some(pipe),
        })
    }

    fn pipeline(&mut self, context: &str, end: Tok) -> PResult<Pipe> {
        let token = self.peek_non_space();
        let mut pipe = Pipe {
            pos: token.pos,
            is_assign: false,
            decl: Vec::new(),
            cmds: Vec::new(),
        };
        loop {
            let v = self.peek_non_space();
            if v.typ != Tok::Variable {
                break;
            }
            self.next();
            let token_after_variable = self.peek();
            let next = self.peek_non_space();
            if matches!(next.typ, Tok::Assign | Tok::Declare) {
                pipe.is_assign = next.typ == Tok::Assign;
                self.next_non_space();
                pipe.decl.push(v.val.to_string());
                self.vars.push(v.val.to_string());
            } else if next.typ == Tok::Char && next.val == "," {
                self.next_non_space();
                pipe.decl.push(v.val.to_string());
                self.vars.push(v.val.to_string());
                if context == "range" && pipe.decl.len() < 2 {
                    match self.peek_non_space().typ {
                        Tok::Variable | Tok::RightDelim | Tok::RightParen => continue,
                        _ => return Err(self.errorf("range can only initialize variables")),
                    }
                }
                return Err(self.errorf(format!("too many declarations in {context}")));
            } else if token_after_variable.typ == Tok::Space {
                self.backup3(v, token_after_variable);
            } else {
                self.backup2(v);
            }
            break;
        }
        loop {
            let token = self.next_non_space();
            if token.typ == end {
                self.check_pipeline(&pipe, context)?;
                return Ok(pipe);
            }
            match token.typ {
                Tok::Bool
                | Tok::CharConstant
                | Tok::Complex
                | Tok::Dot
                | Tok::Field
                | Tok::Identifier
                | Tok::Number
                | Tok::Nil
                | Tok::RawString
                | Tok::String
                | Tok::Variable
                | Tok::LeftParen => {
                    self.backup();
                    let cmd = self.command()?;
                    pipe.cmds.push(cmd);
                    if pipe.cmds.len() > MAX_PIPELINE_CMDS {
                        return Err(self.errorf("pipeline too long"));
                    }
                }
                _ => return Err(self.unexpected(&token, context)),
            }
        }
    }

    fn check_pipeline(&self, pipe: &Pipe, context: &str) -> PResult<()> {
        if pipe.cmds.is_empty() {
            return Err(self.errorf(format!("missing value for {context}")));
        }
        for (i, c) in pipe.cmds.iter().enumerate().skip(1) {
            if let Some(first) = c.args.first() {
                if matches!(
                    first.kind,
                    OpKind::Bool(_)
                        | OpKind::Dot
                        | OpKind::Nil
                        | OpKind::Number { .. }
                        | OpKind::Str { .. }
                ) {
                    return Err(self.errorf(format!(
                        "non executable command in pipeline stage {}",
                        i + 1
                    )));
                }
            }
        }
        Ok(())
    }

    fn command(&mut self) -> PResult<Command> {
        let pos = self.peek_non_space().pos;
        let mut cmd = Command {
            pos,
            args: Vec::new(),
        };
        loop {
            self.peek_non_space();
            if let Some(op) = self.operand()? {
                cmd.args.push(op);
            }
            let token = self.next();
            match token.typ {
                Tok::Space => continue,
                Tok::RightDelim | Tok::RightParen => self.backup(),
                Tok::Pipe => {}
                _ => return Err(self.unexpected(&token, "operand")),
            }
            break;
        }
        if cmd.args.is_empty() {
            return Err(self.errorf("empty command"));
        }
        Ok(cmd)
    }

    fn operand(&mut self) -> PResult<Option<Operand>> {
        let Some(node) = self.term()? else {
            return Ok(None);
        };
        if self.peek().typ != Tok::Field {
            return Ok(Some(node));
        }
        let chain_pos = self.peek().pos;
        let mut fields = Vec::new();
        while self.peek().typ == Tok::Field {
            let f = self.next();
            fields.push(f.val.get(1..).unwrap_or("").to_string());
        }
        let kind = match node.kind {
            OpKind::Field(mut ids) => {
                ids.extend(fields);
                OpKind::Field(ids)
            }
            OpKind::Variable(mut ids) => {
                ids.extend(fields);
                OpKind::Variable(ids)
            }
            OpKind::Bool(_)
            | OpKind::Str { .. }
            | OpKind::Number { .. }
            | OpKind::Nil
            | OpKind::Dot => {
                let s = super::fmt::quote(&node.to_string(), false);
                return Err(self.errorf(format!("unexpected . after term {s}")));
            }
            _ => OpKind::Chain(Box::new(node), fields),
        };
        Ok(Some(Operand {
            pos: chain_pos,
            kind,
        }))
    }

    fn term(&mut self) -> PResult<Option<Operand>> {
        let token = self.next_non_space();
        let pos = token.pos;
        let kind = match token.typ {
            Tok::Identifier => {
                if !self.has_function(&token.val) {
                    let q = super::fmt::quote(&token.val, false);
                    return Err(self.errorf(format!("function {q} not defined")));
                }
                OpKind::Identifier(token.val.into_owned())
            }
            Tok::Dot => OpKind::Dot,
            Tok::Nil => OpKind::Nil,
            Tok::Variable => {
                let name = token.val.into_owned();
                if !self.vars.contains(&name) {
                    let q = super::fmt::quote(&name, false);
                    return Err(self.errorf(format!("undefined variable {q}")));
                }
                OpKind::Variable(vec![name])
            }
            Tok::Field => OpKind::Field(vec![token.val.get(1..).unwrap_or("").to_string()]),
            Tok::Bool => OpKind::Bool(token.val == "true"),
            Tok::CharConstant | Tok::Complex | Tok::Number => {
                let value = new_number(&token.val, token.typ).map_err(|e| self.errorf(e))?;
                OpKind::Number {
                    text: token.val.into_owned(),
                    value,
                }
            }
            Tok::LeftParen => {
                self.enter()?;
                let p = self.pipeline("parenthesized pipeline", Tok::RightParen);
                self.leave();
                OpKind::Pipe(Box::new(p?))
            }
            Tok::String | Tok::RawString => {
                let text = unquote(&token.val).ok_or_else(|| self.errorf("invalid syntax"))?;
                OpKind::Str {
                    quoted: token.val.into_owned(),
                    text,
                }
            }
            _ => {
                self.backup();
                return Ok(None);
            }
        };
        Ok(Some(Operand { pos, kind }))
    }
}

#[cfg(test)]
mod tests {
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
}
