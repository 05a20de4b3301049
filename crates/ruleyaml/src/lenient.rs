//! YAML as Splunk's own tooling (PyYAML) reads it. ESCU files carry multi-line quoted scalars
//! whose continuation lines start at column 0 (`search: '... \n| stats ...'`); YAML 1.2 wants
//! them indented and the parser here refuses them, PyYAML does not. Indenting those lines changes
//! nothing in the value (a flow scalar's line breaks fold with the leading blanks) and nothing in
//! line numbers.

/// `text` with the column-0 continuation lines of top-level quoted scalars indented, when there
/// are any (`None`: nothing to change).
pub fn indent_quoted(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len() + 64);
    let mut open: Option<u8> = None;
    let mut changed = false;
    for line in text.split_inclusive('\n') {
        match open {
            Some(q) => {
                let starts_at_zero = !line.starts_with([' ', '\t']) && !line.trim().is_empty();
                if starts_at_zero {
                    out.push_str("  ");
                    changed = true;
                }
                out.push_str(line);
                if closes(line, q) {
                    open = None;
                }
            }
            None => {
                out.push_str(line);
                // A top-level `key: '...` or `key: "...` left open on its line.
                if !line.starts_with([' ', '\t', '-', '#']) {
                    if let Some((_, v)) = line.split_once(':') {
                        let v = v.trim_start();
                        if let Some(q @ (b'\'' | b'"')) = v.bytes().next() {
                            if !closes(&v[1..], q) {
                                open = Some(q);
                            }
                        }
                    }
                }
            }
        }
    }
    changed.then_some(out)
}

/// Whether `s` (inside a scalar quoted with `q`) holds its closing quote.
fn closes(s: &str, q: u8) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' if q == b'"' => i += 2,
            c if c == q && q == b'\'' && b.get(i + 1) == Some(&b'\'') => i += 2,
            c if c == q => return true,
            _ => i += 1,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::indent_quoted;

    #[test]
    fn column_zero_continuations_are_indented() {
        let text = "name: x\nsearch: '`okta` a=1\n| stats count\n| where ''y''=1'\nhow: |\n  z\n";
        let fixed = indent_quoted(text).unwrap();
        assert_eq!(fixed, "name: x\nsearch: '`okta` a=1\n  | stats count\n  | where ''y''=1'\nhow: |\n  z\n");
        assert!(indent_quoted("search: 'a'\nname: b\n").is_none());
        assert!(indent_quoted("search: 'a\n  b'\n").is_none());
    }
}
