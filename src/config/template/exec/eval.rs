//! Evaluating pipelines, commands, fields, variables and function calls (exec.go's eval*).

use std::fmt::Display;

use super::funcs::call_builtin;
use super::*;

impl<'t> State<'t> {
    pub(super) fn eval_pipeline(&mut self, dot: &Value, pipe: &'t Pipe) -> R<Value> {
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

    pub(super) fn not_a_function(&self, args: &[Operand], final_: &Option<Value>) -> R<()> {
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

    pub(super) fn eval_command(
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

    pub(super) fn ideal_constant(&self, node: &Operand, text: &str, value: &NumValue) -> R<Value> {
        match value {
            NumValue::Int(i) => Ok(Value::Int(*i, IntType::Int)),
            NumValue::Float(f) => Ok(Value::Float(*f)),
            NumValue::UintOverflow => Err(self.err(node, format!("{text} overflows int"))),
        }
    }

    pub(super) fn eval_field_chain(
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

    pub(super) fn eval_field(
        &self,
        name: &str,
        node: &Operand,
        has_args: bool,
        receiver: Value,
    ) -> R<Value> {
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

    pub(super) fn eval_chain(
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

    pub(super) fn eval_variable(
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

    pub(super) fn validate(&self, v: Value, p: P, node: &dyn Display) -> R<Value> {
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

    pub(super) fn eval_arg(&mut self, dot: &Value, p: P, op: &'t Operand) -> R<Value> {
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

    pub(super) fn eval_call(
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
