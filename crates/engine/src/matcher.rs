//! One predicate compiled for speed: values lower-cased once, substring sets in one
//! aho-corasick automaton, globs and regexes compiled, field names hashed once.

use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::OnceLock;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};
use events::{Event, FieldKey, Value as EvValue};
use ir::{Op, Predicate, Value};

use crate::grams::commonness;
use crate::lowered::{fold, Lowered};
use crate::placeholders::Placeholders;
use regex::{Regex, RegexBuilder};

/// Which event-kind field mapping applies to the event being tested (index into the rule set's
/// field maps; 0 = none).
pub type MapId = u16;

#[derive(Debug)]
pub struct Matcher {
    /// `None`: a keyword, searched in the whole event text.
    field: Option<FieldKey>,
    /// The field to read instead, per field map (`Image` is `NewProcessName` in Security 4688).
    mapped: Vec<(MapId, FieldKey)>,
    test: Test,
    negated: bool,
    /// `|minute`, `|hour`, `|day`, `|week`, `|month`, `|year`: the test applies to that part of
    /// the field's date/time (UTC), as a number.
    time_part: Option<TimePart>,
    /// [`Matcher::needle_choices`], folded, worked out on first use (each prefilter build asks
    /// for them).
    choices: OnceLock<Option<Vec<Vec<String>>>>,
}

#[derive(Debug, Clone, Copy)]
enum TimePart {
    Minute,
    Hour,
    Day,
    Week,
    Month,
    Year,
}

impl TimePart {
    fn parse(name: &str) -> Option<TimePart> {
        Some(match name {
            "minute" => TimePart::Minute,
            "hour" => TimePart::Hour,
            "day" => TimePart::Day,
            "week" => TimePart::Week,
            "month" => TimePart::Month,
            "year" => TimePart::Year,
            _ => return None,
        })
    }

    fn of(self, text: &str) -> Option<i64> {
        let z = events::parse_timestamp(text)?.timestamp.to_zoned(jiff::tz::TimeZone::UTC);
        Some(match self {
            TimePart::Minute => z.minute().into(),
            TimePart::Hour => z.hour().into(),
            TimePart::Day => z.day().into(),
            TimePart::Week => z.date().iso_week_date().week().into(),
            TimePart::Month => z.month().into(),
            TimePart::Year => z.year().into(),
        })
    }
}

#[derive(Debug)]
enum Test {
    Eq { vals: Vec<Needle>, cased: bool, all: bool },
    StartsWith { vals: Vec<String>, cased: bool, all: bool },
    EndsWith { vals: Vec<String>, cased: bool, all: bool },
    /// Substrings: one search for them all, or with `all` one per substring, longest first
    /// (a long one is the likeliest to be missing, and each search stops at its first match).
    Contains { finds: Vec<Find>, all: bool, texts: Vec<String>, cased: bool },
    /// A glob of stars only: any value.
    Any,
    /// `lits`: per pattern, strings one of which every match contains (for the prefilter).
    /// `others`: of a single pattern, other such sets (of its other literal parts), which a
    /// prefilter fitted to a sample may find rarer (`noexit` rather than `powershell`).
    /// `folded`: the regexes are run on the value's folded copy ([`Lowered`]).
    Regex { res: Vec<Regex>, all: bool, lits: Option<Vec<Vec<String>>>, others: Vec<Vec<String>>, folded: bool },
    Cidr(Vec<(IpAddr, u8)>),
    Cmp { op: Op, vals: Vec<f64> },
    Exists(bool),
    /// `field: null`: missing, null or empty.
    Null,
    FieldRef { others: Vec<FieldKey>, cased: bool },
}

/// A search for any of a few strings, case-sensitive (values and needles are lower-cased
/// beforehand when case does not count).
#[derive(Debug)]
enum Find {
    /// One string: memchr's SIMD search (aho-corasick runs a single needle through a rare-byte
    /// prefilter that stops at every `s` or space of a PowerShell ContextInfo).
    One(memchr::memmem::Finder<'static>),
    /// Up to [`TEDDY`] strings: aho-corasick's SIMD Teddy searcher.
    Few(aho_corasick::packed::Searcher),
    Many(AhoCorasick),
}

/// The most strings a [`Find::Few`] holds (Teddy's own limit is 64).
const TEDDY: usize = 32;

impl Find {
    fn new(needles: &[String]) -> Result<Find, Unsupported> {
        if let [one] = needles {
            return Ok(Find::One(memchr::memmem::Finder::new(one.as_bytes()).into_owned()));
        }
        if needles.len() <= TEDDY && needles.iter().all(|n| !n.is_empty()) {
            let mut b = aho_corasick::packed::Config::new().builder();
            b.extend(needles);
            // No Teddy on this CPU: the automaton below.
            if let Some(s) = b.build() {
                return Ok(Find::Few(s));
            }
        }
        AhoCorasickBuilder::new()
            .match_kind(MatchKind::Standard)
            .kind(Some(ac_kind(needles.iter().map(String::len).sum())))
            .build(needles)
            .map(Find::Many)
            .map_err(|e| Unsupported(format!("cannot build substring matcher: {e}")))
    }

    fn is_in(&self, hay: &str) -> bool {
        match self {
            Find::One(f) => f.find(hay.as_bytes()).is_some(),
            Find::Few(s) => s.find(hay).is_some(),
            Find::Many(ac) => ac.is_match(hay),
        }
    }
}

#[derive(Debug)]
struct Needle {
    text: String,
    int: Option<i64>,
}

/// Why a predicate cannot run.
#[derive(Debug, Clone)]
pub struct Unsupported(pub String);

fn lower(s: &str, cased: bool) -> String {
    if cased {
        s.to_string()
    } else {
        s.to_lowercase()
    }
}

/// A glob as a regex (unanchored where it starts or ends with `*`, so the search can start at
/// its literal text).
fn glob_regex(glob: &str) -> String {
    let body = glob.trim_start_matches('*');
    let open = body.len() < glob.len();
    // A trailing `*` not escaped by a backslash (`\*` is a literal star).
    let stars = body.len() - body.trim_end_matches('*').len();
    let escaped = body[..body.len() - stars].chars().rev().take_while(|&c| c == '\\').count() % 2 == 1;
    let (body, close) = if stars > 0 && !escaped { (&body[..body.len() - stars], true) } else { (body, false) };
    let mut re = String::from(if open { "" } else { "^" });
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.peek() {
                Some(&n @ ('*' | '?' | '\\')) => {
                    chars.next();
                    re.push_str(&regex::escape(&n.to_string()));
                }
                _ => re.push_str(r"\\"),
            },
            '*' => re.push_str(".*"),
            '?' => re.push('.'),
            c => re.push_str(&regex::escape(&c.to_string())),
        }
    }
    if !close {
        re.push('$');
    }
    re
}

/// The globs of one predicate as regexes: one for them all unless every glob must match. Without
/// `cased`, all-ASCII globs are folded and run case-sensitively on the value's folded copy (the
/// same matches: only the Kelvin sign and the long s fold to ASCII letters, and the copy folds
/// them), which lets the regex engine search for their literal text.
fn glob_regexes(globs: &[String], cased: bool, all: bool) -> Result<(Vec<Regex>, bool), Unsupported> {
    let folded = !cased && globs.iter().all(|g| g.is_ascii());
    let pats: Vec<String> = globs.iter().map(|g| glob_regex(&if folded { fold(g) } else { g.clone() })).collect();
    let pats = if all || pats.len() < 2 { pats } else { vec![pats.iter().map(|p| format!("(?:{p})")).collect::<Vec<_>>().join("|")] };
    let res = pats
        .iter()
        .map(|re| {
            RegexBuilder::new(re)
                .case_insensitive(!cased && !folded)
                .dot_matches_new_line(true)
                .size_limit(1 << 22)
                .dfa_size_limit(1 << 18)
                .build()
                .map_err(|e| Unsupported(format!("glob {globs:?}: {e}")))
        })
        .collect::<Result<_, _>>()?;
    Ok((res, folded))
}

/// The runs of literal text in a glob (every match contains each), lower-cased, longest first
/// (equally long ones in the order written).
fn glob_literals(glob: &str) -> Vec<String> {
    let (mut runs, mut cur) = (Vec::new(), String::new());
    let mut chars = glob.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if matches!(chars.peek(), Some('*' | '?' | '\\')) => cur.push(chars.next().unwrap_or(c)),
            '*' | '?' => {
                if !cur.is_empty() {
                    runs.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        runs.push(cur);
    }
    runs.sort_by_key(|r| std::cmp::Reverse(r.len()));
    let mut out: Vec<String> = Vec::new();
    for r in runs.into_iter().map(|r| r.to_lowercase()) {
        if !out.contains(&r) {
            out.push(r);
        }
    }
    out
}

/// How many other literal sets a single-pattern test offers the prefilter (see `Test::Regex`).
const OTHER_SETS: usize = 4;

/// Of `sets` (best first; the first is the one used), up to [`OTHER_SETS`] others worth offering:
/// not single bytes, and not overlapping a set kept already (a case-insensitive `powershell` is a
/// concatenation of classes, whose tails give `ershell`, `wershel`, `rshell` ...: one is enough).
fn other_sets(sets: Vec<Vec<String>>) -> Vec<Vec<String>> {
    let overlap = |a: &str, b: &str| {
        let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
        let w = short.len().min(3);
        short.as_bytes().windows(w).any(|piece| long.as_bytes().windows(w).any(|x| x == piece))
    };
    let mut kept: Vec<Vec<String>> = Vec::new();
    for set in sets {
        let fresh = |kept: &[Vec<String>]| !kept.iter().flatten().any(|k| set.iter().any(|l| overlap(k, l)));
        if kept.is_empty() || (set.iter().all(|l| l.len() >= 2) && fresh(&kept)) {
            kept.push(set);
        }
        if kept.len() > OTHER_SETS {
            break;
        }
    }
    kept.remove(0);
    kept
}

/// Sets of literals one of which every match of the regex contains, lower-cased (ASCII): the
/// prefixes of the regex and of each tail of its top-level concatenation (a match of `a.*b`
/// contains a match of `b`) that has a finite set; empty when none has. Worst first: the last
/// has the longest shortest literal (`\.exe\s+werfaultsecure\.exe` is anchored on
/// `werfaultsecure.exe`, not on `.exe`), and is the one the prefilter uses unless a sample of
/// events shows another rarer.
fn regex_literal_sets(pattern: &str, case_insensitive: bool, multi_line: bool, dot_all: bool) -> Vec<Vec<String>> {
    use regex_syntax::hir::{Hir, HirKind};
    let Ok(hir) = regex_syntax::ParserBuilder::new()
        .case_insensitive(case_insensitive)
        .multi_line(multi_line)
        .dot_matches_new_line(dot_all)
        .build()
        .parse(pattern)
    else {
        return Vec::new();
    };
    let mut top = &hir;
    while let HirKind::Capture(c) = top.kind() {
        top = &c.sub;
    }
    let tails: Vec<Hir> = match top.kind() {
        HirKind::Concat(subs) => (0..subs.len()).map(|i| Hir::concat(subs[i..].to_vec())).collect(),
        _ => vec![top.clone()],
    };
    // The longest shortest literal; then the fewest literals; then the rarest bytes (`"{` rather
    // than `-f` for `"(?:\{\d\})+"\s*-f`: command lines are full of `-f`). A stable sort, so
    // that of equal ones the last tail is chosen.
    let mut sets: Vec<Vec<String>> = tails.iter().filter_map(prefix_literals).collect();
    sets.sort_by_key(|set| {
        let shortest = set.iter().min_by_key(|l| l.len()).map_or("", String::as_str);
        let common: u32 = shortest.bytes().map(commonness).sum();
        (shortest.len(), std::cmp::Reverse(set.len()), std::cmp::Reverse(common))
    });
    let mut distinct: Vec<Vec<String>> = Vec::new();
    for set in sets.into_iter().rev() {
        if !distinct.contains(&set) {
            distinct.push(set);
        }
    }
    distinct.reverse();
    distinct
}

/// Literals one of which starts every match of `hir`, lower-cased (ASCII).
fn prefix_literals(hir: &regex_syntax::hir::Hir) -> Option<Vec<String>> {
    use regex_syntax::hir::literal::{ExtractKind, Extractor};
    let seq = Extractor::new().kind(ExtractKind::Prefix).extract(hir);
    let mut out: Vec<String> = Vec::new();
    for lit in seq.literals()? {
        // ASCII lower-casing, not Unicode: each literal is bytes a match starts with, and every
        // case spelling the regex accepts is among them (`ſ` for `s`); the prefilter folds
        // them as it folds values.
        let text = std::str::from_utf8(lit.as_bytes()).ok()?.to_ascii_lowercase();
        if text.is_empty() {
            return None;
        }
        if !out.contains(&text) {
            out.push(text);
        }
    }
    (!out.is_empty()).then_some(out)
}

fn parse_cidr(s: &str) -> Option<(IpAddr, u8)> {
    let (ip, bits) = s.split_once('/').unwrap_or((s, ""));
    let ip: IpAddr = ip.trim().parse().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let bits = if bits.is_empty() { max } else { bits.trim().parse().ok()? };
    (bits <= max).then_some((ip, bits))
}

fn in_cidr(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let mask = if bits == 0 { 0 } else { u32::MAX << (32 - bits) };
            u32::from(a) & mask == u32::from(b) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let mask = if bits == 0 { 0 } else { u128::MAX << (128 - bits) };
            u128::from(a) & mask == u128::from(b) & mask
        }
        _ => false,
    }
}

fn as_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Int(i) => Some(*i as f64),
        Value::Float(f) => Some(*f),
        Value::Str(s) => s.trim().parse().ok(),
        _ => None,
    }
}

impl Matcher {
    /// Compiles a predicate. `maps` gives, per field map id, the event field to read for a rule
    /// field (`None` when the map does not rename it).
    pub fn compile(
        p: &Predicate,
        maps: &dyn Fn(&str) -> Vec<(MapId, String)>,
        placeholders: &Placeholders,
    ) -> Result<Matcher, Unsupported> {
        let cased = p.case_sensitive;
        let all = p.all;
        let value_transforms = p.transforms.iter().any(|t| {
            matches!(t.as_str(), "base64" | "base64offset" | "utf16le" | "utf16be" | "utf16" | "wide" | "windash")
        });
        let time_part = p.transforms.iter().find_map(|t| TimePart::parse(t));
        if let Some(t) = p.transforms.iter().find(|t| {
            !matches!(t.as_str(), "base64" | "base64offset" | "utf16le" | "utf16be" | "utf16" | "wide" | "windash" | "expand")
                && TimePart::parse(t).is_none()
        }) {
            return Err(Unsupported(format!("the `{t}` modifier is not supported by the engine yet")));
        }
        // Placeholders first (`%name%` → the values given for it), then value transforms turn
        // each written value into the strings to look for.
        let expanded;
        let p = if p.transforms.iter().any(|t| t == "expand") {
            expanded = crate::placeholders::expand(p, placeholders)?;
            &expanded
        } else {
            p
        };
        let texts: Vec<String> = if value_transforms {
            sigma::expand_values(p)
        } else {
            p.values.iter().map(Value::text).collect()
        };
        // Numbers compare as numbers, when each text is still its written value.
        let ints: Vec<Option<i64>> = if texts.len() == p.values.len() {
            p.values.iter().map(|v| if let Value::Int(i) = v { Some(*i) } else { None }).collect()
        } else {
            vec![None; texts.len()]
        };
        let is_null = p.values.iter().all(|v| matches!(v, Value::Null)) && !p.values.is_empty();
        let keyword = p.field.is_none();
        let test = match p.op {
            _ if is_null && p.op == Op::Eq => Test::Null,
            // Keywords search the whole event: any written form is a substring search.
            Op::Eq | Op::StartsWith | Op::EndsWith | Op::Contains if keyword => contains(&texts, cased, all)?,
            Op::Eq => Test::Eq {
                vals: texts.iter().zip(&ints).map(|(t, i)| Needle { text: lower(t, cased), int: *i }).collect(),
                cased,
                all,
            },
            Op::StartsWith => Test::StartsWith { vals: texts.iter().map(|t| lower(t, cased)).collect(), cased, all },
            Op::EndsWith => Test::EndsWith { vals: texts.iter().map(|t| lower(t, cased)).collect(), cased, all },
            Op::Contains => contains(&texts, cased, all)?,
            // `contains: '*'` (a glob of stars, as the Sigma front end leaves it): any value, not
            // a regex run over the whole of it. (Other simple globs arrive as contains,
            // startswith, endswith or equality already.)
            Op::Wildcard if !texts.is_empty() && texts.iter().all(|t| !t.is_empty() && t.chars().all(|c| c == '*')) => Test::Any,
            Op::Wildcard => {
                let (res, folded) = glob_regexes(&texts, cased, all)?;
                // A glob folds Unicode case: only its ASCII literals are safe needles for the
                // ASCII-folding prefilter.
                let usable = |t: &str| glob_literals(t).into_iter().filter(|l| cased || l.is_ascii()).collect::<Vec<_>>();
                let runs: Vec<Vec<String>> = texts.iter().map(|t| usable(t)).collect();
                let lits = runs.iter().map(|r| r.first().map(|l| vec![l.clone()])).collect();
                let others = match runs.as_slice() {
                    [one] if one.len() > 1 => other_sets(one.iter().map(|l| vec![l.clone()]).collect()),
                    _ => Vec::new(),
                };
                Test::Regex { res, all, lits, others, folded }
            }
            Op::Regex => {
                let res = texts
                    .iter()
                    .map(|t| {
                        RegexBuilder::new(t)
                            .case_insensitive(!cased || p.flags.contains('i'))
                            .multi_line(p.flags.contains('m'))
                            .dot_matches_new_line(p.flags.contains('s'))
                            .size_limit(1 << 24)
                            // The lazy DFA's cache, per regex and thread (2 MiB by default).
                            .dfa_size_limit(1 << 18)
                            .build()
                            .map_err(|e| Unsupported(format!("regex {t:?} is not supported: {e}")))
                    })
                    .collect::<Result<_, _>>()?;
                let ci = !cased || p.flags.contains('i');
                let mut sets: Vec<Vec<Vec<String>>> =
                    texts.iter().map(|t| regex_literal_sets(t, ci, p.flags.contains('m'), p.flags.contains('s'))).collect();
                let others = match sets.as_slice() {
                    [one] if one.len() > 1 => other_sets(one.iter().rev().cloned().collect()),
                    _ => Vec::new(),
                };
                let lits = sets.iter_mut().map(Vec::pop).collect();
                Test::Regex { res, all, lits, others, folded: false }
            }
            Op::Cidr => Test::Cidr(
                texts.iter().map(|t| parse_cidr(t).ok_or_else(|| Unsupported(format!("bad CIDR {t:?}")))).collect::<Result<_, _>>()?,
            ),
            Op::Lt | Op::Le | Op::Gt | Op::Ge => Test::Cmp {
                op: p.op,
                vals: p.values.iter().map(|v| as_f64(v).ok_or_else(|| Unsupported(format!("{} needs a number", p.op.as_str())))).collect::<Result<_, _>>()?,
            },
            Op::Exists => Test::Exists(!matches!(p.values.first(), Some(Value::Bool(false)))),
            Op::FieldRef => Test::FieldRef { others: texts.iter().map(|t| FieldKey::new(t)).collect(), cased },
            Op::Token => return Err(Unsupported("token (KQL has) matching is not in the engine yet".into())),
        };
        let mapped = match &p.field {
            Some(f) => maps(f).into_iter().map(|(id, name)| (id, FieldKey::new(&name))).collect(),
            None => Vec::new(),
        };
        Ok(Matcher { field: p.field.as_deref().map(FieldKey::new), mapped, test, negated: p.negated, time_part, choices: OnceLock::new() })
    }

    /// The event field this matcher reads under field map `map`.
    pub(crate) fn key(&self, map: MapId) -> Option<&FieldKey> {
        if map != 0 {
            if let Some((_, k)) = self.mapped.iter().find(|(id, _)| *id == map) {
                return Some(k);
            }
        }
        self.field.as_ref()
    }

    /// Sets of strings ([`fold`]ed) the field's value (for a keyword: the event's text) must
    /// hold one of, compared folded, for this matcher to hold: each set alone is a necessary condition,
    /// and the prefilter looks for one of them. Several sets when every value must be found
    /// (`|all`); none for negated tests, numbers, regexes without literals, and needles with
    /// cased non-ASCII letters in tests that fold Unicode case.
    pub fn needle_choices(&self) -> Option<&[Vec<String>]> {
        self.choices.get_or_init(|| self.choices_folded()).as_deref()
    }

    fn choices_folded(&self) -> Option<Vec<Vec<String>>> {
        if self.negated || self.time_part.is_some() {
            return None;
        }
        let choices: Vec<Vec<&str>> = match &self.test {
            Test::Eq { vals, all, .. } => {
                if vals.iter().any(|n| n.int.is_some()) {
                    return None;
                }
                split(vals.iter().map(|n| n.text.as_str()).collect(), *all)
            }
            Test::StartsWith { vals, all, .. } | Test::EndsWith { vals, all, .. } => split(vals.iter().map(String::as_str).collect(), *all),
            Test::Contains { texts, all, .. } => split(texts.iter().map(String::as_str).collect(), *all),
            // One pattern: its literal sets are alternatives. The best goes last, as
            // `Node::anchor_by` keeps the last of equally good choices.
            Test::Regex { lits, others, .. } if !others.is_empty() => {
                let best = lits.as_ref()?.iter().flatten().map(String::as_str).collect();
                others.iter().map(|o| o.iter().map(String::as_str).collect()).chain([best]).collect()
            }
            Test::Regex { lits, all: true, .. } => {
                // Every pattern must match: the literals of any one are necessary.
                lits.as_ref()?.iter().map(|l| l.iter().map(String::as_str).collect()).collect()
            }
            Test::Regex { lits, .. } => vec![lits.as_ref()?.iter().flatten().map(String::as_str).collect()],
            _ => return None,
        };
        // Substring tests fold as the prefilter does, and regex literals are folded that way
        // too, so their non-ASCII needles (`windash` dashes, emoji, `ſ`) are
        // found alike; the other tests fold Unicode case, so their needles' non-ASCII letters
        // may be written otherwise in a match: only caseless ones (`’`, `©`, CJK) are kept.
        let ascii_fold = matches!(self.test, Test::Contains { .. } | Test::Regex { .. });
        let caseless = |c: char| c.is_ascii() || (c.to_lowercase().eq([c]) && c.to_uppercase().eq([c]));
        let usable = |set: &Vec<&str>| !set.is_empty() && set.iter().all(|t| !t.is_empty() && (ascii_fold || t.chars().all(caseless)));
        let choices: Vec<Vec<String>> = choices.into_iter().filter(usable).map(|c| c.into_iter().map(fold).collect()).collect();
        (!choices.is_empty()).then_some(choices)
    }

    /// The substrings this matcher looks for (any of them, case rule), when it can be merged
    /// with others of its field under an `or` (see [`Matcher::merge_or`]).
    fn any_substring(&self) -> Option<(&[String], bool)> {
        if self.negated || self.time_part.is_some() || self.field.is_none() {
            return None;
        }
        match &self.test {
            Test::Contains { texts, all, cased, .. } if !*all || texts.len() == 1 => Some((texts, *cased)),
            _ => None,
        }
    }

    /// Whether `self or other` can be one substring test (see [`Matcher::merge_or`]).
    pub fn merges_with(&self, other: &Matcher) -> bool {
        match (self.any_substring(), other.any_substring()) {
            (Some((_, a)), Some((_, b))) => a == b && self.field == other.field && self.mapped == other.mapped,
            _ => false,
        }
    }

    /// One matcher for `parts[0] or parts[1] or …`, all of which [`Matcher::merges_with`] the
    /// first: one search of the value instead of one per part (`1 of filter_*` over a long
    /// PowerShell ContextInfo).
    pub fn merge_or(parts: &[&Matcher]) -> Option<Matcher> {
        let first = parts.first()?;
        let (_, cased) = first.any_substring()?;
        let texts: Vec<String> = parts.iter().filter_map(|m| m.any_substring()).flat_map(|(t, _)| t.iter().cloned()).collect();
        Some(Matcher {
            field: first.field.clone(),
            mapped: first.mapped.clone(),
            test: contains(&texts, cased, false).ok()?,
            negated: false,
            time_part: None,
            choices: OnceLock::new(),
        })
    }

    /// A rough relative cost of testing this matcher on an event (to test cheap ones first).
    pub fn cost(&self) -> u32 {
        if self.field.is_none() {
            return 40;
        }
        match &self.test {
            Test::Regex { res, .. } => 20 * res.len() as u32,
            Test::Contains { texts, .. } => 4 + texts.iter().map(String::len).sum::<usize>() as u32 / 64,
            Test::Eq { vals, .. } => 1 + vals.len() as u32 / 8,
            Test::StartsWith { vals, .. } | Test::EndsWith { vals, .. } => 1 + vals.len() as u32 / 4,
            _ => 2,
        }
    }

    /// Whether this is a keyword (searched in the whole event text).
    pub fn is_keyword(&self) -> bool {
        self.field.is_none()
    }

    /// The field name as read in this event (for alert output).
    pub fn field_in(&self, map: MapId) -> Option<&str> {
        self.key(map).map(FieldKey::name)
    }

    /// Whether the event satisfies this test. `lw` holds the event's lower-cased values (see
    /// [`Lowered`]); it must have been cleared since the last event.
    pub fn matches(&self, ev: &Event, map: MapId, lw: &mut Lowered) -> bool {
        let hit = match self.key(map) {
            None => self.test_text(ev, lw),
            Some(k) => match ev.get_key(k) {
                None => matches!(self.test, Test::Null | Test::Exists(false)),
                Some(v) => match self.time_part {
                    None => self.test_value(ev, k, v, lw),
                    Some(part) => part.of(&v.to_text()).is_some_and(|n| self.test_value(ev, k, EvValue::Int(n), lw)),
                },
            },
        };
        hit != self.negated
    }

    fn test_text(&self, ev: &Event, lw: &mut Lowered) -> bool {
        match &self.test {
            Test::Contains { finds, cased, .. } => contains_hit(finds, if *cased { ev.text() } else { lw.text(ev) }),
            Test::Any => true,
            Test::Regex { res, all, folded: false, .. } => any_all(res.iter(), *all, |r| r.is_match(ev.text())),
            Test::Regex { res, all, folded: true, .. } => {
                let text = lw.text(ev);
                any_all(res.iter(), *all, |r| r.is_match(text))
            }
            _ => false,
        }
    }

    fn test_value(&self, ev: &Event, key: &FieldKey, v: EvValue<'_>, lw: &mut Lowered) -> bool {
        // Integers are written on the stack, not into a new string.
        let mut digits = itoa::Buffer::new();
        let text = v.text_in(&mut digits);
        match &self.test {
            Test::Null => v.is_null() || v.as_str() == Some(""),
            Test::Exists(want) => v.is_null() != *want,
            Test::Eq { vals, cased, all } => {
                let int = v.as_i64().filter(|_| !matches!(v, EvValue::Str(_)));
                any_all(vals.iter(), *all, |n| match (n.int, int) {
                    (Some(a), Some(b)) => a == b,
                    _ => eq(&text, &n.text, *cased),
                })
            }
            Test::StartsWith { vals, cased, all } => {
                any_all(vals.iter(), *all, |n| starts(&text, n, *cased))
            }
            Test::EndsWith { vals, cased, all } => {
                any_all(vals.iter(), *all, |n| ends(&text, n, *cased))
            }
            Test::Contains { finds, cased, .. } => {
                contains_hit(finds, if *cased { &text } else { lw.of(key, &text) })
            }
            Test::Any => true,
            Test::Regex { res, all, folded, .. } => {
                let text = if *folded { lw.of(key, &text) } else { &text };
                any_all(res.iter(), *all, |r| r.is_match(text))
            }
            Test::Cidr(nets) => match text.trim().parse::<IpAddr>() {
                Ok(ip) => nets.iter().any(|(n, b)| in_cidr(ip, *n, *b)),
                Err(_) => false,
            },
            Test::Cmp { op, vals } => {
                let x = match v {
                    EvValue::Int(i) => i as f64,
                    EvValue::UInt(u) => u as f64,
                    EvValue::Float(f) => f,
                    other => match other.as_i64() {
                        Some(i) => i as f64,
                        None => match other.to_text().trim().parse::<f64>() {
                            Ok(f) => f,
                            Err(_) => return false,
                        },
                    },
                };
                vals.iter().any(|y| match op {
                    Op::Lt => x < *y,
                    Op::Le => x <= *y,
                    Op::Gt => x > *y,
                    _ => x >= *y,
                })
            }
            Test::FieldRef { others, cased } => {
                others.iter().any(|o| ev.get_key(o).is_some_and(|w| eq(&text, &lower(&w.to_text(), *cased), *cased)))
            }
        }
    }
}

/// Without `cased`, the searches hold the needles [`fold`]ed and look in the value's folded
/// copy ([`Lowered`]).
fn contains(texts: &[String], cased: bool, all: bool) -> Result<Test, Unsupported> {
    let mut needles: Vec<String> = texts.iter().map(|t| if cased { t.to_string() } else { fold(t) }).collect();
    let finds = if all && needles.len() > 1 {
        needles.sort_by_key(|t| std::cmp::Reverse(t.len()));
        needles.iter().map(|t| Find::new(std::slice::from_ref(t))).collect::<Result<_, _>>()?
    } else if needles.is_empty() {
        Vec::new()
    } else {
        needles.sort_unstable();
        needles.dedup();
        vec![Find::new(&needles)?]
    };
    Ok(Test::Contains { finds, all, texts: texts.to_vec(), cased })
}

/// A DFA for small needle sets (fastest, and small); a contiguous NFA for big ones, whose DFA
/// would cost megabytes (thousands of matchers are held at once).
fn ac_kind(needle_bytes: usize) -> AhoCorasickKind {
    if needle_bytes <= 256 {
        AhoCorasickKind::DFA
    } else {
        AhoCorasickKind::ContiguousNFA
    }
}

fn contains_hit(finds: &[Find], hay: &str) -> bool {
    !finds.is_empty() && finds.iter().all(|f| f.is_in(hay))
}

/// Values of which one must be found (one set), or all (each alone is a set).
fn split(texts: Vec<&str>, all: bool) -> Vec<Vec<&str>> {
    if all {
        texts.into_iter().map(|t| vec![t]).collect()
    } else {
        vec![texts]
    }
}

fn any_all<T>(mut it: impl Iterator<Item = T>, all: bool, f: impl FnMut(T) -> bool) -> bool {
    if all {
        it.all(f)
    } else {
        it.any(f)
    }
}

/// `needle` is already lower-cased when not `cased`.
fn eq(text: &str, needle: &str, cased: bool) -> bool {
    if cased {
        return text == needle;
    }
    if text.is_ascii() && needle.is_ascii() {
        return text.eq_ignore_ascii_case(needle);
    }
    text.to_lowercase() == needle
}

fn starts(text: &str, needle: &str, cased: bool) -> bool {
    if cased {
        return text.starts_with(needle);
    }
    let (t, n) = (text.as_bytes(), needle.as_bytes());
    if needle.is_ascii() {
        return t.len() >= n.len() && t[..n.len()].eq_ignore_ascii_case(n);
    }
    lowered(text).starts_with(needle)
}

fn ends(text: &str, needle: &str, cased: bool) -> bool {
    if cased {
        return text.ends_with(needle);
    }
    let (t, n) = (text.as_bytes(), needle.as_bytes());
    if needle.is_ascii() {
        return t.len() >= n.len() && t[t.len() - n.len()..].eq_ignore_ascii_case(n);
    }
    lowered(text).ends_with(needle)
}

fn lowered(s: &str) -> Cow<'_, str> {
    if s.chars().any(char::is_uppercase) {
        Cow::Owned(s.to_lowercase())
    } else {
        Cow::Borrowed(s)
    }
}

#[cfg(test)]
mod tests {
    use super::{fold, glob_regexes, other_sets, regex_literal_sets, RegexBuilder};
    use proptest::prelude::*;

    /// A glob as Sigma means it: the whole value, `*` any run, `?` one character, `\` escaping
    /// them, Unicode case folded unless `cased`.
    fn reference(glob: &str, cased: bool, value: &str) -> bool {
        let mut re = String::from("^");
        let mut chars = glob.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\\' if matches!(chars.peek(), Some('*' | '?' | '\\')) => re.push_str(&regex::escape(&chars.next().unwrap().to_string())),
                '*' => re.push_str(".*"),
                '?' => re.push('.'),
                c => re.push_str(&regex::escape(&c.to_string())),
            }
        }
        re.push('$');
        RegexBuilder::new(&re).case_insensitive(!cased).dot_matches_new_line(true).build().unwrap().is_match(value)
    }

    fn compiled(globs: &[String], cased: bool, all: bool, value: &str) -> bool {
        let (res, folded) = glob_regexes(globs, cased, all).unwrap();
        let text = if folded { fold(value) } else { value.to_string() };
        if all {
            res.iter().all(|r| r.is_match(&text))
        } else {
            res.iter().any(|r| r.is_match(&text))
        }
    }

    proptest! {
        /// Unanchored, merged and folded, globs match exactly the values they match whole.
        #[test]
        fn globs_match_as_whole_value_patterns(
            globs in prop::collection::vec("[aBks*?\\\\ ]{0,6}", 1..4),
            value in "[aAbBkK\u{212A}sS\u{17F}\\\\*? \n]{0,8}",
            cased in any::<bool>(),
            all in any::<bool>(),
        ) {
            let want = if all {
                globs.iter().all(|g| reference(g, cased, &value))
            } else {
                globs.iter().any(|g| reference(g, cased, &value))
            };
            prop_assert_eq!(compiled(&globs, cased, all, &value), want);
        }
    }

    #[test]
    fn glob_edges() {
        let one = |g: &str, v: &str| compiled(&[g.to_string()], false, false, v);
        assert!(one("*\\cmd.exe", "C:\\Windows\\CMD.EXE"));
        assert!(!one("*\\cmd.exe", "C:\\Windows\\CMD.EXE x"));
        assert!(one("a\\*", "A*"), "an escaped star is a star");
        assert!(!one("a\\*", "Ab"));
        assert!(one("a\\\\*", "a\\xyz"), "an escaped backslash, then any run");
        assert!(one("*kernel*", "C:\\\u{212A}ERNEL32"), "the Kelvin sign folds to k");
        assert!(one("*É*", "xéy"), "non-ASCII globs fold Unicode case");
    }

    fn regex_literals(pattern: &str, case_insensitive: bool, multi_line: bool, dot_all: bool) -> Option<Vec<String>> {
        regex_literal_sets(pattern, case_insensitive, multi_line, dot_all).pop()
    }

    #[test]
    fn regex_needles_come_from_the_most_selective_part() {
        // SigmaHQ's WSASS rule: `.exe` starts every match, but every match holds
        // `werfaultsecure.exe`.
        let wsass = r#"(?i)\.exe["']?\s+[^"]{0,64}werfaultsecure\.exe["']?\s+\d{2,10}"#;
        let lits = regex_literals(wsass, false, false, false).unwrap();
        // (Case variants multiply the literals, so the extractor keeps a shorter piece of it.)
        assert!(lits.iter().all(|l| l.len() >= 7 && "werfaultsecure.exe".contains(l.as_str())), "{lits:?}");
        // Alternations give one needle per branch; a regex that may start anywhere, with no
        // literal tail, gives none.
        let alt = regex_literals("x+(abc|defg)[0-9]", false, false, false).unwrap();
        assert!(alt.contains(&"abc7".to_string()) && alt.iter().all(|l| l.starts_with("abc") || l.starts_with("defg")), "{alt:?}");
        assert_eq!(regex_literals(r"\w+\d", false, false, false), None);
        // Equally long: the rarer bytes (SigmaHQ's PowerShell token obfuscation).
        assert_eq!(regex_literals(r#""(?:\{\d\})+"\s*-f"#, false, false, false), Some(vec!["\"{".to_string()]));
        // Other sets, for a prefilter fitted to a sample: SigmaHQ's STDIN+ launcher holds
        // `noexit` or `$input` as surely as `powershell`, and far more rarely; the tails of
        // `powershell` itself (`wershel`, `rshell` ...) are not offered again.
        let stdin = r#"cmd.{0,5}(?:/c|/r).+powershell.+(?:\$\{?input\}?|noexit).+\""#;
        let sets: Vec<Vec<String>> = regex_literal_sets(stdin, true, false, false).into_iter().rev().collect();
        assert_eq!(sets[0], ["ershell", "erſhell"]);
        let others = other_sets(sets);
        assert!(others.iter().any(|o| o.contains(&"noexit".to_string()) && o.contains(&"$input".to_string())), "{others:?}");
        assert!(others.iter().any(|o| o == &["cmd"]), "{others:?}");
        assert!(others.iter().flatten().all(|l| l.len() >= 2 && !"powershell".contains(l.as_str())), "{others:?}");
        // Case-insensitive: `s` also matches `ſ`, so that spelling is a needle too.
        let ps = regex_literals("^powershell", true, false, false).unwrap();
        assert!(ps.iter().any(|l| l.contains('ſ')), "{ps:?}");
        assert!(ps.iter().all(|l| l.len() >= 6 && (!l.is_ascii() || "powershell".contains(l.as_str()))), "{ps:?}");
    }
}
