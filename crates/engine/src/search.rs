//! The ways a prefilter looks for one field's needles, and the choice among them by the
//! needles' number and size and by the values' length (as a kind's first event shows it, then
//! its sample when the prefilter is rebuilt).
//! Measured per field on the shared EVTX and OTRF data: memchr once per needle beats Teddy for
//! a few needles in a field (`TargetImage`, 10 needles: 204 against 237 ns an event; Teddy
//! finds candidates by the needles' first bytes, which hexadecimal GUID lists and PowerShell
//! text are full of: 560 against 5,200 ns for 4 needles in a 1 KB PowerShell `Data`), but not
//! in long values with more needles (`CallTrace`, 8: 420 against 342) nor in an event's whole
//! text (the keywords: 584 against 378); an NFA beats [`Grams`] for a few hundred registry keys
//! or image names and loses to it for the 7,000 command-line needles of the process_creation
//! rules. (Choosing by timing each way on a kind's sample was tried: the sample favoured
//! cache-hungry DFAs that were slower in the real run, and building the alternatives cost more
//! than it gave.)

use std::sync::Arc;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};
use memchr::memmem::Finder;

use crate::grams::Grams;

/// The most needles searched one by one (in short values, or long ones: see [`Way::guess`]),
/// and by Teddy (its own limit).
const EACH: usize = 16;
const EACH_LONG: usize = 4;
const FEW: usize = 64;
/// The most needle bytes an automaton is a DFA for (~1 MB per 4 KB of needles).
const DFA_BYTES: usize = 32 * 1024;
/// From this many needles, the first guess for short values is [`Grams`].
const GRAMS: usize = 2000;

#[derive(Clone)]
pub(crate) enum Search {
    /// memchr's SIMD search for each needle (it looks for the needle's rarest bytes).
    Each(Vec<Finder<'static>>),
    /// A leftmost-longest automaton, which aho-corasick runs with Teddy, asked again one byte
    /// after each match start: that finds every start; the needles that also match there are
    /// prefixes of the one found (`prefixes`, per needle, itself included).
    Few { ac: AhoCorasick, prefixes: Vec<Vec<u32>> },
    /// One overlapping search of an automaton (NFA or DFA).
    Many(AhoCorasick),
    Grams(Arc<Grams>),
}

/// The searches built so far, by needles: kinds read under different field maps (Sysmon 1
/// and Security 4688) and a kind re-anchored on its sample mostly look for the same needles in
/// a field, and thousands of command-line needles take milliseconds to compile.
pub(crate) type Cache = std::sync::Mutex<std::collections::HashMap<(Way, Vec<String>), Option<Search>>>;

/// Which search: the variants of [`Search`], automata split by kind.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub(crate) enum Way {
    Each,
    Few,
    Nfa,
    Dfa,
    Grams,
}

impl Way {
    /// The way for these needles, in values that are `long` or not, or in the event's whole
    /// `text` (keywords).
    pub(crate) fn guess(needles: &[String], long: bool, text: bool) -> Way {
        let bytes: usize = needles.iter().map(String::len).sum();
        match needles.len() {
            n if !text && n <= if long { EACH_LONG } else { EACH } => Way::Each,
            n if n <= FEW => Way::Few,
            _ if long && bytes <= DFA_BYTES => Way::Dfa,
            n if !long && n >= GRAMS => Way::Grams,
            _ => Way::Nfa,
        }
    }
}

impl Search {
    /// `needles` (sorted, folded) searched the `way` given; `None` when that cannot be built
    /// (an automaton too big, an empty needle for memchr: the rules are then evaluated in full).
    pub(crate) fn build(way: Way, needles: &[String]) -> Option<Search> {
        let automaton = |kind, match_kind| AhoCorasickBuilder::new().match_kind(match_kind).kind(Some(kind)).build(needles).ok();
        Some(match way {
            Way::Each => {
                if needles.iter().any(String::is_empty) {
                    return None;
                }
                Search::Each(needles.iter().map(|n| Finder::new(n.as_bytes()).into_owned()).collect())
            }
            Way::Few => {
                let ac = automaton(AhoCorasickKind::ContiguousNFA, MatchKind::LeftmostLongest)?;
                let prefixes = (0..needles.len())
                    .map(|i| (0..needles.len()).filter(|&j| needles[i].starts_with(needles[j].as_str())).map(|j| j as u32).collect())
                    .collect();
                Search::Few { ac, prefixes }
            }
            Way::Nfa => Search::Many(automaton(AhoCorasickKind::ContiguousNFA, MatchKind::Standard)?),
            Way::Dfa => Search::Many(automaton(AhoCorasickKind::DFA, MatchKind::Standard)?),
            Way::Grams => Search::Grams(Arc::new(Grams::new(needles))),
        })
    }

    /// [`Search::build`] through the shared cache.
    pub(crate) fn cached(cache: &Cache, way: Way, needles: Vec<String>) -> Option<Search> {
        let key = (way, needles);
        if let Some(s) = cache.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
            return s.clone();
        }
        // Built outside the lock: two threads may build the same one once, none waits.
        let s = Search::build(way, &key.1);
        cache.lock().unwrap_or_else(|p| p.into_inner()).entry(key).or_insert(s).clone()
    }

    /// Whether a search costs enough (an automaton, grams: several ns a byte) for long values'
    /// results to be worth remembering ([`crate::memo`]).
    pub(crate) fn is_costly(&self) -> bool {
        matches!(self, Search::Many(_) | Search::Grams(_))
    }

    /// Calls `found` with the index of each needle `hay` holds (some more than once).
    #[inline]
    pub(crate) fn each(&self, hay: &str, mut found: impl FnMut(usize)) {
        match self {
            Search::Each(finders) => {
                for (i, f) in finders.iter().enumerate() {
                    if f.find(hay.as_bytes()).is_some() {
                        found(i);
                    }
                }
            }
            Search::Few { ac, prefixes } => {
                let mut at = 0;
                while let Some(m) = ac.find(aho_corasick::Input::new(hay).range(at..)) {
                    prefixes[m.pattern().as_usize()].iter().for_each(|&p| found(p as usize));
                    at = m.start() + 1;
                }
            }
            Search::Many(ac) => {
                for m in ac.find_overlapping_iter(hay) {
                    found(m.pattern().as_usize());
                }
            }
            Search::Grams(g) => g.each(hay.as_bytes(), found),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Every way finds the needles a value holds, and only those: a refit never changes
        /// which rules are let through.
        #[test]
        fn every_way_finds_the_same_needles(mut needles in prop::collection::vec("[ab\\\\ .:]{1,6}", 1..20), hay in "[ab\\\\ .:]{0,60}") {
            needles.sort();
            needles.dedup();
            let want: Vec<usize> = (0..needles.len()).filter(|&i| hay.contains(needles[i].as_str())).collect();
            for way in [Way::Each, Way::Few, Way::Nfa, Way::Dfa, Way::Grams] {
                let Some(search) = Search::build(way, &needles) else { continue };
                let mut got = Vec::new();
                search.each(&hay, |p| got.push(p));
                got.sort_unstable();
                got.dedup();
                prop_assert_eq!(&got, &want, "{:?}", way);
            }
        }
    }
}
