//! The Sigma front end: YAML text -> node tree with spans -> Sigma rule -> `ir::Rule`.
//!
//! - [`yaml`]: the YAML node tree (every node with its byte range; duplicate keys kept).
//! - [`cond`]: the condition language (lexer, precedence-climbing parser, legacy aggregations).
//! - [`detection`]: search identifiers, values, modifiers and wildcards -> predicates.
//! - [`rule`]: documents -> rules (detection, correlation, meta filter; legacy collections).
//! - [`expand`]: value transforms (`windash`, `base64offset`, ...) for engines.

pub mod cond;
pub mod detection;
pub mod expand;
pub mod rule;
pub mod yaml;

pub use expand::expand_values;

use ir::Diagnostic;

use crate::rule::{classify, is_sigma_root, merge, without_action, DocInfo};
use crate::yaml::{LineIndex, Node};

pub struct FileResult {
    pub rules: Vec<ir::Rule>,
    /// Failures of the whole file or of whole documents that yielded no rule (e.g. invalid YAML):
    /// each with a span (line:col) when known, a code and a clear message saying what was expected.
    pub failures: Vec<ir::Diagnostic>,
    /// Whether the file looked like Sigma at all (false: ignore it silently, it is some other YAML).
    pub is_sigma: bool,
}

/// `origin`: the folder given to the build (e.g. "sigma"); `path`: file path relative to it with `/` separators.
pub fn parse_file(origin: &str, path: &str, text: &str) -> FileResult {
    // The reader is written not to panic; this is a last line of defence so that one file can
    // never take a whole build down.
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| parse_file_inner(origin, path, text))) {
        Ok(r) => r,
        Err(_) => FileResult {
            rules: Vec::new(),
            failures: vec![Diagnostic::error(
                "internal",
                "the Sigma reader failed on this file (internal error); the file was skipped",
                Some(ir::Span::at(1, 1)),
            )],
            is_sigma: looks_like_sigma(text),
        },
    }
}

fn parse_file_inner(origin: &str, path: &str, text: &str) -> FileResult {
    let lines = LineIndex::new(text);
    let stream = yaml::load(text, &lines);
    let broken = stream.error.is_some() || stream.docs.iter().any(|d| d.failure.is_some());
    let is_sigma =
        stream.docs.iter().any(|d| d.root.as_ref().is_some_and(is_sigma_root)) || (broken && looks_like_sigma(text));
    let mut out = FileResult { rules: Vec::new(), failures: Vec::new(), is_sigma };
    if !is_sigma {
        return out;
    }

    let mut global: Option<Node> = None;
    let mut previous: Option<Node> = None;
    for (idx, doc) in stream.docs.iter().enumerate() {
        if let Some(f) = &doc.failure {
            out.failures.push(f.clone());
            continue;
        }
        let Some(root) = &doc.root else { continue };
        if root.is_null() {
            continue; // an empty document
        }
        let at = lines.span(root.start, root.start);
        if root.as_map().is_none() {
            let what = if root.as_seq().is_some() { "a list" } else { "a single value" };
            out.failures.push(Diagnostic::error(
                "not-a-rule",
                format!("document {} is {what}, not a Sigma rule; expected a map with `title`, `logsource`, `detection` ...", idx + 1),
                Some(at),
            ));
            continue;
        }
        let action = root.get("action").and_then(|a| a.text()).map(str::to_ascii_lowercase);
        let merged = match action.as_deref() {
            Some("global") => {
                global = Some(without_action(root));
                continue;
            }
            Some("reset") => {
                global = None;
                continue;
            }
            Some("repeat") => match &previous {
                Some(p) => merge(p, &without_action(root)),
                None => {
                    out.failures.push(Diagnostic::error(
                        "bad-collection",
                        format!("document {} has `action: repeat` but no rule before it to repeat", idx + 1),
                        Some(at),
                    ));
                    continue;
                }
            },
            _ => match &global {
                Some(g) => merge(g, root),
                None => root.clone(),
            },
        };
        match classify(&merged) {
            Ok(kind) => {
                let info = DocInfo {
                    origin,
                    path,
                    doc_index: idx,
                    raw_start: doc.text_start,
                    raw_end: doc.text_end,
                    diags: doc.diags.clone(),
                };
                out.rules.push(rule::lower(&lines, &merged, kind, info));
                previous = Some(merged);
            }
            Err(why) => {
                out.failures.push(Diagnostic::error(
                    "not-a-rule",
                    format!("document {} is not a Sigma rule: {why}", idx + 1),
                    Some(at),
                ));
                previous = Some(merged);
            }
        }
    }
    if let Some(e) = stream.error {
        out.failures.push(e);
    }
    out
}

/// Cheap check on raw text (used before parsing / for files that are not valid YAML): true when the text
/// looks like a Sigma rule (has a top-level `detection:` or `correlation:` key, or `filter:` together with `logsource:`...).
pub fn looks_like_sigma(text: &str) -> bool {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let (mut filter, mut logsource) = (false, false);
    for line in text.lines() {
        let Some(key) = top_level_key(line) else { continue };
        match key {
            "detection" | "correlation" => return true,
            "filter" => filter = true,
            "logsource" => logsource = true,
            _ => {}
        }
        if filter && logsource {
            return true;
        }
    }
    false
}

/// The key of a `key:` line at column 0 (plain or quoted).
fn top_level_key(line: &str) -> Option<&str> {
    let first = line.chars().next()?;
    if first.is_whitespace() || first == '#' || first == '-' {
        return None;
    }
    let (key, rest) = if first == '"' || first == '\'' {
        let close = line[1..].find(first)? + 1;
        (&line[1..close], &line[close + 1..])
    } else {
        let colon = line.find(':')?;
        (line[..colon].trim_end(), &line[colon..])
    };
    let rest = rest.trim_start();
    let after = rest.strip_prefix(':')?;
    (after.is_empty() || after.starts_with(char::is_whitespace)).then_some(key)
}

#[cfg(test)]
mod tests;
