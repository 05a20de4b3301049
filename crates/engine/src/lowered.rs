//! ASCII-lower-cased (and [`fold`]ed) copies of the values one event is tested on, made once
//! per field and shared by the prefilter and the substring tests.
//!
//! Case-insensitive substring search then runs case-sensitively on the copy, where memchr's
//! and aho-corasick's SIMD searchers apply: a case-insensitive automaton falls back to
//! byte-at-a-time scanning for needles such as ` -w ` (~30× slower on a 4 KB PowerShell
//! ContextInfo than lowering it and searching the copy).

use events::{Event, FieldKey};

/// The two characters that case-fold to ASCII letters: the Kelvin sign (lower-cases to `k`) and
/// the long s (folds to `s`, as `(?i)` regexes and globs match it). Folding them in values and
/// needles alike keeps the prefilter a superset of the matchers, which fold Unicode case.
const TO_ASCII: [(char, &str); 2] = [('\u{212A}', "k"), ('\u{17F}', "s")];

/// `s` as values are compared: ASCII lower-cased, and the characters of [`TO_ASCII`] folded.
pub fn fold(s: &str) -> String {
    let mut out = s.to_ascii_lowercase();
    fold_tail(&mut out, 0);
    out
}

/// Folds `buf[start..]`, already ASCII lower-cased, for the characters of [`TO_ASCII`].
fn fold_tail(buf: &mut String, start: usize) {
    let tail = &buf[start..];
    // Their UTF-8 forms start with 0xE2 (K) and 0xC5 (ſ): of non-ASCII values, one SIMD scan
    // tells most apart, where walking their characters cost ~1 ns each.
    if tail.is_ascii() || memchr::memchr2(0xE2, 0xC5, tail.as_bytes()).is_none() || !tail.contains(|c| TO_ASCII.iter().any(|(u, _)| *u == c)) {
        return;
    }
    let mut folded = tail.to_string();
    for (u, a) in TO_ASCII {
        folded = folded.replace(u, a);
    }
    buf.truncate(start);
    buf.push_str(&folded);
}

/// One event's folded copies (cleared for the next event; the buffers are reused).
#[derive(Default)]
pub struct Lowered {
    buf: String,
    /// Per field lowered in this event: (name hash, name's end in `names`, value's start and end
    /// in `buf`). A handful per event, so a scan beats a map.
    spans: Vec<(u32, usize, usize, usize)>,
    /// The names of those fields, one after the other (no allocation per field).
    names: String,
    /// The event's whole text (keywords), and its strings ([`Event::strings`]), when lowered.
    text: Option<(usize, usize)>,
    strings: Option<(usize, usize)>,
}

impl Lowered {
    /// Forgets the previous event's copies.
    pub fn clear(&mut self) {
        self.buf.clear();
        // One huge event (a multi-megabyte script block) must not keep its copy's memory.
        if self.buf.capacity() > 1 << 20 {
            self.buf.shrink_to(64 << 10);
        }
        self.spans.clear();
        self.names.clear();
        self.text = None;
        self.strings = None;
    }

    /// `raw` (the value of field `key` in the current event) lower-cased, copied on the first
    /// call for that field since the last [`Lowered::clear`].
    pub fn of(&mut self, key: &FieldKey, raw: &str) -> &str {
        let mut name_start = 0;
        let found = self.spans.iter().find(|(h, name_end, _, _)| {
            let name = &self.names[std::mem::replace(&mut name_start, *name_end)..*name_end];
            *h == key.folded_hash() && name == key.name()
        });
        let (start, end) = match found {
            Some(s) => (s.2, s.3),
            None => {
                let start = self.buf.len();
                self.buf.push_str(raw);
                self.buf[start..].make_ascii_lowercase();
                fold_tail(&mut self.buf, start);
                self.names.push_str(key.name());
                self.spans.push((key.folded_hash(), self.names.len(), start, self.buf.len()));
                (start, self.buf.len())
            }
        };
        &self.buf[start..end]
    }

    /// The folded value of field `key` of `ev`, `None` when the event does not hold it.
    pub fn field(&mut self, ev: &Event, key: &FieldKey) -> Option<&str> {
        let v = ev.get_key(key)?;
        Some(self.of(key, &v.to_text()))
    }

    /// The event's whole text ([`Event::text`], what keywords search) lower-cased, written
    /// straight from its fields: the event does not build its own copy for it.
    pub fn text(&mut self, ev: &Event) -> &str {
        let (start, end) = *self.text.get_or_insert_with(|| {
            let start = self.buf.len();
            ev.write_text(&mut self.buf);
            self.buf[start..].make_ascii_lowercase();
            fold_tail(&mut self.buf, start);
            (start, self.buf.len())
        });
        &self.buf[start..end]
    }

    /// [`Event::strings`] lower-cased: one copy of the event's buffer, no formatting.
    pub fn strings(&mut self, ev: &Event) -> &str {
        let (start, end) = *self.strings.get_or_insert_with(|| {
            let start = self.buf.len();
            self.buf.push_str(ev.strings());
            self.buf[start..].make_ascii_lowercase();
            fold_tail(&mut self.buf, start);
            (start, self.buf.len())
        });
        &self.buf[start..end]
    }
}
