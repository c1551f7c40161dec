//! Executes a parsed template set, a port of `text/template/exec.go` and `funcs.go` for the
//! data frp passes (`Values{Envs map[string]string}`) and the values templates can build
//! from it (strings, numbers, lists from `parseNumberRange`, `NumberPair` structs).
//!
//! Resource use is bounded so hostile input cannot hang or exhaust the process: nesting depth,
//! template recursion, total steps, output size and range expansion all have limits.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::rc::Rc;

use super::fmt as gofmt;
use super::parser::{Branch, Node, NumValue, OpKind, Operand, Pipe, TemplateSet, ROOT_NAME};
use super::TemplateError;

mod eval;
mod funcs;

/// Maximum nesting of executing control structures and template calls.
const MAX_EXEC_DEPTH: usize = 200;
/// Maximum depth of `{{template}}` invocations (Go's limit is 100000; this keeps the stack small).
const MAX_TEMPLATE_DEPTH: usize = 100;
/// Maximum number of execution steps: nodes, commands, loop iterations, plus the size of
/// every value a function produces (so building huge lists or strings in a loop is bounded).
/// Go has no such limits; ours keep a hostile or mistaken config from holding the daemon (or
/// `frpc verify`) for more than a fraction of a second. A config needs far less: one proxy per
/// port of the whole port space is 65536 iterations of a few steps each.
const MAX_STEPS: u64 = 2_000_000;
/// Maximum size of the rendered text (a config; the largest seen in practice is a few MiB).
const MAX_OUTPUT: usize = 16 << 20;
/// Maximum number of values one `parseNumberRange` call may produce: the whole port space.
/// (The fuzzer found a range of a million numbers, each printing the data, that took seconds.)
pub(crate) const MAX_RANGE_NUMBERS: usize = 1 << 16;

/// Go integer types that can appear (`int` literals and indexes, `int64` from the number
/// functions, `uint8` from indexing a string).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IntType {
    Int,
    Int64,
    Uint8,
}

impl IntType {
    pub(crate) fn name(self) -> &'static str {
        match self {
            IntType::Int => "int",
            IntType::Int64 => "int64",
            IntType::Uint8 => "uint8",
        }
    }
}

/// A template value. `Missing` is Go's invalid `reflect.Value` (a missing map key, untyped nil).
#[derive(Debug, Clone)]
pub(crate) enum Value {
    Missing,
    Bool(bool),
    Int(i64, IntType),
    Float(f64),
    Str(Rc<str>),
    List(Rc<List>),
    Map(Rc<BTreeMap<String, String>>),
    Struct(Rc<Struct>),
}

/// A Go slice; `elem` is the element type name (`int64`, `config.NumberPair`).
#[derive(Debug)]
pub(crate) struct List {
    pub elem: &'static str,
    pub items: Vec<Value>,
}

/// A Go struct (or pointer to struct when `ptr`), with its exported fields in order.
#[derive(Debug)]
pub(crate) struct Struct {
    pub ty: &'static str,
    pub ptr: bool,
    pub fields: Vec<(&'static str, Value)>,
}

fn str_value(s: &str) -> Value {
    Value::Str(Rc::from(s))
}

/// Go's `isTrue`: the zero value of any type is false; structs are always true.
pub(crate) fn truth(v: &Value) -> bool {
    match v {
        Value::Missing => false,
        Value::Bool(b) => *b,
        Value::Int(n, _) => *n != 0,
        Value::Float(f) => *f != 0.0,
        Value::Str(s) => !s.is_empty(),
        Value::List(l) => !l.items.is_empty(),
        Value::Map(m) => !m.is_empty(),
        Value::Struct(_) => true,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Normal,
    Break,
    Continue,
}

/// Parameter types of the builtin functions, which decide how arguments are checked.
#[derive(Debug, Clone, Copy)]
enum P {
    /// `reflect.Value`: anything, including a missing value.
    Val,
    /// `interface{}` (the print functions): anything, a missing value becomes nil.
    Any,
    /// `string`: string literals or string values only.
    Str,
}

fn signature(name: &str) -> Option<(&'static [P], Option<P>)> {
    Some(match name {
        "and" | "or" | "eq" | "index" | "slice" | "call" => (&[P::Val], Some(P::Val)),
        "not" | "len" => (&[P::Val], None),
        "ne" | "lt" | "le" | "gt" | "ge" => (&[P::Val, P::Val], None),
        "print" | "println" | "html" | "js" | "urlquery" => (&[], Some(P::Any)),
        "printf" => (&[P::Str], Some(P::Any)),
        "parseNumberRange" => (&[P::Str], None),
        "parseNumberRangePair" => (&[P::Str, P::Str], None),
        _ => return None,
    })
}

type R<T> = Result<T, TemplateError>;

struct State<'t> {
    text: &'t str,
    set: &'t TemplateSet,
    name: &'t str,
    vars: Vec<(&'t str, Value)>,
    out: String,
    steps: u64,
    depth: usize,
    tmpl_depth: usize,
    /// Byte offset of the node being executed, for error lines (Go's `state.at`).
    at: usize,
}

/// Executes the `frp` template of `set` with data `{ Envs: envs }`.
pub(crate) fn execute(text: &str, set: &TemplateSet, envs: &BTreeMap<String, String>) -> R<String> {
    let data = Value::Struct(Rc::new(Struct {
        ty: "config.Values",
        ptr: true,
        fields: vec![("Envs", Value::Map(Rc::new(envs.clone())))],
    }));
    let mut st = State {
        text,
        set,
        name: ROOT_NAME,
        vars: vec![("$", data.clone())],
        out: String::with_capacity(text.len()),
        steps: 0,
        depth: 0,
        tmpl_depth: 0,
        at: 0,
    };
    let Some(root) = set.get(ROOT_NAME) else {
        return Err(TemplateError {
            line: 1,
            message: "\"frp\" is an incomplete or empty template".into(),
        });
    };
    st.walk(&data, root)?;
    Ok(st.out)
}

impl<'t> State<'t> {
    fn err(&self, ctx: impl Display, msg: impl Display) -> TemplateError {
        let line = 1 + self
            .text
            .get(..self.at)
            .unwrap_or(self.text)
            .bytes()
            .filter(|&b| b == b'\n')
            .count();
        TemplateError {
            line,
            message: format!(
                "executing {} at <{ctx}>: {msg}",
                gofmt::quote(self.name, false)
            ),
        }
    }

    fn step(&mut self) -> R<()> {
        self.steps += 1;
        if self.steps > MAX_STEPS {
            return Err(self.err("", format!("template execution exceeded {MAX_STEPS} steps")));
        }
        Ok(())
    }

    fn enter(&mut self) -> R<()> {
        self.depth += 1;
        if self.depth > MAX_EXEC_DEPTH {
            return Err(self.err(
                "",
                format!("exceeded maximum nesting depth ({MAX_EXEC_DEPTH})"),
            ));
        }
        Ok(())
    }

    fn write(&mut self, s: &str) -> R<()> {
        if self.out.len() + s.len() > MAX_OUTPUT {
            return Err(self.err("", format!("template output exceeds {MAX_OUTPUT} bytes")));
        }
        self.out.push_str(s);
        Ok(())
    }

    // ---- variables ----

    fn var_value(&self, name: &str) -> R<Value> {
        match self.vars.iter().rev().find(|(n, _)| *n == name) {
            Some((_, v)) => Ok(v.clone()),
            None => Err(self.err(name, format!("undefined variable: {name}"))),
        }
    }

    fn set_var(&mut self, name: &str, value: Value) -> R<()> {
        match self.vars.iter_mut().rev().find(|(n, _)| *n == name) {
            Some(slot) => {
                slot.1 = value;
                Ok(())
            }
            None => Err(self.err(name, format!("undefined variable: {name}"))),
        }
    }

    fn set_top_var(&mut self, n: usize, value: Value) -> R<()> {
        let idx = self.vars.len().checked_sub(n);
        match idx.and_then(|i| self.vars.get_mut(i)) {
            Some(slot) => {
                slot.1 = value;
                Ok(())
            }
            None => Err(self.err("range", "internal error: range variable missing")),
        }
    }

    // ---- walking ----

    fn walk(&mut self, dot: &Value, list: &'t [Node]) -> R<Flow> {
        for node in list {
            self.step()?;
            match node {
                Node::Text(t) => self.write(t)?,
                Node::Action(pipe) => {
                    self.at = pipe.pos;
                    let v = self.eval_pipeline(dot, pipe)?;
                    if pipe.decl.is_empty() {
                        let s = gofmt::print_value(&v);
                        self.write(&s)?;
                    }
                }
                Node::If(b) | Node::With(b) => {
                    let with = matches!(node, Node::With(_));
                    let flow = self.walk_if_with(with, dot, b)?;
                    if flow != Flow::Normal {
                        return Ok(flow);
                    }
                }
                Node::Range(b) => {
                    let flow = self.walk_range(dot, b)?;
                    if flow != Flow::Normal {
                        return Ok(flow);
                    }
                }
                Node::Break => return Ok(Flow::Break),
                Node::Continue => return Ok(Flow::Continue),
                Node::Template { pos, name, pipe } => {
                    self.walk_template(dot, *pos, name, pipe.as_ref())?
                }
            }
        }
        Ok(Flow::Normal)
    }

    fn walk_if_with(&mut self, with: bool, dot: &Value, b: &'t Branch) -> R<Flow> {
        let mark = self.vars.len();
        self.at = b.pos;
        let val = self.eval_pipeline(dot, &b.pipe)?;
        self.enter()?;
        let flow = if truth(&val) {
            if with {
                self.walk(&val, &b.list)?
            } else {
                self.walk(dot, &b.list)?
            }
        } else if let Some(e) = &b.else_list {
            self.walk(dot, e)?
        } else {
            Flow::Normal
        };
        self.depth -= 1;
        self.vars.truncate(mark);
        Ok(flow)
    }

    fn walk_range(&mut self, dot: &Value, b: &'t Branch) -> R<Flow> {
        let mark0 = self.vars.len();
        self.at = b.pos;
        let val = self.eval_pipeline(dot, &b.pipe)?;
        let mark = self.vars.len();
        let ran = match &val {
            Value::List(l) if !l.items.is_empty() => {
                let l = Rc::clone(l);
                for (i, e) in l.items.iter().enumerate() {
                    if self.one_iteration(b, Value::Int(i as i64, IntType::Int), e.clone(), mark)? {
                        break;
                    }
                }
                true
            }
            Value::Map(m) if !m.is_empty() => {
                let m = Rc::clone(m);
                for (k, v) in m.iter() {
                    if self.one_iteration(b, str_value(k), str_value(v), mark)? {
                        break;
                    }
                }
                true
            }
            Value::Int(n, t) => {
                if b.pipe.decl.len() > 1 {
                    let shown = gofmt::print_value(&val);
                    return Err(self.err(
                        &b.pipe,
                        format!("can't use {shown} to iterate over more than one variable"),
                    ));
                }
                for i in 0..*n {
                    if self.one_iteration(b, Value::Missing, Value::Int(i, *t), mark)? {
                        break;
                    }
                }
                *n > 0
            }
            Value::List(_) | Value::Map(_) | Value::Missing => false,
            other => {
                let shown = gofmt::print_value(other);
                return Err(self.err(&b.pipe, format!("range can't iterate over {shown}")));
            }
        };
        let mut flow = Flow::Normal;
        if !ran {
            if let Some(e) = &b.else_list {
                self.enter()?;
                // Like Go, a {{break}} in the else branch is absorbed by this range.
                flow = match self.walk(dot, e)? {
                    Flow::Break => Flow::Normal,
                    f => f,
                };
                self.depth -= 1;
            }
        }
        self.vars.truncate(mark0);
        Ok(flow)
    }

    /// Runs one iteration; returns whether the loop must stop (`{{break}}`).
    fn one_iteration(&mut self, b: &'t Branch, index: Value, elem: Value, mark: usize) -> R<bool> {
        self.step()?;
        let decl = &b.pipe.decl;
        if let Some(first) = decl.first() {
            if b.pipe.is_assign {
                let v = if decl.len() > 1 {
                    index.clone()
                } else {
                    elem.clone()
                };
                self.set_var(first, v)?;
            } else {
                self.set_top_var(1, elem.clone())?;
            }
        }
        if let Some(second) = decl.get(1) {
            if b.pipe.is_assign {
                self.set_var(second, elem.clone())?;
            } else {
                self.set_top_var(2, index)?;
            }
        }
        self.enter()?;
        let flow = self.walk(&elem, &b.list)?;
        self.depth -= 1;
        self.vars.truncate(mark);
        Ok(flow == Flow::Break)
    }

    fn walk_template(
        &mut self,
        dot: &Value,
        pos: usize,
        name: &'t str,
        pipe: Option<&'t Pipe>,
    ) -> R<()> {
        self.at = pos;
        let ctx = format!("{{{{template {}}}}}", gofmt::quote(name, false));
        let Some((tname, body)) = self.set.get_key_value(name) else {
            return Err(self.err(
                ctx,
                format!("template {} not defined", gofmt::quote(name, false)),
            ));
        };
        if self.tmpl_depth >= MAX_TEMPLATE_DEPTH {
            return Err(self.err(
                ctx,
                format!("exceeded maximum template depth ({MAX_TEMPLATE_DEPTH})"),
            ));
        }
        let new_dot = match pipe {
            Some(p) => self.eval_pipeline(dot, p)?,
            None => Value::Missing,
        };
        let saved_vars = std::mem::replace(&mut self.vars, vec![("$", new_dot.clone())]);
        let saved_name = std::mem::replace(&mut self.name, tname.as_str());
        self.tmpl_depth += 1;
        self.enter()?;
        self.walk(&new_dot, body)?;
        self.depth -= 1;
        self.tmpl_depth -= 1;
        self.vars = saved_vars;
        self.name = saved_name;
        Ok(())
    }
}
