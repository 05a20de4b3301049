//! Light highlighting of a rule's text (YAML keys, comments, quoted strings, pipes), as
//! (class, text) pieces: the template prints each piece escaped inside a `<span>`.

pub struct Piece {
    pub class: &'static str,
    pub text: String,
}

fn push(out: &mut Vec<Piece>, class: &'static str, text: &str) {
    if text.is_empty() {
        return;
    }
    match out.last_mut() {
        Some(p) if p.class == class => p.text.push_str(text),
        _ => out.push(Piece { class, text: text.to_string() }),
    }
}

pub fn pieces(text: &str) -> Vec<Piece> {
    let mut out = Vec::new();
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        let indent = &line[..line.len() - trimmed.len()];
        push(&mut out, "", indent);
        if trimmed.starts_with('#') || trimmed.starts_with("//") {
            push(&mut out, "c", trimmed);
            continue;
        }
        let mut rest = trimmed;
        // `key:` at the start of a YAML line (after an optional `- `).
        let body = rest.strip_prefix("- ").inspect(|_| push(&mut out, "p", "- "));
        if let Some(r) = body {
            rest = r;
        }
        if let Some(colon) = rest.find(':') {
            let key = &rest[..colon];
            if !key.is_empty() && key.chars().all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '|' | '.' | ' ')) && !key.contains("  ") {
                push(&mut out, "k", &rest[..=colon]);
                rest = &rest[colon + 1..];
            }
        }
        let mut chars = rest.char_indices().peekable();
        let mut start = 0;
        while let Some((i, c)) = chars.next() {
            match c {
                '"' | '\'' => {
                    push(&mut out, "", &rest[start..i]);
                    let end = rest[i + 1..].find(c).map(|e| i + 1 + e + 1).unwrap_or(rest.len());
                    push(&mut out, "s", &rest[i..end]);
                    while chars.peek().is_some_and(|(j, _)| *j < end) {
                        chars.next();
                    }
                    start = end;
                }
                '|' => {
                    push(&mut out, "", &rest[start..i]);
                    push(&mut out, "p", "|");
                    start = i + 1;
                }
                _ => {}
            }
        }
        push(&mut out, "", &rest[start.min(rest.len())..]);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn keys_strings_comments_and_nothing_lost() {
        let text = "title: x\ndetection:\n  sel:\n    Image|endswith: '\\\\mmc.exe' # c\n# note\nquery: |\n  T | where a == \"b\"\n";
        let p = super::pieces(text);
        let joined: String = p.iter().map(|x| x.text.as_str()).collect();
        assert_eq!(joined, text);
        assert!(p.iter().any(|x| x.class == "k" && x.text == "Image|endswith:"));
        assert!(p.iter().any(|x| x.class == "s" && x.text == "\"b\""));
        assert!(p.iter().any(|x| x.class == "c" && x.text.starts_with("# note")));
    }
}
