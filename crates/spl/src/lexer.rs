//! The search-level lexer: every byte of the text belongs to exactly one token, so the tokens
//! (whitespace and ```` ``` ```` comments included) give the text back unchanged.
//!
//! Words are maximal runs of anything that is not whitespace or one of `| [ ] ( ) , " = ! < >`
//! and the backtick: `Processes.process_name`, `*\\mmc.exe`, `-enc`, `count`. The eval world
//! splits words further (see [`crate::eval`]).

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Space,
    /// ```` ```text``` ````; `closed` is false when the text ends first.
    Comment {
        closed: bool,
    },
    Pipe,
    LBrack,
    RBrack,
    LParen,
    RParen,
    Comma,
    /// `=`, `==`, `!=`, `<`, `<=`, `>`, `>=`.
    Cmp,
    /// `"..."` with `\"` and `\\` escapes; `closed` is false when the text ends first.
    Str {
        closed: bool,
    },
    /// An unexpanded macro call `` `name(args)` `` (or a lone backtick when unclosed).
    Macro {
        closed: bool,
    },
    Word,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    pub kind: Kind,
    pub start: usize,
    pub end: usize,
}

impl Token {
    pub fn text<'a>(&self, src: &'a str) -> &'a str {
        &src[self.start..self.end]
    }
    pub fn is_trivia(&self) -> bool {
        matches!(self.kind, Kind::Space | Kind::Comment { .. })
    }
}

fn is_word_byte(b: u8) -> bool {
    !b.is_ascii_whitespace()
        && !matches!(
            b,
            b'|' | b'[' | b']' | b'(' | b')' | b',' | b'"' | b'=' | b'<' | b'>' | b'`'
        )
}

/// Tokens of `src`, trivia included, in order and covering it exactly.
pub fn lex(src: &str) -> Vec<Token> {
    let b = src.as_bytes();
    let mut out = Vec::with_capacity(src.len() / 4);
    let mut i = 0;
    while i < b.len() {
        let start = i;
        let kind = match b[i] {
            c if c.is_ascii_whitespace() => {
                while i < b.len() && b[i].is_ascii_whitespace() {
                    i += 1;
                }
                Kind::Space
            }
            b'`' if src[i..].starts_with("```") => match src[i + 3..].find("```") {
                Some(n) => {
                    i += 3 + n + 3;
                    Kind::Comment { closed: true }
                }
                None => {
                    i = b.len();
                    Kind::Comment { closed: false }
                }
            },
            b'`' => match src[i + 1..].find('`') {
                Some(n) => {
                    i += n + 2;
                    Kind::Macro { closed: true }
                }
                None => {
                    i += 1;
                    Kind::Macro { closed: false }
                }
            },
            b'|' => one(&mut i, Kind::Pipe),
            b'[' => one(&mut i, Kind::LBrack),
            b']' => one(&mut i, Kind::RBrack),
            b'(' => one(&mut i, Kind::LParen),
            b')' => one(&mut i, Kind::RParen),
            b',' => one(&mut i, Kind::Comma),
            b'"' => {
                i += 1;
                let mut closed = false;
                while i < b.len() {
                    match b[i] {
                        b'\\' => i += 2,
                        b'"' => {
                            i += 1;
                            closed = true;
                            break;
                        }
                        _ => i += 1,
                    }
                }
                i = i.min(b.len());
                Kind::Str { closed }
            }
            b'<' if template_len(&src.as_bytes()[i..]).is_some() => word(src, &mut i),
            b'=' | b'<' | b'>' => {
                i += if b.get(i + 1) == Some(&b'=') { 2 } else { 1 };
                Kind::Cmp
            }
            b'!' if b.get(i + 1) == Some(&b'=') => {
                i += 2;
                Kind::Cmp
            }
            _ => word(src, &mut i),
        };
        out.push(Token {
            kind,
            start,
            end: i,
        });
    }
    out
}

/// A word from `i`: word bytes and `foreach` templates (`<<FIELD>>`).
fn word(src: &str, i: &mut usize) -> Kind {
    let b = src.as_bytes();
    let start = *i;
    while *i < b.len() {
        if let Some(n) = template_len(&b[*i..]) {
            *i += n;
            continue;
        }
        if !is_word_byte(b[*i]) || (b[*i] == b'!' && b.get(*i + 1) == Some(&b'=') && *i > start) {
            break;
        }
        *i += 1;
    }
    // A lone `!` (not before `=`) is a word of its own.
    if *i == start {
        *i += 1;
    }
    // Never split a UTF-8 character.
    while *i < b.len() && !src.is_char_boundary(*i) {
        *i += 1;
    }
    Kind::Word
}

/// Length of a `foreach` template (`<<FIELD>>`, `<<MATCHSTR>>`) at the start of `s`.
pub fn template_len(s: &[u8]) -> Option<usize> {
    let rest = s.strip_prefix(b"<<")?;
    let n = rest
        .iter()
        .take_while(|b| b.is_ascii_alphabetic() || **b == b'_')
        .count();
    (n > 0 && rest[n..].starts_with(b">>")).then_some(n + 4)
}

fn one(i: &mut usize, k: Kind) -> Kind {
    *i += 1;
    k
}

/// The value of a `"..."` token: quotes removed, `\"` and `\\` unescaped (other escapes kept,
/// as Splunk passes them on to regexes and wildcards).
pub fn unquote(raw: &str) -> String {
    let inner = raw.strip_prefix('"').unwrap_or(raw);
    let inner = inner.strip_suffix('"').unwrap_or(inner);
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(&n) = chars.peek() {
                if n == '"' || n == '\\' {
                    out.push(n);
                    chars.next();
                    continue;
                }
            }
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lossless_and_kinds() {
        let src = "| tstats count where a=\"x\\\"y|z\" b!=*.exe ```note``` by c | `m(1)` | eval d=len(x)>=2";
        let toks = lex(src);
        let back: String = toks.iter().map(|t| t.text(src)).collect();
        assert_eq!(back, src);
        let words: Vec<&str> = toks
            .iter()
            .filter(|t| !t.is_trivia())
            .map(|t| t.text(src))
            .collect();
        assert_eq!(
            words,
            [
                "|",
                "tstats",
                "count",
                "where",
                "a",
                "=",
                "\"x\\\"y|z\"",
                "b",
                "!=",
                "*.exe",
                "by",
                "c",
                "|",
                "`m(1)`",
                "|",
                "eval",
                "d",
                "=",
                "len",
                "(",
                "x",
                ")",
                ">=",
                "2"
            ]
        );
        assert_eq!(unquote("\"x\\\"y\\d\""), "x\"y\\d");
        assert!(lex("\"open")
            .iter()
            .any(|t| t.kind == Kind::Str { closed: false }));
        let multi = "a=\"é\" b=ü!";
        assert_eq!(
            lex(multi).iter().map(|t| t.text(multi)).collect::<String>(),
            multi
        );
    }
}
