//! Windows over rule matches: Sigma correlations (event_count, value_count, temporal,
//! temporal_ordered, value_sum/avg/median/percentile) and legacy `| count() by x > n`.
//!
//! Matches ("hits") are fed in event-time order. State is kept per group and expires with its
//! window; groups untouched for longer than the window are swept, so memory is bounded by the
//! matches inside one window, not by the length of the logs. When a group's condition first
//! holds, one alert is produced, stamped with the match that completed it, and the group starts
//! afresh (so a burst of 100 failed logons with `gte: 20` gives 5 alerts, not 81).

use std::collections::{HashMap, VecDeque};

use ir::CmpOp;

/// What a correlation computes over the matches of one group inside its window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    EventCount,
    ValueCount,
    Temporal,
    TemporalOrdered,
    Sum,
    Avg,
    Median,
    Min,
    Max,
    Percentile(f64),
}

impl Kind {
    /// The Sigma name of the kind (`min`/`max` come from legacy aggregations).
    pub fn name(self) -> &'static str {
        match self {
            Kind::EventCount => "event_count",
            Kind::ValueCount => "value_count",
            Kind::Temporal => "temporal",
            Kind::TemporalOrdered => "temporal_ordered",
            Kind::Sum => "value_sum",
            Kind::Avg => "value_avg",
            Kind::Median => "value_median",
            Kind::Min => "min",
            Kind::Max => "max",
            Kind::Percentile(_) => "value_percentile",
        }
    }
}

/// A compiled correlation.
#[derive(Debug, Clone)]
pub struct Spec {
    pub kind: Kind,
    /// Number of member rules (hits carry the member's position).
    pub members: usize,
    /// Window length in milliseconds; `None`: the whole input is one window.
    pub window_ms: Option<i64>,
    /// All must hold; empty for temporal kinds means "every member matched".
    pub conditions: Vec<(CmpOp, f64)>,
}

/// One rule match, as a correlation sees it.
#[derive(Debug, Clone)]
pub struct Hit {
    pub time_ms: i64,
    pub member: usize,
    pub group: Vec<String>,
    /// The counted/summed field's value (value_* kinds).
    pub value: Option<String>,
    /// Index of the underlying alert/event, for the output.
    pub source: usize,
}

/// A satisfied window.
#[derive(Debug, Clone)]
pub struct Fired {
    pub group: Vec<String>,
    pub time_ms: i64,
    /// The aggregate that met the condition (count, distinct values, sum ...).
    pub value: f64,
    /// The hits inside the window (their `source`s), oldest first.
    pub sources: Vec<usize>,
}

#[derive(Default)]
struct Group {
    hits: VecDeque<(i64, usize, Option<String>, usize)>,
    /// temporal_ordered: per member, the latest (chain start, chain sources) ending at it.
    chain: Vec<Option<(i64, Vec<usize>)>>,
    last_ms: i64,
}

pub struct Window {
    spec: Spec,
    groups: HashMap<Vec<String>, Group>,
    seen: usize,
    pub fired: Vec<Fired>,
}

fn holds(conds: &[(CmpOp, f64)], x: f64) -> bool {
    conds.iter().all(|(op, y)| op.holds(x, *y))
}

impl Window {
    pub fn new(spec: Spec) -> Window {
        Window { spec, groups: HashMap::new(), seen: 0, fired: Vec::new() }
    }

    /// Feeds one hit; hits must come in non-decreasing `time_ms`.
    pub fn push(&mut self, h: Hit) {
        let spec = self.spec.clone();
        let g = self.groups.entry(h.group.clone()).or_default();
        g.last_ms = h.time_ms;
        if let Some(w) = spec.window_ms {
            while g.hits.front().is_some_and(|(t, ..)| *t < h.time_ms - w) {
                g.hits.pop_front();
            }
        }
        let fired = if spec.kind == Kind::TemporalOrdered {
            ordered(&spec, g, &h)
        } else {
            g.hits.push_back((h.time_ms, h.member, h.value.clone(), h.source));
            evaluate(&spec, g)
        };
        if let Some(value) = fired {
            let sources = if spec.kind == Kind::TemporalOrdered {
                g.chain.last().cloned().flatten().map(|(_, s)| s).unwrap_or_default()
            } else {
                g.hits.iter().map(|x| x.3).collect()
            };
            self.fired.push(Fired { group: h.group.clone(), time_ms: h.time_ms, value, sources });
            g.hits.clear();
            g.chain.clear();
        }
        self.seen += 1;
        if self.seen.is_multiple_of(4096) {
            self.sweep(h.time_ms);
        }
    }

    /// Drops groups whose window has passed.
    fn sweep(&mut self, now_ms: i64) {
        if let Some(w) = self.spec.window_ms {
            self.groups.retain(|_, g| g.last_ms >= now_ms - w);
        }
    }

    /// Groups holding state (for memory tests).
    pub fn live_groups(&self) -> usize {
        self.groups.len()
    }
}

fn evaluate(spec: &Spec, g: &Group) -> Option<f64> {
    let nums = || g.hits.iter().filter_map(|h| h.2.as_deref().and_then(|v| v.trim().parse::<f64>().ok()));
    let x = match spec.kind {
        Kind::EventCount => g.hits.len() as f64,
        Kind::ValueCount => {
            let mut vals: Vec<&str> = g.hits.iter().filter_map(|h| h.2.as_deref()).collect();
            vals.sort_unstable();
            vals.dedup();
            vals.len() as f64
        }
        Kind::Temporal => {
            let mut seen = vec![false; spec.members];
            for h in &g.hits {
                if let Some(s) = seen.get_mut(h.1) {
                    *s = true;
                }
            }
            let n = seen.iter().filter(|s| **s).count() as f64;
            if spec.conditions.is_empty() {
                return (n as usize == spec.members).then_some(n);
            }
            n
        }
        Kind::TemporalOrdered => return None,
        Kind::Sum => nums().sum(),
        Kind::Avg => {
            let v: Vec<f64> = nums().collect();
            if v.is_empty() {
                return None;
            }
            v.iter().sum::<f64>() / v.len() as f64
        }
        Kind::Min => nums().reduce(f64::min)?,
        Kind::Max => nums().reduce(f64::max)?,
        Kind::Median => percentile(nums().collect(), 50.0)?,
        Kind::Percentile(p) => percentile(nums().collect(), p)?,
    };
    holds(&spec.conditions, x).then_some(x)
}

/// Nearest-rank percentile.
fn percentile(mut v: Vec<f64>, p: f64) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * v.len() as f64).ceil().max(1.0) as usize;
    v.get(rank.min(v.len()) - 1).copied()
}

/// temporal_ordered: member k extends the latest chain ending at member k-1 when that chain
/// started inside the window; fires when the last member completes a chain.
fn ordered(spec: &Spec, g: &mut Group, h: &Hit) -> Option<f64> {
    if g.chain.len() != spec.members {
        g.chain = vec![None; spec.members];
    }
    let k = h.member;
    let in_window = |start: i64| spec.window_ms.is_none_or(|w| start >= h.time_ms - w);
    let new = if k == 0 {
        Some((h.time_ms, vec![h.source]))
    } else {
        match g.chain.get(k - 1).cloned().flatten() {
            Some((start, mut srcs)) if in_window(start) => {
                srcs.push(h.source);
                Some((start, srcs))
            }
            _ => None,
        }
    };
    if let Some(c) = new {
        g.chain[k] = Some(c);
    }
    let done = g.chain.last().cloned().flatten().is_some_and(|(start, _)| in_window(start));
    let n = spec.members as f64;
    (done && holds(&spec.conditions, n)).then_some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(t: i64, member: usize, group: &str, value: Option<&str>) -> Hit {
        Hit { time_ms: t, member, group: vec![group.into()], value: value.map(str::to_string), source: t as usize }
    }

    fn spec(kind: Kind, members: usize, window_s: i64, conds: &[(CmpOp, f64)]) -> Spec {
        Spec { kind, members, window_ms: Some(window_s * 1000), conditions: conds.to_vec() }
    }

    #[test]
    fn event_count_fires_once_per_satisfied_window_and_per_group() {
        let mut w = Window::new(spec(Kind::EventCount, 1, 60, &[(CmpOp::Ge, 3.0)]));
        for t in [0, 10_000, 20_000, 21_000, 22_000, 23_000] {
            w.push(hit(t, 0, "a", None));
        }
        // Group b never reaches three inside the window.
        for t in [0, 61_000, 122_000] {
            w.push(hit(t + 500_000, 0, "b", None));
        }
        let a: Vec<_> = w.fired.iter().filter(|f| f.group == ["a"]).collect();
        assert_eq!(a.len(), 2, "{:?}", w.fired);
        assert_eq!(a[0].time_ms, 20_000);
        assert_eq!(a[0].sources, vec![0, 10_000, 20_000]);
        assert!(w.fired.iter().all(|f| f.group != ["b"]));
    }

    #[test]
    fn window_edges_are_inclusive_and_one_ms_beyond_is_out() {
        let mut w = Window::new(spec(Kind::EventCount, 1, 10, &[(CmpOp::Ge, 2.0)]));
        w.push(hit(0, 0, "g", None));
        w.push(hit(10_000, 0, "g", None)); // exactly the window length apart: inside
        assert_eq!(w.fired.len(), 1);
        let mut w = Window::new(spec(Kind::EventCount, 1, 10, &[(CmpOp::Ge, 2.0)]));
        w.push(hit(0, 0, "g", None));
        w.push(hit(10_001, 0, "g", None));
        assert!(w.fired.is_empty());
    }

    #[test]
    fn value_count_counts_distinct_values() {
        let mut w = Window::new(spec(Kind::ValueCount, 1, 300, &[(CmpOp::Ge, 3.0)]));
        for (t, v) in [(0, "h1"), (1, "h1"), (2, "h2"), (3, "h2"), (4, "h3")] {
            w.push(hit(t * 1000, 0, "10.0.0.5", Some(v)));
        }
        assert_eq!(w.fired.len(), 1);
        assert_eq!(w.fired[0].value, 3.0);
        assert_eq!(w.fired[0].time_ms, 4000);
    }

    #[test]
    fn temporal_needs_every_rule_in_any_order() {
        let mut w = Window::new(spec(Kind::Temporal, 2, 5, &[]));
        w.push(hit(0, 1, "u", None));
        w.push(hit(1000, 1, "u", None));
        assert!(w.fired.is_empty());
        w.push(hit(2000, 0, "u", None));
        assert_eq!(w.fired.len(), 1);
        // Too far apart.
        let mut w = Window::new(spec(Kind::Temporal, 2, 5, &[]));
        w.push(hit(0, 0, "u", None));
        w.push(hit(6000, 1, "u", None));
        assert!(w.fired.is_empty());
    }

    #[test]
    fn temporal_ordered_needs_the_order() {
        let mut w = Window::new(spec(Kind::TemporalOrdered, 3, 10, &[]));
        // Reversed order: no alert.
        w.push(hit(0, 2, "h", None));
        w.push(hit(1000, 1, "h", None));
        w.push(hit(2000, 0, "h", None));
        assert!(w.fired.is_empty());
        // Then in order, starting at 2000 (the member 0 above): 0 → 1 → 2.
        w.push(hit(3000, 1, "h", None));
        w.push(hit(4000, 2, "h", None));
        assert_eq!(w.fired.len(), 1);
        assert_eq!(w.fired[0].sources, vec![2000, 3000, 4000]);
        // In order but the chain started outside the window.
        let mut w = Window::new(spec(Kind::TemporalOrdered, 2, 10, &[]));
        w.push(hit(0, 0, "h", None));
        w.push(hit(10_500, 1, "h", None));
        assert!(w.fired.is_empty());
    }

    #[test]
    fn value_aggregates() {
        let mut w = Window::new(spec(Kind::Sum, 1, 60, &[(CmpOp::Gt, 100.0)]));
        for (t, v) in [(0, "40"), (1, "50"), (2, "20")] {
            w.push(hit(t, 0, "x", Some(v)));
        }
        assert_eq!(w.fired.len(), 1);
        assert_eq!(w.fired[0].value, 110.0);
        let mut w = Window::new(spec(Kind::Avg, 1, 60, &[(CmpOp::Ge, 10.0)]));
        for (t, v) in [(0, "5"), (1, "15")] {
            w.push(hit(t, 0, "x", Some(v)));
        }
        assert_eq!(w.fired.len(), 1);
        assert_eq!(percentile(vec![1.0, 2.0, 3.0, 4.0], 50.0), Some(2.0));
        assert_eq!(percentile(vec![5.0, 1.0, 9.0], 100.0), Some(9.0));
    }

    #[test]
    fn idle_groups_are_swept() {
        let mut w = Window::new(spec(Kind::EventCount, 1, 1, &[(CmpOp::Ge, 1_000_000.0)]));
        for i in 0..20_000i64 {
            w.push(Hit { time_ms: i * 10, member: 0, group: vec![i.to_string()], value: None, source: 0 });
        }
        assert!(w.live_groups() < 5_000, "{} groups alive", w.live_groups());
    }
}
