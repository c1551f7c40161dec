//! Pipelines, commands and operands: `{{ x | f y }}`, `(...)`, fields, variables, literals.

use super::literal::{new_number, unquote};
use super::*;

impl<'a> Parser<'a> {
    pub(super) fn pipeline(&mut self, context: &str, end: Tok) -> PResult<Pipe> {
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

    pub(super) fn check_pipeline(&self, pipe: &Pipe, context: &str) -> PResult<()> {
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

    pub(super) fn command(&mut self) -> PResult<Command> {
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

    pub(super) fn operand(&mut self) -> PResult<Option<Operand>> {
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
                let s = crate::config::template::fmt::quote(&node.to_string(), false);
                return Err(self.errorf(format!("unexpected . after term {s}")));
            }
            _ => OpKind::Chain(Box::new(node), fields),
        };
        Ok(Some(Operand {
            pos: chain_pos,
            kind,
        }))
    }

    pub(super) fn term(&mut self) -> PResult<Option<Operand>> {
        let token = self.next_non_space();
        let pos = token.pos;
        let kind = match token.typ {
            Tok::Identifier => {
                if !self.has_function(&token.val) {
                    let q = crate::config::template::fmt::quote(&token.val, false);
                    return Err(self.errorf(format!("function {q} not defined")));
                }
                OpKind::Identifier(token.val.into_owned())
            }
            Tok::Dot => OpKind::Dot,
            Tok::Nil => OpKind::Nil,
            Tok::Variable => {
                let name = token.val.into_owned();
                if !self.vars.contains(&name) {
                    let q = crate::config::template::fmt::quote(&name, false);
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
