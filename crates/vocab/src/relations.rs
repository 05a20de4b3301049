//! Relations between rules by their logic, across sources: a rule's condition is put in
//! disjunctive normal form over canonical literals (field, kind, value, negation); rule B is
//! *narrower* than rule A when every case of B contains all the literals of some case of A (so
//! whatever B matches, A matches too), and they are *duplicates* when each is narrower than the
//! other. Only what can be compared soundly is: rules with unmodelled parts, several inputs (joins,
//! unions) or a form too large are left out rather than guessed about.

use std::collections::{BTreeSet, HashMap};

use ir::{Expr, Logic, Predicate, Quant, Rule, StageKind, Value};
use rayon::prelude::*;

use crate::canonical::canonical_form;
use crate::logsources::logsources;

/// One conjunct of the normal form: sorted, distinct literals.
pub type Case = BTreeSet<String>;

/// Cases beyond this are not expanded (the rule is left out of relations).
const MAX_CASES: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Relation {
    /// Same logic (both narrower than the other).
    Duplicate,
    /// The other rule matches a subset of what this one matches (it is stricter).
    Narrower,
    /// The other rule matches a superset (it is looser).
    Broader,
}

impl Relation {
    pub fn as_str(self) -> &'static str {
        match self {
            Relation::Duplicate => "duplicate",
            Relation::Narrower => "narrower",
            Relation::Broader => "broader",
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
        let any = !p.all != neg;
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
    out.sort();
    out.dedup();
    out
}
