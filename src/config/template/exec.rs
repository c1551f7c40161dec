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

    // ---- evaluation ----

    fn eval_pipeline(&mut self, dot: &Value, pipe: &'t Pipe) -> R<Value> {
        self.at = pipe.pos;
        let mut value: Option<Value> = None;
        for cmd in &pipe.cmds {
            self.step()?;
            value = Some(self.eval_command(dot, &cmd.args, cmd.pos, value)?);
        }
        let value = value.unwrap_or(Value::Missing);
        for d in &pipe.decl {
            if pipe.is_assign {
                self.set_var(d, value.clone())?;
            } else {
                self.vars.push((d.as_str(), value.clone()));
            }
        }
        Ok(value)
    }

    fn not_a_function(&self, args: &[Operand], final_: &Option<Value>) -> R<()> {
        if args.len() > 1 || final_.is_some() {
            if let Some(first) = args.first() {
                return Err(self.err(
                    first,
                    format!("can't give argument to non-function {first}"),
                ));
            }
            return Err(self.err("", "can't give argument to non-function"));
        }
        Ok(())
    }

    fn eval_command(
        &mut self,
        dot: &Value,
        args: &'t [Operand],
        pos: usize,
        final_: Option<Value>,
    ) -> R<Value> {
        let Some(first) = args.first() else {
            return Err(self.err("", "empty command"));
        };
        match &first.kind {
            OpKind::Field(ids) => {
                return self.eval_field_chain(dot.clone(), first, ids, args, final_)
            }
            OpKind::Chain(inner, fields) => {
                return self.eval_chain(dot, first, inner, fields, args, final_)
            }
            OpKind::Identifier(name) => {
                self.at = first.pos;
                let ctx = Cmd(args);
                return self.eval_call(dot, name, pos, &ctx, &args[1..], final_);
            }
            OpKind::Pipe(p) => {
                self.not_a_function(args, &final_)?;
                return self.eval_pipeline(dot, p);
            }
            OpKind::Variable(ids) => return self.eval_variable(first, ids, args, final_),
            _ => {}
        }
        self.at = first.pos;
        self.not_a_function(args, &final_)?;
        match &first.kind {
            OpKind::Bool(b) => Ok(Value::Bool(*b)),
            OpKind::Dot => Ok(dot.clone()),
            OpKind::Nil => Err(self.err(first, "nil is not a command")),
            OpKind::Number { text, value } => self.ideal_constant(first, text, value),
            OpKind::Str { text, .. } => Ok(str_value(text)),
            _ => Err(self.err(
                first,
                format!(
                    "can't evaluate command {}",
                    gofmt::quote(&first.to_string(), false)
                ),
            )),
        }
    }

    fn ideal_constant(&self, node: &Operand, text: &str, value: &NumValue) -> R<Value> {
        match value {
            NumValue::Int(i) => Ok(Value::Int(*i, IntType::Int)),
            NumValue::Float(f) => Ok(Value::Float(*f)),
            NumValue::UintOverflow => Err(self.err(node, format!("{text} overflows int"))),
        }
    }

    fn eval_field_chain(
        &mut self,
        receiver: Value,
        node: &'t Operand,
        ids: &'t [String],
        args: &[Operand],
        final_: Option<Value>,
    ) -> R<Value> {
        self.at = node.pos;
        let Some((last, init)) = ids.split_last() else {
            return Ok(receiver);
        };
        let mut r = receiver;
        for id in init {
            r = self.eval_field(id, node, false, r)?;
        }
        let has_args = args.len() > 1 || final_.is_some();
        self.eval_field(last, node, has_args, r)
    }

    fn eval_field(&self, name: &str, node: &Operand, has_args: bool, receiver: Value) -> R<Value> {
        match &receiver {
            Value::Missing => return Ok(Value::Missing),
            Value::Struct(s) => {
                if let Some((_, v)) = s.fields.iter().find(|(n, _)| *n == name) {
                    if has_args {
                        return Err(self.err(
                            node,
                            format!("{name} has arguments but cannot be invoked as function"),
                        ));
                    }
                    return Ok(v.clone());
                }
            }
            Value::Map(m) => {
                if has_args {
                    return Err(self.err(node, format!("{name} is not a method but has arguments")));
                }
                return Ok(m.get(name).map(|s| str_value(s)).unwrap_or(Value::Missing));
            }
            _ => {}
        }
        let t = gofmt::type_name(&receiver);
        Err(self.err(node, format!("can't evaluate field {name} in type {t}")))
    }

    fn eval_chain(
        &mut self,
        dot: &Value,
        node: &'t Operand,
        inner: &'t Operand,
        fields: &'t [String],
        args: &[Operand],
        final_: Option<Value>,
    ) -> R<Value> {
        self.at = node.pos;
        if let OpKind::Nil = inner.kind {
            return Err(self.err(node, format!("indirection through explicit nil in {node}")));
        }
        let pipe = self.eval_arg(dot, P::Val, inner)?;
        self.eval_field_chain(pipe, node, fields, args, final_)
    }

    fn eval_variable(
        &mut self,
        node: &'t Operand,
        ids: &'t [String],
        args: &[Operand],
        final_: Option<Value>,
    ) -> R<Value> {
        self.at = node.pos;
        let Some((name, fields)) = ids.split_first() else {
            return Err(self.err(node, "empty variable"));
        };
        let value = self.var_value(name)?;
        if fields.is_empty() {
            self.not_a_function(args, &final_)?;
            return Ok(value);
        }
        self.eval_field_chain(value, node, fields, args, final_)
    }

    fn validate(&self, v: Value, p: P, node: &dyn Display) -> R<Value> {
        match (p, &v) {
            (P::Val | P::Any, _) | (P::Str, Value::Str(_)) => Ok(v),
            (P::Str, Value::Missing) => Err(self.err(node, "invalid value; expected string")),
            (P::Str, other) => {
                let t = gofmt::type_name(other);
                Err(self.err(
                    node,
                    format!("wrong type for value; expected string; got {t}"),
                ))
            }
        }
    }

    fn eval_arg(&mut self, dot: &Value, p: P, op: &'t Operand) -> R<Value> {
        self.at = op.pos;
        let v = match &op.kind {
            OpKind::Dot => dot.clone(),
            OpKind::Nil => {
                return match p {
                    P::Str => Err(self.err(op, "cannot assign nil to string")),
                    P::Val | P::Any => Ok(Value::Missing),
                }
            }
            OpKind::Field(ids) => {
                self.eval_field_chain(dot.clone(), op, ids, std::slice::from_ref(op), None)?
            }
            OpKind::Variable(ids) => self.eval_variable(op, ids, &[], None)?,
            OpKind::Pipe(pipe) => self.eval_pipeline(dot, pipe)?,
            OpKind::Identifier(name) => self.eval_call(dot, name, op.pos, op, &[], None)?,
            OpKind::Chain(inner, fields) => self.eval_chain(dot, op, inner, fields, &[], None)?,
            OpKind::Bool(b) => {
                return match p {
                    P::Str => Err(self.err(op, format!("expected string; found {op}"))),
                    _ => Ok(Value::Bool(*b)),
                }
            }
            OpKind::Number { text, value } => {
                return match p {
                    P::Str => Err(self.err(op, format!("expected string; found {op}"))),
                    _ => self.ideal_constant(op, text, value),
                }
            }
            OpKind::Str { text, .. } => return Ok(str_value(text)),
        };
        self.validate(v, p, op)
    }

    fn eval_call(
        &mut self,
        dot: &Value,
        name: &str,
        pos: usize,
        ctx: &dyn Display,
        args: &'t [Operand],
        final_: Option<Value>,
    ) -> R<Value> {
        let Some((fixed, variadic)) = signature(name) else {
            return Err(self.err(
                ctx,
                format!("{} is not a defined function", gofmt::quote(name, false)),
            ));
        };
        let num_in = args.len() + usize::from(final_.is_some());
        let num_fixed = if variadic.is_some() {
            fixed.len()
        } else {
            args.len()
        };
        if variadic.is_some() {
            if num_in < fixed.len() {
                let msg = format!(
                    "wrong number of args for {name}: want at least {} got {}",
                    fixed.len(),
                    args.len()
                );
                return Err(self.err(ctx, msg));
            }
        } else if num_in != fixed.len() {
            let msg = format!(
                "wrong number of args for {name}: want {} got {num_in}",
                fixed.len()
            );
            return Err(self.err(ctx, msg));
        }
        // and/or short-circuit and return the deciding argument itself.
        if name == "and" || name == "or" {
            let want = name == "or";
            let mut v = Value::Missing;
            for a in args {
                v = self.eval_arg(dot, P::Val, a)?;
                if truth(&v) == want {
                    return Ok(v);
                }
            }
            if let Some(f) = final_ {
                v = f;
            }
            return Ok(v);
        }
        let mut argv = Vec::with_capacity(num_in);
        let mut i = 0;
        while i < num_fixed && i < args.len() {
            let p = fixed.get(i).copied().unwrap_or(P::Val);
            argv.push(self.eval_arg(dot, p, &args[i])?);
            i += 1;
        }
        if let Some(vt) = variadic {
            while i < args.len() {
                argv.push(self.eval_arg(dot, vt, &args[i])?);
                i += 1;
            }
        }
        if let Some(f) = final_ {
            let t = match variadic {
                Some(vt) if num_in > num_fixed => vt,
                Some(_) => fixed.get(num_in - 1).copied().unwrap_or(P::Val),
                None => fixed.last().copied().unwrap_or(P::Val),
            };
            argv.push(self.validate(f, t, ctx)?);
        }
        self.at = pos;
        let v = call_builtin(name, &argv, args)
            .map_err(|e| self.err(ctx, format!("error calling {name}: {e}")))?;
        self.steps += match &v {
            Value::Str(s) => s.len() as u64 / 16,
            Value::List(l) => l.items.len() as u64,
            _ => 0,
        };
        self.step()?;
        Ok(v)
    }
}

/// Displays a command's arguments like Go's `CommandNode.String()`.
struct Cmd<'a>(&'a [Operand]);

impl Display for Cmd<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, a) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{a}")?;
        }
        Ok(())
    }
}

// ---- builtin functions (funcs.go) ----

fn call_builtin(name: &str, argv: &[Value], arg_nodes: &[Operand]) -> Result<Value, String> {
    let a0 = argv.first().cloned().unwrap_or(Value::Missing);
    let a1 = argv.get(1).cloned().unwrap_or(Value::Missing);
    let rest = argv.get(1..).unwrap_or(&[]);
    match name {
        "not" => Ok(Value::Bool(!truth(&a0))),
        "eq" => eq(&a0, rest).map(Value::Bool),
        "ne" => eq(&a0, &[a1]).map(|b| Value::Bool(!b)),
        "lt" => lt(&a0, &a1).map(Value::Bool),
        "le" => le(&a0, &a1).map(Value::Bool),
        "gt" => le(&a0, &a1).map(|b| Value::Bool(!b)),
        "ge" => lt(&a0, &a1).map(|b| Value::Bool(!b)),
        "len" => length(&a0),
        "index" => index(&a0, rest),
        "slice" => slice(&a0, rest),
        "print" => Ok(str_value(&gofmt::sprint(argv))),
        "println" => Ok(str_value(&gofmt::sprintln(argv))),
        "printf" => {
            let format = match &a0 {
                Value::Str(s) => s.clone(),
                _ => Rc::from(""),
            };
            Ok(str_value(&gofmt::sprintf(&format, rest)))
        }
        "html" => Ok(str_value(&gofmt::html_escape(&eval_args(argv)))),
        "js" => Ok(str_value(&gofmt::js_escape(&eval_args(argv)))),
        "urlquery" => Ok(str_value(&gofmt::url_query_escape(&eval_args(argv)))),
        "call" => {
            let callee = arg_nodes.first().map(|n| n.to_string()).unwrap_or_default();
            match a0 {
                Value::Missing => Err("call of nil".into()),
                other => Err(format!(
                    "non-function {callee} of type {}",
                    gofmt::type_name(&other)
                )),
            }
        }
        "parseNumberRange" => {
            let s = as_str(&a0);
            let nums = parse_range_numbers(&s)?;
            let items = nums
                .into_iter()
                .map(|n| Value::Int(n, IntType::Int64))
                .collect();
            Ok(Value::List(Rc::new(List {
                elem: "int64",
                items,
            })))
        }
        "parseNumberRangePair" => {
            let first = parse_range_numbers(&as_str(&a0))?;
            let second = parse_range_numbers(&as_str(&a1))?;
            if first.len() != second.len() {
                return Err("first and second range numbers are not in pairs".into());
            }
            let items = first
                .into_iter()
                .zip(second)
                .map(|(a, b)| {
                    Value::Struct(Rc::new(Struct {
                        ty: "config.NumberPair",
                        ptr: false,
                        fields: vec![
                            ("First", Value::Int(a, IntType::Int64)),
                            ("Second", Value::Int(b, IntType::Int64)),
                        ],
                    }))
                })
                .collect();
            Ok(Value::List(Rc::new(List {
                elem: "config.NumberPair",
                items,
            })))
        }
        _ => Err(format!(
            "{} is not a defined function",
            gofmt::quote(name, false)
        )),
    }
}

fn as_str(v: &Value) -> Rc<str> {
    match v {
        Value::Str(s) => s.clone(),
        _ => Rc::from(""),
    }
}

/// Go's `evalArgs` used by html/js/urlquery: like Sprint, but nil prints as `<no value>` and
/// pointers are dereferenced.
fn eval_args(argv: &[Value]) -> String {
    if let [Value::Str(s)] = argv {
        return s.to_string();
    }
    let printable: Vec<Value> = argv
        .iter()
        .map(|v| match v {
            Value::Missing => str_value("<no value>"),
            Value::Struct(s) if s.ptr => Value::Struct(Rc::new(Struct {
                ty: s.ty,
                ptr: false,
                fields: s.fields.clone(),
            })),
            other => other.clone(),
        })
        .collect();
    gofmt::sprint(&printable)
}

/// frp's `util.ParseRangeNumbers`: `"1000-1002,2000"` → `[1000 1001 1002 2000]`.
pub(crate) fn parse_range_numbers(s: &str) -> Result<Vec<i64>, String> {
    fn parse_one(s: &str) -> Result<i64, String> {
        s.parse::<i64>().map_err(|e| {
            let why = match e.kind() {
                std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow => {
                    "value out of range"
                }
                _ => "invalid syntax",
            };
            format!(
                "range number is invalid, strconv.ParseInt: parsing {}: {why}",
                gofmt::quote(s, false)
            )
        })
    }
    let too_many = || format!("range number is invalid, more than {MAX_RANGE_NUMBERS} numbers");
    let mut numbers = Vec::new();
    for part in s.trim().split(',') {
        let pieces: Vec<&str> = part.split('-').collect();
        match pieces.as_slice() {
            [single] => {
                numbers.push(parse_one(single.trim())?);
                if numbers.len() > MAX_RANGE_NUMBERS {
                    return Err(too_many());
                }
            }
            [lo, hi] => {
                let min = parse_one(lo.trim())?;
                let max = parse_one(hi.trim())?;
                if max < min {
                    return Err("range number is invalid".into());
                }
                let count = (i128::from(max) - i128::from(min) + 1) as u128;
                if numbers.len() as u128 + count > MAX_RANGE_NUMBERS as u128 {
                    return Err(too_many());
                }
                numbers.extend(min..=max);
            }
            _ => return Err("range number is invalid".into()),
        }
    }
    Ok(numbers)
}

// ---- comparisons ----

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Invalid,
    Bool,
    Int,
    Uint,
    Float,
    String,
}

fn basic_kind(v: &Value) -> Kind {
    match v {
        Value::Bool(_) => Kind::Bool,
        Value::Int(_, IntType::Uint8) => Kind::Uint,
        Value::Int(..) => Kind::Int,
        Value::Float(_) => Kind::Float,
        Value::Str(_) => Kind::String,
        _ => Kind::Invalid,
    }
}

/// reflect.Kind of the non-basic values, for Go's `canCompare`.
fn reflect_kind(v: &Value) -> u8 {
    match v {
        Value::Missing => 0,
        Value::List(_) => 1,
        Value::Map(_) => 2,
        Value::Struct(s) if s.ptr => 3,
        Value::Struct(_) => 4,
        _ => 5,
    }
}

fn int_of(v: &Value) -> i64 {
    match v {
        Value::Int(n, _) => *n,
        _ => 0,
    }
}

fn is_nil(v: &Value) -> bool {
    matches!(v, Value::Missing)
}

fn comparable(v: &Value) -> bool {
    match v {
        Value::List(_) | Value::Map(_) => false,
        Value::Struct(s) if !s.ptr => s.fields.iter().all(|(_, f)| comparable(f)),
        _ => true,
    }
}

fn values_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Struct(x), Value::Struct(y)) if x.ptr && y.ptr => Rc::ptr_eq(x, y),
        (Value::Struct(x), Value::Struct(y)) if !x.ptr && !y.ptr => {
            x.ty == y.ty
                && x.fields.len() == y.fields.len()
                && x.fields
                    .iter()
                    .zip(&y.fields)
                    .all(|((_, p), (_, q))| values_equal(p, q))
        }
        (Value::Bool(p), Value::Bool(q)) => p == q,
        (Value::Int(p, s), Value::Int(q, t)) => s == t && p == q,
        (Value::Float(p), Value::Float(q)) => p == q,
        (Value::Str(p), Value::Str(q)) => p == q,
        _ => false,
    }
}

fn is_valid(v: &Value) -> bool {
    !matches!(v, Value::Missing)
}

/// Go's `eq`: true if `a` equals any of `rest`.
fn eq(a: &Value, rest: &[Value]) -> Result<bool, String> {
    if rest.is_empty() {
        return Err("missing argument for comparison".into());
    }
    let k1 = basic_kind(a);
    for b in rest {
        let k2 = basic_kind(b);
        let truth = if k1 != k2 {
            match (k1, k2) {
                (Kind::Int, Kind::Uint) | (Kind::Uint, Kind::Int) => int_of(a) == int_of(b),
                _ => {
                    if is_valid(a) && is_valid(b) {
                        return Err(format!(
                            "incompatible types for comparison: {} and {}",
                            gofmt::type_name(a),
                            gofmt::type_name(b)
                        ));
                    }
                    false
                }
            }
        } else {
            match (a, b) {
                (Value::Bool(p), Value::Bool(q)) => p == q,
                (Value::Int(p, _), Value::Int(q, _)) => p == q,
                (Value::Float(p), Value::Float(q)) => p == q,
                (Value::Str(p), Value::Str(q)) => p == q,
                _ => {
                    let (ka, kb) = (reflect_kind(a), reflect_kind(b));
                    if ka != kb && ka != 0 && kb != 0 {
                        return Err(gofmt::sprintf(
                            "non-comparable types %s: %v, %s: %v",
                            &[
                                a.clone(),
                                str_value(&gofmt::type_name(a)),
                                str_value(&gofmt::type_name(b)),
                                b.clone(),
                            ],
                        ));
                    }
                    if is_nil(a) || is_nil(b) {
                        is_nil(a) == is_nil(b)
                    } else {
                        if !comparable(b) {
                            return Err(gofmt::sprintf(
                                "non-comparable type %s: %v",
                                &[b.clone(), str_value(&gofmt::type_name(b))],
                            ));
                        }
                        values_equal(a, b)
                    }
                }
            }
        };
        if truth {
            return Ok(true);
        }
    }
    Ok(false)
}

fn lt(a: &Value, b: &Value) -> Result<bool, String> {
    let bad = || "invalid type for comparison".to_string();
    let k1 = basic_kind(a);
    if k1 == Kind::Invalid {
        return Err(bad());
    }
    let k2 = basic_kind(b);
    if k2 == Kind::Invalid {
        return Err(bad());
    }
    if k1 != k2 {
        return match (k1, k2) {
            (Kind::Int, Kind::Uint) | (Kind::Uint, Kind::Int) => Ok(int_of(a) < int_of(b)),
            _ => Err(format!(
                "incompatible types for comparison: {} and {}",
                gofmt::type_name(a),
                gofmt::type_name(b)
            )),
        };
    }
    match (a, b) {
        (Value::Float(p), Value::Float(q)) => Ok(p < q),
        (Value::Int(p, _), Value::Int(q, _)) => Ok(p < q),
        (Value::Str(p), Value::Str(q)) => Ok(p < q),
        _ => Err(bad()),
    }
}

fn le(a: &Value, b: &Value) -> Result<bool, String> {
    if lt(a, b)? {
        return Ok(true);
    }
    eq(a, std::slice::from_ref(b))
}

// ---- len / index / slice ----

fn length(v: &Value) -> Result<Value, String> {
    let n = match v {
        Value::Str(s) => s.len(),
        Value::List(l) => l.items.len(),
        Value::Map(m) => m.len(),
        Value::Missing => return Err("reflect: call of reflect.Value.Type on zero Value".into()),
        other => return Err(format!("len of type {}", gofmt::type_name(other))),
    };
    Ok(Value::Int(n as i64, IntType::Int))
}

fn index_arg(idx: &Value, cap: usize) -> Result<usize, String> {
    match idx {
        Value::Int(x, _) => {
            if *x < 0 || (*x as u64) > cap as u64 {
                return Err(format!("index out of range: {x}"));
            }
            Ok(*x as usize)
        }
        Value::Missing => Err("cannot index slice/array with nil".into()),
        other => Err(format!(
            "cannot index slice/array with type {}",
            gofmt::type_name(other)
        )),
    }
}

fn deref_type(v: &Value) -> String {
    match v {
        Value::Struct(s) => s.ty.to_string(),
        other => gofmt::type_name(other),
    }
}

fn index(item: &Value, idxs: &[Value]) -> Result<Value, String> {
    if !is_valid(item) {
        return Err("index of untyped nil".into());
    }
    let mut item = item.clone();
    for idx in idxs {
        item = match &item {
            Value::List(l) => {
                let x = index_arg(idx, l.items.len())?;
                l.items
                    .get(x)
                    .cloned()
                    .ok_or("reflect: slice index out of range")?
            }
            Value::Str(s) => {
                let x = index_arg(idx, s.len())?;
                let b = *s
                    .as_bytes()
                    .get(x)
                    .ok_or("reflect: string index out of range")?;
                Value::Int(i64::from(b), IntType::Uint8)
            }
            Value::Map(m) => {
                let key = match idx {
                    Value::Str(k) => k,
                    Value::Missing => return Err("value is nil; should be of type string".into()),
                    other => {
                        return Err(format!(
                            "value has type {}; should be string",
                            gofmt::type_name(other)
                        ))
                    }
                };
                str_value(m.get(&**key).map(String::as_str).unwrap_or(""))
            }
            other => return Err(format!("can't index item of type {}", deref_type(other))),
        };
    }
    Ok(item)
}

fn slice(item: &Value, idxs: &[Value]) -> Result<Value, String> {
    if !is_valid(item) {
        return Err("slice of untyped nil".into());
    }
    if idxs.len() > 3 {
        return Err(format!("too many slice indexes: {}", idxs.len()));
    }
    let len = match item {
        Value::Str(s) => {
            if idxs.len() == 3 {
                return Err("cannot 3-index slice a string".into());
            }
            s.len()
        }
        Value::List(l) => l.items.len(),
        other => return Err(format!("can't slice item of type {}", deref_type(other))),
    };
    let mut idx = [0, len, 0];
    for (i, x) in idxs.iter().enumerate() {
        idx[i] = index_arg(x, len)?;
    }
    if idx[0] > idx[1] {
        return Err(format!("invalid slice index: {} > {}", idx[0], idx[1]));
    }
    if idxs.len() == 3 && idx[1] > idx[2] {
        return Err(format!("invalid slice index: {} > {}", idx[1], idx[2]));
    }
    Ok(match item {
        Value::Str(s) => {
            let bytes = s.as_bytes().get(idx[0]..idx[1]).unwrap_or(&[]);
            str_value(&String::from_utf8_lossy(bytes))
        }
        Value::List(l) => {
            let items = l.items.get(idx[0]..idx[1]).unwrap_or(&[]).to_vec();
            Value::List(Rc::new(List {
                elem: l.elem,
                items,
            }))
        }
        _ => Value::Missing,
    })
}
