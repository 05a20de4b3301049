//! The KQL lexer: one pass over the bytes, every byte of the input in exactly one token
//! (whitespace and comments included), so the token list reproduces the text exactly.

/// What a token is. Keywords are not told apart from identifiers here: KQL lets most keywords
/// be names, so the parser decides by context.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenKind {
    /// Spaces, tabs, line breaks, Unicode spaces.
    Whitespace,
    /// `// ...` to the end of the line.
    Comment,
    /// A name or keyword: `where`, `DeviceId`, `$left`, `has_any`, `10abc`.
    Ident,
    /// `42`, `0x1F`.
    Int,
    /// `1.5`, `1e3`.
    Real,
    /// A number glued to a unit: `5m`, `1hr`, `2days`, `10ms`, `1.5d`.
    Timespan,
    /// Any string literal: `"…"`, `'…'`, `@"…"`, `@'…'`, triple backtick, `~~~`, `h`-prefixed.
    Str,
    /// A typed literal with raw contents: `datetime(2021-01-01)`, `timespan(1d)`, `guid(…)`,
    /// `long(null)`, `bool(true)`, `typeof(string)`.
    Typed,
    /// A word operator that is one token: `!has`, `!contains_cs`, `in~`, `!in~`, `!between`.
    Op,
    /// Punctuation and symbolic operators: `|`, `==`, `=~`, `..`, `(`, ...
    Punct,
    /// A character KQL does not use here (reported by the lexer).
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    pub kind: TokenKind,
    /// Byte range in the text.
    pub start: usize,
    pub end: usize,
}

impl Token {
    pub fn text<'t>(&self, text: &'t str) -> &'t str {
        text.get(self.start..self.end).unwrap_or("")
    }
    pub fn is_trivia(&self) -> bool {
        matches!(self.kind, TokenKind::Whitespace | TokenKind::Comment)
    }
}

/// A problem found while lexing: byte offset, message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LexError {
    pub start: usize,
    pub end: usize,
    pub message: String,
}

/// Words that form one token with a leading `!`.
const BANG_WORDS: &[&str] = &[
    "has",
    "has_cs",
    "hasprefix",
    "hasprefix_cs",
    "hassuffix",
    "hassuffix_cs",
    "contains",
    "contains_cs",
    "startswith",
    "startswith_cs",
    "endswith",
    "endswith_cs",
    "in",
    "between",
];

/// Type names that make a typed literal when `(` follows directly: `datetime(2020-01-01)`.
const TYPED_LITERALS: &[&str] = &[
    "datetime", "timespan", "time", "guid", "uuid", "uniqueid", "long", "int", "int64", "int32",
    "real", "double", "bool", "decimal", "typeof",
];

/// Timespan units KQL accepts glued to a number.
const UNITS: &[&str] = &[
    "d",
    "day",
    "days",
    "h",
    "hr",
    "hrs",
    "hour",
    "hours",
    "m",
    "min",
    "minute",
    "minutes",
    "s",
    "sec",
    "second",
    "seconds",
    "ms",
    "milli",
    "millis",
    "millisec",
    "millisecond",
    "milliseconds",
    "micro",
    "micros",
    "microsec",
    "microsecond",
    "microseconds",
    "nano",
    "nanos",
    "nanosec",
    "nanosecond",
    "nanoseconds",
    "tick",
    "ticks",
];

/// Seconds in one of a timespan unit (`None` for sub-second units counted separately).
pub fn unit_seconds(unit: &str) -> Option<f64> {
    Some(match unit {
        "d" | "day" | "days" => 86_400.0,
        "h" | "hr" | "hrs" | "hour" | "hours" => 3_600.0,
        "m" | "min" | "minute" | "minutes" => 60.0,
        "s" | "sec" | "second" | "seconds" => 1.0,
        "ms" | "milli" | "millis" | "millisec" | "millisecond" | "milliseconds" => 1e-3,
        "micro" | "micros" | "microsec" | "microsecond" | "microseconds" => 1e-6,
        "nano" | "nanos" | "nanosec" | "nanosecond" | "nanoseconds" => 1e-9,
        "tick" | "ticks" => 1e-7,
        _ => return None,
    })
}

/// Seconds of a timespan literal's text (`5m` → 300), if it is one.
pub fn timespan_seconds(text: &str) -> Option<f64> {
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (num, unit) = text.split_at(split);
    let n: f64 = num.parse().ok()?;
    Some(n * unit_seconds(unit)?)
}

fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b == b'$'
}

fn is_ident_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

struct Lexer<'t> {
    text: &'t str,
    bytes: &'t [u8],
    pos: usize,
    tokens: Vec<Token>,
    errors: Vec<LexError>,
}

/// Splits `text` into tokens. Never fails: unknown characters become `Unknown` tokens and
/// unterminated strings end at the line end (or the end of the text), each with a `LexError`.
pub fn lex(text: &str) -> (Vec<Token>, Vec<LexError>) {
    let mut lx = Lexer {
        text,
        bytes: text.as_bytes(),
        pos: 0,
        tokens: Vec::with_capacity(text.len() / 3 + 1),
        errors: Vec::new(),
    };
    lx.run();
    (lx.tokens, lx.errors)
}

impl<'t> Lexer<'t> {
    fn at(&self, i: usize) -> u8 {
        *self.bytes.get(i).unwrap_or(&0)
    }

    fn starts(&self, i: usize, s: &str) -> bool {
        self.bytes.get(i..i + s.len()) == Some(s.as_bytes())
    }

    fn push(&mut self, kind: TokenKind, start: usize, end: usize) {
        self.tokens.push(Token { kind, start, end });
        self.pos = end;
    }

    fn error(&mut self, start: usize, end: usize, message: impl Into<String>) {
        self.errors.push(LexError {
            start,
            end,
            message: message.into(),
        });
    }

    /// Length in bytes of the UTF-8 character at `i`.
    fn char_len(&self, i: usize) -> usize {
        self.text
            .get(i..)
            .and_then(|s| s.chars().next())
            .map(char::len_utf8)
            .unwrap_or(1)
    }

    fn is_space_at(&self, i: usize) -> Option<usize> {
        let b = self.at(i);
        if b == b' ' || b == b'\t' || b == b'\n' || b == b'\r' || b == 0x0c || b == 0x0b {
            return Some(1);
        }
        if b >= 0x80 {
            let c = self.text.get(i..)?.chars().next()?;
            if c.is_whitespace() || c == '\u{200b}' || c == '\u{feff}' || c == '\u{180e}' {
                return Some(c.len_utf8());
            }
        }
        None
    }

    fn run(&mut self) {
        let n = self.bytes.len();
        while self.pos < n {
            let start = self.pos;
            let b = self.at(start);
            if let Some(len) = self.is_space_at(start) {
                let mut end = start + len;
                while end < n {
                    match self.is_space_at(end) {
                        Some(l) => end += l,
                        None => break,
                    }
                }
                self.push(TokenKind::Whitespace, start, end);
            } else if b == b'/' && self.at(start + 1) == b'/' {
                let mut end = start + 2;
                while end < n && self.bytes[end] != b'\n' && self.bytes[end] != b'\r' {
                    end += 1;
                }
                self.push(TokenKind::Comment, start, end);
            } else if (b == b'h' || b == b'H') && self.string_start(start + 1) {
                self.string(start, start + 1);
            } else if self.string_start(start) {
                self.string(start, start);
            } else if b.is_ascii_digit() {
                self.number(start);
            } else if is_ident_start(b) {
                self.ident(start);
            } else if b == b'!' && self.bang_word(start) {
                // pushed by bang_word
            } else {
                self.punct(start);
            }
        }
    }

    /// Does a string literal begin at `i` (after an optional `h`)?
    fn string_start(&self, i: usize) -> bool {
        match self.at(i) {
            b'"' | b'\'' => true,
            b'@' => matches!(self.at(i + 1), b'"' | b'\''),
            b'`' => self.starts(i, "```"),
            b'~' => self.starts(i, "~~~"),
            _ => false,
        }
    }

    /// A string literal starting at `start` whose quote is at `q`.
    fn string(&mut self, start: usize, q: usize) {
        let n = self.bytes.len();
        let b = self.at(q);
        if b == b'`' || b == b'~' {
            let fence = if b == b'`' { "```" } else { "~~~" };
            let mut i = q + 3;
            while i < n {
                if self.starts(i, fence) {
                    self.push(TokenKind::Str, start, i + 3);
                    return;
                }
                i += 1;
            }
            self.error(start, n, format!("unterminated {fence} string"));
            self.push(TokenKind::Str, start, n);
            return;
        }
        let verbatim = b == b'@';
        let (quote, mut i) = if verbatim {
            (self.at(q + 1), q + 2)
        } else {
            (b, q + 1)
        };
        while i < n {
            let c = self.bytes[i];
            if c == b'\n' || c == b'\r' {
                break;
            }
            if !verbatim && c == b'\\' {
                i += 2;
                continue;
            }
            if c == quote {
                if verbatim && self.at(i + 1) == quote {
                    i += 2;
                    continue;
                }
                self.push(TokenKind::Str, start, i + 1);
                return;
            }
            i += 1;
        }
        let end = i.min(n);
        // Keep token boundaries on character boundaries (an escape may have skipped into one).
        let end = (end..=n)
            .find(|&e| self.text.is_char_boundary(e))
            .unwrap_or(n);
        self.error(start, end, "unterminated string literal");
        self.push(TokenKind::Str, start, end);
    }

    fn word_end(&self, mut i: usize) -> usize {
        while i < self.bytes.len() && is_ident_char(self.bytes[i]) {
            i += 1;
        }
        i
    }

    fn number(&mut self, start: usize) {
        let n = self.bytes.len();
        let mut i = start;
        if self.at(i) == b'0'
            && matches!(self.at(i + 1), b'x' | b'X')
            && self.at(i + 2).is_ascii_hexdigit()
        {
            i += 2;
            while i < n && self.bytes[i].is_ascii_hexdigit() {
                i += 1;
            }
            if !is_ident_char(self.at(i)) {
                self.push(TokenKind::Int, start, i);
                return;
            }
            i = start;
        }
        while i < n && self.bytes[i].is_ascii_digit() {
            i += 1;
        }
        let mut kind = TokenKind::Int;
        if self.at(i) == b'.' && self.at(i + 1).is_ascii_digit() {
            i += 1;
            while i < n && self.bytes[i].is_ascii_digit() {
                i += 1;
            }
            kind = TokenKind::Real;
        }
        // Exponent: 1e5, 1.5E-3.
        if matches!(self.at(i), b'e' | b'E') {
            let mut j = i + 1;
            if matches!(self.at(j), b'+' | b'-') {
                j += 1;
            }
            if self.at(j).is_ascii_digit() {
                while j < n && self.bytes[j].is_ascii_digit() {
                    j += 1;
                }
                if !is_ident_char(self.at(j)) {
                    self.push(TokenKind::Real, start, j);
                    return;
                }
            }
        }
        if is_ident_char(self.at(i)) {
            let end = self.word_end(i);
            let unit = &self.text[i..end];
            if UNITS.contains(&unit) {
                self.push(TokenKind::Timespan, start, end);
            } else if kind == TokenKind::Int {
                // KQL names may start with digits: `1stColumn`.
                self.push(TokenKind::Ident, start, end);
            } else {
                self.push(kind, start, i);
            }
            return;
        }
        self.push(kind, start, i);
    }

    fn ident(&mut self, start: usize) {
        let end = self.word_end(start + 1);
        let word = &self.text[start..end];
        // `in~`
        if word == "in" && self.at(end) == b'~' && !self.starts(end, "~~~") {
            self.push(TokenKind::Op, start, end + 1);
            return;
        }
        // Typed literal: `datetime(...)`, up to the first `)`.
        if TYPED_LITERALS.contains(&word) && self.at(end) == b'(' {
            let mut i = end + 1;
            let n = self.bytes.len();
            while i < n && self.bytes[i] != b')' && self.bytes[i] != b'(' && self.bytes[i] != b'\n'
            {
                i += 1;
            }
            if self.at(i) == b')' {
                self.push(TokenKind::Typed, start, i + 1);
                return;
            }
        }
        self.push(TokenKind::Ident, start, end);
    }

    /// `!has`, `!in~`, `!between`, ... as one token. Returns false when `!` starts none.
    fn bang_word(&mut self, start: usize) -> bool {
        if !self.at(start + 1).is_ascii_alphabetic() {
            return false;
        }
        let end = self.word_end(start + 1);
        let word = &self.text[start + 1..end];
        if !BANG_WORDS.contains(&word) {
            return false;
        }
        if word == "in" && self.at(end) == b'~' && !self.starts(end, "~~~") {
            self.push(TokenKind::Op, start, end + 1);
        } else {
            self.push(TokenKind::Op, start, end);
        }
        true
    }

    fn punct(&mut self, start: usize) {
        const TWO: &[&str] = &["..", "==", "=~", "=>", "!=", "!~", "<>", "<=", ">="];
        for p in TWO {
            if self.starts(start, p) {
                self.push(TokenKind::Punct, start, start + 2);
                return;
            }
        }
        let b = self.at(start);
        if b"|;,()[]{}.:=<>+-*/%!?@~#".contains(&b) {
            self.push(TokenKind::Punct, start, start + 1);
            return;
        }
        let len = self.char_len(start);
        let end = (start + len).min(self.bytes.len());
        let shown = self.text.get(start..end).unwrap_or("?").to_string();
        self.error(start, end, format!("unexpected character `{shown}`"));
        self.push(TokenKind::Unknown, start, end);
    }
}

/// The value of a string literal token's text: prefixes, quotes and escapes removed.
pub fn string_value(raw: &str) -> String {
    let s = raw.strip_prefix(['h', 'H']).unwrap_or(raw);
    for fence in ["```", "~~~"] {
        if let Some(inner) = s.strip_prefix(fence) {
            return inner.strip_suffix(fence).unwrap_or(inner).to_string();
        }
    }
    if let Some(rest) = s.strip_prefix('@') {
        let Some(q) = rest.chars().next() else {
            return String::new();
        };
        let inner = &rest[1..];
        let inner = inner.strip_suffix(q).unwrap_or(inner);
        let doubled: String = [q, q].iter().collect();
        return inner.replace(&doubled, &q.to_string());
    }
    let Some(q) = s.chars().next() else {
        return String::new();
    };
    if q != '"' && q != '\'' {
        return s.to_string();
    }
    let body = &s[1..];
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        if c == q && chars.peek().is_none() {
            break;
        }
        if c != '\\' {
            out.push(c);
            continue;
        }
        let Some(e) = chars.next() else {
            out.push('\\');
            break;
        };
        match e {
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            'a' => out.push('\u{7}'),
            'b' => out.push('\u{8}'),
            'f' => out.push('\u{c}'),
            'v' => out.push('\u{b}'),
            '0'..='7' => {
                let mut v = e.to_digit(8).unwrap_or(0);
                for _ in 0..2 {
                    match chars.peek().and_then(|c| c.to_digit(8)) {
                        Some(d) => {
                            v = v * 8 + d;
                            chars.next();
                        }
                        None => break,
                    }
                }
                out.push(char::from_u32(v).unwrap_or('\u{fffd}'));
            }
            'x' | 'u' | 'U' => {
                let want = match e {
                    'x' => 2,
                    'u' => 4,
                    _ => 8,
                };
                let mut v = 0u32;
                let mut got = 0;
                while got < want {
                    match chars.peek().and_then(|c| c.to_digit(16)) {
                        Some(d) => {
                            v = v.wrapping_mul(16).wrapping_add(d);
                            chars.next();
                            got += 1;
                        }
                        None => break,
                    }
                }
                out.push(char::from_u32(v).unwrap_or('\u{fffd}'));
            }
            other => out.push(other),
        }
    }
    out
}
