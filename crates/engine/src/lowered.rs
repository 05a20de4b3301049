//! ASCII-lower-cased copies of the values one event is tested on, made once per field and
//! shared by the prefilter and the substring tests.
//!
//! Case-insensitive substring search then runs case-sensitively on the copy, where memchr's
//! and aho-corasick's SIMD searchers apply: a case-insensitive automaton falls back to
//! byte-at-a-time scanning for needles such as ` -w ` (~30× slower on a 4 KB PowerShell
//! ContextInfo than lowering it and searching the copy).

use events::FieldKey;

#[derive(Default)]
pub struct Lowered {
    buf: String,
    /// Per field lowered in this event: (name hash, name's end in `names`, value's start and end
    /// in `buf`). A handful per event, so a scan beats a map.
    spans: Vec<(u32, usize, usize, usize)>,
    /// The names of those fields, one after the other (no allocation per field).
    names: String,
    /// The event's whole text (keywords), when lowered.
    text: Option<(usize, usize)>,
}

impl Lowered {
    /// Forgets the previous event's copies.
    pub fn clear(&mut self) {
        self.buf.clear();
        self.spans.clear();
        self.names.clear();
        self.text = None;
    }

    /// `raw` (the value of field `key` in the current event; `None`: the event's whole text)
    /// lower-cased, copied on the first call for that field since the last [`Lowered::clear`].
    pub fn of(&mut self, key: Option<&FieldKey>, raw: &str) -> &str {
        let found = match key {
            None => self.text,
            Some(k) => {
                let mut name_start = 0;
                self.spans
                    .iter()
                    .find(|(h, name_end, _, _)| {
                        let name = &self.names[std::mem::replace(&mut name_start, *name_end)..*name_end];
                        *h == k.folded_hash() && name == k.name()
                    })
                    .map(|s| (s.2, s.3))
            }
        };
        let (start, end) = found.unwrap_or_else(|| {
            let start = self.buf.len();
            self.buf.push_str(raw);
            self.buf[start..].make_ascii_lowercase();
            let end = self.buf.len();
            match key {
                None => self.text = Some((start, end)),
                Some(k) => {
                    self.names.push_str(k.name());
                    self.spans.push((k.folded_hash(), self.names.len(), start, end));
                }
            }
            (start, end)
        });
        &self.buf[start..end]
    }
}
