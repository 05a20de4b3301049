//! Relations between rules by their logic, across sources: a rule's condition is put in
//! disjunctive normal form over canonical literals (field, kind, value, negation); rule B is
//! *narrower* than rule A when every case of B contains all the literals of some case of A (so
//! whatever B matches, A matches too), and they are *duplicates* when each is narrower than the
//! other. Only what can be compared soundly is: rules with unmodelled parts, several inputs (joins,
//! unions) or a form too large are left out rather than guessed about.
//!
//! Two looser relations say where to look next: *overlapping* (neither contains the other, but a
//! case of each shares a positive literal and the two cases do not contradict each other: no
//! literal against its negation, no two different `eq` values of one field), and *shares
//! indicators* (at least two canonical indicators in common, counting only indicators used by at
//! most [`COMMON`] rules; this one needs no normal form, so it relates joins and aggregations too).
//! Both are capped at [`MAX_LOOSE`] per rule, strongest first.

use std::collections::{BTreeSet, HashMap};

use ir::{Expr, Logic, Predicate, Quant, Rule, StageKind, Value};
use rayon::prelude::*;

use crate::canonical::canonical_form;
use crate::indicators::Indicator;
use crate::logsources::logsources;

/// One conjunct of the normal form: sorted, distinct literals.
pub type Case = BTreeSet<String>;

/// Cases beyond this are not expanded (the rule is left out of relations).
const MAX_CASES: usize = 64;

/// An indicator used by more rules than this says little about how two rules relate.
pub const COMMON: usize = 50;

/// Overlapping and shares-indicators relations kept per rule (the strongest).
pub const MAX_LOOSE: usize = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Relation {
    /// Same logic (both narrower than the other).
    Duplicate,
    /// The other rule matches a subset of what this one matches (it is stricter).
    Narrower,
    /// The other rule matches a superset (it is looser).
    Broader,
    /// Neither contains the other, but they can match the same events on a shared literal.
    Overlapping,
    /// At least two uncommon canonical indicators in common.
    SharesIndicators,
}

impl Relation {
    pub fn as_str(self) -> &'static str {
        match self {
            Relation::Duplicate => "duplicate",
            Relation::Narrower => "narrower",
            Relation::Broader => "broader",
            Relation::Overlapping => "overlapping",
            Relation::SharesIndicators => "shares_indicators",
        }
    }
}

/// A literal: the canonical form when there is one, else the raw field, so rules of one schema
/// still compare.
fn literal(p: &Predicate, value: &Value, negated: bool) -> Option<String> {
    let field = p.field.as_deref().unwrap_or("(keyword)");
    let text = value.text();
    let (f, k, v) = match &p.canonical {
        Some(c) => canonical_form(c, p.op, &text),
        None => (field.to_string(), p.op, text),
    };
    let v = if p.case_sensitive { v } else { v.to_lowercase() };
    let neg = negated != p.negated;
    Some(format!("{}{f}|{}|{v}", if neg { "!" } else { "" }, k.as_str()))
}

struct Builder<'a> {
    logic: &'a Logic,
    depth: usize,
}

impl Builder<'_> {
    /// The cases of `e` (with `neg`: of its negation, only for a single predicate).
    fn expr(&mut self, e: &Expr, neg: bool) -> Option<Vec<Case>> {
        self.depth += 1;
        if self.depth > 64 {
            return None;
        }
        let out = match (e, neg) {
            (Expr::And { of }, false) => self.and(of.iter().map(|x| (x, false)).collect()),
            (Expr::Or { of }, false) => self.or(of.iter().map(|x| (x, false)).collect()),
            // De Morgan keeps negations on predicates.
            (Expr::And { of }, true) => self.or(of.iter().map(|x| (x, true)).collect()),
            (Expr::Or { of }, true) => self.and(of.iter().map(|x| (x, true)).collect()),
            (Expr::Not { expr }, n) => self.expr(expr, !n),
            (Expr::Pred(p), n) => self.pred(p, n),
            (Expr::Ref { stage, .. }, n) => self.stage(*stage, n),
            (Expr::Quant { quant, of, .. }, false) => {
                let refs: Vec<Expr> = of.iter().map(|&s| Expr::Ref { stage: s, name: String::new() }).collect();
                match quant {
                    Quant::All => self.and(refs.iter().map(|x| (x, false)).collect()),
                    Quant::Any | Quant::AtLeast(1) => self.or(refs.iter().map(|x| (x, false)).collect()),
                    Quant::AtLeast(_) => None,
                }
            }
            (Expr::Const { value }, n) => Some(if *value != n { vec![Case::new()] } else { Vec::new() }),
            _ => None,
        };
        self.depth -= 1;
        out
    }

    fn stage(&mut self, id: usize, neg: bool) -> Option<Vec<Case>> {
        match &self.logic.stages.get(id)?.kind {
            StageKind::Condition { expr } | StageKind::Selection { expr } | StageKind::Filter { expr } => self.expr(expr, neg),
            _ => None,
        }
    }

    fn pred(&mut self, p: &Predicate, neg: bool) -> Option<Vec<Case>> {
        // Event-type fields choose the event; they are coverage, compared apart.
        if p.field.as_deref().is_some_and(|f| logsources().is_event_type_field(f)) {
            return Some(vec![Case::new()]);
        }
        // Values are alternatives (one case each) unless `all`; negation swaps the two.
        let any = p.all == neg;
        if any && p.values.len() > MAX_CASES {
            return None;
        }
        let lits: Vec<String> = p.values.iter().map(|v| literal(p, v, neg)).collect::<Option<_>>()?;
        if lits.is_empty() {
            return None;
        }
        Some(if any { lits.into_iter().map(|l| Case::from([l])).collect() } else { vec![lits.into_iter().collect()] })
    }

    fn and(&mut self, parts: Vec<(&Expr, bool)>) -> Option<Vec<Case>> {
        let mut acc = vec![Case::new()];
        for (e, n) in parts {
            let cases = self.expr(e, n)?;
            let mut next = Vec::new();
            for a in &acc {
                for c in &cases {
                    next.push(a.union(c).cloned().collect());
                    if next.len() > MAX_CASES {
                        return None;
                    }
                }
            }
            acc = next;
        }
        Some(acc)
    }

    fn or(&mut self, parts: Vec<(&Expr, bool)>) -> Option<Vec<Case>> {
        let mut acc = Vec::new();
        for (e, n) in parts {
            acc.extend(self.expr(e, n)?);
            if acc.len() > MAX_CASES {
                return None;
            }
        }
        Some(acc)
    }
}

/// The rule's logic as cases (an `or` of `and`s of literals), minimised, or `None` when it cannot
/// be compared soundly.
pub fn normal_form(rule: &Rule) -> Option<Vec<Case>> {
    let logic = &rule.logic;
    let out = logic.stages.get(logic.output)?;
    let mut b = Builder { logic, depth: 0 };
    let mut cases = match &out.kind {
        StageKind::Condition { expr } => b.expr(expr, false)?,
        // A pipeline: every filter on the single chain of inputs holds.
        _ => {
            let mut filters = Vec::new();
            let mut id = logic.output;
            for _ in 0..256 {
                let s = logic.stages.get(id)?;
                match &s.kind {
                    StageKind::Filter { expr } => filters.push(expr),
                    // Groups, joins and unions change what "matches" means: not compared.
                    StageKind::Unmodeled { .. }
                    | StageKind::Join { .. }
                    | StageKind::Union { .. }
                    | StageKind::Aggregate { .. }
                    | StageKind::Correlation(_) => return None,
                    _ => {}
                }
                match s.inputs.as_slice() {
                    [] => break,
                    [one] => id = *one,
                    _ => return None,
                }
            }
            if filters.is_empty() {
                return None;
            }
            b.and(filters.into_iter().map(|e| (e, false)).collect())?
        }
    };
    // A case that contains another adds nothing to the `or`.
    cases.sort_by_key(|c| c.len());
    let mut kept: Vec<Case> = Vec::new();
    for c in cases {
        if !kept.iter().any(|k| k.is_subset(&c)) {
            kept.push(c);
        }
    }
    (!kept.is_empty() && kept.iter().all(|c| !c.is_empty())).then_some(kept)
}

/// Whether everything `b` matches, `a` matches too (each case of `b` holds a case of `a`).
fn covers(a: &[Case], b: &[Case]) -> bool {
    b.iter().all(|cb| a.iter().any(|ca| ca.is_subset(cb)))
}

/// Relations among rules: `(i, j, r)` says rule `j` is `r` to rule `i` (each pair both ways).
pub fn relate(rules: &[Rule]) -> Vec<(usize, usize, Relation)> {
    let indicators: Vec<Vec<Indicator>> = rules.par_iter().map(crate::indicators).collect();
    relate_with(rules, &indicators)
}

/// [`relate`] with each rule's indicators (`crate::indicators`) computed already.
pub fn relate_with(rules: &[Rule], indicators: &[Vec<Indicator>]) -> Vec<(usize, usize, Relation)> {
    let forms: Vec<Option<Vec<Case>>> = rules.par_iter().map(normal_form).collect();
    // A rule i covers j only if some case of i lies inside j, so j holds the rarest literal of
    // that case: index each rule under the rarest literal of each of its cases.
    let mut freq: HashMap<&str, usize> = HashMap::new();
    for f in forms.iter().flatten() {
        let lits: BTreeSet<&str> = f.iter().flatten().map(String::as_str).collect();
        for l in lits {
            *freq.entry(l).or_default() += 1;
        }
    }
    let mut by_literal: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, f) in forms.iter().enumerate() {
        let Some(f) = f else { continue };
        for c in f {
            if let Some(key) = c.iter().map(String::as_str).min_by_key(|l| freq.get(l).copied().unwrap_or(0)) {
                let list = by_literal.entry(key).or_default();
                if list.last() != Some(&i) {
                    list.push(i);
                }
            }
        }
    }
    // Each rule's broader rules are found independently: on every core.
    let mut out: Vec<(usize, usize, Relation)> = forms
        .par_iter()
        .enumerate()
        .flat_map_iter(|(j, fj)| {
            let mut found = Vec::new();
            let Some(fj) = fj else { return found };
            let mut cands: BTreeSet<usize> = BTreeSet::new();
            for c in fj {
                for l in c {
                    if let Some(list) = by_literal.get(l.as_str()) {
                        cands.extend(list.iter().copied());
                    }
                }
            }
            for i in cands {
                if i == j {
                    continue;
                }
                let Some(fi) = &forms[i] else { continue };
                if covers(fi, fj) {
                    let rel = if covers(fj, fi) { Relation::Duplicate } else { Relation::Narrower };
                    found.push((i, j, rel));
                    if rel == Relation::Narrower {
                        found.push((j, i, Relation::Broader));
                    }
                }
            }
            found
        })
        .collect();
    let strict: BTreeSet<(usize, usize)> = out.iter().map(|&(i, j, _)| (i.min(j), i.max(j))).collect();
    let t = std::time::Instant::now();
    out.extend(overlapping(&forms, &freq, &strict));
    let t2 = std::time::Instant::now();
    out.extend(shared_indicators(indicators, &strict));
    if std::env::var_os("RULELENS_TIMING").is_some() {
        eprintln!("relate: overlapping {:.3} s, shared indicators {:.3} s", (t2 - t).as_secs_f64(), t2.elapsed().as_secs_f64());
    }
    out.sort();
    out.dedup();
    out
}

/// Literals as numbers, with what `compatible` needs to know about each.
struct Interned {
    /// Per rule, its cases as sorted literal ids.
    forms: Vec<Option<Vec<Vec<u32>>>>,
    /// The id of each literal's negation, when some rule uses it.
    negation: Vec<Option<u32>>,
    /// For a positive `eq` literal, its field's id.
    eq_field: Vec<Option<u32>>,
    positive: Vec<bool>,
    /// How many rules use each literal.
    rules: Vec<usize>,
}

fn intern(forms: &[Option<Vec<Case>>], freq: &HashMap<&str, usize>) -> Interned {
    let mut ids: HashMap<&str, u32> = HashMap::new();
    let mut names: Vec<&str> = Vec::new();
    for l in forms.iter().flatten().flatten().flatten() {
        ids.entry(l.as_str()).or_insert_with(|| {
            names.push(l.as_str());
            (names.len() - 1) as u32
        });
    }
    let mut fields: HashMap<&str, u32> = HashMap::new();
    let mut eq_field = Vec::with_capacity(names.len());
    let mut negation = Vec::with_capacity(names.len());
    for name in &names {
        let neg = match name.strip_prefix('!') {
            Some(pos) => ids.get(pos).copied(),
            None => ids.get(format!("!{name}").as_str()).copied(),
        };
        negation.push(neg);
        let mut parts = name.splitn(3, '|');
        let eq = match (parts.next(), parts.next()) {
            (Some(f), Some("eq")) if !f.starts_with('!') => {
                let n = fields.len() as u32;
                Some(*fields.entry(f).or_insert(n))
            }
            _ => None,
        };
        eq_field.push(eq);
    }
    let forms = forms
        .iter()
        .map(|f| {
            f.as_ref().map(|cases| {
                cases
                    .iter()
                    .map(|c| {
                        let mut v: Vec<u32> = c.iter().map(|l| ids[l.as_str()]).collect();
                        v.sort_unstable();
                        v
                    })
                    .collect()
            })
        })
        .collect();
    let positive = names.iter().map(|n| !n.starts_with('!')).collect();
    let rules = names.iter().map(|n| freq.get(n).copied().unwrap_or(0)).collect();
    Interned { forms, negation, eq_field, positive, rules }
}

impl Interned {
    /// Two cases can hold on one event: no literal against its negation, no two different `eq`
    /// values on one field.
    fn compatible(&self, a: &[u32], b: &[u32]) -> bool {
        for &x in a {
            if let Some(n) = self.negation[x as usize] {
                if b.binary_search(&n).is_ok() {
                    return false;
                }
            }
            if let Some(f) = self.eq_field[x as usize] {
                if b.iter().any(|&y| y != x && self.eq_field[y as usize] == Some(f)) {
                    return false;
                }
            }
        }
        true
    }

    /// Positive literals two sorted cases share.
    fn shared(&self, a: &[u32], b: &[u32]) -> usize {
        let (mut i, mut j, mut n) = (0, 0, 0);
        while i < a.len() && j < b.len() {
            match a[i].cmp(&b[j]) {
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
                std::cmp::Ordering::Equal => {
                    n += self.positive[a[i] as usize] as usize;
                    i += 1;
                    j += 1;
                }
            }
        }
        n
    }
}

/// Pairs (neither containing the other) with compatible cases sharing an uncommon positive
/// literal; at most [`MAX_LOOSE`] per rule, most shared literals first.
fn overlapping(forms: &[Option<Vec<Case>>], freq: &HashMap<&str, usize>, strict: &BTreeSet<(usize, usize)>) -> Vec<(usize, usize, Relation)> {
    let it = intern(forms, freq);
    let mut by_literal: Vec<Vec<usize>> = vec![Vec::new(); it.positive.len()];
    for (i, f) in it.forms.iter().enumerate() {
        for &l in f.iter().flatten().flatten() {
            if !it.positive[l as usize] || it.rules[l as usize] > COMMON {
                continue;
            }
            let list = &mut by_literal[l as usize];
            if list.last() != Some(&i) {
                list.push(i);
            }
        }
    }
    it.forms
        .par_iter()
        .enumerate()
        .flat_map_iter(|(i, fi)| {
            let Some(fi) = fi else { return Vec::new() };
            let mut cands: Vec<usize> = fi.iter().flatten().flat_map(|&l| by_literal[l as usize].iter().copied()).collect();
            cands.sort_unstable();
            cands.dedup();
            let mut scored: Vec<(usize, usize)> = Vec::new();
            for j in cands {
                if j == i || strict.contains(&(i.min(j), i.max(j))) {
                    continue;
                }
                let Some(fj) = &it.forms[j] else { continue };
                let best = fi.iter().flat_map(|a| fj.iter().map(move |b| (a, b))).filter(|(a, b)| it.compatible(a, b)).map(|(a, b)| it.shared(a, b)).max().unwrap_or(0);
                if best > 0 {
                    scored.push((best, j));
                }
            }
            scored.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
            scored.into_iter().take(MAX_LOOSE).map(|(_, j)| (i, j, Relation::Overlapping)).collect::<Vec<_>>()
        })
        .collect()
}

/// Pairs with at least two uncommon canonical indicators in common (positive ones), at most
/// [`MAX_LOOSE`] per rule, most shared first; pairs already related by logic are left out.
fn shared_indicators(indicators: &[Vec<Indicator>], strict: &BTreeSet<(usize, usize)>) -> Vec<(usize, usize, Relation)> {
    let keys: Vec<BTreeSet<String>> = indicators
        .par_iter()
        .map(|inds| {
            inds.iter()
                .filter(|i| !i.negated)
                .filter_map(|i| i.canonical.as_ref().map(|c| format!("{}|{}|{}", c.field, c.kind.as_str(), c.value.to_lowercase())))
                .collect()
        })
        .collect();
    let mut by_key: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, ks) in keys.iter().enumerate() {
        for k in ks {
            by_key.entry(k.as_str()).or_default().push(i);
        }
    }
    by_key.retain(|_, v| v.len() <= COMMON);
    keys.par_iter()
        .enumerate()
        .flat_map_iter(|(i, ks)| {
            let mut shared: HashMap<usize, usize> = HashMap::new();
            for k in ks {
                for &j in by_key.get(k.as_str()).into_iter().flatten() {
                    if j != i {
                        *shared.entry(j).or_default() += 1;
                    }
                }
            }
            let mut scored: Vec<(usize, usize)> = shared.into_iter().filter(|&(j, n)| n >= 2 && !strict.contains(&(i.min(j), i.max(j)))).map(|(j, n)| (n, j)).collect();
            scored.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
            scored.into_iter().take(MAX_LOOSE).map(|(_, j)| (i, j, Relation::SharesIndicators)).collect::<Vec<_>>()
        })
        .collect()
}
