//! Finding any of thousands of needles in short values: each needle is looked for by one window
//! of up to 4 bytes (the whole needle when shorter; of longer ones, the window fewest needles
//! share, then the one of rarest bytes). A value is searched by testing each of its positions in
//! small bitsets — exact ones for 1- and 2-byte windows, two hashes each for 3- and 4-byte ones —
//! and a position that passes is looked up in a table and the needles it stands for are compared
//! in place.
//!
//! Why not aho-corasick: for the ~7,000 command-line needles of the process_creation rules, its
//! prefilters give up and its NFA runs ~15 ns a byte on Security 4688 command lines in a hunt
//! (2.7 µs an event); this runs ~11 (2.0 µs), builds in 4 ms instead of 9, and takes ~0.6 MB. A
//! DFA steps faster in isolation but, at tens of megabytes, misses the cache on every byte in a
//! hunt (measured slower, +100 MB). For a few hundred needles (registry keys, image names) the
//! NFA is faster and is kept (see `search.rs`).

use rustc_hash::FxHashMap;

/// The longest window.
const W: usize = 4;

pub(crate) struct Grams {
    /// The needles, one after the other, and each one's (start, length) in it.
    bytes: Vec<u8>,
    spans: Vec<(u32, u32)>,
    /// Which windows the needles are looked for by: of 1 and 2 bytes exactly, of 3 and 4 bytes
    /// by hash. A value's position passes when one of them holds the window starting there.
    one: [u64; 4],
    two: Vec<u64>,
    three: Filter,
    four: Filter,
    /// Open addressing by [`slot_hash`] of (length, window): the entries standing for it. Kept
    /// small (12 bytes a slot, two-thirds full at most): it is read on every position that passes
    /// a filter, and a bigger table measured slower in a hunt, where it competes for the cache.
    slots: Vec<Slot>,
    /// (needle, offset of its window in it), grouped by window.
    entries: Vec<(u32, u32)>,
    /// Empty needles: found in every value.
    empty: Vec<u32>,
}

/// A bitset of hashed windows, two bits per window (~1.4% of the windows no needle has pass).
struct Filter {
    bits: Vec<u64>,
    shift: u32,
}

#[derive(Clone, Copy, Default)]
struct Slot {
    w: u32,
    start: u32,
    /// The entries' end << 3 | the window's length (1–4); 0: an empty slot.
    end_len: u32,
}

impl Filter {
    fn new(windows: &[u32]) -> Filter {
        let bits = (windows.len() * 16).next_power_of_two().clamp(64, 1 << 22);
        let mut f = Filter { bits: vec![0; bits / 64], shift: 64 - bits.trailing_zeros() };
        for &w in windows {
            let (a, b) = f.hashes(w);
            f.bits[a >> 6] |= 1 << (a & 63);
            f.bits[b >> 6] |= 1 << (b & 63);
        }
        f
    }

    #[inline]
    fn hashes(&self, w: u32) -> (usize, usize) {
        let h = (w as u64 | 1 << 32).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        ((h >> self.shift) as usize, ((h >> 20) as usize) & (self.bits.len() * 64 - 1))
    }

    #[inline]
    fn has(&self, w: u32) -> bool {
        let (a, b) = self.hashes(w);
        self.bits[a >> 6] >> (a & 63) & 1 != 0 && self.bits[b >> 6] >> (b & 63) & 1 != 0
    }
}

#[inline]
fn window(hay: &[u8], at: usize, len: usize) -> u32 {
    hay[at..at + len].iter().rev().fold(0, |w, &b| w << 8 | b as u32)
}

/// The up to 4 bytes from `at`, little-endian, zeros past the end.
#[inline]
fn window_at(hay: &[u8], at: usize) -> u32 {
    match hay.get(at..at + W) {
        Some(b) => u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
        None => window(hay, at, hay.len() - at),
    }
}

fn slot_key(len: usize, w: u32) -> u64 {
    (len as u64) << 32 | w as u64
}

fn slot_hash(len: usize, w: u32, mask: usize) -> usize {
    (slot_key(len, w).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40) as usize & mask
}

#[inline]
fn bit(bits: &[u64], i: usize) -> bool {
    bits[i >> 6] >> (i & 63) & 1 != 0
}

/// How often a byte is met in command lines and paths, roughly (0: rare, 3: everywhere).
pub(crate) fn commonness(b: u8) -> u32 {
    match b {
        b' ' | b'\\' | b'.' | b'e' | b'a' | b'i' | b'o' | b's' | b't' | b'r' | b'n' => 3,
        b'a'..=b'z' | b'-' | b'/' | b':' => 2,
        b'0'..=b'9' | b'"' | b'_' => 1,
        _ => 0,
    }
}

impl Grams {
    /// For `needles`; a needle's index is the pattern number [`Grams::each`] gives.
    pub(crate) fn new(needles: &[String]) -> Grams {
        let needles: Vec<&[u8]> = needles.iter().map(|n| n.as_bytes()).collect();
        // How many needles hold each 4-byte window: a needle is looked for by its least shared
        // window (fewer needles to compare on a pass), then by its rarest bytes.
        let mut shared: FxHashMap<u32, u32> = FxHashMap::default();
        for n in needles.iter().filter(|n| n.len() >= W) {
            let mut mine: Vec<u32> = (0..=n.len() - W).map(|i| window(n, i, W)).collect();
            mine.sort_unstable();
            mine.dedup();
            for w in mine {
                *shared.entry(w).or_default() += 1;
            }
        }
        // (slot key, needle, offset)
        let mut chosen: Vec<(u64, u32, u32)> = Vec::with_capacity(needles.len());
        let mut empty = Vec::new();
        for (i, n) in needles.iter().enumerate() {
            let (len, at) = if n.len() < W {
                (n.len(), 0)
            } else {
                let at = (0..=n.len() - W)
                    .min_by_key(|&at| (shared[&window(n, at, W)], n[at..at + W].iter().map(|&b| commonness(b)).sum::<u32>()))
                    .unwrap_or(0);
                (W, at)
            };
            if len == 0 {
                empty.push(i as u32);
            } else {
                chosen.push((slot_key(len, window(n, at, len)), i as u32, at as u32));
            }
        }
        chosen.sort_unstable();
        let of_len = |len: u64| -> Vec<u32> { chosen.iter().filter(|c| c.0 >> 32 == len).map(|c| c.0 as u32).collect() };
        let mut one = [0u64; 4];
        let mut two = vec![0u64; 1 << 10];
        of_len(1).into_iter().for_each(|w| one[w as usize >> 6] |= 1 << (w & 63));
        of_len(2).into_iter().for_each(|w| two[w as usize >> 6] |= 1 << (w & 63));
        let (three, four) = (Filter::new(&of_len(3)), Filter::new(&of_len(4)));
        let distinct = chosen.windows(2).filter(|p| p[0].0 != p[1].0).count() + 1;
        // At most two-thirds full, and never full (a lookup stops at an empty slot).
        let mask = (distinct * 3 / 2 + 1).next_power_of_two() - 1;
        let mut slots = vec![Slot::default(); mask + 1];
        let mut entries = Vec::with_capacity(chosen.len());
        let mut i = 0;
        while i < chosen.len() {
            let key = chosen[i].0;
            let start = entries.len() as u32;
            while i < chosen.len() && chosen[i].0 == key {
                entries.push((chosen[i].1, chosen[i].2));
                i += 1;
            }
            let (len, w) = ((key >> 32) as usize, key as u32);
            let mut h = slot_hash(len, w, mask);
            while slots[h].end_len != 0 {
                h = (h + 1) & mask;
            }
            slots[h] = Slot { w, start, end_len: (entries.len() as u32) << 3 | len as u32 };
        }
        let mut bytes = Vec::with_capacity(needles.iter().map(|n| n.len()).sum());
        let spans = needles
            .iter()
            .map(|n| {
                bytes.extend_from_slice(n);
                ((bytes.len() - n.len()) as u32, n.len() as u32)
            })
            .collect();
        Grams { bytes, spans, one, two, three, four, slots, entries, empty }
    }

    /// Calls `found` with the index of each needle `hay` holds, once per place it is found.
    pub(crate) fn each(&self, hay: &[u8], mut found: impl FnMut(usize)) {
        self.empty.iter().for_each(|&n| found(n as usize));
        for at in 0..hay.len() {
            let w = window_at(hay, at);
            // One test per window length, all cheap; most positions fail every one.
            if bit(&self.one, (w & 0xff) as usize)
                | bit(&self.two, (w & 0xffff) as usize)
                | self.three.has(w & 0xff_ffff)
                | self.four.has(w)
            {
                self.at(hay, at, w, &mut found);
            }
        }
    }

    /// The needles found at `at`, whose window `w` passed a filter.
    #[cold]
    fn at(&self, hay: &[u8], at: usize, w: u32, found: &mut impl FnMut(usize)) {
        let room = (hay.len() - at).min(W);
        for len in 1..=room {
            let w = if len == W { w } else { w & ((1 << (8 * len)) - 1) };
            let pass = match len {
                1 => bit(&self.one, w as usize),
                2 => bit(&self.two, w as usize),
                3 => self.three.has(w),
                _ => self.four.has(w),
            };
            if pass {
                self.check(hay, at, len, w, found);
            }
        }
    }

    fn check(&self, hay: &[u8], at: usize, len: usize, w: u32, found: &mut impl FnMut(usize)) {
        let mask = self.slots.len() - 1;
        let mut h = slot_hash(len, w, mask);
        loop {
            let s = self.slots[h];
            if s.end_len == 0 {
                return;
            }
            if s.w == w && (s.end_len & 7) as usize == len {
                for &(n, off) in &self.entries[s.start as usize..(s.end_len >> 3) as usize] {
                    let (from, n_len) = self.spans[n as usize];
                    let needle = &self.bytes[from as usize..(from + n_len) as usize];
                    let Some(start) = at.checked_sub(off as usize) else { continue };
                    if hay.get(start..start + needle.len()) == Some(needle) {
                        found(n as usize);
                    }
                }
                return;
            }
            h = (h + 1) & mask;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn found(g: &Grams, hay: &str) -> Vec<usize> {
        let mut v = Vec::new();
        g.each(hay.as_bytes(), |n| v.push(n));
        v.sort_unstable();
        v.dedup();
        v
    }

    /// Every needle a value holds, of every length, wherever it stands, is found; no other is.
    #[test]
    fn finds_what_a_plain_search_finds() {
        let needles: Vec<String> = ["", "`", "-f", " -w ", "cmd.exe /c", "\\powershell.exe", "mimikatz", "ab", "abc", "abcd", "bcde", "e"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let g = Grams::new(&needles);
        for hay in ["", "a", "e", "ab", "abcde", "c:\\windows\\system32\\cmd.exe /c whoami", "x\\powershell.exe -w hidden", "run mimikatz`", "-"] {
            let want: Vec<usize> = (0..needles.len()).filter(|&i| hay.contains(needles[i].as_str())).collect();
            assert_eq!(found(&g, hay), want, "in {hay:?}");
        }
    }

    proptest! {
        #[test]
        fn agrees_with_contains(needles in prop::collection::vec("[a-d\\\\ .]{1,7}", 1..60), hay in "[a-d\\\\ .]{0,40}") {
            let g = Grams::new(&needles);
            let want: Vec<usize> = (0..needles.len()).filter(|&i| hay.contains(needles[i].as_str())).collect();
            let mut got = found(&g, &hay);
            // Equal needles: each index is found.
            got.dedup();
            prop_assert_eq!(got, want);
        }
    }
}

