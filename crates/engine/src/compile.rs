//! ir::Rule → a tree of compiled matchers, with its scope and what happens after a match.

use ir::{Expr, Logic, Quant, Rule, StageKind};

use crate::lowered::Lowered;
use crate::matcher::{MapId, Matcher, Unsupported};
use crate::placeholders::Placeholders;
use crate::route::{field_maps, scope, Scope};

/// A boolean tree over matchers; selections referenced by the condition are inlined.
#[derive(Debug)]
pub enum Node {
    And(Vec<Node>),
    Or(Vec<Node>),
    Not(Box<Node>),
    Leaf(Box<Matcher>),
    Const(bool),
    AtLeast(u32, Vec<Node>),
}

impl Node {
    /// Whether the event satisfies the tree (`lw`: see [`Matcher::matches`]).
    pub fn eval(&self, ev: &events::Event, map: MapId, lw: &mut Lowered) -> bool {
        match self {
            Node::And(v) => v.iter().all(|n| n.eval(ev, map, lw)),
            Node::Or(v) => v.iter().any(|n| n.eval(ev, map, lw)),
            Node::Not(n) => !n.eval(ev, map, lw),
            Node::Leaf(m) => m.matches(ev, map, lw),
            Node::Const(b) => *b,
            Node::AtLeast(k, v) => {
                let mut left = *k as usize;
                if left == 0 {
                    return true;
                }
                for n in v {
                    if n.eval(ev, map, lw) {
                        left -= 1;
                        if left == 0 {
                            return true;
                        }
                    }
                }
                false
            }
        }
    }

    /// The tree's value where it depends only on the fields that define the kind of event
    /// (`EventID`, `Channel`, `Provider_Name`: the same for every event of a kind); `None` where
    /// other fields decide. Rules that are `Some(false)` for a kind are never evaluated on it.
    pub fn fixed(&self, ev: &events::Event, map: MapId) -> Option<bool> {
        match self {
            Node::Leaf(m) => {
                is_kind_field(m.field_in(map)?).then(|| m.matches(ev, map, &mut Lowered::default()))
            }
            Node::Const(b) => Some(*b),
            Node::Not(n) => n.fixed(ev, map).map(|b| !b),
            Node::And(v) => {
                let mut all = Some(true);
                for n in v {
                    match n.fixed(ev, map) {
                        Some(false) => return Some(false),
                        None => all = None,
                        Some(true) => {}
                    }
                }
                all
            }
            Node::Or(v) => {
                let mut all = Some(false);
                for n in v {
                    match n.fixed(ev, map) {
                        Some(true) => return Some(true),
                        None => all = None,
                        Some(false) => {}
                    }
                }
                all
            }
            Node::AtLeast(k, v) => {
                let (mut yes, mut unknown) = (0usize, 0usize);
                for n in v {
                    match n.fixed(ev, map) {
                        Some(true) => yes += 1,
                        None => unknown += 1,
                        Some(false) => {}
                    }
                }
                if yes >= *k as usize {
                    Some(true)
                } else if yes + unknown < *k as usize {
                    Some(false)
                } else {
                    None
                }
            }
        }
    }

    /// A necessary condition for the tree to hold, as (matcher, needles) terms of which at least
    /// one must find a needle in its field; `None` when there is none to be had (a negation, a
    /// keyword, a regex ...). Of an `and`, the child `score` likes best is taken; of the values
    /// of one `|all` test, the one `rare` likes best, then the longest.
    pub fn anchor_by<'a>(&'a self, score: &Score<'a>, rare: &Score<'a>) -> Option<Vec<(&'a Matcher, Vec<&'a str>)>> {
        match self {
            // Without observed frequencies (`rare` is the same for all), the longest value:
            // choosing the least shared picked short, frequent ones (`iex`, ` -c `) and slowed
            // the OTRF hunt ~30%.
            Node::Leaf(m) => {
                let choice = |n: &'a Vec<String>| vec![(&**m, n.iter().map(String::as_str).collect::<Vec<_>>())];
                let choices = m.needle_choices()?;
                if let [one] = choices {
                    return Some(choice(one));
                }
                choices.iter().map(choice).max_by_key(|a| (rare(a), anchor_score(a)))
            }
            Node::And(v) => v.iter().filter_map(|n| n.anchor_by(score, rare)).max_by_key(|a| score(a)),
            Node::Or(v) | Node::AtLeast(_, v) => {
                if matches!(self, Node::AtLeast(0, _)) || v.is_empty() {
                    return None;
                }
                let mut all = Vec::new();
                for n in v {
                    all.extend(n.anchor_by(score, rare)?);
                }
                Some(all)
            }
            Node::Not(_) | Node::Const(_) => None,
        }
    }

    /// [`Node::anchor_by`] preferring long needles.
    pub fn anchor(&self) -> Option<Vec<(&Matcher, Vec<&str>)>> {
        self.anchor_by(&|a| anchor_score(a) as i64, &|_| 0)
    }

    /// The estimated cost of evaluating the tree (see [`Matcher::cost`]).
    pub fn cost(&self) -> u32 {
        match self {
            Node::And(v) | Node::Or(v) | Node::AtLeast(_, v) => v.iter().map(Node::cost).fold(0u32, u32::saturating_add),
            Node::Not(n) => n.cost(),
            Node::Leaf(m) => m.cost(),
            Node::Const(_) => 0,
        }
    }

    /// Merges the substring tests of one field under each `or` into one test (see
    /// [`Matcher::merge_or`]); each merged test is built once, at compile time.
    pub fn merge_substrings(&mut self) {
        match self {
            Node::And(v) | Node::AtLeast(_, v) => v.iter_mut().for_each(Node::merge_substrings),
            Node::Not(n) => n.merge_substrings(),
            Node::Or(v) => {
                v.iter_mut().for_each(Node::merge_substrings);
                // Groups of leaves that merge with the group's first leaf, in order met.
                let mut groups: Vec<Vec<usize>> = Vec::new();
                for (i, n) in v.iter().enumerate() {
                    let Node::Leaf(m) = n else { continue };
                    let home = groups.iter_mut().find(|g| matches!(&v[g[0]], Node::Leaf(f) if f.merges_with(m)));
                    match home {
                        Some(g) => g.push(i),
                        None => groups.push(vec![i]),
                    }
                }
                let mut merged_away = vec![false; v.len()];
                for g in groups.iter().filter(|g| g.len() > 1) {
                    let parts: Vec<&Matcher> = g.iter().filter_map(|&i| if let Node::Leaf(m) = &v[i] { Some(&**m) } else { None }).collect();
                    if let Some(m) = Matcher::merge_or(&parts) {
                        v[g[0]] = Node::Leaf(Box::new(m));
                        g[1..].iter().for_each(|&i| merged_away[i] = true);
                    }
                }
                let mut i = 0;
                v.retain(|_| {
                    i += 1;
                    !merged_away[i - 1]
                });
            }
            Node::Leaf(_) | Node::Const(_) => {}
        }
    }

    /// Puts the cheap children of every `and`/`or` first: both stop at the first child that
    /// decides, and most events are decided by a cheap test. In an `and`, tests of the fields
    /// that make the kind of event (`EventID: 4688`) go last: the rule only meets events of its
    /// log source, where they hold (19% of the tests made on the shared EVTX were those).
    pub fn order_by_cost(&mut self) {
        match self {
            Node::And(v) => {
                v.iter_mut().for_each(Node::order_by_cost);
                v.sort_by_cached_key(|n| (n.tests_kind(), n.cost()));
            }
            Node::Or(v) | Node::AtLeast(_, v) => {
                v.iter_mut().for_each(Node::order_by_cost);
                v.sort_by_cached_key(Node::cost);
            }
            Node::Not(n) => n.order_by_cost(),
            Node::Leaf(_) | Node::Const(_) => {}
        }
    }

    /// Whether this is a test of a field that makes the kind of event.
    fn tests_kind(&self) -> bool {
        matches!(self, Node::Leaf(m) if m.field_in(0).is_some_and(is_kind_field))
    }

    /// Every matcher in the tree (for listing the fields an alert shows).
    pub fn leaves<'a>(&'a self, out: &mut Vec<&'a Matcher>) {
        match self {
            Node::And(v) | Node::Or(v) | Node::AtLeast(_, v) => v.iter().for_each(|n| n.leaves(out)),
            Node::Not(n) => n.leaves(out),
            Node::Leaf(m) => out.push(m),
            Node::Const(_) => {}
        }
    }
}

/// How much [`Node::anchor_by`] likes an anchor (higher is better).
pub type Score<'a> = dyn Fn(&[(&'a Matcher, Vec<&'a str>)]) -> i64 + 'a;

/// Whether `name` is one of the fields that define the kind of event (the same for every event
/// of a kind).
fn is_kind_field(name: &str) -> bool {
    ["EventID", "Channel", "Provider_Name"].iter().any(|k| k.eq_ignore_ascii_case(name))
}

/// How selective an anchor is: its shortest needle, in bytes.
fn anchor_score(a: &[(&Matcher, Vec<&str>)]) -> usize {
    a.iter().flat_map(|(_, n)| n.iter().map(|t| t.len())).min().unwrap_or(0)
}

/// A legacy `| count(field) by x > n` over the rule's own matches.
#[derive(Debug, Clone)]
pub struct Aggregation {
    pub func: String,
    pub field: Option<String>,
    pub by: Vec<String>,
    pub op: ir::CmpOp,
    pub threshold: f64,
    pub within_secs: Option<u64>,
}

/// A rule ready to run.
#[derive(Debug)]
pub struct Compiled {
    pub index: usize,
    pub scope: Scope,
    pub root: Node,
    pub aggregation: Option<Aggregation>,
}

const MAX_DEPTH: usize = 512;

struct Ctx<'a> {
    logic: &'a Logic,
    placeholders: &'a Placeholders,
    depth: usize,
}

impl Ctx<'_> {
    fn stage(&mut self, id: usize) -> Result<Node, Unsupported> {
        let stage = self.logic.stages.get(id).ok_or_else(|| Unsupported(format!("stage {id} does not exist")))?;
        match &stage.kind {
            StageKind::Condition { expr } | StageKind::Selection { expr } | StageKind::Filter { expr } => self.expr(expr),
            StageKind::Unmodeled { why } => Err(Unsupported(format!("stage {} is not modelled: {why}", stage.name))),
            other => Err(Unsupported(format!("stage kind {} cannot be evaluated on one event", other.name()))),
        }
    }

    fn expr(&mut self, e: &Expr) -> Result<Node, Unsupported> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(Unsupported("condition nested too deeply".into()));
        }
        let maps = |f: &str| field_maps().renames(f);
        let node = match e {
            Expr::And { of } => Node::And(of.iter().map(|x| self.expr(x)).collect::<Result<_, _>>()?),
            Expr::Or { of } => Node::Or(of.iter().map(|x| self.expr(x)).collect::<Result<_, _>>()?),
            Expr::Not { expr } => Node::Not(Box::new(self.expr(expr)?)),
            Expr::Pred(p) => Node::Leaf(Box::new(Matcher::compile(p, &maps, self.placeholders)?)),
            Expr::Ref { stage, .. } => self.stage(*stage)?,
            Expr::Quant { quant, of, pattern } => {
                let nodes: Vec<Node> = of.iter().map(|s| self.stage(*s)).collect::<Result<_, _>>()?;
                if nodes.is_empty() {
                    return Err(Unsupported(format!("`{pattern}` names no selection")));
                }
                match quant {
                    Quant::All => Node::And(nodes),
                    Quant::Any => Node::Or(nodes),
                    Quant::AtLeast(n) => Node::AtLeast(*n, nodes),
                }
            }
            Expr::Const { value } => Node::Const(*value),
            Expr::Unmodeled { text, why } => return Err(Unsupported(format!("`{text}` is not modelled: {why}"))),
        };
        self.depth -= 1;
        Ok(node)
    }
}

/// Compiles a detection rule (not a correlation: those are `correlate::Correlation`).
pub fn compile(index: usize, rule: &Rule, placeholders: &Placeholders) -> Result<Compiled, Unsupported> {
    if let Some(d) = rule.diagnostics.iter().find(|d| d.severity == ir::Severity::Error) {
        return Err(Unsupported(format!("the rule has errors: {}", d.located())));
    }
    let scope = scope(rule).map_err(Unsupported)?;
    let logic = &rule.logic;
    let out = logic.stages.get(logic.output).ok_or_else(|| Unsupported("the rule has no output stage".into()))?;
    let mut ctx = Ctx { logic, placeholders, depth: 0 };
    let (root, aggregation) = match &out.kind {
        StageKind::Aggregate { by, aggs, having, within_secs } => {
            let input = *out.inputs.first().ok_or_else(|| Unsupported("aggregation without input".into()))?;
            let agg = aggs.first().ok_or_else(|| Unsupported("aggregation without function".into()))?;
            let (op, threshold) = match having {
                Some(Expr::Pred(p)) => {
                    let t = p.values.first().and_then(|v| match v {
                        ir::Value::Int(i) => Some(*i as f64),
                        ir::Value::Float(f) => Some(*f),
                        _ => None,
                    });
                    let op = match p.op {
                        ir::Op::Gt => ir::CmpOp::Gt,
                        ir::Op::Ge => ir::CmpOp::Ge,
                        ir::Op::Lt => ir::CmpOp::Lt,
                        ir::Op::Le => ir::CmpOp::Le,
                        _ if p.negated => ir::CmpOp::Ne,
                        _ => ir::CmpOp::Eq,
                    };
                    (op, t.ok_or_else(|| Unsupported("aggregation threshold is not a number".into()))?)
                }
                _ => return Err(Unsupported("aggregation without a threshold".into())),
            };
            let spec = Aggregation {
                func: agg.func.clone(),
                field: agg.field.clone(),
                by: by.clone(),
                op,
                threshold,
                within_secs: *within_secs,
            };
            (ctx.stage(input)?, Some(spec))
        }
        _ => (ctx.stage(logic.output)?, None),
    };
    let mut root = root;
    root.merge_substrings();
    root.order_by_cost();
    Ok(Compiled { index, scope, root, aggregation })
}
