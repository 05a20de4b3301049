//! YAML text -> a node tree where every node knows where it is in the file.
//!
//! Built on yaml-rust2's pull parser (events with a start marker). yaml-rust2 markers count
//! characters (not bytes), lines from 1 and columns from 0; this module converts them to byte
//! offsets and computes where each node ends, which the parser does not report. Mapping keys are
//! kept in order, duplicates included (and reported). The tree is built with an explicit stack and
//! its depth is capped, so hostile nesting neither overflows the stack while building nor while
//! dropping.

use std::cell::Cell;
use std::collections::HashMap;

use ir::{Diagnostic, Span, Value};
use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// Deepest nesting of collections accepted in a document.
pub const MAX_DEPTH: usize = 128;
/// Most nodes that alias expansion may copy in one file (stops "billion laughs").
const ALIAS_BUDGET: usize = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Plain,
    SingleQuoted,
    DoubleQuoted,
    Literal,
    Folded,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    Scalar {
        value: String,
        style: Style,
        /// An explicit `!!str` tag: the scalar is a string whatever it looks like.
        tagged_str: bool,
    },
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

/// One YAML node; `start..end` are byte offsets into the whole file.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub kind: NodeKind,
    pub start: usize,
    pub end: usize,
}

impl Node {
    pub fn scalar(value: &str, style: Style, start: usize, end: usize) -> Node {
        Node { kind: NodeKind::Scalar { value: value.to_string(), style, tagged_str: false }, start, end }
    }

    pub fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.kind {
            NodeKind::Map(pairs) => Some(pairs),
            _ => None,
        }
    }

    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.kind {
            NodeKind::Seq(items) => Some(items),
            _ => None,
        }
    }

    /// The text of a scalar (for a null scalar: the empty string or `null` as written).
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Scalar { value, .. } => Some(value),
            _ => None,
        }
    }

    pub fn style(&self) -> Option<Style> {
        match &self.kind {
            NodeKind::Scalar { style, .. } => Some(*style),
            _ => None,
        }
    }

    pub fn is_scalar(&self) -> bool {
        matches!(self.kind, NodeKind::Scalar { .. })
    }

    /// The scalar's value under the YAML 1.2 core schema; `None` for collections.
    pub fn value(&self) -> Option<Value> {
        match &self.kind {
            NodeKind::Scalar { value, style, tagged_str } => {
                if *tagged_str {
                    Some(Value::Str(value.clone()))
                } else {
                    Some(resolve_scalar(value, *style))
                }
            }
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self.value(), Some(Value::Null))
    }

    /// The text of a non-null scalar.
    pub fn text(&self) -> Option<&str> {
        if self.is_null() {
            None
        } else {
            self.as_str()
        }
    }

    /// The value of `key` in a mapping (the last one when the key is duplicated, as most YAML
    /// loaders do).
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.get_pair(key).map(|(_, v)| v)
    }

    pub fn get_pair(&self, key: &str) -> Option<(&Node, &Node)> {
        self.as_map()?.iter().rev().find(|(k, _)| k.as_str() == Some(key)).map(|(k, v)| (k, v))
    }

    /// The source text of the node.
    pub fn src<'t>(&self, text: &'t str) -> &'t str {
        text.get(self.start..self.end).unwrap_or("")
    }

    /// Nodes in this subtree (iterative).
    pub fn size(&self) -> usize {
        let mut n = 0;
        let mut stack = vec![self];
        while let Some(x) = stack.pop() {
            n += 1;
            match &x.kind {
                NodeKind::Scalar { .. } => {}
                NodeKind::Seq(items) => stack.extend(items.iter()),
                NodeKind::Map(pairs) => {
                    for (k, v) in pairs {
                        stack.push(k);
                        stack.push(v);
                    }
                }
            }
        }
        n
    }
}

/// YAML 1.2 core schema resolution of a scalar: only plain scalars can be anything else than a
/// string.
pub fn resolve_scalar(value: &str, style: Style) -> Value {
    if style != Style::Plain {
        return Value::Str(value.to_string());
    }
    match value {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => return Value::Float(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Value::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Value::Float(f64::NAN),
        _ => {}
    }
    let b = value.as_bytes();
    // [-+]?[0-9]+
    let digits = b.strip_prefix(b"-").or_else(|| b.strip_prefix(b"+")).unwrap_or(b);
    if !digits.is_empty() && digits.iter().all(u8::is_ascii_digit) {
        return match value.parse::<i64>() {
            Ok(i) => Value::Int(i),
            Err(_) => Value::Str(value.to_string()),
        };
    }
    if let Some(hex) = value.strip_prefix("0x") {
        if !hex.is_empty() && hex.bytes().all(|c| c.is_ascii_hexdigit()) {
            return match i64::from_str_radix(hex, 16) {
                Ok(i) => Value::Int(i),
                Err(_) => Value::Str(value.to_string()),
            };
        }
    }
    if let Some(oct) = value.strip_prefix("0o") {
        if !oct.is_empty() && oct.bytes().all(|c| (b'0'..=b'7').contains(&c)) {
            return match i64::from_str_radix(oct, 8) {
                Ok(i) => Value::Int(i),
                Err(_) => Value::Str(value.to_string()),
            };
        }
    }
    if is_core_float(digits) {
        if let Ok(f) = value.parse::<f64>() {
            return Value::Float(f);
        }
    }
    Value::Str(value.to_string())
}

/// `(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?` (sign already stripped).
fn is_core_float(b: &[u8]) -> bool {
    let mut i = 0;
    let int_digits = b.iter().take_while(|c| c.is_ascii_digit()).count();
    i += int_digits;
    let mut frac_digits = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        frac_digits = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        i += frac_digits;
    }
    if int_digits == 0 && frac_digits == 0 {
        return false;
    }
    if matches!(b.get(i), Some(b'e') | Some(b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'-') | Some(b'+')) {
            i += 1;
        }
        let exp = b[i.min(b.len())..].iter().take_while(|c| c.is_ascii_digit()).count();
        if exp == 0 {
            return false;
        }
        i += exp;
    }
    i == b.len()
}

/// Byte offset -> 1-based line and column (columns count characters).
///
/// Columns of non-ASCII text are counted from a cached checkpoint on the same line, so that many
/// positions on one very long line cost linear, not quadratic, time.
pub struct LineIndex<'t> {
    text: &'t str,
    starts: Vec<usize>,
    ascii: bool,
    /// (line index, byte, column) of the last `pos` answer.
    pos_cache: Cell<(usize, usize, usize)>,
    /// (line index, column, byte) of the last `marker_byte` answer.
    mark_cache: Cell<(usize, usize, usize)>,
}

impl<'t> LineIndex<'t> {
    pub fn new(text: &'t str) -> Self {
        // Line breaks as YAML counts them: `\n`, `\r\n` and a lone `\r`.
        let b = text.as_bytes();
        let mut starts = vec![0];
        for (i, c) in b.iter().enumerate() {
            if *c == b'\n' || (*c == b'\r' && b.get(i + 1) != Some(&b'\n')) {
                starts.push(i + 1);
            }
        }
        LineIndex {
            text,
            starts,
            ascii: text.is_ascii(),
            pos_cache: Cell::new((0, 0, 0)),
            mark_cache: Cell::new((0, 0, 0)),
        }
    }

    /// Byte offset of a yaml-rust2 marker. Its `index` is not usable (it counts characters, but
    /// bytes inside block scalars), so the offset is found from its line (1-based) and column
    /// (0-based, in characters).
    pub fn marker_byte(&self, m: &Marker) -> usize {
        let Some(line) = m.line().checked_sub(1) else { return 0 };
        let Some(&ls) = self.starts.get(line) else { return self.text.len() };
        let line_end = self.starts.get(line + 1).copied().unwrap_or(self.text.len());
        let col = m.col();
        if self.ascii {
            return (ls + col).min(line_end);
        }
        let (cl, ccol, cbyte) = self.mark_cache.get();
        let (from_byte, skip) = if cl == line && ccol <= col && cbyte >= ls { (cbyte, col - ccol) } else { (ls, col) };
        let rest = &self.text[from_byte..line_end];
        let byte = from_byte + rest.char_indices().nth(skip).map(|(i, _)| i).unwrap_or(rest.len());
        self.mark_cache.set((line, col, byte));
        byte
    }

    pub fn text(&self) -> &'t str {
        self.text
    }

    /// 1-based line and column of a byte offset.
    pub fn pos(&self, byte: usize) -> (u32, u32) {
        let byte = floor_char(self.text, byte.min(self.text.len()));
        let line = match self.starts.binary_search(&byte) {
            Ok(i) => i,
            Err(i) => i.saturating_sub(1),
        };
        let ls = self.starts.get(line).copied().unwrap_or(0);
        let col = if self.ascii {
            byte.saturating_sub(ls)
        } else {
            let (cl, cbyte, ccol) = self.pos_cache.get();
            let (from, base) = if cl == line && cbyte >= ls && cbyte <= byte { (cbyte, ccol) } else { (ls, 0) };
            let col = base + self.text.get(from..byte).map(|s| s.chars().count()).unwrap_or(0);
            self.pos_cache.set((line, byte, col));
            col
        };
        (line as u32 + 1, col as u32 + 1)
    }

    /// A span; both ends are moved onto character boundaries, so that it can always slice the text.
    pub fn span(&self, start: usize, end: usize) -> Span {
        let start = floor_char(self.text, start);
        let end = ceil_char(self.text, end).max(start);
        let (line, col) = self.pos(start);
        Span { start, end, line, col }
    }

    /// Byte offset where the line holding `byte` starts.
    pub fn line_start(&self, byte: usize) -> usize {
        match self.starts.binary_search(&byte) {
            Ok(i) => self.starts[i],
            Err(i) => self.starts.get(i.saturating_sub(1)).copied().unwrap_or(0),
        }
    }
}

/// The smallest char boundary `>= i` (at most the text's length).
pub fn ceil_char(text: &str, mut i: usize) -> usize {
    if i >= text.len() {
        return text.len();
    }
    while !text.is_char_boundary(i) {
        i += 1;
    }
    i
}

/// The largest char boundary `<= i`.
pub fn floor_char(text: &str, mut i: usize) -> usize {
    if i >= text.len() {
        return text.len();
    }
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// One YAML document of a stream.
#[derive(Debug)]
pub struct Document {
    pub root: Option<Node>,
    /// Byte range of the document's own text (without its `---` / `...` marker lines).
    pub text_start: usize,
    pub text_end: usize,
    /// Warnings and errors about the tree (duplicate keys, alias limits).
    pub diags: Vec<Diagnostic>,
    /// Set when the document could not be built (too deep); the reason.
    pub failure: Option<Diagnostic>,
}

#[derive(Debug, Default)]
pub struct Stream {
    pub docs: Vec<Document>,
    /// The YAML error that stopped the parser, if any (documents before it are complete).
    pub error: Option<Diagnostic>,
}

enum Frame {
    Seq {
        start: usize,
        flow: bool,
        anchor: usize,
        items: Vec<Node>,
    },
    Map {
        start: usize,
        flow: bool,
        anchor: usize,
        pairs: Vec<(Node, Node)>,
        key: Option<Node>,
        seen: HashMap<String, usize>,
    },
}

struct Builder<'a, 't> {
    lines: &'a LineIndex<'t>,
    stack: Vec<Frame>,
    root: Option<Node>,
    anchors: HashMap<usize, Node>,
    alias_budget: usize,
    diags: Vec<Diagnostic>,
    /// End of the last node completed (where an empty scalar is placed).
    last_end: usize,
}

impl<'a, 't> Builder<'a, 't> {
    fn push_node(&mut self, node: Node) {
        self.last_end = node.end.max(self.last_end);
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map { pairs, key, seen, .. }) => match key.take() {
                None => *key = Some(node),
                Some(k) => {
                    if let Some(name) = k.as_str() {
                        if let Some(first) = seen.get(name) {
                            let (l, c) = self.lines.pos(*first);
                            self.diags.push(Diagnostic::warning(
                                "duplicate-key",
                                format!("duplicate key `{name}` (first at {l}:{c}); most YAML readers keep only the last one"),
                                Some(self.lines.span(k.start, k.end)),
                            ));
                        } else {
                            seen.insert(name.to_string(), k.start);
                        }
                    }
                    pairs.push((k, node))
                }
            },
        }
    }

    fn register_anchor(&mut self, anchor: usize, node: &Node) {
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
    }
}

/// Parses a whole YAML stream into documents.
pub fn load(text: &str, lines: &LineIndex) -> Stream {
    let mut parser = Parser::new_from_str(text);
    let mut out = Stream::default();
    let yaml_error = |e: &yaml_rust2::ScanError| {
        let at = lines.marker_byte(e.marker());
        if e.info().contains("recursion limit") {
            return Diagnostic::error(
                "yaml-depth",
                "YAML nesting too deep (the YAML reader's recursion limit); a Sigma rule is a few levels deep",
                Some(lines.span(at, at)),
            );
        }
        let mut msg = format!("invalid YAML: {}", e.info());
        if let Some(hint) = tab_hint(text, lines, at) {
            msg.push_str(hint);
        }
        Diagnostic::error("yaml", msg, Some(lines.span(at, at)))
    };

    let mut doc: Option<(Builder, usize)> = None; // builder, text_start
    let mut skip_depth = 0usize; // > 0 while skipping a too-deep subtree
    let mut prev_doc_end = 0usize;
    loop {
        let (ev, mark) = match parser.next_token() {
            Ok(x) => x,
            Err(e) => {
                // yaml-rust2 has its own recursion limit; when our depth cap was hit first, its
                // message is the clearer one.
                let depth = doc.as_ref().and_then(|(b, _)| b.diags.iter().find(|d| d.code == "yaml-depth").cloned());
                out.error = Some(depth.unwrap_or_else(|| yaml_error(&e)));
                break;
            }
        };
        let at = lines.marker_byte(&mark);
        match ev {
            Event::StreamStart | Event::Nothing => {}
            Event::StreamEnd => break,
            Event::DocumentStart => {
                let explicit = text.get(at..).is_some_and(|s| s.starts_with("---"));
                let start = if explicit {
                    // Skip the marker line when nothing but a comment follows the marker.
                    let line_end = text[at..].find('\n').map(|i| at + i + 1).unwrap_or(text.len());
                    let rest = text[at + 3..line_end].trim();
                    if rest.is_empty() || rest.starts_with('#') {
                        line_end
                    } else {
                        at
                    }
                } else {
                    prev_doc_end
                };
                let b = Builder {
                    lines,
                    stack: Vec::new(),
                    root: None,
                    anchors: HashMap::new(),
                    alias_budget: ALIAS_BUDGET,
                    diags: Vec::new(),
                    last_end: start,
                };
                doc = Some((b, start));
                skip_depth = 0;
            }
            Event::DocumentEnd => {
                let end = if at >= text.len() { text.len() } else { lines.line_start(at) };
                // The next document's text starts after an explicit `...` line.
                prev_doc_end = if text.get(at..).is_some_and(|s| s.starts_with("...")) {
                    text[at..].find('\n').map(|i| at + i + 1).unwrap_or(text.len())
                } else {
                    end
                };
                if let Some((b, start)) = doc.take() {
                    let failed = b.diags.iter().find(|d| d.code == "yaml-depth").cloned();
                    let diags = b.diags.into_iter().filter(|d| d.code != "yaml-depth").collect();
                    out.docs.push(Document {
                        root: if failed.is_some() { None } else { b.root },
                        text_start: start.min(end),
                        text_end: end,
                        diags,
                        failure: failed,
                    });
                }
            }
            ev => {
                let Some((b, _)) = doc.as_mut() else { continue };
                if skip_depth > 0 {
                    match ev {
                        Event::SequenceStart(..) | Event::MappingStart(..) => skip_depth += 1,
                        Event::SequenceEnd | Event::MappingEnd => skip_depth -= 1,
                        _ => {}
                    }
                    continue;
                }
                match ev {
                    Event::Scalar(value, style, anchor, tag) => {
                        let bound = match parser.peek() {
                            Ok((_, m)) => lines.marker_byte(m),
                            Err(e) => {
                                out.error = Some(yaml_error(&e));
                                break;
                            }
                        };
                        let in_flow = b
                            .stack
                            .iter()
                            .any(|f| matches!(f, Frame::Seq { flow: true, .. } | Frame::Map { flow: true, .. }));
                        let style = match style {
                            TScalarStyle::Plain => Style::Plain,
                            TScalarStyle::SingleQuoted => Style::SingleQuoted,
                            TScalarStyle::DoubleQuoted => Style::DoubleQuoted,
                            TScalarStyle::Literal => Style::Literal,
                            TScalarStyle::Folded => Style::Folded,
                        };
                        let (start, end) = if style == Style::Plain && value.is_empty() {
                            (b.last_end, b.last_end)
                        } else {
                            scalar_extent(text, at, style, b.last_end, bound, in_flow)
                        };
                        let tagged_str = tag.as_ref().is_some_and(|t| t.suffix == "str");
                        let node = Node { kind: NodeKind::Scalar { value, style, tagged_str }, start, end };
                        b.register_anchor(anchor, &node);
                        b.push_node(node);
                    }
                    Event::Alias(id) => {
                        let end = alias_end(text, at);
                        let node = match b.anchors.get(&id) {
                            Some(n) => {
                                let size = n.size();
                                if size <= b.alias_budget {
                                    b.alias_budget -= size;
                                    let mut n = n.clone();
                                    n.start = at;
                                    n.end = end;
                                    n
                                } else {
                                    b.diags.push(Diagnostic::error(
                                        "yaml-alias",
                                        "too many YAML alias expansions; the alias is read as null",
                                        Some(lines.span(at, end)),
                                    ));
                                    Node::scalar("", Style::Plain, at, end)
                                }
                            }
                            None => Node::scalar("", Style::Plain, at, end),
                        };
                        b.push_node(node);
                    }
                    Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                        if b.stack.len() >= MAX_DEPTH {
                            b.diags.push(Diagnostic::error(
                                "yaml-depth",
                                format!(
                                    "YAML nesting deeper than {MAX_DEPTH} levels; a Sigma rule is a few levels deep"
                                ),
                                Some(lines.span(at, at)),
                            ));
                            skip_depth = 1;
                            continue;
                        }
                        let flow = matches!(text.as_bytes().get(at), Some(b'[') | Some(b'{'));
                        let frame = if matches!(ev, Event::SequenceStart(..)) {
                            // A block sequence marker may point at the first item, after `- `.
                            let start = if flow { at } else { back_to_dash(text, at) };
                            Frame::Seq { start, flow, anchor, items: Vec::new() }
                        } else {
                            Frame::Map { start: at, flow, anchor, pairs: Vec::new(), key: None, seen: HashMap::new() }
                        };
                        b.stack.push(frame);
                    }
                    Event::SequenceEnd | Event::MappingEnd => {
                        let Some(frame) = b.stack.pop() else { continue };
                        let node = match frame {
                            Frame::Seq { start, flow, anchor, items } => {
                                let end = if flow {
                                    ceil_char(text, at + 1)
                                } else {
                                    items.last().map(|n| n.end).unwrap_or(start)
                                };
                                let start = if flow {
                                    start
                                } else {
                                    items.first().map(|n| start.min(n.start)).unwrap_or(start)
                                };
                                (Node { kind: NodeKind::Seq(items), start, end }, anchor)
                            }
                            Frame::Map { start, flow, anchor, mut pairs, key, .. } => {
                                if let Some(k) = key {
                                    // A key without a value (only on broken input): keep it with null.
                                    let e = k.end;
                                    pairs.push((k, Node::scalar("", Style::Plain, e, e)));
                                }
                                let end = if flow {
                                    ceil_char(text, at + 1)
                                } else {
                                    pairs.last().map(|(_, v)| v.end.max(v.start)).unwrap_or(start)
                                };
                                let start =
                                    if flow { start } else { pairs.first().map(|(k, _)| k.start).unwrap_or(start) };
                                (Node { kind: NodeKind::Map(pairs), start, end }, anchor)
                            }
                        };
                        let (node, anchor) = node;
                        b.register_anchor(anchor, &node);
                        b.push_node(node);
                    }
                    _ => {}
                }
            }
        }
    }
    // A document cut short by an error gives no root; its frames are dropped iteratively.
    if let Some((mut b, _)) = doc.take() {
        drop_frames(&mut b.stack);
    }
    out
}

/// Drops partially built frames without deep recursion (each frame holds depth-capped nodes).
fn drop_frames(stack: &mut Vec<Frame>) {
    while stack.pop().is_some() {}
}

/// When the error is on a line indented with a tab, say so: YAML forbids tabs for indentation.
fn tab_hint(text: &str, lines: &LineIndex, at: usize) -> Option<&'static str> {
    let ls = lines.line_start(at.min(text.len()));
    let line = &text[ls..];
    let line = &line[..line.find('\n').unwrap_or(line.len())];
    let prev_start = lines.line_start(ls.saturating_sub(1));
    let prev = text.get(prev_start..ls).unwrap_or("");
    let indented_with_tab = |l: &str| l.chars().take_while(|c| c.is_whitespace()).any(|c| c == '\t');
    if indented_with_tab(line) || (ls > 0 && indented_with_tab(prev)) {
        Some(" (a tab is used for indentation; YAML allows only spaces)")
    } else {
        None
    }
}

fn back_to_dash(text: &str, at: usize) -> usize {
    let b = text.as_bytes();
    let mut i = at;
    while i > 0 && matches!(b.get(i - 1), Some(b' ')) {
        i -= 1;
    }
    if i > 0 && b.get(i - 1) == Some(&b'-') {
        i - 1
    } else {
        at
    }
}

fn alias_end(text: &str, at: usize) -> usize {
    let rest = text.get(at..).unwrap_or("");
    let len = rest
        .char_indices()
        .skip(1)
        .find(|(_, c)| c.is_whitespace() || matches!(c, ',' | '[' | ']' | '{' | '}'))
        .map(|(i, _)| i)
        .unwrap_or(rest.len());
    at + len
}

/// Start and end (bytes) of a scalar whose marker is at `at`; `prev` is where the previous node
/// ended, `bound` where the next event starts.
fn scalar_extent(text: &str, at: usize, style: Style, prev: usize, bound: usize, in_flow: bool) -> (usize, usize) {
    let bound = bound.max(at).min(text.len());
    match style {
        Style::SingleQuoted => (at, quoted_end(text, at, b'\'').min(text.len())),
        Style::DoubleQuoted => (at, quoted_end(text, at, b'"').min(text.len())),
        Style::Plain => (at, plain_end(text, at, bound, in_flow)),
        Style::Literal | Style::Folded => {
            // The marker is at the first content character; the header (`|`, `>-`) is before it.
            let ind = if style == Style::Literal { '|' } else { '>' };
            let from = prev.min(at);
            let start = text.get(from..at).and_then(|s| s.find(ind)).map(|i| from + i).unwrap_or(at);
            (start, block_end(text, at, bound))
        }
    }
}

fn quoted_end(text: &str, at: usize, q: u8) -> usize {
    let b = text.as_bytes();
    let mut i = at + 1;
    while i < b.len() {
        if q == b'"' && b[i] == b'\\' {
            i += 2;
            continue;
        }
        if b[i] == q {
            if q == b'\'' && b.get(i + 1) == Some(&b'\'') {
                i += 2;
                continue;
            }
            return i + 1;
        }
        i += 1;
    }
    b.len()
}

/// Where the content of one line of a plain scalar ends: `(end of content, stopped at an indicator)`.
fn plain_line(text: &str, from: usize, bound: usize, in_flow: bool) -> (usize, bool) {
    let b = text.as_bytes();
    let mut i = from;
    let mut end = from;
    while i < bound && i < b.len() {
        let c = b[i];
        if c == b'\n' || c == b'\r' {
            return (end, false);
        }
        let next = b.get(i + 1).copied();
        if c == b':'
            && (next.is_none()
                || matches!(next, Some(b' ' | b'\t' | b'\n' | b'\r'))
                || (in_flow && matches!(next, Some(b',' | b'[' | b']' | b'{' | b'}'))))
        {
            return (end, true);
        }
        if c == b'#' && i > 0 && matches!(b[i - 1], b' ' | b'\t') {
            return (end, true);
        }
        if in_flow && matches!(c, b',' | b'[' | b']' | b'{' | b'}') {
            return (end, true);
        }
        i += 1;
        if c != b' ' && c != b'\t' {
            end = i;
        }
    }
    (end, true)
}

fn plain_end(text: &str, at: usize, bound: usize, in_flow: bool) -> usize {
    let b = text.as_bytes();
    let (mut end, stopped) = plain_line(text, at, bound, in_flow);
    if stopped {
        return floor_char(text, end);
    }
    // Continuation lines: any non-blank, non-comment line before the next token belongs to the
    // scalar (multi-line plain scalars are folded).
    let mut i = end;
    while let Some(nl) = text.get(i..).and_then(|t| t.find('\n')) {
        let ls = i + nl + 1;
        if ls >= bound {
            break;
        }
        let p = ls + b[ls..].iter().take_while(|c| matches!(c, b' ' | b'\t')).count();
        if p >= bound {
            break;
        }
        match b.get(p) {
            None => break,
            Some(b'\n') | Some(b'\r') => {
                i = p;
                continue;
            }
            Some(b'#') => break,
            Some(b'-') | Some(b'?') | Some(b':')
                if matches!(b.get(p + 1), None | Some(b' ' | b'\n' | b'\r' | b'\t')) =>
            {
                break
            }
            _ => {}
        }
        if p == ls && (text[ls..].starts_with("---") || text[ls..].starts_with("...")) {
            break;
        }
        let (e, stopped) = plain_line(text, p, bound, in_flow);
        if e > p {
            end = e;
        }
        if stopped {
            break;
        }
        i = e.max(p);
    }
    floor_char(text, end)
}

/// End of a block scalar whose content starts at `at`: the last non-blank line indented at least
/// as much as the first content line.
fn block_end(text: &str, at: usize, bound: usize) -> usize {
    let b = text.as_bytes();
    let ls = text[..at].rfind('\n').map(|i| i + 1).unwrap_or(0);
    let indent = at - ls;
    let mut end = at;
    let mut i = ls;
    while i < b.len() && i < bound.max(at + 1) {
        let line_end = text[i..].find('\n').map(|n| i + n).unwrap_or(b.len());
        let line = &text[i..line_end];
        let lead = line.bytes().take_while(|c| *c == b' ').count();
        let blank = line.trim().is_empty();
        if !blank {
            if lead < indent && i > ls {
                break;
            }
            end = line_end - (line.len() - line.trim_end().len());
        }
        i = line_end + 1;
    }
    floor_char(text, end.min(text.len()))
}

/// Byte offsets in the file of every byte of a scalar's decoded value (plus one past the end),
/// found by aligning the value with its source text. Exact for plain one-line and simple quoted
/// scalars; a best effort for folded or escaped ones.
pub fn value_offsets(text: &str, node: &Node) -> Vec<usize> {
    let Some(value) = node.as_str() else { return vec![node.start] };
    let src_start = match node.style() {
        Some(Style::SingleQuoted) | Some(Style::DoubleQuoted) => node.start + 1,
        Some(Style::Literal) | Some(Style::Folded) => {
            text[node.start..].find('\n').map(|i| node.start + i + 1).unwrap_or(node.end)
        }
        _ => node.start,
    }
    .min(node.end.max(node.start));
    let src = text.get(src_start..node.end.max(src_start)).unwrap_or("");
    let sb = src.as_bytes();
    let mut out = Vec::with_capacity(value.len() + 1);
    let mut si = 0usize;
    for (_, c) in value.char_indices() {
        let mut buf = [0u8; 4];
        let cb = c.encode_utf8(&mut buf).as_bytes();
        let here;
        if sb[si.min(sb.len())..].starts_with(cb) {
            here = si;
            si += cb.len();
        } else if c.is_whitespace() && sb.get(si).is_some_and(|x| x.is_ascii_whitespace()) {
            here = si;
            while sb.get(si).is_some_and(|x| x.is_ascii_whitespace()) {
                si += 1;
            }
        } else {
            // Escapes (`''`, `\x`) and folding: look a little ahead for the character.
            let window = &sb[si.min(sb.len())..(si + 12).min(sb.len())];
            match window.windows(cb.len()).position(|w| w == cb) {
                Some(p) => {
                    here = si + p;
                    si += p + cb.len();
                }
                None => here = si,
            }
        }
        for _ in 0..cb.len() {
            out.push(src_start + here.min(sb.len()));
        }
    }
    out.push(src_start + si.min(sb.len()));
    out
}
