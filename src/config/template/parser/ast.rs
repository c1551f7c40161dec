//! The parsed tree (text/template/parse/node.go), and its `Display` as Go's `Node.String()`
//! (used in error messages).

use std::collections::HashMap;
use std::fmt;

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
