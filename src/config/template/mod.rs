//! Go `text/template` rendering of configuration files, as frp does it (config.md §1.2).
//!
//! frp executes Go's `text/template` over the whole config file before decoding it, with data
//! `{ Envs: map[string]string }` (the process environment), so `{{ .Envs.NAME }}` expands an
//! environment variable and a missing one renders as `<no value>`. For the v1 formats
//! (TOML/YAML/JSON) two extra functions exist:
//!
//! - `parseNumberRange "1000-1002,2000"` → `[1000 1001 1002 2000]` (`[]int64`);
//! - `parseNumberRangePair "6000-6002" "7000-7002"` → a list of `{First, Second}` pairs.
//!
//! Legacy INI files get the same data but not those functions (using them is the parse error
//! `function "parseNumberRange" not defined`, as in Go).
//!
//! This is a self-contained reimplementation of Go's template language: lexer ([`lexer`]),
//! parser ([`parser`]), executor with the builtin functions ([`exec`]) and the `fmt` subset it
//! prints with ([`fmt`]). Input is untrusted: nothing panics on malformed templates, and
//! nesting, recursion, loop steps and output size are bounded.

mod exec;
mod fmt;
mod lexer;
mod parser;
pub(crate) use parser::underscore_ok;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

/// A template parse or execution error, with the 1-based line it occurred on.
#[derive(Debug, thiserror::Error)]
#[error("template: line {line}: {message}")]
pub struct TemplateError {
    pub line: usize,
    pub message: String,
}

/// Renders `text` as a Go template with data `{ Envs: envs }`.
///
/// `number_funcs` enables `parseNumberRange`/`parseNumberRangePair` (v1 formats: `true`;
/// legacy INI: `false`). Text without `{{` is returned unchanged.
pub fn render(
    text: &str,
    envs: &BTreeMap<String, String>,
    number_funcs: bool,
) -> Result<String, TemplateError> {
    if !text.contains("{{") {
        return Ok(text.to_owned());
    }
    let set = parser::parse(text, number_funcs)?;
    exec::execute(text, &set, envs)
}

/// [`render`] with the current process environment as `.Envs`.
pub fn render_with_env(text: &str, number_funcs: bool) -> Result<String, TemplateError> {
    if !text.contains("{{") {
        return Ok(text.to_owned());
    }
    render(text, &process_envs(), number_funcs)
}

/// The process environment as frp's `glbEnvs` (names and values converted lossily to UTF-8).
fn process_envs() -> BTreeMap<String, String> {
    std::env::vars_os()
        .map(|(k, v)| {
            (
                k.to_string_lossy().into_owned(),
                v.to_string_lossy().into_owned(),
            )
        })
        .collect()
}
