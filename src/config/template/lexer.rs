//! Lexer for Go `text/template` syntax, a port of `text/template/parse/lex.go`.
//!
//! It produces the same token stream as Go's lexer (including its whitespace-trimming rules
//! and line accounting), one item at a time, so the parser can mirror Go's parser closely.

use std::borrow::Cow;

mod token;

use token::keyword;
pub(crate) use token::{Item, Tok};

const LEFT_DELIM: &str = "{{";
const RIGHT_DELIM: &str = "}}";
const LEFT_COMMENT: &str = "/*";
const RIGHT_COMMENT: &str = "*/";
/// A trim marker is `-` plus one ASCII space character (before or after it).
const TRIM_MARKER_LEN: usize = 2;

pub(crate) struct Lexer<'a> {
    input: &'a str,
    pos: usize,
    start: usize,
    line: usize,
    start_line: usize,
    paren_depth: usize,
    inside_action: bool,
    done: bool,
}

pub(crate) fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn is_alphanumeric(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

fn has_left_trim_marker(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 2 && b[0] == b'-' && is_space(b[1] as char)
}

fn has_right_trim_marker(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 2 && is_space(b[0] as char) && b[1] == b'-'
}

fn count_newlines(s: &str) -> usize {
    s.bytes().filter(|&b| b == b'\n').count()
}

fn right_trim_length(s: &str) -> usize {
    s.len() - s.trim_end_matches(is_space).len()
}

fn left_trim_length(s: &str) -> usize {
    s.len() - s.trim_start_matches(is_space).len()
}

/// Go's `%#U`: `U+0041 'A'` (the quoted character only when printable).
pub(crate) fn sharp_u(c: char) -> String {
    if super::fmt::is_print(c) {
        format!("U+{:04X} '{}'", c as u32, c)
    } else {
        format!("U+{:04X}", c as u32)
    }
}

impl<'a> Lexer<'a> {
    pub(crate) fn new(input: &'a str) -> Self {
        Lexer {
            input,
            pos: 0,
            start: 0,
            line: 1,
            start_line: 1,
            paren_depth: 0,
            inside_action: false,
            done: false,
        }
    }

    fn rest(&self) -> &'a str {
        self.input.get(self.pos..).unwrap_or("")
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn next_char(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        if c == '\n' {
            self.line += 1;
        }
        Some(c)
    }

    /// Steps back over the character just before `pos`.
    fn backup(&mut self) {
        if let Some(c) = self
            .input
            .get(..self.pos)
            .and_then(|s| s.chars().next_back())
        {
            self.pos -= c.len_utf8();
            if c == '\n' {
                self.line -= 1;
            }
        }
    }

    fn accept(&mut self, valid: &str) -> bool {
        match self.peek() {
            Some(c) if valid.contains(c) => {
                self.next_char();
                true
            }
            _ => false,
        }
    }

    fn accept_run(&mut self, valid: &str) {
        while self.accept(valid) {}
    }

    fn this_item(&mut self, typ: Tok) -> Item<'a> {
        let val = self.input.get(self.start..self.pos).unwrap_or("");
        let item = Item {
            typ,
            pos: self.start,
            val: Cow::Borrowed(val),
            line: self.start_line,
        };
        self.start = self.pos;
        self.start_line = self.line;
        item
    }

    fn ignore(&mut self) {
        self.line += count_newlines(self.input.get(self.start..self.pos).unwrap_or(""));
        self.start = self.pos;
        self.start_line = self.line;
    }

    fn errorf(&mut self, msg: String) -> Item<'a> {
        let item = Item {
            typ: Tok::Error,
            pos: self.start,
            val: Cow::Owned(msg),
            line: self.start_line,
        };
        self.done = true;
        item
    }

    fn eof_item(&self) -> Item<'a> {
        Item {
            typ: Tok::Eof,
            pos: self.pos,
            val: Cow::Borrowed("EOF"),
            line: self.start_line,
        }
    }

    /// Returns the next token; after EOF or an error it keeps returning EOF.
    pub(crate) fn next_item(&mut self) -> Item<'a> {
        if self.done {
            return self.eof_item();
        }
        loop {
            let produced = if self.inside_action {
                self.lex_inside_action()
            } else {
                self.lex_text()
            };
            if let Some(item) = produced {
                if item.typ == Tok::Eof {
                    self.done = true;
                }
                return item;
            }
        }
    }

    fn at_right_delim(&self) -> (bool, bool) {
        let rest = self.rest();
        if has_right_trim_marker(rest) && rest[TRIM_MARKER_LEN..].starts_with(RIGHT_DELIM) {
            return (true, true);
        }
        (rest.starts_with(RIGHT_DELIM), false)
    }

    /// Scans text up to the next `{{`. `None` means "continue lexing" (state changed).
    fn lex_text(&mut self) -> Option<Item<'a>> {
        if let Some(x) = self.rest().find(LEFT_DELIM) {
            if x > 0 {
                self.pos += x;
                let delim_end = self.pos + LEFT_DELIM.len();
                let trim_length = if has_left_trim_marker(self.input.get(delim_end..).unwrap_or(""))
                {
                    right_trim_length(self.input.get(self.start..self.pos).unwrap_or(""))
                } else {
                    0
                };
                self.pos -= trim_length;
                self.line += count_newlines(self.input.get(self.start..self.pos).unwrap_or(""));
                let item = self.this_item(Tok::Text);
                self.pos += trim_length;
                self.ignore();
                if !item.val.is_empty() {
                    return Some(item);
                }
            }
            return self.lex_left_delim();
        }
        self.pos = self.input.len();
        if self.pos > self.start {
            self.line += count_newlines(self.input.get(self.start..self.pos).unwrap_or(""));
            return Some(self.this_item(Tok::Text));
        }
        Some(self.this_item(Tok::Eof))
    }

    fn lex_left_delim(&mut self) -> Option<Item<'a>> {
        self.pos += LEFT_DELIM.len();
        let trim_space = has_left_trim_marker(self.rest());
        let after_marker = if trim_space { TRIM_MARKER_LEN } else { 0 };
        if self
            .input
            .get(self.pos + after_marker..)
            .unwrap_or("")
            .starts_with(LEFT_COMMENT)
        {
            self.pos += after_marker;
            self.ignore();
            return self.lex_comment();
        }
        let item = self.this_item(Tok::LeftDelim);
        self.inside_action = true;
        self.pos += after_marker;
        self.ignore();
        self.paren_depth = 0;
        Some(item)
    }

    fn lex_comment(&mut self) -> Option<Item<'a>> {
        self.pos += LEFT_COMMENT.len();
        let Some(x) = self.rest().find(RIGHT_COMMENT) else {
            return Some(self.errorf("unclosed comment".into()));
        };
        self.pos += x + RIGHT_COMMENT.len();
        let (delim, trim_space) = self.at_right_delim();
        if !delim {
            return Some(self.errorf("comment ends before closing delimiter".into()));
        }
        self.line += count_newlines(self.input.get(self.start..self.pos).unwrap_or(""));
        let _comment = self.this_item(Tok::Text);
        if trim_space {
            self.pos += TRIM_MARKER_LEN;
        }
        self.pos += RIGHT_DELIM.len();
        if trim_space {
            self.pos += left_trim_length(self.rest());
        }
        self.ignore();
        None
    }

    fn lex_right_delim(&mut self) -> Option<Item<'a>> {
        let (_, trim_space) = self.at_right_delim();
        if trim_space {
            self.pos += TRIM_MARKER_LEN;
            self.ignore();
        }
        self.pos += RIGHT_DELIM.len();
        let item = self.this_item(Tok::RightDelim);
        if trim_space {
            self.pos += left_trim_length(self.rest());
            self.ignore();
        }
        self.inside_action = false;
        Some(item)
    }

    fn lex_inside_action(&mut self) -> Option<Item<'a>> {
        let (delim, _) = self.at_right_delim();
        if delim {
            if self.paren_depth == 0 {
                return self.lex_right_delim();
            }
            return Some(self.errorf("unclosed left paren".into()));
        }
        let Some(r) = self.next_char() else {
            return Some(self.errorf("unclosed action".into()));
        };
        let item = match r {
            c if is_space(c) => {
                self.backup();
                return self.lex_space();
            }
            '=' => self.this_item(Tok::Assign),
            ':' => {
                if self.next_char() != Some('=') {
                    return Some(self.errorf("expected :=".into()));
                }
                self.this_item(Tok::Declare)
            }
            '|' => self.this_item(Tok::Pipe),
            '"' => return Some(self.lex_quote()),
            '`' => return Some(self.lex_raw_quote()),
            '$' => return Some(self.lex_variable()),
            '\'' => return Some(self.lex_char()),
            '.' if self.peek().is_some_and(|c| !c.is_ascii_digit()) => {
                return Some(self.lex_field_or_variable(Tok::Field));
            }
            '.' | '+' | '-' | '0'..='9' => {
                self.backup();
                return Some(self.lex_number());
            }
            c if is_alphanumeric(c) => {
                self.backup();
                return Some(self.lex_identifier());
            }
            '(' => {
                self.paren_depth += 1;
                self.this_item(Tok::LeftParen)
            }
            ')' => {
                if self.paren_depth == 0 {
                    return Some(self.errorf("unexpected right paren".into()));
                }
                self.paren_depth -= 1;
                self.this_item(Tok::RightParen)
            }
            c if c.is_ascii() && !c.is_ascii_control() => self.this_item(Tok::Char),
            c => {
                return Some(
                    self.errorf(format!("unrecognized character in action: {}", sharp_u(c))),
                )
            }
        };
        Some(item)
    }

    fn lex_space(&mut self) -> Option<Item<'a>> {
        let mut num_spaces = 0;
        while matches!(self.peek(), Some(c) if is_space(c)) {
            self.next_char();
            num_spaces += 1;
        }
        // Careful about a trim-marked closing delimiter, which starts with a space.
        let from = self.input.get(self.pos.saturating_sub(1)..).unwrap_or("");
        if has_right_trim_marker(from) && from[TRIM_MARKER_LEN..].starts_with(RIGHT_DELIM) {
            self.backup();
            if num_spaces == 1 {
                return self.lex_right_delim();
            }
        }
        Some(self.this_item(Tok::Space))
    }

    fn lex_identifier(&mut self) -> Item<'a> {
        while matches!(self.peek(), Some(c) if is_alphanumeric(c)) {
            self.next_char();
        }
        if !self.at_terminator() {
            let c = self.peek().unwrap_or('\u{fffd}');
            return self.errorf(format!("bad character {}", sharp_u(c)));
        }
        let word = self.input.get(self.start..self.pos).unwrap_or("");
        if let Some(k) = keyword(word) {
            return self.this_item(k);
        }
        if word == "true" || word == "false" {
            return self.this_item(Tok::Bool);
        }
        self.this_item(Tok::Identifier)
    }

    fn lex_variable(&mut self) -> Item<'a> {
        if self.at_terminator() {
            return self.this_item(Tok::Variable);
        }
        self.lex_field_or_variable(Tok::Variable)
    }

    /// Scans `.Alphanumeric` or `$Alphanumeric`; the `.` or `$` has been consumed.
    fn lex_field_or_variable(&mut self, typ: Tok) -> Item<'a> {
        if self.at_terminator() {
            return self.this_item(if typ == Tok::Variable {
                Tok::Variable
            } else {
                Tok::Dot
            });
        }
        while matches!(self.peek(), Some(c) if is_alphanumeric(c)) {
            self.next_char();
        }
        if !self.at_terminator() {
            let c = self.peek().unwrap_or('\u{fffd}');
            return self.errorf(format!("bad character {}", sharp_u(c)));
        }
        self.this_item(typ)
    }

    fn at_terminator(&self) -> bool {
        match self.peek() {
            None => true,
            Some(c) if is_space(c) => true,
            Some('.' | ',' | '|' | ':' | ')' | '(') => true,
            Some(_) => self.rest().starts_with(RIGHT_DELIM),
        }
    }

    fn lex_char(&mut self) -> Item<'a> {
        loop {
            match self.next_char() {
                Some('\\') => match self.next_char() {
                    None | Some('\n') => {
                        return self.errorf("unterminated character constant".into())
                    }
                    Some(_) => {}
                },
                None | Some('\n') => return self.errorf("unterminated character constant".into()),
                Some('\'') => break,
                Some(_) => {}
            }
        }
        self.this_item(Tok::CharConstant)
    }

    fn lex_number(&mut self) -> Item<'a> {
        if !self.scan_number() {
            let text = self
                .input
                .get(self.start..self.pos)
                .unwrap_or("")
                .to_owned();
            return self.errorf(format!(
                "bad number syntax: {}",
                super::fmt::quote(&text, false)
            ));
        }
        if matches!(self.peek(), Some('+' | '-')) {
            // Complex: 1+2i. No spaces, must end in 'i'.
            if !self.scan_number() || !self.input.get(..self.pos).unwrap_or("").ends_with('i') {
                let text = self
                    .input
                    .get(self.start..self.pos)
                    .unwrap_or("")
                    .to_owned();
                return self.errorf(format!(
                    "bad number syntax: {}",
                    super::fmt::quote(&text, false)
                ));
            }
            return self.this_item(Tok::Complex);
        }
        self.this_item(Tok::Number)
    }

    fn scan_number(&mut self) -> bool {
        self.accept("+-");
        let mut digits = "0123456789_";
        if self.accept("0") {
            if self.accept("xX") {
                digits = "0123456789abcdefABCDEF_";
            } else if self.accept("oO") {
                digits = "01234567_";
            } else if self.accept("bB") {
                digits = "01_";
            }
        }
        self.accept_run(digits);
        if self.accept(".") {
            self.accept_run(digits);
        }
        if digits.len() == 10 + 1 && self.accept("eE") {
            self.accept("+-");
            self.accept_run("0123456789_");
        }
        if digits.len() == 16 + 6 + 1 && self.accept("pP") {
            self.accept("+-");
            self.accept_run("0123456789_");
        }
        self.accept("i");
        if matches!(self.peek(), Some(c) if is_alphanumeric(c)) {
            self.next_char();
            return false;
        }
        true
    }

    fn lex_quote(&mut self) -> Item<'a> {
        loop {
            match self.next_char() {
                Some('\\') => match self.next_char() {
                    None | Some('\n') => return self.errorf("unterminated quoted string".into()),
                    Some(_) => {}
                },
                None | Some('\n') => return self.errorf("unterminated quoted string".into()),
                Some('"') => break,
                Some(_) => {}
            }
        }
        self.this_item(Tok::String)
    }

    fn lex_raw_quote(&mut self) -> Item<'a> {
        loop {
            match self.next_char() {
                None => return self.errorf("unterminated raw quoted string".into()),
                Some('`') => break,
                Some(_) => {}
            }
        }
        self.this_item(Tok::RawString)
    }
}

#[cfg(test)]
mod tests;
