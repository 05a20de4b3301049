//! One log record, flattened the way Sigma rules name fields.
//!
//! An [`Event`] stores every field name and string value in one `String` and every field in one
//! `Vec`, so a decoded record costs two allocations (plus the lazily built keyword text). Field
//! names are matched case-insensitively through a hash of the ASCII-lowercased name kept beside
//! each field; [`FieldKey`] lets a caller hash a rule's field name once and look it up in many
//! events.

use std::borrow::Cow;
use std::fmt;
use std::sync::OnceLock;

pub use jiff::Timestamp;

/// How the record was laid out in the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Shape {
    /// EVTX, or EVTX rendered as JSON by the `evtx` crate: `{"Event": {"System": …, "EventData": …}}`.
    Evtx,
    /// Elastic Winlogbeat: `winlog.event_data.*`, `winlog.event_id`, `winlog.channel`, …
    Winlogbeat,
    /// Fields at the top level (NXLog, OTRF, Splunk attack_data, Sentinel tables, …).
    Flat,
}

impl Shape {
    pub fn as_str(self) -> &'static str {
        match self {
            Shape::Evtx => "evtx",
            Shape::Winlogbeat => "winlogbeat",
            Shape::Flat => "flat",
        }
    }
}

/// A field value, borrowed from its [`Event`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    Str(&'a str),
    Int(i64),
    /// An integer above `i64::MAX`.
    UInt(u64),
    Float(f64),
    Bool(bool),
    Null,
}

impl<'a> Value<'a> {
    /// The string, when the value is one.
    pub fn as_str(&self) -> Option<&'a str> {
        match *self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The value as a signed integer: integers, and strings holding a decimal or `0x` hex integer.
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Value::Int(i) => Some(i),
            Value::UInt(u) => i64::try_from(u).ok(),
            Value::Str(s) => parse_int(s).and_then(|v| i64::try_from(v).ok()),
            Value::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Some(f as i64),
            _ => None,
        }
    }

    /// The value as an unsigned integer: non-negative integers, and strings holding one.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::Int(i) => u64::try_from(i).ok(),
            Value::UInt(u) => Some(u),
            Value::Str(s) => parse_int(s).and_then(|v| u64::try_from(v).ok()),
            Value::Float(f) if f.fract() == 0.0 && (0.0..9.0e15).contains(&f) => Some(f as u64),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The value as text: strings as they are, numbers and booleans formatted, null as `""`.
    pub fn to_text(&self) -> Cow<'a, str> {
        match *self {
            Value::Str(s) => Cow::Borrowed(s),
            Value::Null => Cow::Borrowed(""),
            Value::Bool(true) => Cow::Borrowed("true"),
            Value::Bool(false) => Cow::Borrowed("false"),
            other => Cow::Owned(other.to_string()),
        }
    }

    /// [`Value::to_text`], integers written into `buf` instead of a new string (matching reads
    /// integer fields such as `EventID` or `LogonType` in every event: no allocation per test).
    pub fn text_in<'b>(&self, buf: &'b mut itoa::Buffer) -> Cow<'b, str>
    where
        'a: 'b,
    {
        match *self {
            Value::Int(i) => Cow::Borrowed(buf.format(i)),
            Value::UInt(u) => Cow::Borrowed(buf.format(u)),
            _ => self.to_text(),
        }
    }
}

impl fmt::Display for Value<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Value::Str(s) => f.write_str(s),
            Value::Int(i) => write!(f, "{i}"),
            Value::UInt(u) => write!(f, "{u}"),
            Value::Float(x) => write!(f, "{x}"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Null => Ok(()),
        }
    }
}

/// A decimal (optionally signed) or `0x` hex integer, as Windows logs write them.
pub(crate) fn parse_int(s: &str) -> Option<i128> {
    let s = s.trim();
    if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        return u64::from_str_radix(hex, 16).ok().map(i128::from);
    }
    s.parse::<i64>().ok().map(i128::from).or_else(|| s.parse::<u64>().ok().map(i128::from))
}

/// A field name hashed once, for looking it up in many events ([`Event::get_key`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FieldKey {
    name: Box<str>,
    hash: u32,
}

impl FieldKey {
    pub fn new(name: &str) -> Self {
        FieldKey { name: name.into(), hash: fold_hash(name.as_bytes()) }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The name's hash, equal for names equal ignoring ASCII case.
    pub fn folded_hash(&self) -> u32 {
        self.hash
    }
}

impl From<&str> for FieldKey {
    fn from(name: &str) -> Self {
        FieldKey::new(name)
    }
}

/// FNV-1a over the ASCII-lowercased bytes: equal for names that are equal ignoring ASCII case.
#[inline]
pub(crate) const fn fold_hash(bytes: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    let mut i = 0;
    while i < bytes.len() {
        h ^= bytes[i].to_ascii_lowercase() as u32;
        h = h.wrapping_mul(0x0100_0193);
        i += 1;
    }
    h
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Slot {
    Str { start: u32, len: u32 },
    Int(i64),
    UInt(u64),
    Float(f64),
    Bool(bool),
    Null,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Field {
    pub(crate) hash: u32,
    pub(crate) name_start: u32,
    pub(crate) name_len: u32,
    pub(crate) value: Slot,
}

const NONE: u32 = u32::MAX;

/// One log record.
///
/// Field names are kept as the input spelled them (or as the EVTX mapping names them:
/// `EventID`, `Provider_Name`, `TimeCreated_SystemTime`, `Security_UserID`, …), and are looked up
/// ignoring ASCII case.
#[derive(Debug)]
pub struct Event {
    pub(crate) buf: String,
    pub(crate) fields: Vec<Field>,
    pub(crate) shape: Shape,
    pub(crate) timestamp: Option<Timestamp>,
    pub(crate) timestamp_assumed_utc: bool,
    pub(crate) event_id: Option<u32>,
    pub(crate) record_id: Option<u64>,
    pub(crate) computer: u32,
    pub(crate) channel: u32,
    pub(crate) provider: u32,
    pub(crate) line: u64,
    pub(crate) text: OnceLock<String>,
}

impl Clone for Event {
    fn clone(&self) -> Self {
        Event {
            buf: self.buf.clone(),
            fields: self.fields.clone(),
            shape: self.shape,
            timestamp: self.timestamp,
            timestamp_assumed_utc: self.timestamp_assumed_utc,
            event_id: self.event_id,
            record_id: self.record_id,
            computer: self.computer,
            channel: self.channel,
            provider: self.provider,
            line: self.line,
            text: OnceLock::new(),
        }
    }
}

impl Default for Event {
    fn default() -> Self {
        Event::with_capacity(0, 0)
    }
}

impl Event {
    pub(crate) fn with_capacity(bytes: usize, fields: usize) -> Self {
        Event {
            buf: String::with_capacity(bytes),
            fields: Vec::with_capacity(fields),
            shape: Shape::Flat,
            timestamp: None,
            timestamp_assumed_utc: false,
            event_id: None,
            record_id: None,
            computer: NONE,
            channel: NONE,
            provider: NONE,
            line: 0,
            text: OnceLock::new(),
        }
    }

    /// A new empty event of the flat shape, to fill with [`Event::push`] (tests, synthetic input).
    pub fn new() -> Self {
        Event::default()
    }

    /// Add a field. The common keys ([`Event::event_id`] and the like) are not derived from it.
    pub fn push(&mut self, name: &str, value: Value<'_>) {
        let slot = match value {
            Value::Str(s) => {
                let start = self.buf.len();
                self.buf.push_str(s);
                Slot::Str { start: start as u32, len: s.len() as u32 }
            }
            Value::Int(i) => Slot::Int(i),
            Value::UInt(u) => Slot::UInt(u),
            Value::Float(f) => Slot::Float(f),
            Value::Bool(b) => Slot::Bool(b),
            Value::Null => Slot::Null,
        };
        self.push_slot(name, slot);
        self.text = OnceLock::new();
    }

    /// Push a field whose name is `name` (not yet in `buf`) and whose value is already placed.
    #[inline]
    /// Spaces are dropped from the name: Windows Defender writes `Threat Name`, `Source Name`,
    /// and Sigma rules (and the tools they are tested with) name them `ThreatName`, `SourceName`.
    pub(crate) fn push_slot(&mut self, name: &str, value: Slot) {
        let name_start = self.buf.len();
        if name.as_bytes().contains(&b' ') {
            name.split(' ').for_each(|part| self.buf.push_str(part));
        } else {
            self.buf.push_str(name);
        }
        let name_len = self.buf.len() - name_start;
        let hash = fold_hash(&self.buf.as_bytes()[name_start..]);
        self.fields.push(Field { hash, name_start: name_start as u32, name_len: name_len as u32, value });
    }

    /// Push a string field: the value is copied into the buffer, then the name.
    #[inline]
    pub(crate) fn push_str_field(&mut self, name: &str, value: &str) {
        let start = self.buf.len();
        self.buf.push_str(value);
        self.push_slot(name, Slot::Str { start: start as u32, len: value.len() as u32 });
    }

    #[inline]
    fn slice(&self, start: u32, len: u32) -> &str {
        self.buf.get(start as usize..start as usize + len as usize).unwrap_or("")
    }

    #[inline]
    fn name_of(&self, f: &Field) -> &str {
        self.slice(f.name_start, f.name_len)
    }

    #[inline]
    fn value_of(&self, f: &Field) -> Value<'_> {
        match f.value {
            Slot::Str { start, len } => Value::Str(self.slice(start, len)),
            Slot::Int(i) => Value::Int(i),
            Slot::UInt(u) => Value::UInt(u),
            Slot::Float(x) => Value::Float(x),
            Slot::Bool(b) => Value::Bool(b),
            Slot::Null => Value::Null,
        }
    }

    /// Index of the field named `name` (hash `hash`): the first whose name matches exactly, else
    /// the last that matches ignoring ASCII case (so an EventData field wins over a System field
    /// that differs from it only in case).
    #[inline]
    pub(crate) fn find(&self, name: &str, hash: u32) -> Option<usize> {
        let mut folded = None;
        for (i, f) in self.fields.iter().enumerate() {
            if f.hash == hash && f.name_len as usize == name.len() {
                let n = self.name_of(f);
                if n == name {
                    return Some(i);
                }
                if n.eq_ignore_ascii_case(name) {
                    folded = Some(i);
                }
            }
        }
        folded
    }

    /// The value of the field `name`, ignoring ASCII case (an exact-case match wins).
    pub fn get(&self, name: &str) -> Option<Value<'_>> {
        self.find(name, fold_hash(name.as_bytes())).map(|i| self.value_of(&self.fields[i]))
    }

    /// [`Event::get`] with a name hashed beforehand.
    #[inline]
    pub fn get_key(&self, key: &FieldKey) -> Option<Value<'_>> {
        self.find(&key.name, key.hash).map(|i| self.value_of(&self.fields[i]))
    }

    /// The string value of the field `name`, if it is a string.
    pub fn get_str(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(|v| v.as_str())
    }

    /// Every value of the field `name` (ignoring case): JSON arrays of scalars outside EVTX data
    /// sections give one field per element under the same name.
    pub fn get_all<'s>(&'s self, name: &'s str) -> impl Iterator<Item = Value<'s>> + 's {
        let hash = fold_hash(name.as_bytes());
        self.fields
            .iter()
            .filter(move |f| f.hash == hash && self.name_of(f).eq_ignore_ascii_case(name))
            .map(move |f| self.value_of(f))
    }

    /// Whether a field `name` exists (ignoring case).
    pub fn contains(&self, name: &str) -> bool {
        self.find(name, fold_hash(name.as_bytes())).is_some()
    }

    /// All fields in input order, with their names as spelled.
    pub fn fields(&self) -> impl ExactSizeIterator<Item = (&str, Value<'_>)> + '_ {
        self.fields.iter().map(move |f| (self.name_of(f), self.value_of(f)))
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Layout the record had in the input.
    pub fn shape(&self) -> Shape {
        self.shape
    }

    /// When the event happened, in UTC (see the crate docs for which field each shape uses).
    pub fn timestamp(&self) -> Option<Timestamp> {
        self.timestamp
    }

    /// Whether the timestamp was written without a time zone and was read as UTC.
    pub fn timestamp_assumed_utc(&self) -> bool {
        self.timestamp_assumed_utc
    }

    pub fn event_id(&self) -> Option<u32> {
        self.event_id
    }

    /// EVTX `EventRecordID` (NXLog `RecordNumber`, Winlogbeat `winlog.record_id`).
    pub fn record_id(&self) -> Option<u64> {
        self.record_id
    }

    fn common(&self, idx: u32) -> Option<&str> {
        if idx == NONE {
            return None;
        }
        self.fields.get(idx as usize).and_then(|f| self.value_of(f).as_str())
    }

    pub fn computer(&self) -> Option<&str> {
        self.common(self.computer)
    }

    pub fn channel(&self) -> Option<&str> {
        self.common(self.channel)
    }

    /// Provider (EVTX `Provider.Name`, NXLog `SourceName`, Winlogbeat `winlog.provider_name`).
    pub fn provider(&self) -> Option<&str> {
        self.common(self.provider)
    }

    /// 1-based line of a JSON-lines input (0 when the input has no lines: EVTX, JSON documents).
    pub fn line(&self) -> u64 {
        self.line
    }

    /// Every field value as text, one per line (`\n`-separated), built on first use and kept:
    /// for keyword searches over the whole event. Field names are not included.
    pub fn text(&self) -> &str {
        self.text.get_or_init(|| {
            let mut s = String::with_capacity(self.buf.len());
            self.write_text(&mut s);
            s
        })
    }

    /// Every string value of the event verbatim, with the field names, one after another in no
    /// set order and without separators: a cheap superset of [`Event::text`]'s strings, for
    /// searches that only need to know whether a string that cannot span values or be written
    /// by a number is there.
    pub fn strings(&self) -> &str {
        &self.buf
    }

    /// Appends [`Event::text`] to `out` (without keeping a copy in the event).
    pub fn write_text(&self, out: &mut String) {
        for f in &self.fields {
            match self.value_of(f) {
                Value::Null => continue,
                Value::Str(v) => out.push_str(v),
                // Integers through itoa: `write!` costs more than the rest of an event's text.
                Value::Int(i) => out.push_str(itoa::Buffer::new().format(i)),
                Value::UInt(u) => out.push_str(itoa::Buffer::new().format(u)),
                other => {
                    use std::fmt::Write;
                    let _ = write!(out, "{other}");
                }
            }
            out.push('\n');
        }
    }


    /// The event as a flat JSON object: one key per field name (repeated names become arrays).
    pub fn to_json(&self) -> serde_json::Value {
        let mut map = serde_json::Map::with_capacity(self.fields.len());
        for (name, value) in self.fields() {
            let v = match value {
                Value::Str(s) => serde_json::Value::String(s.to_owned()),
                Value::Int(i) => serde_json::Value::from(i),
                Value::UInt(u) => serde_json::Value::from(u),
                Value::Float(x) => serde_json::Value::from(x),
                Value::Bool(b) => serde_json::Value::Bool(b),
                Value::Null => serde_json::Value::Null,
            };
            match map.get_mut(name) {
                None => {
                    map.insert(name.to_owned(), v);
                }
                Some(serde_json::Value::Array(a)) => a.push(v),
                Some(old) => {
                    let first = old.take();
                    *old = serde_json::Value::Array(vec![first, v]);
                }
            }
        }
        serde_json::Value::Object(map)
    }

    /// Bytes the event holds on the heap (names, values and field table).
    pub fn heap_size(&self) -> usize {
        self.buf.capacity() + self.fields.capacity() * std::mem::size_of::<Field>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_ignores_case_and_prefers_exact() {
        let mut e = Event::new();
        e.push("ProcessID", Value::Int(1));
        e.push("Image", Value::Str("C:\\x.exe"));
        e.push("ProcessId", Value::Str("2"));
        assert_eq!(e.get("image"), Some(Value::Str("C:\\x.exe")));
        assert_eq!(e.get("ProcessID"), Some(Value::Int(1)));
        assert_eq!(e.get("ProcessId"), Some(Value::Str("2")));
        assert_eq!(e.get("processid"), Some(Value::Str("2")));
        assert_eq!(e.get("nope"), None);
        assert_eq!(e.get_key(&FieldKey::new("IMAGE")).and_then(|v| v.as_str()), Some("C:\\x.exe"));
        assert_eq!(e.text(), "1\nC:\\x.exe\n2\n");
    }

    #[test]
    fn ints_from_strings() {
        assert_eq!(Value::Str("0x10").as_u64(), Some(16));
        assert_eq!(Value::Str(" 4688 ").as_u64(), Some(4688));
        assert_eq!(Value::Str("-1").as_u64(), None);
        assert_eq!(Value::Str("-1").as_i64(), Some(-1));
        assert_eq!(Value::Str("abc").as_i64(), None);
    }

    #[test]
    fn text_writes_numbers_as_display_does() {
        let mut ev = Event::new();
        let values = [Value::Int(-42), Value::Int(i64::MIN), Value::UInt(u64::MAX), Value::UInt(0), Value::Str("x"), Value::Null, Value::Bool(true), Value::Float(1.5)];
        for (i, v) in values.iter().enumerate() {
            ev.push(&format!("f{i}"), *v);
        }
        let expected: String = values.iter().filter(|v| !v.is_null()).map(|v| format!("{v}\n")).collect();
        assert_eq!(ev.text(), expected);
        assert_eq!(ev.text(), "-42\n-9223372036854775808\n18446744073709551615\n0\nx\ntrue\n1.5\n");
    }
}
