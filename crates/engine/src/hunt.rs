//! A hunt: read logs on every core, match each event against the candidate rules of its kind,
//! then put the matches in event-time order and run the correlation windows over them.
//!
//! Matching happens on the decoding threads (`events::Reader::read_parallel`), so a hunt costs
//! little more than decoding. Only matches are kept (with the few fields an alert shows); events
//! are dropped as soon as they are tested. Correlation windows see matches in event-time order
//! whatever the order the files were read in, and their state expires with the window.

use std::collections::BTreeMap;
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
    time_ms: i64,
    timestamp: Option<String>,
    compiled: usize,
    file: String,
    computer: Option<String>,
    channel: Option<String>,
    provider: Option<String>,
    event_id: Option<u32>,
    record_id: Option<u64>,
    fields: BTreeMap<String, String>,
    /// Per correlation fed: (correlation, member position, group values, counted value).
    feeds: Vec<(usize, usize, Vec<String>, Option<String>)>,
}

/// Per decoding thread: its evaluator and what it found.
struct Slot<'a> {
    session: Session<'a>,
    scratch: Vec<usize>,
    found: Vec<Match>,
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

impl<'a> Matching<'a> {
    fn new(set: &'a RuleSet) -> Self {
        Matching { set, matchers: (0..set.compiled.len()).map(|c| set.matchers(c)).collect() }
    }

    fn on_event(&self, slot: &mut Slot<'a>, origin: &Origin, ev: &Event) {
        let mut hits = std::mem::take(&mut slot.scratch);
        let map = slot.session.scan(ev, &mut hits);
        for &c in &hits {
            slot.found.push(self.record(c, origin, ev, map));
        }
        slot.scratch = hits;
    }

    fn record(&self, c: usize, origin: &Origin, ev: &Event, map: MapId) -> Match {
        let set = self.set;
        let mut fields = BTreeMap::new();
        for m in &self.matchers[c] {
            if let Some(name) = m.field_in(map) {
                if let Some(v) = ev.get(name) {
                    fields.entry(name.to_string()).or_insert_with(|| v.to_text().into_owned());
                }
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
        let ts = ev.timestamp();
        Match {
            time_ms: ts.map(|t| t.as_millisecond()).unwrap_or(0),
            timestamp: ts.map(|t| t.to_string()),
            compiled: c,
            file: origin.to_string(),
            computer: ev.computer().map(str::to_string),
            channel: ev.channel().map(str::to_string),
            provider: ev.provider().map(str::to_string),
            event_id: ev.event_id(),
            record_id: ev.record_id(),
            fields,
            feeds,
        }
    }
}

/// Runs the rule set over the logs (files, folders, archives). `progress` is told how many more
/// events were read, now and then, from the decoding threads.
pub fn hunt(set: &RuleSet, logs: &[PathBuf], opts: &HuntOptions, progress: &(dyn Fn(u64) + Sync)) -> HuntResult {
    let t0 = Instant::now();
    let matching = Matching::new(set);
    let reader = Reader::new(opts.read.clone());
    let mut found: Vec<Match>;
    let report;
    if opts.sequential {
        let mut slot = Slot { session: set.session(), scratch: Vec::new(), found: Vec::new() };
        let mut n = 0u64;
        report = reader.read(logs, |origin, ev| {
            matching.on_event(&mut slot, origin, &ev);
            n += 1;
            if n.is_multiple_of(4096) {
                progress(4096);
            }
        });
        progress(n % 4096);
        found = slot.found;
    } else {
        // One slot per pool thread (+1 for a caller outside the pool): each lock is uncontended.
        let threads = rayon::current_num_threads() + 1;
        let slots: Vec<Mutex<(Slot, u64)>> = (0..threads)
            .map(|_| Mutex::new((Slot { session: set.session(), scratch: Vec::new(), found: Vec::new() }, 0)))
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
        found = Vec::new();
        for s in slots {
            let (slot, n) = s.into_inner().unwrap_or_else(|p| p.into_inner());
            progress(n % 4096);
            found.extend(slot.found);
        }
    }
    let match_seconds = t0.elapsed().as_secs_f64();
    // Ties in time broken by record and rule, then by file (compared last: strings).
    found.sort_by(|a, b| {
        (a.time_ms, a.record_id, a.compiled).cmp(&(b.time_ms, b.record_id, b.compiled)).then_with(|| a.file.cmp(&b.file))
    });
    let matches = found.len();
    let alerts = alerts(set, found);
    HuntResult { alerts, report, match_seconds, seconds: t0.elapsed().as_secs_f64(), matches }
}

fn alert_for(set: &RuleSet, rule: usize, m: Match) -> Alert {
    let r = &set.rules[rule];
    Alert {
        timestamp: m.timestamp,
        computer: m.computer,
        channel: m.channel,
        provider: m.provider,
        event_id: m.event_id,
        record_id: m.record_id,
        rule_id: r.id.clone(),
        title: r.title.clone(),
        level: r.level.clone(),
        techniques: r.attack.iter().map(|a| a.technique.clone()).collect(),
        file: m.file,
        fields: m.fields,
        correlation: None,
        time_ms: m.time_ms,
    }
}

/// Matches (in event-time order) → alerts: the correlation windows', then the direct ones
/// (which take the matches' data without copying it).
fn alerts(set: &RuleSet, found: Vec<Match>) -> Vec<Alert> {
    let mut windows: Vec<Window> = set.correlations.iter().map(|c| Window::new(c.spec.clone())).collect();
    for (i, m) in found.iter().enumerate() {
        for (corr, pos, group, value) in &m.feeds {
            windows[*corr].push(Hit { time_ms: m.time_ms, member: *pos, group: group.clone(), value: value.clone(), source: i });
        }
    }
    let mut out = Vec::new();
    for (corr, w) in windows.into_iter().enumerate() {
        let cr = &set.correlations[corr];
        for f in w.fired {
            let Some(&last) = f.sources.last() else { continue };
            let m = &found[last];
            let mut a = alert_for(
                set,
                cr.rule,
                Match {
                    time_ms: m.time_ms,
                    timestamp: m.timestamp.clone(),
                    compiled: m.compiled,
                    file: m.file.clone(),
                    computer: m.computer.clone(),
                    channel: m.channel.clone(),
                    provider: m.provider.clone(),
                    event_id: m.event_id,
                    record_id: m.record_id,
                    fields: BTreeMap::new(),
                    feeds: Vec::new(),
                },
            );
            let group: BTreeMap<String, String> = cr.group_by.iter().cloned().zip(f.group.iter().cloned()).collect();
            a.fields = group.clone();
            a.correlation = Some(CorrelationInfo {
                kind: cr.spec.kind.name().to_string(),
                group,
                value: f.value,
                matches: f.sources.len(),
            });
            out.push(a);
        }
    }
    for m in found {
        if set.alerts_on_match[m.compiled] {
            let rule = set.compiled[m.compiled].index;
            out.push(alert_for(set, rule, m));
        }
    }
    // By time, rule id, file and record; the rule ids compared as their ranks (computed once).
    let mut ids: Vec<&str> = set.rules.iter().map(|r| r.id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    let mut ranked: Vec<(usize, Alert)> =
        out.into_iter().map(|a| (ids.binary_search(&a.rule_id.as_str()).unwrap_or(usize::MAX), a)).collect();
    ranked.sort_by(|(ra, a), (rb, b)| (a.time_ms, ra, &a.file, a.record_id).cmp(&(b.time_ms, rb, &b.file, b.record_id)));
    ranked.into_iter().map(|(_, a)| a).collect()
}
