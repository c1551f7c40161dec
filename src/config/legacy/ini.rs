//! INI text → sections, as frp reads its legacy files.
//!
//! frp reads these files with `gopkg.in/ini.v1` (case-sensitive, `IgnoreInlineComment`,
//! `AllowBooleanKeys`). The small line parser below follows ini.v1's `parser.go` rather than
//! the `rust-ini` crate, because rust-ini 0.21 cannot express several of its rules: a key without
//! `=`/`:` (a boolean key, `= true`) makes rust-ini run the key into the next line or fail at
//! EOF; `enabled_quote` strips quotes anywhere in a value where ini.v1 strips only one pair
//! around the whole value; an indented `# comment` line is read as a key; text after a section
//! header (`[common] # x`) is an error; and for a repeated key `get` returns the first value
//! where ini.v1 keeps the last. What is implemented, as in ini.v1:
//! - lines are left-trimmed; `#` / `;` start a comment only at the start of a line, so
//!   `key = value # x` keeps `# x` in the value;
//! - `[name]` takes the text up to the **last** `]` of the line, untrimmed; a repeated section
//!   is merged into the first one; keys before any section go to `DEFAULT` (ignored by frp);
//! - the key ends at the first `=` or `:` and is trimmed; a line without either is a boolean
//!   key with value `true`; a repeated key keeps its first position and its last value;
//! - values are trimmed; one pair of `"…"` or `'…'` around the whole value is removed;
//!   `"""…"""` and `` `…` `` values may span lines; a trailing `\` continues the value on the
//!   next line; `%(other)s` in a typed value is replaced by key `other` of the same section or
//!   of `DEFAULT` (frp panics on an undefined reference; this is an error here);
//! - a key missing in section `a.b` is looked up in section `a` (ini.v1 child sections).

use super::LegacyError;

pub(crate) const DEFAULT_SECTION: &str = "DEFAULT";

#[derive(Debug, Clone, Default)]
pub(crate) struct IniSection {
    pub name: String,
    /// In first-seen order; a repeated key overwrites the value in place.
    pub keys: Vec<(String, String)>,
}

impl IniSection {
    fn named(name: &str) -> Self {
        IniSection {
            name: name.to_string(),
            keys: Vec::new(),
        }
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.keys
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn set(&mut self, key: &str, value: &str) {
        match self.keys.iter_mut().find(|(k, _)| k == key) {
            Some(entry) => entry.1 = value.to_string(),
            None => self.keys.push((key.to_string(), value.to_string())),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct IniFile {
    /// `DEFAULT` first, then the sections in first-seen order.
    pub sections: Vec<IniSection>,
}

enum KeyName {
    Found(String, usize),
    NoDelimiter,
}

impl IniFile {
    pub fn parse(text: &str) -> Result<IniFile, LegacyError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut file = IniFile {
            sections: vec![IniSection::named(DEFAULT_SECTION)],
        };
        let lines: Vec<&str> = text.split_inclusive('\n').collect();
        let mut cur = 0usize;
        let mut auto_key = 1usize;
        let mut next = 0usize;
        while next < lines.len() {
            let lineno = next + 1;
            let line = lines[next].trim_start();
            next += 1;
            let err = |msg: String| LegacyError::new(None, None, format!("line {lineno}: {msg}"));
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            if let Some(rest) = line.strip_prefix('[') {
                let close = rest
                    .rfind(']')
                    .ok_or_else(|| err(format!("unclosed section: {}", line.trim_end())))?;
                let name = &rest[..close];
                if name.is_empty() {
                    return Err(err("empty section name".into()));
                }
                cur = file.section_index_or_create(name);
                auto_key = 1;
                continue;
            }
            match read_key_name(line).map_err(err)? {
                KeyName::NoDelimiter => {
                    let name = read_value(line, &lines, &mut next).map_err(err)?;
                    if name.is_empty() {
                        return Err(err("empty key name".into()));
                    }
                    file.sections[cur].set(&name, "true");
                }
                KeyName::Found(name, offset) => {
                    if name.is_empty() {
                        return Err(err("empty key name".into()));
                    }
                    let name = if name == "-" {
                        auto_key += 1;
                        format!("#{}", auto_key - 1)
                    } else {
                        name
                    };
                    let value = read_value(&line[offset..], &lines, &mut next).map_err(err)?;
                    file.sections[cur].set(&name, &value);
                }
            }
        }
        Ok(file)
    }

    pub fn section(&self, name: &str) -> Option<&IniSection> {
        self.sections.iter().find(|s| s.name == name)
    }

    pub fn section_index_or_create(&mut self, name: &str) -> usize {
        match self.sections.iter().position(|s| s.name == name) {
            Some(i) => i,
            None => {
                self.sections.push(IniSection::named(name));
                self.sections.len() - 1
            }
        }
    }

    /// ini.v1 `GetKey`: the section's own key, else the same key of its parent sections
    /// (`a.b.c` → `a.b` → `a`). Returns the name of the section holding it and the raw value.
    pub fn lookup<'a>(&'a self, section: &'a str, key: &str) -> Option<(&'a str, &'a str)> {
        if let Some(v) = self.section(section).and_then(|s| s.get(key)) {
            return Some((section, v));
        }
        let mut name = section;
        while let Some(i) = name.rfind('.') {
            name = &name[..i];
            if self.section(name).is_some() {
                return self.lookup(name, key);
            }
        }
        None
    }

    /// ini.v1 `transformValue`: replace `%(name)s` by the raw value of `name` in the key's
    /// section (or its parents), else in `DEFAULT`; at most 99 rounds.
    pub fn expand(&self, section: &str, key: &str, value: &str) -> Result<String, String> {
        if !value.contains('%') {
            return Ok(value.to_string());
        }
        let mut val = value.to_string();
        for _ in 0..99 {
            let Some((start, end, name)) = find_var(&val) else {
                break;
            };
            let found = match self.lookup(section, &name) {
                Some((s, v)) if !(s == section && name == key) => Some(v),
                _ => self.section(DEFAULT_SECTION).and_then(|d| d.get(&name)),
            };
            let Some(replacement) = found else {
                return Err(format!("value references undefined key %({name})s"));
            };
            let var = val[start..end].to_string();
            val = val.replace(&var, replacement);
        }
        Ok(val)
    }
}

/// ini.v1 `readKeyName`: the key ends at the first `=` or `:`; it may be quoted.
fn read_key_name(line: &str) -> Result<KeyName, String> {
    let quote = if line.len() > 6 && line.starts_with("\"\"\"") {
        "\"\"\""
    } else if line.starts_with('"') {
        "\""
    } else if line.starts_with('`') {
        "`"
    } else {
        ""
    };
    if !quote.is_empty() {
        let start = quote.len();
        let pos = line[start..]
            .find(quote)
            .ok_or_else(|| format!("missing closing key quote: {}", line.trim_end()))?
            + start;
        let after = pos + quote.len();
        return Ok(match line[after..].find(['=', ':']) {
            Some(i) => KeyName::Found(line[start..pos].trim().to_string(), after + i + 1),
            None => KeyName::NoDelimiter,
        });
    }
    Ok(match line.find(['=', ':']) {
        Some(end) => KeyName::Found(line[..end].trim().to_string(), end + 1),
        None => KeyName::NoDelimiter,
    })
}

/// ini.v1 `readValue` with `IgnoreInlineComment`; may consume following lines.
fn read_value(input: &str, lines: &[&str], next: &mut usize) -> Result<String, String> {
    let line = input.trim_start();
    if line.is_empty() {
        return Ok(String::new());
    }
    let quote = if line.len() > 3 && line.starts_with("\"\"\"") {
        Some("\"\"\"")
    } else if line.starts_with('`') {
        Some("`")
    } else {
        None
    };
    if let Some(q) = quote {
        let rest = &line[q.len()..];
        if let Some(pos) = rest.rfind(q) {
            return Ok(rest[..pos].to_string());
        }
        let mut val = rest.to_string();
        loop {
            let Some(l) = lines.get(*next) else {
                return Err(format!("missing closing value quote {q}"));
            };
            *next += 1;
            if let Some(pos) = l.rfind(q) {
                val.push_str(&l[..pos]);
                return Ok(val);
            }
            val.push_str(l);
        }
    }
    let line = line.trim();
    if let Some(first) = line.strip_suffix('\\') {
        let mut val = first.to_string();
        while let Some(l) = lines.get(*next) {
            *next += 1;
            let l = l.trim();
            if l.is_empty() {
                break;
            }
            val.push_str(l);
            if !val.ends_with('\\') {
                break;
            }
            val.pop();
        }
        return Ok(val);
    }
    if has_surrounded_quote(line, b'\'') || has_surrounded_quote(line, b'"') {
        return Ok(line[1..line.len() - 1].to_string());
    }
    Ok(line.to_string())
}

/// The first and last bytes are `q` and `q` appears nowhere else.
fn has_surrounded_quote(s: &str, q: u8) -> bool {
    let b = s.as_bytes();
    b.len() >= 2
        && b[0] == q
        && b[b.len() - 1] == q
        && b[1..].iter().position(|&c| c == q) == Some(b.len() - 2)
}

/// The first match of ini.v1's `%\(([^)]+)\)s`: (start, end, name).
fn find_var(s: &str) -> Option<(usize, usize, String)> {
    let mut from = 0;
    while let Some(p) = s[from..].find("%(") {
        let start = from + p;
        let inner = start + 2;
        if let Some(q) = s[inner..].find(')') {
            let close = inner + q;
            if q > 0 && s[close + 1..].starts_with('s') {
                return Some((start, close + 2, s[inner..close].to_string()));
            }
        }
        from = start + 1;
    }
    None
}
