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
    pub diagnostics: Vec<Diagnostic>,
}

const MAX_DEPTH: usize = 24;

impl Macros {
    pub fn add(&mut self, m: Macro) {
        let key = if m.args.is_empty() { m.name.clone() } else { format!("{}({})", strip_arity(&m.name), m.args.len()) };
        self.by_key.insert(key, m);
    }

    /// Expands every `` `macro` `` of a search (after dropping ```` ``` ```` comments).
    pub fn expand(&self, search: &str) -> Expanded {
        let mut out = Expanded::default();
        let text = strip_comments(search);
        out.text = self.expand_text(&text, 0, &mut Vec::new(), &mut out);
        out
    }

    fn expand_text(&self, text: &str, depth: usize, stack: &mut Vec<String>, out: &mut Expanded) -> String {
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

    fn call(&self, call: &str, depth: usize, stack: &mut Vec<String>, out: &mut Expanded) -> String {
        let (name, args) = split_call(call);
        if !out.used.iter().any(|u| u == name) {
            out.used.push(name.to_string());
        }
        if name == "drop_dm_object_name" && args.len() == 1 {
            return format!("rename {}.* as *", args[0].trim_matches('"'));
        }
        let key = if args.is_empty() { name.to_string() } else { format!("{name}({})", args.len()) };
        let Some(m) = self.by_key.get(&key) else {
            if name.ends_with("_filter") {
                // A detection's own tuning macro: empty unless the user defines it.
                return "search *".into();
            }
            out.diagnostics.push(Diagnostic::warning("unknown-macro", format!("macro `{key}` is not defined"), None));
            return format!("`{call}`");
        };
        if depth >= MAX_DEPTH || stack.contains(&key) {
            out.diagnostics.push(Diagnostic::error(
                "recursive-macro",
                format!("macro `{key}` expands into itself ({} → {key}): not followed", stack.join(" → ")),
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
    for (i, c) in s.char_indices() {
        match c {
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
    let Some(open) = call.find('(') else { return (call.trim(), Vec::new()) };
    let name = call[..open].trim();
    let inner = call[open + 1..].trim_end().strip_suffix(')').unwrap_or(&call[open + 1..]);
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

/// Drops ```` ```comment``` ```` blocks (SPL comments), keeping the text's length where possible
/// is not needed: spans are reported on the expanded search.
fn strip_comments(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(start) = rest.find("```") {
        out.push_str(&rest[..start]);
        match rest[start + 3..].find("```") {
            Some(end) => rest = &rest[start + 3 + end + 3..],
            None => {
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(name: &str, args: &[&str], def: &str) -> Macro {
        Macro { name: name.into(), args: args.iter().map(|s| s.to_string()).collect(), definition: def.into() }
    }

    #[test]
    fn arity_args_nesting_filters_and_recursion() {
        let mut ms = Macros::default();
        ms.add(m("ps", &[], "(Processes.process_name=powershell.exe OR `pwsh`)"));
        ms.add(m("pwsh", &[], "Processes.process_name=pwsh.exe"));
        ms.add(m("ctime(1)", &["field"], "convert timeformat=\"%c\" ctime($field$)"));
        ms.add(m("loop", &[], "`loop`"));
        let e = ms.expand("| tstats count where `ps` ```why``` by x | `drop_dm_object_name(Processes)` | `ctime(firstTime)` | `my_rule_filter`");
        assert_eq!(
            e.text,
            "| tstats count where (Processes.process_name=powershell.exe OR Processes.process_name=pwsh.exe)  by x | rename Processes.* as * | convert timeformat=\"%c\" ctime(firstTime) | search *"
        );
        assert_eq!(e.used, ["ps", "pwsh", "drop_dm_object_name", "ctime", "my_rule_filter"]);
        // Backticks inside a quoted string are text.
        assert_eq!(ms.expand("eval x=\"a`b`c\" | `pwsh`").text, "eval x=\"a`b`c\" | Processes.process_name=pwsh.exe");
        let r = ms.expand("`loop`");
        assert!(r.diagnostics.iter().any(|d| d.code == "recursive-macro"));
    }
}
