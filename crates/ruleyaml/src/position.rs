//! Where each character of a key's value (a Sentinel `query`, a Splunk `search`) sits in its
//! YAML file, so errors and predicates point into the file. The scalar is decoded here with its positions (single-quoted,
//! double-quoted, plain, or a `|` block); the map is used only when this decoding gives exactly
//! the value the YAML parser gave.

use ir::{LineIndex, Span};

/// Byte offsets in the file, one per byte of the value, plus one for the value's end.
pub struct Placement<'t> {
    at: Vec<usize>,
    lines: LineIndex<'t>,
}

impl<'t> Placement<'t> {
    /// The placement of top-level `key`'s value in `text`, when it decodes to `value`.
    pub fn find(text: &'t str, key: &str, value: &str) -> Option<Placement<'t>> {
        let prefix = format!("{key}:");
        let mut offset = 0;
        let mut start = None;
        for line in text.split_inclusive('\n') {
            if line.starts_with(&prefix) {
                start = Some(offset + prefix.len());
                break;
            }
            offset += line.len();
        }
        let mut i = start?;
        let b = text.as_bytes();
        while i < b.len() && (b[i] == b' ' || b[i] == b'\t') {
            i += 1;
        }
        // A flow value may start on the next line (`query:` then the text, indented).
        if matches!(b.get(i), Some(b'\n' | b'\r')) {
            while i < b.len() && b[i].is_ascii_whitespace() {
                i += 1;
            }
        }
        let (decoded, at) = match b.get(i)? {
            b'\'' => single(text, i + 1)?,
            b'"' => double(text, i + 1)?,
            b'|' => block(text, i)?,
            b'>' => return None,
            _ => plain(text, i),
        };
        if decoded != value {
            return None;
        }
        Some(Placement { at, lines: LineIndex::new(text) })
    }

    /// A span of the value (byte offsets) as a span of the file.
    pub fn span(&self, start: usize, end: usize) -> Span {
        let s = self.at[start.min(self.at.len() - 1)];
        let e = if end > start { self.at[(end - 1).min(self.at.len() - 1)] + 1 } else { s };
        self.lines.span(s, e)
    }
}

/// Pushes `c` (file bytes `from..from+len`) to the decoded value.
fn push(out: &mut String, at: &mut Vec<usize>, c: char, from: usize) {
    let n = c.len_utf8();
    out.push(c);
    at.extend((0..n).map(|k| from + k.min(n - 1)));
}

/// Folds a line break inside a flow scalar at `i` (on the `\n`): trailing blanks dropped, one
/// break a space, several breaks newlines; returns where the next line's text starts.
fn fold(text: &str, mut i: usize, out: &mut String, at: &mut Vec<usize>) -> usize {
    let b = text.as_bytes();
    while out.ends_with([' ', '\t']) {
        out.pop();
        at.pop();
    }
    let nl = i;
    let mut breaks = 0;
    while i < b.len() && (b[i] == b'\n' || b[i] == b'\r' || b[i] == b' ' || b[i] == b'\t') {
        if b[i] == b'\n' {
            breaks += 1;
        }
        i += 1;
    }
    if breaks <= 1 {
        push(out, at, ' ', nl);
    } else {
        for _ in 1..breaks {
            push(out, at, '\n', nl);
        }
    }
    i
}

fn single(text: &str, mut i: usize) -> Option<(String, Vec<usize>)> {
    let (mut out, mut at) = (String::new(), Vec::new());
    while i < text.len() {
        let c = text[i..].chars().next()?;
        match c {
            '\'' if text[i + 1..].starts_with('\'') => {
                push(&mut out, &mut at, '\'', i);
                i += 2;
            }
            '\'' => {
                at.push(i);
                return Some((out, at));
            }
            '\n' | '\r' => i = fold(text, i, &mut out, &mut at),
            c => {
                push(&mut out, &mut at, c, i);
                i += c.len_utf8();
            }
        }
    }
    None
}

fn double(text: &str, mut i: usize) -> Option<(String, Vec<usize>)> {
    let (mut out, mut at) = (String::new(), Vec::new());
    while i < text.len() {
        let c = text[i..].chars().next()?;
        match c {
            '"' => {
                at.push(i);
                return Some((out, at));
            }
            '\\' => {
                let n = text[i + 1..].chars().next()?;
                let (v, len) = match n {
                    'n' => ('\n', 2),
                    't' => ('\t', 2),
                    'r' => ('\r', 2),
                    '0' => ('\0', 2),
                    '"' | '\\' | '/' | ' ' => (n, 2),
                    '\n' => {
                        // An escaped line break joins the lines.
                        let mut j = i + 2;
                        while text[j..].starts_with([' ', '\t']) {
                            j += 1;
                        }
                        i = j;
                        continue;
                    }
                    'x' | 'u' | 'U' => {
                        let digits = match n {
                            'x' => 2,
                            'u' => 4,
                            _ => 8,
                        };
                        let hex = text.get(i + 2..i + 2 + digits)?;
                        (
                            char::from_u32(u32::from_str_radix(hex, 16).ok()?)?,
                            2 + digits,
                        )
                    }
                    _ => return None,
                };
                push(&mut out, &mut at, v, i);
                i += len;
            }
            '\n' | '\r' => i = fold(text, i, &mut out, &mut at),
            c => {
                push(&mut out, &mut at, c, i);
                i += c.len_utf8();
            }
        }
    }
    None
}

/// A plain scalar: to the line's end (before a ` #` comment); continuation lines are indented.
fn plain(text: &str, mut i: usize) -> (String, Vec<usize>) {
    let (mut out, mut at) = (String::new(), Vec::new());
    let b = text.as_bytes();
    while i < text.len() {
        let c = text[i..].chars().next().unwrap_or(' ');
        if c == '#' && out.ends_with(' ') {
            break;
        }
        if c == '\n' || c == '\r' {
            // Continues while the next line is indented.
            let next = text[i..].trim_start_matches(['\n', '\r']);
            if !next.starts_with([' ', '\t']) {
                break;
            }
            i = fold(text, i, &mut out, &mut at);
            continue;
        }
        push(&mut out, &mut at, c, i);
        i += c.len_utf8();
    }
    while out.ends_with([' ', '\t']) {
        out.pop();
        at.pop();
    }
    let end = at.last().map(|x| x + 1).unwrap_or(i);
    let _ = b;
    at.push(end);
    (out, at)
}

/// A `|` literal block: its lines with their indentation removed.
fn block(text: &str, i: usize) -> Option<(String, Vec<usize>)> {
    let header_end = i + text[i..].find('\n')?;
    // `|`, then an indentation digit and a chomping sign in either order (`|2-`, `|-`).
    let flags = text[i..header_end].trim().trim_start_matches('|');
    let chomp = flags.trim_matches(|c: char| c.is_ascii_digit());
    let given = flags.chars().find_map(|c| c.to_digit(10)).map(|d| d as usize);
    let (mut out, mut at) = (String::new(), Vec::new());
    let mut indent = given;
    let mut pos = header_end + 1;
    // yaml-rust2 keeps a blank last line of the file that has no line break.
    let mut eof_blank = false;
    for line in text[header_end + 1..].split_inclusive('\n') {
        let body = line.trim_end_matches(['\n', '\r']);
        let lead = body.len() - body.trim_start_matches(' ').len();
        if body.trim().is_empty() {
            eof_blank = !line.ends_with('\n');
            // A blank line; spaces beyond the block's indentation are content.
            if let Some(ind) = indent.filter(|&ind| body.len() > ind) {
                for (k, c) in body[ind..].char_indices() {
                    push(&mut out, &mut at, c, pos + ind + k);
                }
            }
            push(&mut out, &mut at, '\n', pos + body.len());
            pos += line.len();
            continue;
        }
        let ind = *indent.get_or_insert(lead);
        if lead < ind || ind == 0 {
            break;
        }
        for (k, c) in body[ind..].char_indices() {
            push(&mut out, &mut at, c, pos + ind + k);
        }
        push(&mut out, &mut at, '\n', pos + body.len());
        pos += line.len();
    }
    match chomp {
        "-" => {
            while out.ends_with('\n') {
                out.pop();
                at.pop();
            }
        }
        "" => {
            let keep = if eof_blank { "\n\n\n" } else { "\n\n" };
            while out.ends_with(keep) {
                out.pop();
                at.pop();
            }
        }
        _ => {}
    }
    at.push(at.last().map(|x| x + 1).unwrap_or(pos));
    Some((out, at))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(file: &str, value: &str, needle: &str, line: u32, col: u32) {
        let p = Placement::find(file, "search", value)
            .unwrap_or_else(|| panic!("no placement for {file:?}"));
        let at = value.find(needle).unwrap();
        let s = p.span(at, at + needle.len());
        assert_eq!((s.line, s.col), (line, col), "{file:?}");
        assert_eq!(&file[s.start..s.end].replace("''", "'"), needle);
    }

    #[test]
    fn placements() {
        check(
            "name: x\nsearch: '| tstats count where a=''b'' by c'\n",
            "| tstats count where a='b' by c",
            "by c",
            2,
            39,
        );
        check(
            "search: '| tstats\n  count where x=1'\n",
            "| tstats count where x=1",
            "x=1",
            2,
            15,
        );
        check("search: \"a=\\\"b\\\" c=1\"\n", "a=\"b\" c=1", "c=1", 1, 18);
        check(
            "search: |\n  index=x\n  | stats count\n",
            "index=x\n| stats count\n",
            "stats",
            3,
            5,
        );
        check(
            "search: index=x | stats count # note\n",
            "index=x | stats count",
            "stats",
            1,
            19,
        );
        assert!(Placement::find("search: 'a'\n", "search", "b").is_none());
    }
}
