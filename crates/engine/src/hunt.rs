//! A hunt: read logs on every core, match each event against the candidate rules of its kind,
//! then put the matches in event-time order and run the correlation windows over them.
//!
//! Matching happens on the decoding threads (`events::Reader::read_parallel`), so a hunt costs
//! little more than decoding. Only matches are kept (with the few fields an alert shows); events
//! are dropped as soon as they are tested. Correlation windows see matches in event-time order
//! whatever the order the files were read in, and their state expires with the window.

use std::collections::BTreeMap;

use rayon::prelude::*;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Instant;

use events::{Event, Origin, ReadOptions, ReadReport, Reader};

use crate::alert::{Alert, CorrelationInfo};
use crate::correlate::{Hit, Window};
use crate::matcher::{MapId, Matcher};
use crate::route::field_maps;
use crate::ruleset::{RuleSet, Session};

#[derive(Debug, Clone, Default)]
pub struct HuntOptions {
    pub read: ReadOptions,
    /// Hand events to the matching code on the calling thread, in input order (for small inputs
    /// and tests); otherwise on the decoding threads.
    pub sequential: bool,
}

/// What a hunt found and read.
#[derive(Debug)]
pub struct HuntResult {
    /// In event-time order (rule id breaks ties).
    pub alerts: Vec<Alert>,
    pub report: ReadReport,
    /// Wall time of reading + matching, and of the whole hunt.
    pub match_seconds: f64,
    pub seconds: f64,
    /// Rule matches before correlation (members of correlations included).
    pub matches: usize,
}

impl HuntResult {
    pub fn events(&self) -> u64 {
        self.report.events()
    }

    pub fn events_per_second(&self) -> f64 {
        self.events() as f64 / self.seconds.max(1e-9)
    }

    /// Events read per file type (`evtx`, `jsonl`, `json`; archive entries by their own type).
    pub fn events_by_kind(&self) -> BTreeMap<&'static str, u64> {
        let mut m = BTreeMap::new();
        for f in &self.report.files {
            if f.events > 0 || !f.kind.is_archive() {
                *m.entry(f.kind.as_str()).or_insert(0) += f.events;
            }
        }
        m.retain(|k, _| *k != "dir" && *k != "unknown");
        m
    }

    pub fn alerts_by_rule(&self) -> Vec<(String, String, usize)> {
        let mut m: BTreeMap<(String, String), usize> = BTreeMap::new();
        for a in &self.alerts {
            *m.entry((a.rule_id.clone(), a.title.clone())).or_default() += 1;
        }
        let mut v: Vec<_> = m.into_iter().map(|((id, t), n)| (id, t, n)).collect();
        v.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| a.1.cmp(&b.1)));
        v
    }

    pub fn alerts_by_level(&self) -> BTreeMap<String, usize> {
        let mut m = BTreeMap::new();
        for a in &self.alerts {
            *m.entry(a.level.clone().unwrap_or_else(|| "-".into())).or_default() += 1;
        }
        m
    }
}

/// One rule match, with what its alert and its correlations need from the event.
struct Match {
    ev: EventInfo,
    compiled: usize,
    fields: BTreeMap<String, String>,
    /// Per correlation fed: (correlation, member position, group values, counted value).
    feeds: Vec<(usize, usize, Vec<String>, Option<String>)>,
}

/// Per decoding thread: its evaluator and what it found.
struct Slot<'a> {
    session: Session<'a>,
    scratch: Vec<usize>,
    /// In chunks: one growing vector of matches (~250 bytes each) would be copied on each growth.
    found: Vec<Vec<Match>>,
    /// The files met, as alerts write them (made once per file), and the current one.
    files: Vec<String>,
    file: Option<(Origin, u32)>,
}

const CHUNK: usize = 4096;

impl Slot<'_> {
    fn new(set: &RuleSet) -> Slot<'_> {
        Slot { session: set.session(), scratch: Vec::new(), found: Vec::new(), files: Vec::new(), file: None }
    }

    fn push(&mut self, m: Match) {
        match self.found.last_mut() {
            Some(chunk) if chunk.len() < CHUNK => chunk.push(m),
            _ => {
                let mut chunk = Vec::with_capacity(CHUNK);
                chunk.push(m);
                self.found.push(chunk);
            }
        }
    }

    /// The current file's index in `files`.
    fn file(&mut self, origin: &Origin) -> u32 {
        match &self.file {
            Some((o, ix)) if o == origin => *ix,
            _ => {
                let ix = self.files.len() as u32;
                self.files.push(origin.to_string());
                self.file = Some((origin.clone(), ix));
                ix
            }
        }
    }
}

/// Reads a rule field from an event under a field map (the name the event uses for it).
fn read_field(ev: &Event, name: &str, map: MapId) -> Option<String> {
    let mapped = field_maps().renames(name).into_iter().find(|(id, _)| *id == map).map(|(_, n)| n);
    let v = ev.get(mapped.as_deref().unwrap_or(name))?;
    (!v.is_null()).then(|| v.to_text().into_owned())
}

struct Matching<'a> {
    set: &'a RuleSet,
    matchers: Vec<Vec<&'a Matcher>>,
}

/// What an alert says of its event: made once per event, shared by the event's matches.
#[derive(Clone)]
struct EventInfo {
    time_ms: i64,
    timestamp: Option<String>,
    /// The file, as an index into the hunt's list of files (see [`Slot::files`]).
    file_ix: u32,
    computer: Option<String>,
    channel: Option<String>,
    provider: Option<String>,
    event_id: Option<u32>,
    record_id: Option<u64>,
}

impl<'a> Matching<'a> {
    fn new(set: &'a RuleSet) -> Self {
        Matching { set, matchers: (0..set.compiled.len()).map(|c| set.matchers(c)).collect() }
    }

    fn on_event(&self, slot: &mut Slot<'a>, origin: &Origin, ev: &Event) {
        let mut hits = std::mem::take(&mut slot.scratch);
        let map = slot.session.scan(ev, &mut hits);
        if !hits.is_empty() {
            let ts = ev.timestamp();
            let info = EventInfo {
                time_ms: ts.map(|t| t.as_millisecond()).unwrap_or(0),
                timestamp: ts.map(|t| t.to_string()),
                file_ix: slot.file(origin),
                computer: ev.computer().map(str::to_string),
                channel: ev.channel().map(str::to_string),
                provider: ev.provider().map(str::to_string),
                event_id: ev.event_id(),
                record_id: ev.record_id(),
            };
            // The event's strings are moved into its last match, cloned for the others.
            if let Some((&last, rest)) = hits.split_last() {
                for &c in rest {
                    let m = self.record(c, info.clone(), ev, map);
                    slot.push(m);
                }
                let m = self.record(last, info, ev, map);
                slot.push(m);
            }
        }
        slot.scratch = hits;
    }

    fn record(&self, c: usize, info: EventInfo, ev: &Event, map: MapId) -> Match {
        let set = self.set;
        let mut fields = BTreeMap::new();
        for m in &self.matchers[c] {
            let Some(key) = m.key(map) else { continue };
            if fields.contains_key(key.name()) {
                continue;
            }
            if let Some(v) = ev.get_key(key) {
                fields.insert(key.name().to_string(), v.to_text().into_owned());
            }
        }
        let feeds = set.feeds[c]
            .iter()
            .map(|&(corr, pos)| {
                let cr = &set.correlations[corr];
                let group = cr.group_fields[pos].iter().map(|g| read_field(ev, g, map).unwrap_or_default()).collect();
                let value = cr.value_field.as_deref().and_then(|f| read_field(ev, f, map));
                (corr, pos, group, value)
            })
            .collect();
        Match { ev: info, compiled: c, fields, feeds }
    }
}

/// Runs the rule set over the logs (files, folders, archives). `progress` is told how many more
/// events were read, now and then, from the decoding threads.
pub fn hunt(set: &RuleSet, logs: &[PathBuf], opts: &HuntOptions, progress: &(dyn Fn(u64) + Sync)) -> HuntResult {
    let t0 = Instant::now();
    let matching = Matching::new(set);
    let reader = Reader::new(opts.read.clone());
    let mut found: Vec<Match>;
    let mut files: Vec<String>;
    let report;
    if opts.sequential {
        let mut slot = Slot::new(set);
        let mut n = 0u64;
        report = reader.read(logs, |origin, ev| {
            matching.on_event(&mut slot, origin, &ev);
            n += 1;
            if n.is_multiple_of(4096) {
                progress(4096);
            }
        });
        progress(n % 4096);
        found = slot.found.into_iter().flatten().collect();
        files = slot.files;
    } else {
        // One slot per pool thread (+1 for a caller outside the pool): each lock is uncontended.
        let threads = rayon::current_num_threads() + 1;
        let slots: Vec<Mutex<(Slot, u64)>> = (0..threads)
            .map(|_| Mutex::new((Slot::new(set), 0)))
            .collect();
        report = reader.read_parallel(logs, |origin, ev| {
            let i = rayon::current_thread_index().map_or(threads - 1, |i| i % (threads - 1));
            let mut guard = slots[i].lock().unwrap_or_else(|p| p.into_inner());
            let (slot, n) = &mut *guard;
            matching.on_event(slot, origin, &ev);
            *n += 1;
            if *n % 4096 == 0 {
                progress(4096);
            }
        });
        let slots: Vec<(Slot, u64)> = slots.into_iter().map(|s| s.into_inner().unwrap_or_else(|p| p.into_inner())).collect();
        found = Vec::with_capacity(slots.iter().flat_map(|(s, _)| &s.found).map(Vec::len).sum());
        files = Vec::new();
        for (slot, n) in slots {
            progress(n % 4096);
            let base = files.len() as u32;
            files.extend(slot.files);
            found.extend(slot.found.into_iter().flatten().map(|mut m| {
                m.ev.file_ix += base;
                m
            }));
        }
    }
    let match_seconds = t0.elapsed().as_secs_f64();
    let matches = found.len();
    let alerts = alerts(set, found, &files);
    HuntResult { alerts, report, match_seconds, seconds: t0.elapsed().as_secs_f64(), matches }
}

/// The alert of rule `rule` (an index into the rules) on an event, with `fields`.
fn alert_for(set: &RuleSet, rule: usize, ev: EventInfo, fields: BTreeMap<String, String>, files: &[String]) -> Alert {
    let r = &set.rules[rule];
    Alert {
        timestamp: ev.timestamp,
        computer: ev.computer,
        channel: ev.channel,
        provider: ev.provider,
        event_id: ev.event_id,
        record_id: ev.record_id,
        rule_id: r.id.clone(),
        title: r.title.clone(),
        level: r.level.clone(),
        techniques: r.attack.iter().map(|a| a.technique.clone()).collect(),
        file: files[ev.file_ix as usize].clone(),
        fields,
        correlation: None,
        time_ms: ev.time_ms,
    }
}

/// Matches → alerts: the correlation windows' (fed the matches in event-time order, ties broken
/// by record, rule and file), then the direct ones, all in event-time order, ties broken by rule
/// id, file and record. Sorted as small keys, not as the matches (~250 bytes each): that tail
/// of the hunt runs on one core.
fn alerts(set: &RuleSet, found: Vec<Match>, files: &[String]) -> Vec<Alert> {
    // Files (`Match::file_ix`) and rules as the ranks of their names and ids.
    let file_rank = ranks(files);
    let file_of = |m: &Match| file_rank[m.ev.file_ix as usize];
    let rule_rank = ranks(&set.rules.iter().map(|r| r.id.as_str()).collect::<Vec<_>>());

    let mut order: Vec<(i64, Option<u64>, usize, u32, usize)> =
        found.iter().enumerate().map(|(i, m)| (m.ev.time_ms, m.ev.record_id, m.compiled, file_of(m), i)).collect();
    order.sort_unstable();
    let mut windows: Vec<Window> = set.correlations.iter().map(|c| Window::new(c.spec.clone())).collect();
    for &(.., i) in &order {
        let m = &found[i];
        for (corr, pos, group, value) in &m.feeds {
            windows[*corr].push(Hit { time_ms: m.ev.time_ms, member: *pos, group: group.clone(), value: value.clone(), source: i });
        }
    }
    // (time, rule rank, file rank, record, then the order they were made in — the
    // correlations' alerts first, the direct ones in the order above —, source).
    let mut keys: Vec<(i64, u32, u32, Option<u64>, usize, Source)> = Vec::new();
    let mut fired: Vec<Option<Alert>> = Vec::new();
    for (corr, w) in windows.into_iter().enumerate() {
        let cr = &set.correlations[corr];
        for f in w.fired {
            let Some(&last) = f.sources.last() else { continue };
            let m = &found[last];
            let group: BTreeMap<String, String> = cr.group_by.iter().cloned().zip(f.group.iter().cloned()).collect();
            let mut a = alert_for(set, cr.rule, m.ev.clone(), group.clone(), files);
            a.correlation = Some(CorrelationInfo {
                kind: cr.spec.kind.name().to_string(),
                group,
                value: f.value,
                matches: f.sources.len(),
            });
            keys.push((a.time_ms, rule_rank[cr.rule], file_of(m), a.record_id, fired.len(), Source::Fired(fired.len())));
            fired.push(Some(a));
        }
    }
    let made = fired.len();
    for (n, &(.., i)) in order.iter().enumerate() {
        let m = &found[i];
        if set.alerts_on_match[m.compiled] {
            keys.push((m.ev.time_ms, rule_rank[set.compiled[m.compiled].index], file_of(m), m.ev.record_id, made + n, Source::Match(i)));
        }
    }
    keys.sort_unstable();
    // The direct alerts, made from the matches (moved, not copied) on every core.
    let mut direct: Vec<Option<Alert>> = found
        .into_par_iter()
        .map(|m| set.alerts_on_match[m.compiled].then(|| alert_for(set, set.compiled[m.compiled].index, m.ev, m.fields, files)))
        .collect();
    // Sized up front: ~350 bytes an alert, a growing vector would be copied and faulted in
    // again at each doubling.
    let mut alerts = Vec::with_capacity(keys.len());
    alerts.extend(keys.into_iter().filter_map(|k| match k.5 {
        Source::Fired(j) => fired[j].take(),
        Source::Match(i) => direct[i].take(),
    }));
    alerts
}

/// Each item's rank in sort order (equal items, equal ranks).
fn ranks<T: Ord>(items: &[T]) -> Vec<u32> {
    let mut by: Vec<usize> = (0..items.len()).collect();
    by.sort_by(|&a, &b| items[a].cmp(&items[b]));
    let mut rank = vec![0u32; items.len()];
    for (i, &ix) in by.iter().enumerate() {
        rank[ix] = if i > 0 && items[by[i - 1]] == items[ix] { rank[by[i - 1]] } else { i as u32 };
    }
    rank
}

/// Where an alert comes from: a correlation that fired, or a match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Source {
    Fired(usize),
    Match(usize),
}
