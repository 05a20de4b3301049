//! `rulelens hunt` and `rulelens test`: load rules, run them with the engine, print what fired.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use engine::{hunt::HuntResult, placeholders::Placeholders, CaseResult, Format, HuntOptions, RuleIndex, RuleSet};
use indicatif::{ProgressBar, ProgressStyle};
use ir::Rule;

/// Rules from folders/files (parsed now) and/or a catalog.
pub fn load_rules(paths: &[PathBuf], db: Option<&Path>) -> anyhow::Result<Vec<Rule>> {
    let mut rules = Vec::new();
    if !paths.is_empty() {
        for p in paths {
            if !p.exists() {
                bail!("{}: no such file or folder", p.display());
            }
        }
        let loaded = catalog::load(paths, &());
        if !loaded.failures.is_empty() {
            eprintln!("{} rule file(s) could not be read (these rules do not run):", loaded.failures.len());
            for f in loaded.failures.iter().take(10) {
                eprintln!("  {}/{}:{}", f.origin, f.path, f.diagnostic.located());
            }
            if loaded.failures.len() > 10 {
                eprintln!("  ... `rulelens build` lists them all");
            }
        }
        rules.extend(loaded.rules);
    }
    if let Some(db) = db {
        let cat = catalog::Catalog::open(db).with_context(|| format!("opening catalog {}", db.display()))?;
        rules.extend(cat.all_rules()?);
    }
    Ok(rules)
}

fn progress_bar(template: &str) -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    if !std::io::stderr().is_terminal() {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    bar.set_style(ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_spinner()));
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}

/// Writes `bytes` to `path` atomically: a temporary file beside it, then a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new().prefix(".rulelens-out-").tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

pub fn hunt(
    rules: Vec<Rule>,
    placeholders: &Placeholders,
    logs: &[PathBuf],
    format: Format,
    output: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    if rules.is_empty() {
        bail!("no rules to run: give --rules PATH (rule folders or files) or --db FILE");
    }
    for l in logs {
        if !l.exists() {
            bail!("{}: no such file or folder", l.display());
        }
    }
    let set = RuleSet::with_placeholders(rules, placeholders);
    let bar = progress_bar("{spinner} {human_pos} events read, {per_sec} {elapsed}");
    let res = engine::hunt(&set, logs, &HuntOptions::default(), &|n| bar.inc(n));
    bar.finish_and_clear();
    let mut out = Vec::new();
    engine::write_alerts(&mut out, &res.alerts, format)?;
    match output {
        Some(p) => write_atomic(p, &out)?,
        None => std::io::stdout().lock().write_all(&out)?,
    }
    eprint!("{}", summary(&set, &res));
    Ok(ExitCode::SUCCESS)
}

/// The closing summary: events per file type, speed, alerts per level and rule, what was skipped.
fn summary(set: &RuleSet, r: &HuntResult) -> String {
    let mut s = String::new();
    let kinds: Vec<String> = r.events_by_kind().iter().map(|(k, n)| format!("{k} {n}")).collect();
    let _ = writeln!(
        s,
        "\n{} events read ({}) in {:.2} s: {:.0} events/s",
        r.events(),
        if kinds.is_empty() { "none".to_string() } else { kinds.join(", ") },
        r.seconds,
        r.events_per_second()
    );
    let runnable = set.compiled.len() + set.correlations.iter().filter(|c| set.rules[c.rule].kind == "correlation").count();
    let _ = writeln!(s, "{} rules run, {} not run", runnable, set.skipped.len());
    let levels: Vec<String> = r.alerts_by_level().iter().map(|(l, n)| format!("{l} {n}")).collect();
    let _ = writeln!(s, "{} alerts{}", r.alerts.len(), if levels.is_empty() { String::new() } else { format!(" ({})", levels.join(", ")) });
    for (id, title, n) in r.alerts_by_rule().iter().take(25) {
        let _ = writeln!(s, "  {n:>6}  {title}  [{id}]");
    }
    if r.alerts_by_rule().len() > 25 {
        let _ = writeln!(s, "  ... {} more rules fired", r.alerts_by_rule().len() - 25);
    }
    let skipped: Vec<_> = r.report.files.iter().filter(|f| f.skipped.is_some() || f.errors > 0).collect();
    if !skipped.is_empty() {
        let _ = writeln!(s, "files skipped or read with errors:");
        for f in skipped {
            let _ = writeln!(s, "  {}: {}", f.name(), f.notes().join("; "));
        }
    }
    let tz = r.report.timestamps_without_zone();
    if tz > 0 {
        let _ = writeln!(s, "note: {tz} event times carried no time zone and were read as UTC");
    }
    if !set.skipped.is_empty() {
        let mut why: BTreeMap<&str, usize> = BTreeMap::new();
        for k in &set.skipped {
            *why.entry(reason_class(&k.reason)).or_default() += 1;
        }
        let _ = writeln!(s, "rules not run, by reason:");
        for (w, n) in why {
            let _ = writeln!(s, "  {n:>5}  {w}");
        }
    }
    s
}

/// The reason without the rule-specific part (for grouping).
fn reason_class(reason: &str) -> &str {
    let cut = reason.find(':').unwrap_or(reason.len());
    reason[..cut].trim()
}

/// Rule folders of the Sigma repository that holds a `regression_data` folder above `dir`.
fn default_rule_dirs(dir: &Path) -> Vec<PathBuf> {
    let abs = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    for a in abs.ancestors() {
        if a.file_name().is_some_and(|n| n == "regression_data") {
            let Some(root) = a.parent() else { break };
            let Ok(rd) = std::fs::read_dir(root) else { break };
            let mut dirs: Vec<PathBuf> = rd
                .filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.is_dir() && p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("rules")))
                .collect();
            dirs.sort();
            return dirs;
        }
    }
    Vec::new()
}

pub fn test(rule_paths: &[PathBuf], db: Option<&Path>, dirs: &[PathBuf], json: bool, count: engine::Count) -> anyhow::Result<ExitCode> {
    let mut rule_paths = rule_paths.to_vec();
    if rule_paths.is_empty() && db.is_none() {
        for d in dirs {
            rule_paths.extend(default_rule_dirs(d));
        }
        rule_paths.dedup();
        if rule_paths.is_empty() {
            bail!("no rules: give --rules PATH (the folders are not inside a Sigma repository's regression_data)");
        }
        eprintln!("rules from {}", rule_paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "));
    }
    let rules = load_rules(&rule_paths, db)?;
    let (cases, errors) = engine::find_cases(dirs);
    for (p, e) in &errors {
        eprintln!("{}: {e}", p.display());
    }
    if cases.is_empty() {
        bail!("no regression case (info.yml) under {}", dirs.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "));
    }
    let index = RuleIndex::new(&rules);
    let bar = ProgressBar::new(cases.len() as u64);
    if !std::io::stderr().is_terminal() {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let results: Vec<CaseResult> = cases
        .iter()
        .map(|c| {
            let r = engine::run_case(&index, c, count);
            bar.inc(1);
            r
        })
        .collect();
    bar.finish_and_clear();
    let passed = results.iter().filter(|r| r.passed).count();
    let skipped = results.iter().filter(|r| r.skipped).count();
    let failed = results.len() - passed - skipped;
    if json {
        let v = serde_json::json!({ "passed": passed, "failed": failed, "skipped": skipped, "cases": results });
        let mut out = std::io::stdout().lock();
        serde_json::to_writer_pretty(&mut out, &v)?;
        writeln!(out)?;
    } else {
        let mut out = std::io::stdout().lock();
        for r in &results {
            let status = if r.passed { "pass" } else if r.skipped { "skip" } else { "FAIL" };
            writeln!(out, "{status}  {}  [{}]  {}\n      {}", r.title, r.rule_id, r.path, r.why)?;
        }
        writeln!(out, "{passed} passed, {failed} failed, {skipped} skipped")?;
    }
    Ok(if failed > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS })
}
