//! Parser for Go `text/template`, a port of `text/template/parse/parse.go`.
//!
//! Builds the set of named templates (the main one is called `frp`, like frp's
//! `template.New("frp")`) from the lexer's tokens, with Go's checks: functions must be
//! defined, variables declared, `break`/`continue` only inside `range`.

use super::lexer::{Item, Lexer, Tok};
use super::TemplateError;

mod ast;
mod literal;
mod pipeline;

pub(crate) use ast::*;
pub(crate) use literal::underscore_ok;
use literal::unquote;

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
}

#[cfg(test)]
mod tests;
