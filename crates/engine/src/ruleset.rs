//! Many rules compiled together: which can run, which cannot (and why), which are members of
//! correlations, and the per-event candidate lookup by log source.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use events::Event;
use ir::{CorrelationKind, Rule, StageKind};

use crate::compile::{compile, Compiled, Node};
use crate::correlate::{Kind, Spec};
use crate::lowered::Lowered;
use crate::matcher::{MapId, Matcher};
use crate::memo::Memo;
use crate::placeholders::Placeholders;
use crate::prefilter::{Prefilter, Seen};
use crate::route::{field_maps, Scope};
use crate::search;
use rustc_hash::FxHashMap;

/// A rule that will not run, and why.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Skipped {
    pub rule_id: String,
    pub title: String,
    pub reason: String,
}

/// A correlation ready to run over its members' matches.
#[derive(Debug)]
pub struct CorrelationRule {
    /// Index into `RuleSet::rules` of the correlation rule (or of the rule with a legacy aggregation).
    pub rule: usize,
    pub spec: Spec,
    /// Compiled member rules, in the order the correlation lists them.
    pub members: Vec<usize>,
    /// Group-by names, and per member the event field holding each.
    pub group_by: Vec<String>,
    pub group_fields: Vec<Vec<String>>,
    /// The counted/summed field (value_* kinds), per member.
    pub value_field: Option<String>,
}

pub struct RuleSet {
    pub rules: Vec<Rule>,
    pub compiled: Vec<Compiled>,
    pub skipped: Vec<Skipped>,
    pub correlations: Vec<CorrelationRule>,
    /// Per compiled rule: its own matches are alerts (false for members of a correlation
    /// without `generate: true`, and for rules with a legacy aggregation).
    pub alerts_on_match: Vec<bool>,
    /// Per compiled rule: the correlations it feeds.
    pub feeds: Vec<Vec<(usize, usize)>>,
    kinds: KindCache,
}

fn corr_kind(k: CorrelationKind) -> Kind {
    match k {
        CorrelationKind::EventCount => Kind::EventCount,
        CorrelationKind::ValueCount => Kind::ValueCount,
        CorrelationKind::Temporal => Kind::Temporal,
        CorrelationKind::TemporalOrdered => Kind::TemporalOrdered,
        CorrelationKind::ValueSum => Kind::Sum,
        CorrelationKind::ValueAvg => Kind::Avg,
        CorrelationKind::ValueMedian => Kind::Median,
        CorrelationKind::ValuePercentile => Kind::Percentile(50.0),
    }
}

impl RuleSet {
    pub fn new(rules: Vec<Rule>) -> RuleSet {
        Self::with_placeholders(rules, &Placeholders::new())
    }

    /// Rules whose `expand` modifiers take their values from `placeholders`.
    pub fn with_placeholders(rules: Vec<Rule>, placeholders: &Placeholders) -> RuleSet {
        let mut compiled = Vec::new();
        let mut skipped = Vec::new();
        let mut of_rule: HashMap<usize, usize> = HashMap::new();
        let skip = |r: &Rule, reason: String| Skipped { rule_id: r.id.clone(), title: r.title.clone(), reason };
        for (i, r) in rules.iter().enumerate() {
            if r.source != ir::Source::Sigma {
                skipped.push(skip(r, format!("{} rules do not run in the engine yet", r.source.as_str())));
                continue;
            }
            if r.kind == "correlation" {
                continue;
            }
            if r.kind == "filter" {
                continue;
            }
            match compile(i, r, placeholders) {
                Ok(c) => {
                    of_rule.insert(i, compiled.len());
                    compiled.push(c);
                }
                Err(e) => skipped.push(skip(r, e.0)),
            }
        }
        // Meta filters: the filter's condition is and-ed to each rule it names, as pySigma applies
        // them (a filter that excludes says so: `condition: not selection`).
        let names = |r: &Rule| [Some(r.id.clone()), r.own_id.clone(), r.name.clone()].into_iter().flatten().collect::<Vec<_>>();
        for (i, f) in rules.iter().enumerate().filter(|(_, r)| r.kind == "filter" && r.source == ir::Source::Sigma) {
            let targets: Vec<String> = f
                .meta
                .get("filter_rules")
                .and_then(|v| v.as_array())
                .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
                .unwrap_or_default();
            let mut applied = 0;
            for c in compiled.iter_mut() {
                if !names(&rules[c.index]).iter().any(|n| targets.contains(n)) {
                    continue;
                }
                match compile(i, f, placeholders) {
                    Ok(fc) => {
                        let root = std::mem::replace(&mut c.root, Node::Const(true));
                        c.root = Node::And(vec![root, fc.root]);
                        applied += 1;
                    }
                    Err(e) => {
                        skipped.push(skip(f, e.0));
                        break;
                    }
                }
            }
            if applied == 0 && !skipped.iter().any(|s| s.rule_id == f.id) {
                skipped.push(skip(f, format!("the rules this filter applies to are not loaded: {}", targets.join(", "))));
            }
        }
        let mut alerts_on_match = vec![true; compiled.len()];
        let mut feeds = vec![Vec::new(); compiled.len()];
        let mut correlations = Vec::new();

        // Legacy aggregations: the rule's matches feed its own window.
        for (ci, c) in compiled.iter().enumerate() {
            if let Some(a) = &c.aggregation {
                let kind = match (a.func.as_str(), &a.field) {
                    ("count", None) => Kind::EventCount,
                    ("count", Some(_)) => Kind::ValueCount,
                    ("sum", _) => Kind::Sum,
                    ("avg", _) => Kind::Avg,
                    ("min", _) => Kind::Min,
                    ("max", _) => Kind::Max,
                    _ => Kind::EventCount,
                };
                alerts_on_match[ci] = false;
                feeds[ci].push((correlations.len(), 0));
                correlations.push(CorrelationRule {
                    rule: c.index,
                    spec: Spec {
                        kind,
                        members: 1,
                        window_ms: a.within_secs.map(|s| s as i64 * 1000),
                        conditions: vec![(a.op, a.threshold)],
                    },
                    members: vec![ci],
                    group_by: a.by.clone(),
                    group_fields: vec![a.by.clone()],
                    value_field: a.field.clone(),
                });
            }
        }

        // Sigma correlations: members by id or name.
        let lookup = |name: &str| -> Option<usize> {
            rules.iter().position(|r| r.id == name || r.own_id.as_deref() == Some(name) || r.name.as_deref() == Some(name))
        };
        for (i, r) in rules.iter().enumerate() {
            if r.kind != "correlation" {
                continue;
            }
            let Some(StageKind::Correlation(c)) = r.logic.stages.get(r.logic.output).map(|s| &s.kind) else {
                skipped.push(skip(r, "correlation rule without a correlation stage".into()));
                continue;
            };
            let mut members = Vec::new();
            let mut missing = Vec::new();
            for name in &c.rules {
                match lookup(name).and_then(|ri| of_rule.get(&ri).copied()) {
                    Some(ci) => members.push(ci),
                    None => missing.push(name.clone()),
                }
            }
            if !missing.is_empty() {
                skipped.push(skip(r, format!("referenced rules not found or not runnable: {}", missing.join(", "))));
                continue;
            }
            let group_fields = members
                .iter()
                .map(|&ci| {
                    let member = &rules[compiled[ci].index];
                    c.group_by
                        .iter()
                        .map(|g| {
                            c.aliases
                                .get(g)
                                .and_then(|m| {
                                    [Some(&member.id), member.own_id.as_ref(), member.name.as_ref()]
                                        .into_iter()
                                        .flatten()
                                        .find_map(|k| m.get(k))
                                })
                                .cloned()
                                .unwrap_or_else(|| g.clone())
                        })
                        .collect()
                })
                .collect();
            let ix = correlations.len();
            for (pos, &ci) in members.iter().enumerate() {
                feeds[ci].push((ix, pos));
                if !c.generate {
                    alerts_on_match[ci] = false;
                }
            }
            correlations.push(CorrelationRule {
                rule: i,
                spec: Spec {
                    kind: corr_kind(c.kind),
                    members: members.len(),
                    window_ms: c.timespan_secs.map(|s| s as i64 * 1000),
                    conditions: c.condition.clone(),
                },
                members,
                group_by: c.group_by.clone(),
                group_fields,
                value_field: c.field.clone(),
            });
        }
        RuleSet { rules, compiled, skipped, correlations, alerts_on_match, feeds, kinds: KindCache::default() }
    }

    /// A per-thread evaluator (it caches the candidate rules per kind of event).
    pub fn session(&self) -> Session<'_> {
        Session { set: self, kinds: Vec::new(), by_hash: FxHashMap::default(), recent: [usize::MAX; RECENT], seen: Seen::default(), memo: Memo::default(), picked: Vec::new(), lw: Lowered::default() }
    }

    /// The prefilters' searches, shared (see [`search::Cache`]).
    pub(crate) fn searches(&self) -> &search::Cache {
        &self.kinds.searches
    }

    /// The matchers of a compiled rule (for the fields an alert shows).
    pub fn matchers(&self, compiled: usize) -> Vec<&Matcher> {
        let mut v = Vec::new();
        self.compiled[compiled].root.leaves(&mut v);
        v
    }
}

/// One kind of event (channel, provider, EventID) met in a hunt.
pub(crate) struct KindEntry {
    channel: String,
    provider: String,
    event_id: Option<u32>,
    /// Set by the first thread that meets the kind, outside the cache's lock: threads meeting
    /// other kinds meanwhile do not wait.
    tested: OnceLock<Arc<Tested>>,
}

/// The rules a kind of event is tested with and their prefilter, shared by the kinds with the
/// same candidates under the same field map (a channel written with and without its provider's
/// name): building a prefilter for a thousand process_creation rules takes ~20 ms.
struct Tested {
    candidates: Vec<usize>,
    map: MapId,
    prefilter: OnceLock<Prefilter>,
    /// Set by the thread that builds `prefilter`.
    building: AtomicBool,
    /// Events met so far, until a sample is taken; then the sample, of events after the first
    /// [`SKIP`] (kinds with fewer events are not worth re-anchoring).
    met: AtomicUsize,
    /// The events kept and their heap bytes.
    sample: Mutex<(Vec<Event>, usize)>,
    sampling: AtomicBool,
    /// The prefilter re-anchored on the sample ([`Prefilter::retune`]), when it is better.
    tuned: OnceLock<Prefilter>,
}

/// Events of a kind before its sample, and the sample's size.
const SKIP: usize = 2048;
/// How many recent kinds a session checks before hashing.
const RECENT: usize = 4;
const SAMPLE: usize = 128;
const SAMPLE_BYTES: usize = 4 << 20;

impl KindEntry {
    fn new(ev: &Event) -> KindEntry {
        KindEntry {
            channel: ev.channel().unwrap_or("").to_string(),
            provider: ev.provider().unwrap_or("").to_string(),
            event_id: ev.event_id(),
            tested: OnceLock::new(),
        }
    }

    fn is(&self, channel: &str, provider: &str, event_id: Option<u32>) -> bool {
        // Spelled alike, nearly always: a byte compare before the case-blind one.
        let same = |a: &str, b: &str| a == b || a.eq_ignore_ascii_case(b);
        self.event_id == event_id && same(&self.channel, channel) && same(&self.provider, provider)
    }

    /// What events of this kind (`ev` is one) are tested with.
    /// `None` for the prefilter while another thread builds it: the event is then tested with
    /// every candidate rather than waiting (a thousand process_creation rules take ~20 ms).
    fn tested(&self, set: &RuleSet, ev: &Event) -> (&Tested, Option<&Prefilter>) {
        let t = self.tested.get_or_init(|| Tested::find(set, ev));
        if let Some(p) = t.tuned.get() {
            return (t, Some(p));
        }
        let first = match t.prefilter.get() {
            Some(p) => p,
            None if t.building.swap(true, Ordering::AcqRel) => return (t, t.prefilter.get()),
            None => t.prefilter.get_or_init(|| Prefilter::build(set, &t.candidates, t.map, std::slice::from_ref(ev), None)),
        };
        if t.sampling.load(Ordering::Relaxed) {
            t.keep(set, first, ev);
        }
        (t, Some(first))
    }
}

impl Tested {
    /// The shared entry for `ev`'s candidates and field map (its prefilter not built yet).
    fn find(set: &RuleSet, ev: &Event) -> Arc<Tested> {
        let map = field_maps().map_of(ev);
        let candidates: Vec<usize> = set
            .compiled
            .iter()
            .enumerate()
            .filter(|(_, c)| match &c.scope {
                Scope::AnyWindows => true,
                Scope::Events(routes) => routes.iter().any(|r| r.matches(ev)),
            })
            .filter(|(_, c)| c.root.fixed(ev, map) != Some(false))
            .map(|(i, _)| i)
            .collect();
        let mut shared = set.kinds.tested.lock().unwrap_or_else(|p| p.into_inner());
        let list = shared.entry(map).or_default();
        if let Some(t) = list.iter().find(|t| t.candidates == candidates) {
            return Arc::clone(t);
        }
        let t = Arc::new(Tested {
            candidates,
            map,
            prefilter: OnceLock::new(),
            building: AtomicBool::new(false),
            met: AtomicUsize::new(0),
            sample: Mutex::new((Vec::new(), 0)),
            sampling: AtomicBool::new(true),
            tuned: OnceLock::new(),
        });
        list.push(Arc::clone(&t));
        t
    }

    /// Counts `ev`, or keeps it in the sample; the thread that completes the sample re-anchors
    /// `first` on it (the other threads go on with `first` meanwhile).
    fn keep(&self, set: &RuleSet, first: &Prefilter, ev: &Event) {
        if self.met.fetch_add(1, Ordering::Relaxed) < SKIP {
            return;
        }
        let sample = {
            let mut s = self.sample.lock().unwrap_or_else(|p| p.into_inner());
            if !self.sampling.load(Ordering::Relaxed) {
                return;
            }
            let (events, bytes) = &mut *s;
            events.push(ev.clone());
            *bytes += ev.heap_size();
            // Big events (megabyte script blocks) end the sample early: it is kept in memory.
            if events.len() < SAMPLE && *bytes < SAMPLE_BYTES {
                return;
            }
            self.sampling.store(false, Ordering::Relaxed);
            std::mem::take(events)
        };
        if let Some(p) = first.retune(set, &self.candidates, self.map, &sample) {
            let _ = self.tuned.set(p);
        }
    }
}

/// Kinds of event met so far, shared by the threads of a hunt (each kind is prepared once).
#[derive(Default)]
pub(crate) struct KindCache {
    kinds: Mutex<HashMap<u64, Vec<Arc<KindEntry>>>>,
    /// Per field map, the candidate sets met so far.
    tested: Mutex<HashMap<MapId, Vec<Arc<Tested>>>>,
    searches: search::Cache,
}

impl KindCache {
    /// The entry of `ev`'s kind (its [`kind_hash`] is `hash`), made on first meeting.
    fn entry(&self, hash: u64, ev: &Event) -> Arc<KindEntry> {
        let (channel, provider, event_id) = (ev.channel().unwrap_or(""), ev.provider().unwrap_or(""), ev.event_id());
        let mut shared = self.kinds.lock().unwrap_or_else(|p| p.into_inner());
        let list = shared.entry(hash).or_default();
        if let Some(e) = list.iter().find(|k| k.is(channel, provider, event_id)) {
            return Arc::clone(e);
        }
        let e = Arc::new(KindEntry::new(ev));
        list.push(Arc::clone(&e));
        e
    }
}

pub struct Session<'a> {
    set: &'a RuleSet,
    /// This thread's copy of the kinds it has met (no lock per event), found by hash.
    kinds: Vec<Arc<KindEntry>>,
    by_hash: FxHashMap<u64, Vec<usize>>,
    /// The kinds of the last events, most recent first (`usize::MAX`: none): logs interleave a
    /// few kinds (Security 4688, 5145, 4674 ...), which are then found without hashing.
    recent: [usize; RECENT],
    seen: Seen,
    memo: Memo,
    picked: Vec<u32>,
    /// The current event's lower-cased values.
    lw: Lowered,
}

fn kind_hash(channel: &str, provider: &str, event_id: Option<u32>) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in channel.bytes().chain([0]).chain(provider.bytes()).chain([0]) {
        h = (h ^ b.to_ascii_lowercase() as u64).wrapping_mul(0x100_0000_01b3);
    }
    h ^ event_id.map(|e| e as u64 + 1).unwrap_or(0).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

impl Session<'_> {
    /// The compiled rules that match this event, and the field map it was read with.
    pub fn scan(&mut self, ev: &Event, out: &mut Vec<usize>) -> MapId {
        out.clear();
        let channel = ev.channel().unwrap_or("");
        let provider = ev.provider().unwrap_or("");
        let event_id = ev.event_id();
        let Session { set, kinds, by_hash, recent, seen, memo, picked, lw } = self;
        lw.clear();
        let set: &RuleSet = set;
        // An index into this thread's own list: no reference count touched per event (the
        // entries are shared with the other threads, so that count would bounce between cores).
        let idx = match recent.iter().position(|&i| i != usize::MAX && kinds[i].is(channel, provider, event_id)) {
            Some(j) => {
                recent[..=j].rotate_right(1);
                recent[0]
            }
            None => {
                let hash = kind_hash(channel, provider, event_id);
                let bucket = by_hash.entry(hash).or_default();
                let i = match bucket.iter().copied().find(|&i| kinds[i].is(channel, provider, event_id)) {
                    Some(i) => i,
                    None => {
                        kinds.push(set.kinds.entry(hash, ev));
                        bucket.push(kinds.len() - 1);
                        kinds.len() - 1
                    }
                };
                recent.rotate_right(1);
                recent[0] = i;
                i
            }
        };
        let (entry, prefilter) = kinds[idx].tested(set, ev);
        match prefilter {
            Some(p) => p.select(ev, seen, memo, lw, picked),
            None => {
                picked.clear();
                picked.extend(0..entry.candidates.len() as u32);
            }
        }
        for &pos in picked.iter() {
            let c = entry.candidates[pos as usize];
            if set.compiled[c].root.eval(ev, entry.map, lw) {
                out.push(c);
            }
        }
        entry.map
    }
}

