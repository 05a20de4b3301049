//! Which candidate rules are worth evaluating on an event. Most rules of a kind of event
//! (a thousand process_creation rules for one Sysmon 1 event) fail at once; each rule's anchor (a
//! necessary condition: one of these strings in that field) is looked up for all rules at once
//! with one aho-corasick automaton per field, and only rules whose anchor is found — plus the
//! rules that have no anchor — are evaluated in full.

use std::collections::HashMap;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};
use events::{Event, FieldKey};

use crate::matcher::{ac_kind, MapId};
use crate::ruleset::RuleSet;

struct FieldScan {
    /// `None`: the event's whole text (keywords).
    key: Option<FieldKey>,
    search: Search,
    /// Per pattern: the candidate positions it may let through.
    owners: Vec<Vec<u32>>,
}

/// How a field's needles are found.
enum Search {
    /// Up to [`FEW`] needles: a leftmost-longest automaton, which aho-corasick runs with its SIMD
    /// (Teddy) prefilter, asked again one byte after each match start: that finds every start,
    /// and the needles that also match there are prefixes of the one found, so their owners are
    /// merged into its owners.
    Few(AhoCorasick),
    /// More: one overlapping search.
    Many(AhoCorasick),
}

/// The most needle bytes a field's search automaton is a DFA for, and the value length from
/// which a field is searched with a DFA.
const DFA_BYTES: usize = 32 * 1024;
const LONG_VALUE: usize = 512;

/// The most patterns aho-corasick gives its SIMD prefilter.
const FEW: usize = 64;

pub struct Prefilter {
    /// Candidate positions always evaluated (no anchor).
    always: Vec<u32>,
    fields: Vec<FieldScan>,
    len: usize,
}

impl Prefilter {
    /// For the compiled rules `candidates` (of one kind of event, read under field map `map`);
    /// `sample` is an event of that kind (its long fields get the faster automata).
    pub fn build(set: &RuleSet, candidates: &[usize], map: MapId, sample: &Event) -> Prefilter {
        let debug = std::env::var_os("RULELENS_DEBUG_PREFILTER").is_some();
        let mut always = Vec::new();
        // field name (as read) -> (pattern -> owners)
        let mut by_field: HashMap<String, HashMap<String, Vec<u32>>> = HashMap::new();
        // How many candidate rules test each needle: a needle many rules share (`\\powershell.exe`)
        // is one many events carry too, so anchors prefer rare needles, then long ones.
        let mut popularity: HashMap<String, i64> = HashMap::new();
        for &c in candidates {
            let mut leaves = Vec::new();
            set.compiled[c].root.leaves(&mut leaves);
            for m in leaves {
                for n in m.needle_choices().unwrap_or_default().into_iter().flatten() {
                    *popularity.entry(n.to_ascii_lowercase()).or_default() += 1;
                }
            }
        }
        let score = |a: &[(&crate::matcher::Matcher, Vec<&str>)]| -> i64 {
            let worst = a.iter().flat_map(|(_, n)| n.iter()).map(|n| popularity.get(&n.to_ascii_lowercase()).copied().unwrap_or(0)).max().unwrap_or(0);
            let shortest = a.iter().flat_map(|(_, n)| n.iter()).map(|n| n.len() as i64).min().unwrap_or(0);
            -worst * 64 + shortest.min(63)
        };
        for (pos, &c) in candidates.iter().enumerate() {
            let pos = pos as u32;
            let anchor = set.compiled[c].root.anchor_by(&score);
            let terms = match anchor {
                Some(t) if t.iter().all(|(m, _)| m.is_keyword() || m.field_in(map).is_some()) => t,
                _ => {
                    always.push(pos);
                    continue;
                }
            };
            for (m, needles) in terms {
                // "" stands for the event text (no field is named ""). The name is kept as the
                // matcher reads it: an event may hold `Channel` (System) and `channel`
                // (EventData), and a lookup finds the exact spelling first.
                let field = m.field_in(map).unwrap_or_default().to_string();
                let pats = by_field.entry(field).or_default();
                for n in needles {
                    let owners = pats.entry(n.to_ascii_lowercase()).or_default();
                    if owners.last() != Some(&pos) {
                        owners.push(pos);
                    }
                }
            }
        }
        let mut fields = Vec::new();
        for (field, pats) in by_field {
            let (pats, owners): (Vec<String>, Vec<Vec<u32>>) = pats.into_iter().unzip();
            // Patterns and values are compared lower-cased (ASCII), so the search itself is
            // case-sensitive: that lets aho-corasick use its SIMD prefilters.
            let key = (!field.is_empty()).then(|| FieldKey::new(&field));
            if pats.len() <= FEW {
                let built = AhoCorasickBuilder::new().match_kind(MatchKind::LeftmostLongest).kind(Some(aho_corasick::AhoCorasickKind::ContiguousNFA)).build(&pats);
                let Ok(ac) = built else {
                    always.extend(owners.into_iter().flatten());
                    continue;
                };
                let owners = (0..pats.len())
                    .map(|i| {
                        let mut o: Vec<u32> = (0..pats.len()).filter(|&j| pats[i].starts_with(pats[j].as_str())).flat_map(|j| owners[j].iter().copied()).collect();
                        o.sort_unstable();
                        o.dedup();
                        o
                    })
                    .collect();
                fields.push(FieldScan { key, search: Search::Few(ac), owners });
            } else {
                let bytes: usize = pats.iter().map(String::len).sum();
                if debug {
                    eprintln!("prefilter field {field:?}: {} needles, {bytes} bytes", pats.len());
                }
                // A DFA steps several times faster than an NFA but costs ~1 MB per 4 KB of
                // needles: worth it on long values (PowerShell's ContextInfo, script blocks, the
                // keyword text), as the kind's first event shows them; the thousands of
                // process_creation needles keep the compact NFA.
                let long = match &key {
                    Some(k) => sample.get_key(k).is_some_and(|v| v.to_text().len() >= LONG_VALUE),
                    None => true,
                };
                let kind = if long && bytes <= DFA_BYTES { AhoCorasickKind::DFA } else { ac_kind(bytes) };
                let built = AhoCorasickBuilder::new().match_kind(MatchKind::Standard).kind(Some(kind)).build(&pats);
                match built {
                    Ok(ac) => fields.push(FieldScan { key, search: Search::Many(ac), owners }),
                    // Too big an automaton: evaluate those rules in full instead.
                    Err(_) => always.extend(owners.into_iter().flatten()),
                }
            }
        }
        always.sort_unstable();
        always.dedup();
        if debug {
            eprintln!("prefilter: {} candidates, {} always, {} fields", candidates.len(), always.len(), fields.len());
        }
        Prefilter { always, fields, len: candidates.len() }
    }

    /// Positions (into the candidates) to evaluate, each once. `seen` is scratch space.
    pub fn select(&self, ev: &Event, seen: &mut Seen, lower: &mut String, out: &mut Vec<u32>) {
        out.clear();
        out.extend_from_slice(&self.always);
        seen.next(self.len);
        for f in &self.fields {
            let text = match &f.key {
                Some(k) => match ev.get_key(k) {
                    Some(v) => v.to_text(),
                    None => continue,
                },
                None => std::borrow::Cow::Borrowed(ev.text()),
            };
            lower.clear();
            lower.push_str(&text);
            lower.make_ascii_lowercase();
            let mut let_through = |pattern: usize| {
                for &pos in &f.owners[pattern] {
                    if seen.first(pos) {
                        out.push(pos);
                    }
                }
            };
            match &f.search {
                Search::Few(ac) => {
                    let mut at = 0;
                    while let Some(m) = ac.find(aho_corasick::Input::new(lower.as_str()).range(at..)) {
                        let_through(m.pattern().as_usize());
                        at = m.start() + 1;
                    }
                }
                Search::Many(ac) => {
                    for m in ac.find_overlapping_iter(lower.as_str()) {
                        let_through(m.pattern().as_usize());
                    }
                }
            }
        }
        // No sort or dedup needed: anchored rules are never in `always`, and `seen` lets
        // each through once.
    }
}

/// Which candidates an event already let through: a stamp per candidate, so starting the next
/// event is one increment, not clearing a vector.
#[derive(Default)]
pub struct Seen {
    stamp: u32,
    marks: Vec<u32>,
}

impl Seen {
    fn next(&mut self, len: usize) {
        if self.marks.len() < len {
            self.marks.resize(len, 0);
        }
        self.stamp = self.stamp.wrapping_add(1);
        if self.stamp == 0 {
            // Wrapped around: old marks could equal new stamps.
            self.marks.iter_mut().for_each(|m| *m = 0);
            self.stamp = 1;
        }
    }

    /// Whether `pos` is met for the first time in this event (and marks it).
    fn first(&mut self, pos: u32) -> bool {
        let m = &mut self.marks[pos as usize];
        let new = *m != self.stamp;
        *m = self.stamp;
        new
    }
}
