//! Macro expansion, as Splunk does it before parsing.

use std::collections::HashMap;

use ir::Diagnostic;

#[derive(Debug, Clone)]
pub struct Macro {
    pub name: String,
    pub args: Vec<String>,
    pub definition: String,
}

/// Macros by `name` (no arguments) or `name(n)` (n arguments).
#[derive(Debug, Clone, Default)]
pub struct Macros {
    pub by_key: HashMap<String, Macro>,
}

/// An expanded search and what expansion met.
#[derive(Debug, Clone, Default)]
pub struct Expanded {
    pub text: String,
    /// Macros used (as written, e.g. `process_powershell`), in first-use order.
    pub used: Vec<String>,
    /// Spans are byte offsets in the written search (line:col too, counted in it).
    pub diagnostics: Vec<Diagnostic>,
    /// Where each run of `text` came from, in order, covering it.
    pub pieces: Vec<Piece>,
}

/// A run `start..end` of the expanded text: written in the search from `at`, or the expansion
/// of the top-level macro call written at `call`.
#[derive(Debug, Clone, PartialEq)]
pub struct Piece {
    pub start: usize,
    pub end: usize,
    pub from: From,
}

#[derive(Debug, Clone, PartialEq)]
pub enum From {
    Written { at: usize },
    Macro { call: (usize, usize), name: String },
}

impl Expanded {
    /// Where byte `pos` of the expanded text was written: an offset in the search, and the macro
    /// whose expansion it is part of (the offset is then the call's start).
    pub fn written(&self, pos: usize) -> (usize, Option<&str>) {
        let i = self
            .pieces
            .partition_point(|p| p.end <= pos)
            .min(self.pieces.len().saturating_sub(1));
        match self.pieces.get(i) {
            Some(Piece {
                start,
                from: From::Written { at },
                ..
            }) => (at + pos.saturating_sub(*start), None),
            Some(Piece {
                from: From::Macro { call, name },
                ..
            }) => (call.0, Some(name.as_str())),
            None => (pos, None),
        }
    }

    /// A span of the expanded text as a span of the written search (a span inside a macro's
    /// expansion becomes the call's span).
    pub fn written_span(&self, start: usize, end: usize) -> (usize, usize, Option<&str>) {
        let (s, m) = self.written(start);
        match m {
            Some(name) => {
                let call = self.pieces.iter().find_map(|p| match &p.from {
                    From::Macro { call, name: n } if call.0 == s && n == name => Some(call.1),
                    _ => None,
                });
                (s, call.unwrap_or(s), Some(name))
            }
            None => {
                let (e, _) = self.written(end.saturating_sub(1).max(start));
                (s, if end > start { e + 1 } else { s }, None)
            }
        }
    }
}

const MAX_DEPTH: usize = 24;

impl Macros {
    pub fn add(&mut self, m: Macro) {
        let key = if m.args.is_empty() {
            m.name.clone()
        } else {
            format!("{}({})", strip_arity(&m.name), m.args.len())
        };
        self.by_key.insert(key, m);
    }

    /// Expands every `` `macro` `` of a search (```` ``` ```` comments are kept, and their
    /// backticks are not calls).
    pub fn expand(&self, search: &str) -> Expanded {
        let mut out = Expanded::default();
        let lines = ir::LineIndex::new(search);
        let mut pos = 0;
        while let Some(rel) = macro_start(&search[pos..]) {
            let start = pos + rel;
            out.copy(search, pos, start);
            let Some(len) = search[start + 1..].find('`') else {
                pos = start;
                break;
            };
            let end = start + 1 + len + 1;
            let call = search[start + 1..end - 1].trim();
            let before = out.diagnostics.len();
            let body = self.call(call, 0, &mut Vec::new(), &mut out);
            let span = lines.span(start, end);
            for d in &mut out.diagnostics[before..] {
                d.span = Some(span);
            }
            let at = out.text.len();
            out.text.push_str(&body);
            let name = split_call(call).0.to_string();
            out.pieces.push(Piece {
                start: at,
                end: out.text.len(),
                from: From::Macro {
                    call: (start, end),
                    name,
                },
            });
            pos = end;
        }
        out.copy(search, pos, search.len());
        out
    }
}

impl Expanded {
    fn copy(&mut self, search: &str, from: usize, to: usize) {
        if to > from {
            let at = self.text.len();
            self.text.push_str(&search[from..to]);
            self.pieces.push(Piece {
                start: at,
                end: self.text.len(),
                from: From::Written { at: from },
            });
        }
    }
}

impl Macros {
    fn expand_text(
        &self,
        text: &str,
        depth: usize,
        stack: &mut Vec<String>,
        out: &mut Expanded,
    ) -> String {
        let mut result = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = macro_start(rest) {
            result.push_str(&rest[..start]);
            let after = &rest[start + 1..];
            let Some(end) = after.find('`') else {
                result.push_str(&rest[start..]);
                return result;
            };
            let call = after[..end].trim();
            rest = &after[end + 1..];
            result.push_str(&self.call(call, depth, stack, out));
        }
        result.push_str(rest);
        result
    }

    fn call(
        &self,
        call: &str,
        depth: usize,
        stack: &mut Vec<String>,
        out: &mut Expanded,
    ) -> String {
        let (name, args) = split_call(call);
        if !out.used.iter().any(|u| u == name) {
            out.used.push(name.to_string());
        }
        if name == "drop_dm_object_name" && args.len() == 1 {
            return format!("rename {}.* as *", args[0].trim_matches('"'));
        }
        let key = if args.is_empty() {
            name.to_string()
        } else {
            format!("{name}({})", args.len())
        };
        let Some(m) = self.by_key.get(&key) else {
            if name.ends_with("_filter") {
                // A detection's own tuning macro: empty unless the user defines it.
                return "search *".into();
            }
            out.diagnostics.push(Diagnostic::warning(
                "unknown-macro",
                format!("macro `{key}` is not defined"),
                None,
            ));
            return format!("`{call}`");
        };
        if depth >= MAX_DEPTH || stack.contains(&key) {
            out.diagnostics.push(Diagnostic::error(
                "recursive-macro",
                format!(
                    "macro `{key}` expands into itself ({} → {key}): not followed",
                    stack.join(" → ")
                ),
                None,
            ));
            return String::new();
        }
        let mut body = m.definition.clone();
        for (param, value) in m.args.iter().zip(&args) {
            body = body.replace(&format!("${param}$"), value.trim());
        }
        stack.push(key);
        let expanded = self.expand_text(&body, depth + 1, stack, out);
        stack.pop();
        expanded
    }
}

/// The next backtick that opens a macro call: not inside a double-quoted string.
fn macro_start(s: &str) -> Option<usize> {
    let mut quote = false;
    let mut escaped = false;
    let mut skip_to = 0;
    for (i, c) in s.char_indices() {
        if i < skip_to {
            continue;
        }
        match c {
            '`' if !quote && s[i..].starts_with("```") => {
                // A comment: its backticks are not calls.
                skip_to = s[i + 3..]
                    .find("```")
                    .map(|n| i + 3 + n + 3)
                    .unwrap_or(s.len());
            }
            '\\' if quote => escaped = !escaped,
            '"' if !escaped => quote = !quote,
            '`' if !quote => return Some(i),
            _ => escaped = false,
        }
        if c != '\\' {
            escaped = false;
        }
    }
    None
}

/// `name(2)` → `name`.
fn strip_arity(name: &str) -> &str {
    name.split('(').next().unwrap_or(name).trim()
}

/// `name(a, "b,c")` → (`name`, [`a`, `"b,c"`]).
fn split_call(call: &str) -> (&str, Vec<String>) {
    let Some(open) = call.find('(') else {
        return (call.trim(), Vec::new());
    };
    let name = call[..open].trim();
    let inner = call[open + 1..]
        .trim_end()
        .strip_suffix(')')
        .unwrap_or(&call[open + 1..]);
    let mut args = Vec::new();
    let (mut cur, mut quote, mut depth) = (String::new(), false, 0i32);
    for c in inner.chars() {
        match c {
            '"' => {
                quote = !quote;
                cur.push(c);
            }
            '(' if !quote => {
                depth += 1;
                cur.push(c);
            }
            ')' if !quote => {
                depth -= 1;
                cur.push(c);
            }
            ',' if !quote && depth == 0 => args.push(std::mem::take(&mut cur).trim().to_string()),
            c => cur.push(c),
        }
    }
    if !cur.trim().is_empty() || !args.is_empty() {
        args.push(cur.trim().to_string());
    }
    (name, args)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(name: &str, args: &[&str], def: &str) -> Macro {
        Macro {
            name: name.into(),
            args: args.iter().map(|s| s.to_string()).collect(),
            definition: def.into(),
        }
    }

    #[test]
    fn arity_args_nesting_filters_and_recursion() {
        let mut ms = Macros::default();
        ms.add(m(
            "ps",
            &[],
            "(Processes.process_name=powershell.exe OR `pwsh`)",
        ));
        ms.add(m("pwsh", &[], "Processes.process_name=pwsh.exe"));
        ms.add(m(
            "ctime(1)",
            &["field"],
            "convert timeformat=\"%c\" ctime($field$)",
        ));
        ms.add(m("loop", &[], "`loop`"));
        let e = ms.expand("| tstats count where `ps` ```why``` by x | `drop_dm_object_name(Processes)` | `ctime(firstTime)` | `my_rule_filter`");
        assert_eq!(
            e.text,
            "| tstats count where (Processes.process_name=powershell.exe OR Processes.process_name=pwsh.exe) ```why``` by x | rename Processes.* as * | convert timeformat=\"%c\" ctime(firstTime) | search *"
        );
        // The map back to the written search: where `by` was written; inside `ps`, the call.
        let by = e.text.find(" by x").unwrap() + 1;
        assert_eq!(e.written(by), (36, None));
        let inner = e.text.find("pwsh.exe").unwrap();
        assert_eq!(e.written_span(inner, inner + 8), (21, 25, Some("ps")));
        // A backtick inside a comment is not a call.
        assert_eq!(ms.expand("a ```x `ps` y``` b").text, "a ```x `ps` y``` b");
        assert_eq!(
            e.used,
            [
                "ps",
                "pwsh",
                "drop_dm_object_name",
                "ctime",
                "my_rule_filter"
            ]
        );
        // Backticks inside a quoted string are text.
        assert_eq!(
            ms.expand("eval x=\"a`b`c\" | `pwsh`").text,
            "eval x=\"a`b`c\" | Processes.process_name=pwsh.exe"
        );
        let r = ms.expand("x `loop`");
        let d = r
            .diagnostics
            .iter()
            .find(|d| d.code == "recursive-macro")
            .unwrap();
        assert_eq!(d.span.map(|s| (s.start, s.end, s.col)), Some((2, 8, 3)));
    }
}
