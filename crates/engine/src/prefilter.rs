//! Which candidate rules are worth evaluating on an event. Most rules of a kind of event
//! (a thousand process_creation rules for one Sysmon 1 event) fail at once; each rule's anchor (a
//! necessary condition: one of these strings in that field) is looked up for all rules at once
//! with one search per field ([`Search`]), and only rules whose anchor is found — plus the
//! rules that have no anchor — are evaluated in full.

use std::collections::HashMap;

use rustc_hash::FxHashMap;

use events::{Event, FieldKey};

use crate::lowered::{fold, Lowered};
use crate::matcher::{MapId, Matcher};
use crate::memo::{Hits, Memo, LONG_LEN, MAX_LEN as MEMO_LEN};
use crate::ruleset::RuleSet;
use crate::search::{Search, Way};

struct FieldScan {
    /// `None`: the event's whole text (keywords).
    key: Option<FieldKey>,
    /// For keywords: every needle can only be found inside one string value, so the event's
    /// strings ([`events::Event::strings`]) stand for its text (no text to format).
    in_strings: bool,
    /// How the needles (folded, sorted) are looked for.
    search: Search,
    /// Per needle: the candidate positions it may let through.
    owners: Vec<Vec<u32>>,
}

/// The value length from which a field is deemed long (see [`Way::guess`]).
const LONG_VALUE: usize = 512;

pub struct Prefilter {
    /// Candidate positions always evaluated (no anchor).
    always: Vec<u32>,
    fields: Vec<FieldScan>,
    len: usize,
}

impl Prefilter {
    /// For the compiled rules `candidates` (of one kind of event, read under field map `map`);
    /// `sample` holds events of that kind (the first one, or the retune sample: the fields long
    /// in them get the searches made for long values). With a `census`, anchors are chosen by
    /// how rarely the kind's events held them.
    pub fn build(set: &RuleSet, candidates: &[usize], map: MapId, sample: &[Event], census: Option<&Census>) -> Prefilter {
        let debug = std::env::var_os("RULELENS_DEBUG_PREFILTER").is_some();
        let mut always = Vec::new();
        // field name (as read) -> (pattern -> owners)
        let mut by_field: FxHashMap<String, FxHashMap<&str, Vec<u32>>> = FxHashMap::default();
        // How many candidate rules test each needle: a needle many rules share (`\\powershell.exe`)
        // is one many events carry too, so anchors prefer rare needles, then long ones.
        let mut popularity: FxHashMap<&str, i64> = FxHashMap::default();
        for &c in candidates {
            let mut leaves = Vec::new();
            set.compiled[c].root.leaves(&mut leaves);
            for m in leaves {
                for n in m.needle_choices().unwrap_or_default().iter().flatten() {
                    *popularity.entry(n.as_str()).or_default() += 1;
                }
            }
        }
        // Observed: how many sampled events held the anchor's needles (0 without a census).
        let held = |a: &[(&Matcher, Vec<&str>)]| -> i64 {
            let Some(census) = census else { return 0 };
            a.iter().map(|(m, n)| n.iter().map(|n| census.held(census_field(m, map), n) as i64).sum::<i64>()).sum()
        };
        let score = |a: &[(&Matcher, Vec<&str>)]| -> i64 {
            let worst = a.iter().flat_map(|(_, n)| n.iter()).map(|n| popularity.get(n).copied().unwrap_or(0)).max().unwrap_or(0);
            let shortest = a.iter().flat_map(|(_, n)| n.iter()).map(|n| n.len() as i64).min().unwrap_or(0);
            -(held(a) << 24) - worst * 64 + shortest.min(63)
        };
        let rare = |a: &[(&Matcher, Vec<&str>)]| -held(a);
        for (pos, &c) in candidates.iter().enumerate() {
            let pos = pos as u32;
            let anchor = set.compiled[c].root.anchor_by(&score, &rare);
            let terms = match anchor {
                Some(t) if t.iter().all(|(m, _)| m.is_keyword() || m.field_in(map).is_some()) => t,
                _ => {
                    always.push(pos);
                    continue;
                }
            };
            if debug {
                let desc: Vec<String> =
                    terms.iter().map(|(m, n)| format!("{}:{:?}", m.field_in(map).unwrap_or("<kw>"), n)).collect();
                eprintln!(
                    "  anchor [{}] {}: {}",
                    sample.first().and_then(Event::event_id).unwrap_or(0),
                    set.rules[set.compiled[c].index].title,
                    desc.join(" | ")
                );
            }
            for (m, needles) in terms {
                // "" stands for the event text (no field is named ""). The name is kept as the
                // matcher reads it: an event may hold `Channel` (System) and `channel`
                // (EventData), and a lookup finds the exact spelling first.
                let field = m.field_in(map).unwrap_or_default().to_string();
                // A long list of needles in a long value, covered by a few short parts the
                // sample shows rare, is looked for by those parts (the 230 `….ps1` script names
                // of one rule: `.ps`; Mimikatz keywords: `::`, `kiwi`, `mimi`): a weaker
                // condition, but a small set that SIMD finds fast.
                let parts = census.and_then(|c| c.cover_of(&needles).filter(|parts| parts.iter().all(|p| c.rare(census_field(m, map), p))));
                let needles = match parts {
                    Some(parts) => parts.iter().map(String::as_str).collect(),
                    None => needles,
                };
                let pats = by_field.entry(field).or_default();
                for n in needles {
                    let owners = pats.entry(n).or_default();
                    if owners.last() != Some(&pos) {
                        owners.push(pos);
                    }
                }
            }
        }
        let mut fields = Vec::new();
        for (field, pats) in by_field {
            // Sorted, so that the same needles make the same search (see `search::Cache`).
            let mut pats: Vec<(&str, Vec<u32>)> = pats.into_iter().collect();
            pats.sort_unstable_by(|a, b| a.0.cmp(b.0));
            let (pats, owners): (Vec<&str>, Vec<Vec<u32>>) = pats.into_iter().unzip();
            let pats: Vec<String> = pats.into_iter().map(str::to_string).collect();
            // Patterns and values are compared folded (`fold`), so the search itself is
            // case-sensitive: that lets aho-corasick use its SIMD prefilters.
            let key = (!field.is_empty()).then(|| FieldKey::new(&field));
            let in_strings = key.is_none() && pats.iter().all(|p| in_one_string(p));
            let way = Way::guess(&pats, is_long(sample, &field), key.is_none());
            if debug && pats.len() > 64 {
                eprintln!("prefilter field {field:?}: {} needles, {} bytes: {way:?}", pats.len(), pats.iter().map(String::len).sum::<usize>());
            }
            match Search::cached(set.searches(), way, pats) {
                Some(search) => fields.push(FieldScan { key, in_strings, search, owners }),
                // Too big an automaton: evaluate those rules in full instead.
                None => always.extend(owners.into_iter().flatten()),
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
    pub fn select(&self, ev: &Event, seen: &mut Seen, memo: &mut Memo, lw: &mut Lowered, out: &mut Vec<u32>) {
        out.clear();
        out.extend_from_slice(&self.always);
        seen.next(self.len);
        for f in &self.fields {
            let mut let_through = |pattern: usize| {
                for &pos in &f.owners[pattern] {
                    if seen.first(pos) {
                        out.push(pos);
                    }
                }
            };
            let lower = match &f.key {
                Some(k) => {
                    let Some(v) = ev.get_key(k) else { continue };
                    let mut digits = itoa::Buffer::new();
                    let raw = v.text_in(&mut digits);
                    if raw.len() > if f.search.is_costly() { LONG_LEN } else { MEMO_LEN } {
                        lw.of(k, &raw)
                    } else {
                        // The field search's address is its id while the prefilter lives.
                        let id = f as *const FieldScan as usize;
                        if let Some(hits) = memo.get(id, raw.as_bytes()) {
                            hits.iter().for_each(|&p| let_through(p as usize));
                            continue;
                        }
                        let mut hits = Hits::default();
                        f.search.each(lw.of(k, &raw), |p| {
                            hits.push(p);
                            let_through(p);
                        });
                        memo.put(id, raw.as_bytes(), &hits);
                        continue;
                    }
                }
                None if f.in_strings => lw.strings(ev),
                None => lw.text(ev),
            };
            f.search.each(lower, let_through);
        }
        // No sort or dedup needed: anchored rules are never in `always`, and `seen` lets
        // each through once.
    }
}

impl Prefilter {
    /// How many times each candidate was let through by the `sample` events, and in all.
    fn tally(&self, sample: &[Event]) -> (Vec<u32>, usize) {
        let (mut seen, mut memo, mut lw, mut out) = (Seen::default(), Memo::default(), Lowered::default(), Vec::new());
        let mut counts = vec![0u32; self.len];
        let mut total = 0;
        for ev in sample {
            lw.clear();
            self.select(ev, &mut seen, &mut memo, &mut lw, &mut out);
            total += out.len();
            out.iter().for_each(|&p| counts[p as usize] += 1);
        }
        (counts, total)
    }

    /// A prefilter for the same candidates, fitted to what the kind's `sample` events hold:
    /// the rules `self` lets through for a quarter of the sample or more are anchored again on
    /// what the sample held least (anchors chosen from the rules alone can be strings every
    /// event holds: `ntdll.dll` in each Sysmon 10 CallTrace), and long needle lists in long
    /// values give way to a few short parts the sample shows rare (`cover`). `None` unless it
    /// lets markedly fewer rules through, or as many for a markedly cheaper search.
    pub fn retune(&self, set: &RuleSet, candidates: &[usize], map: MapId, sample: &[Event]) -> Option<Prefilter> {
        sample.first()?;
        let (counts, before) = self.tally(sample);
        let mut wanted: HashMap<String, Vec<String>> = HashMap::new();
        for (pos, &c) in candidates.iter().enumerate() {
            if counts[pos] as usize * 4 < sample.len() || self.always.binary_search(&(pos as u32)).is_ok() {
                continue;
            }
            let mut leaves = Vec::new();
            set.compiled[c].root.leaves(&mut leaves);
            for m in leaves {
                let Some(choices) = m.needle_choices() else { continue };
                let needles = wanted.entry(census_field(m, map).to_string()).or_default();
                needles.extend(choices.iter().flatten().cloned());
            }
        }
        // And the covers of long needle lists in long values (see `cover`), for every rule.
        let mut covers: HashMap<Vec<String>, Vec<String>> = HashMap::new();
        // Judged once per field: a thousand rules' leaves share a dozen fields.
        let mut long: FxHashMap<&str, bool> = FxHashMap::default();
        for &c in candidates {
            let mut leaves = Vec::new();
            set.compiled[c].root.leaves(&mut leaves);
            for m in leaves {
                let field = census_field(m, map);
                if !*long.entry(field).or_insert_with(|| is_long(sample, field)) {
                    continue;
                }
                for choice in m.needle_choices().unwrap_or_default() {
                    if covers.contains_key(choice) {
                        continue;
                    }
                    let key = choice.clone();
                    let refs: Vec<&str> = choice.iter().map(String::as_str).collect();
                    if let Some(parts) = cover(&refs) {
                        wanted.entry(census_field(m, map).to_string()).or_default().extend(parts.iter().cloned());
                        covers.insert(key, parts);
                    }
                }
            }
        }
        let lists = covers.len();
        if wanted.is_empty() {
            return None;
        }
        let mut census = Census::take(wanted, sample);
        census.covers = covers;
        let tuned = Prefilter::build(set, candidates, map, sample, Some(&census));
        let (counts_after, after) = tuned.tally(sample);
        let (cost_before, cost_after) = (self.scan_cost(sample), tuned.scan_cost(sample));
        if std::env::var_os("RULELENS_DEBUG_PREFILTER").is_some() {
            eprintln!(
                "prefilter retune: {before} -> {after} let through by {} sampled events; scan cost {cost_before} -> {cost_after} ({lists} long lists)",
                sample.len()
            );
            for (pos, &c) in candidates.iter().enumerate().filter(|(p, _)| counts_after[*p] as usize * 4 >= sample.len()) {
                let how = if tuned.always.binary_search(&(pos as u32)).is_ok() { "no anchor" } else { "anchor found" };
                eprintln!("  still let through by {}/{}: {} ({how})", counts_after[pos], sample.len(), set.rules[set.compiled[c].index].title);
            }
        }
        // Better: markedly fewer rules let through, or as few for a markedly cheaper search.
        let fewer_rules = after * 5 <= before * 4;
        let cheaper = after <= before + sample.len() / 16 && cost_after * 10 <= cost_before * 7;
        (fewer_rules || cheaper).then_some(tuned)
    }

    /// A rough cost of the searches over the `sample` events: bytes searched, weighed by the
    /// speed measured per way (PowerShell text, command lines): Teddy ~0.06 ns a byte for 3
    /// needles and ~0.1 for 20; memchr ~0.05 per needle; a DFA ~1.7; an NFA or `Grams` on
    /// thousands of needles ~6.
    fn scan_cost(&self, sample: &[Event]) -> u64 {
        let mut cost = 0;
        for ev in sample {
            for f in &self.fields {
                let bytes = match &f.key {
                    Some(k) => ev.get_key(k).map_or(0, |v| v.to_text().len()),
                    None if f.in_strings => ev.strings().len(),
                    None => ev.text().len(),
                };
                cost += bytes as u64
                    * match &f.search {
                        Search::Each(_) => 16 * f.owners.len() as u64,
                        Search::Few { .. } => 16 + f.owners.len() as u64,
                        Search::Many(ac) if ac.kind() == aho_corasick::AhoCorasickKind::DFA => 600,
                        Search::Many(_) | Search::Grams(_) => 2000,
                    };
            }
        }
        cost
    }
}

/// A few short strings (2 to 6 bytes, lower-cased) such that each of 8 or more needles holds
/// one: chosen greedily, the part most needles hold first (the longest of those). `None` when
/// four parts do not do, or when the cover would not halve the list.
fn cover(needles: &[&str]) -> Option<Vec<String>> {
    if needles.len() < 8 {
        return None;
    }
    let mut left: Vec<String> = needles.iter().map(|n| fold(n)).collect();
    let mut parts: Vec<String> = Vec::new();
    while !left.is_empty() {
        if parts.len() == 4 || (parts.len() + 1) * 2 > needles.len() {
            return None;
        }
        // part -> (needles holding it, the last needle counted)
        let mut held: HashMap<&str, (usize, usize)> = HashMap::new();
        for (i, n) in left.iter().enumerate() {
            for start in 0..n.len() {
                for len in 2..=6 {
                    let Some(part) = n.get(start..start + len) else { continue };
                    let e = held.entry(part).or_insert((0, usize::MAX));
                    if e.1 != i {
                        *e = (e.0 + 1, i);
                    }
                }
            }
        }
        let best = held.into_iter().max_by(|a, b| (a.1 .0, a.0.len(), b.0).cmp(&(b.1 .0, b.0.len(), a.0)))?.0.to_string();
        left.retain(|n| !n.contains(best.as_str()));
        parts.push(best);
    }
    Some(parts)
}

/// Whether any match of `needle` (lower-cased) in an event's text lies inside one string value:
/// it holds no line break (values are joined by them) and could not be part of a number or a
/// boolean as the text writes them (`-12`, `1.5`, `inf`, `nan`, `true`, `false`).
fn in_one_string(needle: &str) -> bool {
    !needle.contains('\n') && needle.chars().any(|c| !(c.is_ascii_digit() || ".-+infatrulse".contains(c)))
}

/// Whether the `sample` events' values of `field` ("": the event text) are long enough, on
/// average, for a DFA or a cover. (A kind's first event alone misjudged PowerShell 4103
/// `Payload`s — 684 bytes on average on OTRF — and Sysmon 10 `CallTrace`s.)
fn is_long(sample: &[Event], field: &str) -> bool {
    if field.is_empty() {
        return true;
    }
    let lens: Vec<usize> = sample.iter().filter_map(|ev| ev.get(field)).map(|v| v.to_text().len()).collect();
    !lens.is_empty() && lens.iter().sum::<usize>() >= LONG_VALUE * lens.len()
}

/// The field a matcher's needles are looked for in ("" for keywords: the event text).
fn census_field(m: &Matcher, map: MapId) -> &str {
    if m.is_keyword() {
        ""
    } else {
        m.field_in(map).unwrap_or("\0")
    }
}

/// How many of a kind's sampled events held each needle, per field.
pub struct Census {
    /// field -> needle (lower-cased) -> events holding it
    held: HashMap<String, HashMap<String, u32>>,
    events: u32,
    /// Long needle lists (lower-cased) and their covers (see `cover`), counted in `held`.
    covers: HashMap<Vec<String>, Vec<String>>,
}

impl Census {
    /// Counts, for each field's needles (lower-cased), the `sample` events holding them.
    fn take(wanted: HashMap<String, Vec<String>>, sample: &[Event]) -> Census {
        let mut held: HashMap<String, HashMap<String, u32>> = HashMap::new();
        let mut lw = Lowered::default();
        for (field, mut needles) in wanted {
            needles.sort_unstable();
            needles.dedup();
            let Some(search) = Search::build(Way::guess(&needles, is_long(sample, &field), field.is_empty()), &needles) else {
                continue;
            };
            let key = (!field.is_empty()).then(|| FieldKey::new(&field));
            let mut counts = vec![0u32; needles.len()];
            let mut stamp = vec![usize::MAX; needles.len()];
            for (i, ev) in sample.iter().enumerate() {
                lw.clear();
                let text = match &key {
                    Some(k) => match lw.field(ev, k) {
                        Some(v) => v,
                        None => continue,
                    },
                    None => lw.text(ev),
                };
                search.each(text, |p| {
                    if stamp[p] != i {
                        stamp[p] = i;
                        counts[p] += 1;
                    }
                });
            }
            held.insert(field, needles.into_iter().zip(counts).collect());
        }
        Census { held, events: sample.len() as u32, covers: HashMap::new() }
    }

    /// The cover of a long needle list (folded), if it has one.
    fn cover_of(&self, needles: &[&str]) -> Option<&Vec<String>> {
        if self.covers.is_empty() {
            return None;
        }
        self.covers.get(&needles.iter().map(|n| n.to_string()).collect::<Vec<_>>())
    }

    /// Whether at most one sampled event in 16 held `needle` in `field` (lower-cased already).
    fn rare(&self, field: &str, needle: &str) -> bool {
        self.held.get(field).and_then(|f| f.get(needle)).is_some_and(|&n| n * 16 <= self.events)
    }

    /// How many sampled events held `needle` (folded, as matchers give them) in `field`.
    fn held(&self, field: &str, needle: &str) -> u32 {
        self.held.get(field).and_then(|f| f.get(needle)).copied().unwrap_or(0)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::route::field_maps;
    use events::{ReadOptions, Reader};

    const RULES: &str = "title: LSASS opened with all access
id: 00000000-0000-4000-8000-00000000000a
logsource:
  product: windows
  category: process_access
detection:
  selection:
    CallTrace|contains: 'ntdll.dll'
    GrantedAccess: '0x1fffff'
  condition: selection
---
title: LSASS read through dbghelp
id: 00000000-0000-4000-8000-00000000000b
logsource:
  product: windows
  category: process_access
detection:
  selection:
    TargetImage|endswith: '\\lsass.exe'
    CallTrace|contains: 'dbghelp.dll'
  condition: selection
";

    /// Sysmon 10 events whose call trace always holds `ntdll.dll`; one in 50 asks for all access.
    fn events() -> Vec<Event> {
        // Long, as real call traces are (a long value gets the searches made for them).
        let trace = r"C:\\Windows\\SYSTEM32\\ntdll.dll+9d4c4|C:\\Windows\\System32\\KERNELBASE.dll+2bcbe|".repeat(8) + "UNKNOWN(00007FF8A1B2C3D4)";
        let mut lines = String::new();
        for i in 0..1000 {
            let access = if i % 50 == 0 { "0x1FFFFF" } else { "0x1010" };
            lines.push_str(&format!(
                r#"{{"Channel":"Microsoft-Windows-Sysmon/Operational","Provider_Name":"Microsoft-Windows-Sysmon","EventID":10,"SourceImage":"C:\\Tools\\app{i}.exe","TargetImage":"C:\\Windows\\system32\\lsass.exe","GrantedAccess":"{access}","CallTrace":"{trace}"}}"#
            ));
            lines.push('\n');
        }
        let mut out = Vec::new();
        Reader::new(ReadOptions::default()).read_bytes("sysmon10.jsonl", lines.into_bytes(), |_, ev| out.push(ev));
        out
    }

    #[test]
    fn retuned_anchors_are_rare_in_the_sample_and_still_let_every_match_through() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("rules.yml"), RULES).unwrap();
        let loaded = catalog::load(&[dir.path().join("rules.yml")], &());
        assert!(loaded.failures.is_empty(), "{:?}", loaded.failures);
        let set = RuleSet::new(loaded.rules);
        assert_eq!(set.compiled.len(), 2, "{:?}", set.skipped);
        let events = events();
        assert_eq!(events.len(), 1000);
        let map = field_maps().map_of(&events[0]);
        let candidates: Vec<usize> = (0..set.compiled.len()).collect();

        // From the rules alone, the first rule is anchored on its longest needle, `ntdll.dll`,
        // which every event holds.
        let first = Prefilter::build(&set, &candidates, map, &events[..1], None);
        let (counts, _) = first.tally(&events[..128]);
        let all_access = set.compiled.iter().position(|c| set.rules[c.index].title.contains("all access")).unwrap();
        assert_eq!(counts[all_access], 128);

        let tuned = first.retune(&set, &candidates, map, &events[..128]).expect("a better anchor exists");
        let (counts, _) = tuned.tally(&events);
        assert_eq!(counts[all_access], 20, "now anchored on GrantedAccess");
        // Anchors are necessary conditions: every event a rule matches is let through to it.
        let (mut seen, mut memo, mut lw, mut out) = (Seen::default(), Memo::default(), Lowered::default(), Vec::new());
        let mut matches = 0;
        for ev in &events {
            lw.clear();
            tuned.select(ev, &mut seen, &mut memo, &mut lw, &mut out);
            for (pos, &c) in candidates.iter().enumerate() {
                if set.compiled[c].root.eval(ev, map, &mut lw) {
                    matches += 1;
                    assert!(out.contains(&(pos as u32)), "a match of {} was not let through", set.rules[set.compiled[c].index].title);
                }
            }
        }
        assert_eq!(matches, 20);
        // Rules whose anchors are rare already keep the prefilter as it is.
        let dbghelp = [1 - all_access];
        let only = Prefilter::build(&set, &dbghelp, map, &events[..1], None);
        assert_eq!(only.tally(&events[..128]).1, 0);
        assert!(only.retune(&set, &dbghelp, map, &events[..128]).is_none());
    }

    #[test]
    fn long_lists_are_looked_for_by_their_cover_when_the_sample_shows_it_rare() {
        let names: Vec<String> = (0..20).map(|i| format!("Invoke-Tool{i}.ps1")).chain(["PowerRun.psm1".to_string()]).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        assert_eq!(cover(&refs), Some(vec![".ps".to_string()]));
        assert_eq!(cover(&refs[..7]), None, "short lists stay as they are");
        let mimikatz = ["dpapi::masterkey", "eo.oe.kiwi", "event::clear", "event::drop", "gentilkiwi.com", "kerberos::golden", "kerberos::ptc", "kerberos::ptt", "kerberos::tgt", "Kiwi Legit Printer", "lsadump::", "mimidrv.sys", "\\mimilib.dll", "misc::printnightmare", "misc::shadowcopies", "misc::skeleton", "privilege::backup", "privilege::debug", "privilege::driver", "sekurlsa::"];
        assert_eq!(cover(&mimikatz), Some(vec!["::".to_string(), "kiwi".to_string(), "mimi".to_string()]));
        let scattered: Vec<String> = (0..8).map(|i| format!("{}{}", (b'a' + i) as char, (b'q' + i) as char)).collect();
        assert_eq!(cover(&scattered.iter().map(String::as_str).collect::<Vec<_>>()), None, "no cover halves the list");

        let dir = tempfile::tempdir().unwrap();
        let list: String = names.iter().map(|n| format!("      - '{n}'\n")).collect();
        let rule = format!("title: Known scripts\nid: 00000000-0000-4000-8000-00000000000c\nlogsource:\n  product: windows\n  category: process_access\ndetection:\n  selection:\n    CallTrace|contains:\n{list}  condition: selection\n");
        std::fs::write(dir.path().join("rule.yml"), rule).unwrap();
        let set = RuleSet::new(catalog::load(&[dir.path().join("rule.yml")], &()).rules);
        let mut events = events();
        let mut hit = String::new();
        Reader::new(ReadOptions::default()).read_bytes(
            "hit.jsonl",
            br#"{"Channel":"Microsoft-Windows-Sysmon/Operational","Provider_Name":"Microsoft-Windows-Sysmon","EventID":10,"CallTrace":"C:/x/INVOKE-TOOL7.PS1|ntdll.dll"}"#.to_vec(),
            |_, ev| {
                hit = ev.get_str("CallTrace").unwrap_or_default().to_string();
                events.push(ev)
            },
        );
        assert!(!hit.is_empty());
        let map = field_maps().map_of(&events[0]);
        let first = Prefilter::build(&set, &[0], map, &events[..1], None);
        let tuned = first.retune(&set, &[0], map, &events[..128]).expect("one needle instead of 21");
        assert_eq!(tuned.fields.iter().map(|f| f.owners.len()).sum::<usize>(), 1);
        // Still a necessary condition: the event that holds a listed name is let through.
        let (counts, _) = tuned.tally(&events);
        assert_eq!(counts[0], 1);
    }

    #[test]
    fn a_regex_is_anchored_on_the_literal_part_the_sample_shows_rarest() {
        // SigmaHQ's Invoke-Obfuscation STDIN+ launcher: every match holds `powershell`, and
        // `noexit` or `$input`; in real command lines the first is everywhere.
        let rule = r#"title: STDIN launcher
id: 00000000-0000-4000-8000-00000000000d
logsource:
  product: windows
  category: process_creation
detection:
  selection:
    CommandLine|re: 'cmd.{0,5}(?:/c|/r).+powershell.+(?:\$\{?input\}?|noexit).+\"'
  condition: selection
"#;
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("rule.yml"), rule).unwrap();
        let set = RuleSet::new(catalog::load(&[dir.path().join("rule.yml")], &()).rules);
        assert_eq!(set.compiled.len(), 1, "{:?}", set.skipped);
        let mut lines = String::new();
        for i in 0..200 {
            let cmd = if i == 150 {
                r#"cmd.exe /c echo Invoke-Expression | powershell -noexit -\"\""#.to_string()
            } else {
                format!(r#"cmd.exe /c powershell.exe -File C:\\Scripts\\job{i}.ps1 \"-x\""#)
            };
            lines.push_str(&format!(
                r#"{{"Channel":"Microsoft-Windows-Sysmon/Operational","Provider_Name":"Microsoft-Windows-Sysmon","EventID":1,"Image":"C:\\Windows\\System32\\cmd.exe","CommandLine":"{cmd}"}}"#
            ));
            lines.push('\n');
        }
        let mut events = Vec::new();
        Reader::new(ReadOptions::default()).read_bytes("sysmon1.jsonl", lines.into_bytes(), |_, ev| events.push(ev));
        assert_eq!(events.len(), 200);
        let map = field_maps().map_of(&events[0]);
        let first = Prefilter::build(&set, &[0], map, &events[..1], None);
        assert_eq!(first.tally(&events).0[0], 200, "anchored on powershell: every event");
        let tuned = first.retune(&set, &[0], map, &events[..128]).expect("a rarer literal part exists");
        assert_eq!(tuned.tally(&events).0[0], 1, "anchored on noexit / $input");
        // The one match is among them.
        let mut lw = Lowered::default();
        assert!(set.compiled[0].root.eval(&events[150], map, &mut lw));
        let (mut seen, mut memo, mut out) = (Seen::default(), Memo::default(), Vec::new());
        lw.clear();
        tuned.select(&events[150], &mut seen, &mut memo, &mut lw, &mut out);
        assert_eq!(out, [0]);
    }
}
