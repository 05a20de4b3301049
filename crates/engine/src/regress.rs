//! Sigma regression cases: a folder with an `info.yml` naming a rule (`rule_metadata[].id`) and
//! the expected number of matches (`regression_tests_info[].match_count`), beside the case's
//! event files (the same events as `.evtx` and as `.json`). A case passes when its rule fires on
//! every event file that can be read, exactly `match_count` times when the case gives one — or,
//! read as SigmaHQ's own runner reads it ([`Count::AtLeast`]), at least `match_count` times.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use ir::Rule;
use serde::Serialize;
use yaml_rust2::{Yaml, YamlLoader};

use crate::hunt::{hunt, HuntOptions};
use crate::ruleset::RuleSet;

/// How a case's `match_count` is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Count {
    /// The rule fires exactly that many times.
    #[default]
    Exact,
    /// At least that many times, as SigmaHQ's own regression runner (the Python script its CI
    /// runs) checks it: it fails a case that fires less often and only warns when it fires more
    /// often.
    AtLeast,
}

/// One case as its `info.yml` describes it.
#[derive(Debug, Clone)]
pub struct CaseSpec {
    /// The case folder.
    pub dir: PathBuf,
    pub rule_ids: Vec<String>,
    pub titles: Vec<String>,
    /// `match_count` of the case's tests (the first one that gives it).
    pub match_count: Option<u64>,
    /// Number of entries in `regression_tests_info`.
    pub tests: usize,
    /// Files in the folder other than `info.yml`, in name order.
    pub files: Vec<PathBuf>,
}

/// The outcome of one case. JSON keys are the public interface.
#[derive(Debug, Clone, Serialize)]
pub struct CaseResult {
    pub rule_id: String,
    pub title: String,
    /// The case folder.
    pub path: String,
    pub passed: bool,
    /// Not run (no readable event file, no test declared): never counted as passed.
    pub skipped: bool,
    pub why: String,
    /// Alerts per event file read.
    pub counts: Vec<FileCount>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FileCount {
    pub file: String,
    pub matches: u64,
}

/// Finds every `info.yml` under the folders. Unreadable ones come back as errors.
pub fn find_cases(dirs: &[PathBuf]) -> (Vec<CaseSpec>, Vec<(PathBuf, String)>) {
    let mut cases = Vec::new();
    let mut errors = Vec::new();
    for d in dirs {
        let mut infos: Vec<PathBuf> = walkdir::WalkDir::new(d)
            .sort_by_file_name()
            .into_iter()
            .filter_map(|e| match e {
                Ok(e) => Some(e),
                Err(err) => {
                    errors.push((d.clone(), err.to_string()));
                    None
                }
            })
            .filter(|e| e.file_type().is_file() && e.file_name() == "info.yml")
            .map(|e| e.into_path())
            .collect();
        infos.sort();
        for info in infos {
            match read_case(&info) {
                Ok(c) => cases.push(c),
                Err(e) => errors.push((info, e)),
            }
        }
    }
    (cases, errors)
}

fn read_case(info: &Path) -> Result<CaseSpec, String> {
    let text = std::fs::read_to_string(info).map_err(|e| e.to_string())?;
    let docs = YamlLoader::load_from_str(&text).map_err(|e| format!("invalid YAML: {e}"))?;
    let doc = docs.first().ok_or("empty file")?;
    let list = |y: &Yaml| y.as_vec().cloned().unwrap_or_default();
    let meta = list(&doc["rule_metadata"]);
    let rule_ids: Vec<String> = meta.iter().filter_map(|m| m["id"].as_str().map(str::to_string)).collect();
    if rule_ids.is_empty() {
        return Err("no rule_metadata id".into());
    }
    let titles = meta.iter().filter_map(|m| m["title"].as_str().map(str::to_string)).collect();
    let tests = list(&doc["regression_tests_info"]);
    let match_count = tests.iter().find_map(|t| t["match_count"].as_i64()).map(|n| n.max(0) as u64);
    let dir = info.parent().ok_or("no folder")?.to_path_buf();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|e| e.to_string())?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.file_name().is_some_and(|n| n != "info.yml"))
        .collect();
    files.sort();
    Ok(CaseSpec { dir, rule_ids, titles, match_count, tests: tests.len(), files })
}

/// Rules by every name a case or a correlation may use for them.
pub struct RuleIndex<'a> {
    rules: &'a [Rule],
    by_name: HashMap<&'a str, usize>,
}

impl<'a> RuleIndex<'a> {
    pub fn new(rules: &'a [Rule]) -> Self {
        let mut by_name = HashMap::new();
        for (i, r) in rules.iter().enumerate() {
            by_name.entry(r.id.as_str()).or_insert(i);
            for n in [&r.own_id, &r.name].into_iter().flatten() {
                by_name.entry(n.as_str()).or_insert(i);
            }
        }
        RuleIndex { rules, by_name }
    }

    pub fn get(&self, name: &str) -> Option<&'a Rule> {
        self.by_name.get(name).map(|&i| &self.rules[i])
    }

    /// The rule and, for a correlation, the rules it builds on (recursively).
    fn closure(&self, rule: &'a Rule) -> Vec<Rule> {
        let mut out: Vec<Rule> = Vec::new();
        let mut todo = vec![rule];
        while let Some(r) = todo.pop() {
            if out.iter().any(|o| o.id == r.id) {
                continue;
            }
            for s in &r.logic.stages {
                if let ir::StageKind::Correlation(c) = &s.kind {
                    todo.extend(c.rules.iter().filter_map(|n| self.get(n)));
                }
            }
            out.push(r.clone());
        }
        out
    }
}

/// Runs one case against its rule (found in `index`).
pub fn run_case(index: &RuleIndex<'_>, case: &CaseSpec, count: Count) -> CaseResult {
    let rule_id = case.rule_ids.join(", ");
    let mut res = CaseResult {
        rule_id: rule_id.clone(),
        title: case.titles.join(", "),
        path: case.dir.display().to_string(),
        passed: false,
        skipped: false,
        why: String::new(),
        counts: Vec::new(),
    };
    let Some(rule) = case.rule_ids.iter().find_map(|id| index.get(id)) else {
        res.why = format!("rule {rule_id} is not among the rules given");
        return res;
    };
    res.rule_id = rule.own_id.clone().unwrap_or_else(|| rule.id.clone());
    res.title = rule.title.clone();
    if case.tests == 0 {
        res.skipped = true;
        res.why = "info.yml declares no regression test".into();
        return res;
    }
    let set = RuleSet::new(index.closure(rule));
    if let Some(s) = set.skipped.iter().find(|s| s.rule_id == rule.id) {
        res.why = format!("the rule cannot run: {}", s.reason);
        return res;
    }
    let opts = HuntOptions { sequential: true, ..HuntOptions::default() };
    let mut unreadable = Vec::new();
    let (mut wrong, mut more) = (Vec::new(), Vec::new());
    for f in &case.files {
        let out = hunt(&set, std::slice::from_ref(f), &opts, &|_| {});
        let name = f.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if out.events() == 0 {
            let why = out.report.files.iter().find_map(|r| r.skipped.clone()).unwrap_or_else(|| "no events".into());
            unreadable.push(format!("{name}: {why}"));
            continue;
        }
        let fired: Vec<&crate::Alert> = out.alerts.iter().filter(|a| a.rule_id == rule.id).collect();
        let n = fired.len() as u64;
        res.counts.push(FileCount { file: name.clone(), matches: n });
        // Which events fired, so a count can be checked by hand.
        let records: Vec<String> = fired.iter().take(10).map(|a| a.record_id.map_or_else(|| "?".into(), |r| r.to_string())).collect();
        let on = if records.is_empty() { String::new() } else { format!(" (records {})", records.join(", ")) };
        match (case.match_count, count) {
            (None, _) if n == 0 => wrong.push(format!("{name}: 0 matches, expected at least 1")),
            (Some(want), Count::Exact) if n != want => wrong.push(format!("{name}: {n} matches{on}, expected {want}")),
            (Some(want), Count::AtLeast) if n < want => wrong.push(format!("{name}: {n} matches{on}, expected at least {want}")),
            (Some(want), Count::AtLeast) if n > want => more.push(format!("{name}: {n}{on}, match_count says {want}")),
            _ => {}
        }
    }
    if res.counts.is_empty() {
        res.skipped = true;
        res.why = if unreadable.is_empty() {
            "no event file in the case folder".into()
        } else {
            format!("no event file the engine can read ({})", unreadable.join("; "))
        };
    } else if wrong.is_empty() && more.is_empty() {
        res.passed = true;
        let counts: Vec<String> = res.counts.iter().map(|c| format!("{}: {}", c.file, c.matches)).collect();
        res.why = format!("fired as expected ({})", counts.join(", "));
    } else if wrong.is_empty() {
        res.passed = true;
        res.why = format!("fired more often than match_count says ({})", more.join("; "));
    } else {
        res.why = wrong.join("; ");
    }
    res
}
