//! The search split into commands at top-level `|`.

/// One command of the pipeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    /// Lower-cased name (`tstats`, `search`, `where` ...); `search` for a leading bare search.
    pub name: String,
    /// Everything after the name.
    pub args: String,
    /// The whole command's text.
    pub text: String,
    /// Byte range of the command in the (expanded) search.
    pub start: usize,
    pub end: usize,
}

/// Splits at `|` outside quotes, brackets (subsearches) and parentheses.
pub fn split(search: &str) -> Vec<Command> {
    let mut out = Vec::new();
    let (mut depth, mut quote, mut start) = (0i32, false, 0usize);
    let bytes = search.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if quote => i += 1,
            b'"' => quote = !quote,
            b'[' | b'(' if !quote => depth += 1,
            b']' | b')' if !quote => depth -= 1,
            b'|' if !quote && depth <= 0 => {
                push(&mut out, search, start, i);
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    push(&mut out, search, start, search.len());
    out
}

fn push(out: &mut Vec<Command>, search: &str, start: usize, end: usize) {
    let raw = &search[start..end];
    let text = raw.trim();
    if text.is_empty() {
        return;
    }
    let lead = raw.len() - raw.trim_start().len();
    let word_end = text.find(|c: char| c.is_whitespace()).unwrap_or(text.len());
    let word = &text[..word_end];
    // A pipeline that starts without a command is an implicit `search`.
    let known_first = out.is_empty() && (word.contains('=') || word.starts_with('(') || word.starts_with('"') || word.contains('*'));
    let (name, args) = if known_first { ("search".to_string(), text.to_string()) } else { (word.to_ascii_lowercase(), text[word_end..].trim().to_string()) };
    out.push(Command { name, args, text: text.to_string(), start: start + lead, end: start + lead + text.len() });
}

#[cfg(test)]
mod tests {
    use super::split;

    #[test]
    fn pipes_inside_quotes_and_subsearches_stay() {
        let c = split("| tstats count where x=\"a|b\" by y | search [ | inputlookup t | fields z ] | where a>1");
        let names: Vec<&str> = c.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["tstats", "search", "where"]);
        assert_eq!(c[0].args, "count where x=\"a|b\" by y");
        let c = split("index=main sourcetype=x | stats count");
        assert_eq!(c[0].name, "search");
    }
}
