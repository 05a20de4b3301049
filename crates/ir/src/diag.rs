use serde::{Deserialize, Serialize};

/// A region of a source file. Lines and columns are 1-based; offsets are byte offsets into the
/// text of the whole file (not only the document), so a span can be shown against the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Span {
    pub start: usize,
    pub end: usize,
    pub line: u32,
    pub col: u32,
}

impl Span {
    pub fn at(line: u32, col: u32) -> Span {
        Span { start: 0, end: 0, line, col }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
    Info,
}

/// Something a front end (or a later pass) wants a user to know about a rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Diagnostic {
    pub severity: Severity,
    /// Short stable code, e.g. `yaml`, `missing-selection`, `unknown-modifier`.
    pub code: String,
    pub message: String,
    pub span: Option<Span>,
}

impl Diagnostic {
    pub fn error(code: &str, message: impl Into<String>, span: Option<Span>) -> Self {
        Diagnostic { severity: Severity::Error, code: code.into(), message: message.into(), span }
    }
    pub fn warning(code: &str, message: impl Into<String>, span: Option<Span>) -> Self {
        Diagnostic { severity: Severity::Warning, code: code.into(), message: message.into(), span }
    }
    /// `line:col: message`, or the message alone when there is no position.
    pub fn located(&self) -> String {
        match self.span {
            Some(s) => format!("{}:{}: {}", s.line, s.col, self.message),
            None => self.message.clone(),
        }
    }
}
