//! The needles a prefilter found in recent short values, per thread. Short fields repeat their
//! values from event to event (a handful of `GrantedAccess` masks, the same `TargetImage`, the
//! `ShareName` of every 5145 event), and looking a value up here costs less than folding it and
//! running a search (~100–500 ns a field). Entries are compared by the whole value, so a lookup
//! never answers for another value.
//!
//! Longer values (command lines, script lines, call traces) repeat too — the same scheduled
//! task, the same PowerShell pipeline line — and searching them for hundreds or thousands of
//! needles costs microseconds; for those searches a second, smaller table holds values up to
//! [`LONG_LEN`] bytes. Measured hit rates of that table: 51% of its lookups on the OTRF
//! datasets (which repeat no file), 23% on the shared EVTX; OTRF hunt ~4% faster.

/// The longest value remembered in the main table.
pub(crate) const MAX_LEN: usize = 64;
/// The longest value remembered in the table of long values.
pub(crate) const LONG_LEN: usize = 4096;
/// The most needles an entry holds: values holding more are searched each time.
const HITS: usize = 4;
const SLOTS: usize = 1024;
const LONG_SLOTS: usize = 256;

/// Empty until first used (a table of [`SLOTS`] entries, ~100 KB: larger tables measured slower, as they crowd the caches).
#[derive(Default)]
pub struct Memo {
    slots: Vec<Slot>,
    long: Vec<LongSlot>,
}

/// An entry of the long values' table (the value on the heap, its buffer reused).
#[derive(Clone, Default)]
struct LongSlot {
    search: usize,
    value: Vec<u8>,
    found: u8,
    hits: [u32; HITS],
}

#[derive(Clone, Copy)]
struct Slot {
    /// Which field search (see [`Memo::get`]); 0: empty.
    search: usize,
    len: u8,
    value: [u8; MAX_LEN],
    found: u8,
    hits: [u32; HITS],
}

/// The needles found in one value, as they are collected.
#[derive(Default)]
pub(crate) struct Hits {
    n: usize,
    hits: [u32; HITS],
}

impl Hits {
    /// Adds needle `p` (once); past [`HITS`] the set is only counted, not kept.
    pub(crate) fn push(&mut self, p: usize) {
        if self.hits[..self.n.min(HITS)].contains(&(p as u32)) {
            return;
        }
        if self.n < HITS {
            self.hits[self.n] = p as u32;
        }
        self.n += 1;
    }
}

/// The slot of (`search`, `value`): from the value's length and its first and last 32 bytes (all
/// of a short value; of a long one, enough to tell most apart, and O(1): a 1 KB script line is
/// not hashed byte by byte when the whole compare on a hit reads it anyway).
fn hash(search: usize, value: &[u8], slots: usize) -> usize {
    let mut h = (search as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ value.len() as u64;
    let (head, tail) = if value.len() > 64 { (&value[..32], &value[value.len() - 32..]) } else { (value, &[][..]) };
    for chunk in head.chunks(8).chain(tail.chunks(8)) {
        let mut w = [0u8; 8];
        w[..chunk.len()].copy_from_slice(chunk);
        h = (h ^ u64::from_le_bytes(w)).wrapping_mul(0xFF51_AFD7_ED55_8CCD);
        h ^= h >> 32;
    }
    (h as usize) & (slots - 1)
}

impl Memo {
    /// The needles field search `search` (a non-zero id, unique while its prefilter lives) found
    /// in `value` when it last met it, if remembered.
    pub(crate) fn get(&self, search: usize, value: &[u8]) -> Option<&[u32]> {
        if value.len() > MAX_LEN {
            let s = self.long.get(hash(search, value, LONG_SLOTS))?;
            return (s.search == search && s.value == value).then(|| &s.hits[..s.found as usize]);
        }
        let s = self.slots.get(hash(search, value, SLOTS))?;
        (s.search == search && s.len as usize == value.len() && &s.value[..value.len()] == value).then(|| &s.hits[..s.found as usize])
    }

    /// Remembers what was found in `value` (at most [`LONG_LEN`] bytes long).
    pub(crate) fn put(&mut self, search: usize, value: &[u8], hits: &Hits) {
        if hits.n > HITS || value.len() > LONG_LEN {
            return;
        }
        if value.len() > MAX_LEN {
            if self.long.is_empty() {
                self.long = vec![LongSlot::default(); LONG_SLOTS];
            }
            let s = &mut self.long[hash(search, value, LONG_SLOTS)];
            s.search = search;
            s.value.clear();
            s.value.extend_from_slice(value);
            s.found = hits.n as u8;
            s.hits = hits.hits;
            return;
        }
        if self.slots.is_empty() {
            self.slots = vec![Slot { search: 0, len: 0, value: [0; MAX_LEN], found: 0, hits: [0; HITS] }; SLOTS];
        }
        let s = &mut self.slots[hash(search, value, SLOTS)];
        s.search = search;
        s.len = value.len() as u8;
        s.value[..value.len()].copy_from_slice(value);
        s.found = hits.n as u8;
        s.hits = hits.hits;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_only_for_the_same_search_and_value() {
        let mut memo = Memo::default();
        let mut hits = Hits::default();
        hits.push(3);
        hits.push(3);
        hits.push(7);
        memo.put(1, b"0x1fffff", &hits);
        assert_eq!(memo.get(1, b"0x1fffff"), Some(&[3, 7][..]));
        assert_eq!(memo.get(2, b"0x1fffff"), None, "another field's search");
        assert_eq!(memo.get(1, b"0x1ffff"), None, "another value");
        // Too many needles, or too long a value: not remembered.
        let mut many = Hits::default();
        (0..5).for_each(|p| many.push(p));
        memo.put(1, b"abc", &many);
        assert_eq!(memo.get(1, b"abc"), None);
        memo.put(1, &[b'a'; LONG_LEN + 1], &hits);
        assert_eq!(memo.get(1, &[b'a'; LONG_LEN + 1]), None);
        // Long values have their own table, compared in full too.
        let long = [b'a'; MAX_LEN + 1];
        memo.put(1, &long, &hits);
        assert_eq!(memo.get(1, &long), Some(&[3, 7][..]));
        assert_eq!(memo.get(1, &long[1..]), None);
        assert_eq!(memo.get(2, &long), None);
        // Nothing found is remembered too.
        memo.put(1, b"-", &Hits::default());
        assert_eq!(memo.get(1, b"-"), Some(&[][..]));
    }
}
