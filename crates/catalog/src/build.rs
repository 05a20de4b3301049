use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Instant;

use ir::Rule;
use rayon::prelude::*;
use serde::Serialize;

use crate::ingest::{ingest, FileFailure, FolderContext};
use crate::walk::RuleFile;
use crate::{store, walk};

/// Build progress, reported per file (the CLI draws a bar; tests pass `()`).
pub trait Progress: Sync {
    fn start(&self, _files: usize) {}
    fn inc(&self) {}
}

impl Progress for () {}

#[derive(Debug, Serialize)]
pub struct BuildSummary {
    pub db: PathBuf,
    /// Files looked at (rule-extension files under the folders).
    pub files: usize,
    /// Rules per source.
    pub rules: BTreeMap<String, usize>,
    /// Rules that were kept but carry error diagnostics, per source.
    pub with_errors: BTreeMap<String, usize>,
    /// Files or documents that gave no rule.
    pub failures: Vec<FileFailure>,
    pub seconds: f64,
    /// Seconds spent finding files, parsing them (in parallel), and writing SQLite.
    pub walk_seconds: f64,
    pub parse_seconds: f64,
    pub write_seconds: f64,
}

/// Reads every rule under `dirs` and writes the catalog to `db` (atomically: a temporary file
/// in the same folder, renamed into place only when complete).
pub fn build(dirs: &[PathBuf], db: &Path, progress: &dyn Progress) -> anyhow::Result<BuildSummary> {
    build_with(dirs, db, progress, None)
}

/// [`build`], with an ATT&CK bundle for technique names, tactics and the matrix.
pub fn build_with(dirs: &[PathBuf], db: &Path, progress: &dyn Progress, attack: Option<&attack::Attack>) -> anyhow::Result<BuildSummary> {
    let t0 = Instant::now();
    let Loaded { files, mut rules, failures, walk_seconds } = load(dirs, progress);
    if let Some(a) = attack {
        rules.par_iter_mut().for_each(|r| crate::enrich::with_attack(r, a));
    }
    let parse_seconds = t0.elapsed().as_secs_f64() - walk_seconds;
    // Absolute paths let `show FILE` find a rule by the path a user has at hand.
    let abs: HashMap<(&str, &str), String> = files
        .iter()
        .map(|f| {
            let p = f.abs.canonicalize().unwrap_or_else(|_| f.abs.clone());
            ((f.origin.as_str(), f.rel.as_str()), p.to_string_lossy().into_owned())
        })
        .collect();
    // Each rule's indicators, once: relations and the catalog both read them.
    let indicators: Vec<Vec<vocab::Indicator>> = rules.par_iter().map(vocab::indicators).collect();
    let t_rel = Instant::now();
    let relations = vocab::relate_with(&rules, &indicators);
    if std::env::var_os("RULELENS_TIMING").is_some() {
        eprintln!("relate: {:.3} s, {} relations", t_rel.elapsed().as_secs_f64(), relations.len());
    }
    store::write(db, &rules, &indicators, &failures, &abs, &relations, attack)?;
    let write_seconds = t0.elapsed().as_secs_f64() - walk_seconds - parse_seconds;

    let mut per_source = BTreeMap::new();
    let mut with_errors = BTreeMap::new();
    for r in &rules {
        *per_source.entry(r.source.as_str().to_string()).or_insert(0) += 1;
        if r.has_errors() {
            *with_errors.entry(r.source.as_str().to_string()).or_insert(0) += 1;
        }
    }
    Ok(BuildSummary {
        db: db.to_path_buf(),
        files: files.len(),
        rules: per_source,
        with_errors,
        failures,
        seconds: t0.elapsed().as_secs_f64(),
        walk_seconds,
        parse_seconds,
        write_seconds,
    })
}

/// Real corpora hold duplicate ids: every rule is kept, and each rule of a shared id gets a
/// suffix derived from where it lives, so ids stay unique and stable across machines.
fn disambiguate(rules: &mut [Rule]) {
    let mut count: HashMap<String, usize> = HashMap::new();
    for r in rules.iter() {
        *count.entry(r.id.clone()).or_insert(0) += 1;
    }
    for r in rules.iter_mut() {
        if count[&r.id] > 1 {
            let h = ir::short_hash(&[r.source.as_str(), &r.origin, &r.path, &r.doc_index.to_string()]);
            r.id = format!("{}~{}", r.id, &h[..8]);
        }
    }
}

/// Rules read from folders, ready for the catalog or the engine.
pub struct Loaded {
    pub files: Vec<RuleFile>,
    /// Sorted by origin, path and document; ids unique; event coverage derived.
    pub rules: Vec<Rule>,
    pub failures: Vec<FileFailure>,
    pub walk_seconds: f64,
}

/// Walks the folders, parses every rule file in parallel, derives event coverage and makes ids
/// unique: everything `build` does except writing the catalog.
pub fn load(dirs: &[PathBuf], progress: &dyn Progress) -> Loaded {
    let t0 = Instant::now();
    let mut files = Vec::new();
    let mut failures = Vec::new();
    // Sentinel rules call the workspace functions (parsers) of their content tree by name;
    // Splunk detections use their repository's macros.
    let mut contexts: HashMap<String, FolderContext> = HashMap::new();
    for d in dirs {
        let (f, e) = walk::walk(d);
        if let Some(first) = f.first() {
            contexts.entry(first.origin.clone()).or_insert_with(|| FolderContext {
                functions: sentinel::Functions::load(d),
                splunk: splunk::Repo::find(d).unwrap_or_default(),
            });
        }
        files.extend(f);
        failures.extend(e);
    }
    let walk_seconds = t0.elapsed().as_secs_f64();
    progress.start(files.len());
    let none = FolderContext::default();
    let parsed: Vec<_> = files
        .par_iter()
        .map(|f| {
            let r = ingest(f, contexts.get(&f.origin).unwrap_or(&none));
            progress.inc();
            r
        })
        .collect();
    let mut rules: Vec<Rule> = Vec::new();
    for p in parsed {
        rules.extend(p.rules);
        failures.extend(p.failures);
    }
    rules.par_iter_mut().for_each(|r| {
        // Sigma's coverage comes from its log source; the KQL front end derives the tables itself.
        if r.source == ir::Source::Sigma {
            r.derived = vocab::event_coverage(r);
        }
        vocab::annotate(r);
        let findings = vocab::telemetry_findings(r);
        r.diagnostics.extend(findings);
    });
    rules.sort_by(|a, b| (&a.origin, &a.path, a.doc_index).cmp(&(&b.origin, &b.path, b.doc_index)));
    disambiguate(&mut rules);
    Loaded { files, rules, failures, walk_seconds }
}
