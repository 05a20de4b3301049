//! Sweep of the shared Sigma corpora: every rule file parses; the only failures and errors are
//! real defects of the files, listed here one by one.

use std::path::{Path, PathBuf};
use std::time::Instant;

use ir::Severity;

fn corpus() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus")
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = rd.filter_map(Result::ok).map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            yaml_files(&p, out);
        } else if matches!(p.extension().and_then(|e| e.to_str()), Some("yml" | "yaml")) {
            out.push(p);
        }
    }
}

#[derive(Default)]
struct Sweep {
    files: usize,
    sigma_files: usize,
    rules: usize,
    rules_with_errors: usize,
    warnings: usize,
    warning_codes: std::collections::BTreeMap<String, usize>,
    /// (relative path, code, located message) of every failure and error diagnostic.
    problems: Vec<(String, String, String)>,
    not_sigma: Vec<String>,
}

fn sweep(root: &Path, origin: &str) -> Sweep {
    let mut files = Vec::new();
    yaml_files(root, &mut files);
    let mut s = Sweep::default();
    for f in &files {
        let rel = f
            .strip_prefix(root)
            .unwrap_or(f)
            .to_string_lossy()
            .replace('\\', "/");
        let Ok(bytes) = std::fs::read(f) else {
            continue;
        };
        let text = String::from_utf8_lossy(&bytes);
        let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
        s.files += 1;
        let r = sigma::parse_file(origin, &rel, text);
        if !r.is_sigma {
            s.not_sigma.push(rel);
            continue;
        }
        s.sigma_files += 1;
        s.rules += r.rules.len();
        for d in &r.failures {
            s.problems.push((rel.clone(), d.code.clone(), d.located()));
        }
        for rule in &r.rules {
            assert_eq!(rule.origin, origin);
            assert_eq!(rule.path, rel);
            check_rule(&rel, text, r.rules.len(), rule);
            if rule.has_errors() {
                s.rules_with_errors += 1;
            }
            for d in &rule.diagnostics {
                assert!(
                    d.span.is_some(),
                    "{rel}: diagnostic without position: {d:?}"
                );
                match d.severity {
                    Severity::Error => s.problems.push((rel.clone(), d.code.clone(), d.located())),
                    _ => {
                        s.warnings += 1;
                        *s.warning_codes.entry(d.code.clone()).or_default() += 1;
                    }
                }
            }
        }
    }
    s
}

/// Invariants every rule of the corpus keeps: it reads back from JSON unchanged, a single-document
/// file is its own raw text, spans lie in the file, and a predicate's span shows its key.
fn check_rule(rel: &str, text: &str, rules_in_file: usize, rule: &ir::Rule) {
    let json = serde_json::to_string(rule).expect("serialises");
    let back: ir::Rule = serde_json::from_str(&json).expect("reads back");
    assert!(back == *rule, "{rel}: JSON round trip changes the rule");
    if rules_in_file == 1 {
        assert_eq!(rule.raw.trim_end(), text.trim_end(), "{rel}: raw text");
    }
    for st in &rule.logic.stages {
        if let Some(sp) = st.span {
            assert!(
                sp.start <= sp.end && sp.end <= text.len(),
                "{rel}: stage span out of the file"
            );
        }
        if matches!(st.kind, ir::StageKind::Selection { .. }) {
            let head = text
                .get(st.span.map(|s| s.start).unwrap_or(0)..)
                .unwrap_or("");
            assert!(
                head.starts_with(&st.name) || head[1..].starts_with(&st.name),
                "{rel}: stage {} span",
                st.name
            );
            assert!(
                st.text.starts_with(head.split(':').next().unwrap_or("")),
                "{rel}: stage {} text",
                st.name
            );
        }
        for p in st.predicates() {
            let Some(sp) = p.span else {
                panic!("{rel}: predicate without span")
            };
            let src = &text[sp.start..sp.end];
            if !p.raw.is_empty() && !matches!(st.kind, ir::StageKind::Aggregate { .. }) {
                assert_eq!(
                    src.trim_matches(['\'', '"']),
                    p.raw,
                    "{rel}: predicate span"
                );
            }
        }
    }
}

fn report(name: &str, s: &Sweep, secs: f64) {
    eprintln!(
        "{name}: {} files ({} Sigma), {} rules, {} failures+errors, {} rules with errors, {} warnings, {:.2}s",
        s.files,
        s.sigma_files,
        s.rules,
        s.problems.len(),
        s.rules_with_errors,
        s.warnings,
        secs
    );
    if !s.warning_codes.is_empty() {
        eprintln!("  warnings by code: {:?}", s.warning_codes);
    }
    for (p, code, msg) in &s.problems {
        eprintln!("  {name}/{p}: [{code}] {msg}");
    }
    for p in &s.not_sigma {
        eprintln!("  {name}/{p}: not Sigma");
    }
}

/// Known defects of the corpus files: (path, code, text in the message).
const KNOWN_DEFECTS: &[(&str, &str, &str)] = &[
    // `ScriptBlockText|contains|contains`: a repeated modifier.
    (
        "sigma-mdecrevoisier/windows-bitlocker/win-os-BitLocker feature activation (PowerShell).yaml",
        "bad-modifier",
        "`contains` is repeated",
    ),
    // `... OR selection_powershell_configuration_*`: a wildcard name without `1 of`.
    (
        "sigma-mdecrevoisier/windows-bitlocker/win-os-BitLocker feature activation (PowerShell).yaml",
        "missing-selection",
        "`selection_powershell_configuration_*`",
    ),
    // `(selection_age > 7)`: a comparison in the condition, not Sigma.
    (
        "sigma-mdecrevoisier/windows-defender/defender-host signatures outdated (limited).yaml",
        "bad-condition",
        "unexpected `>`",
    ),
    // `condition: selection` but the only selection is `selection_event`.
    (
        "sigma-mdecrevoisier/windows-firewall/win-os-firewall rule creation (command).yaml",
        "missing-selection",
        "names `selection`",
    ),
    // `selection and not filter` with `filter` commented out.
    (
        "sigma-mdecrevoisier/windows-os/win-os-Pass-the-hash login with Mimikatz.yaml",
        "missing-selection",
        "names `filter`",
    ),
    // `Image|endswith|endswith`: a repeated modifier.
    (
        "sigma-mdecrevoisier/windows-os/win-os-WMI spawning PowerShell process - WMImplant (process).yaml",
        "bad-modifier",
        "`endswith` is repeated",
    ),
    // A tab indents `RelativeTargetName` under `filter:`: invalid YAML, the file gives no rule.
    ("sigma-mdecrevoisier/windows-os/win-os-dump file transfered over SMB share.yaml", "yaml", "tab"),
    // `selection_create > selection_delete | group(Computer, TaskName)`: not Sigma.
    (
        "sigma-mdecrevoisier/windows-scheduled_task/win-os-scheduled task fastly created and deleted.yaml",
        "bad-condition",
        "unexpected `>`",
    ),
    // `condition: selection` but the only selection is `selection_process`.
    (
        "sigma-mdecrevoisier/windows-services/win-os-service abuse with malicious ImagePath (service).yaml",
        "missing-selection",
        "names `selection`",
    ),
    // `filter:` with no value.
    (
        "sigma-mdecrevoisier/windows-services/win-os-service creation SMBexec (native).yaml",
        "empty-selection",
        "`filter` has no value",
    ),
];

#[test]
fn corpus_sweep() {
    let base = corpus();
    if !base.join("sigma").is_dir() {
        {
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "\n!!! CORPUS TEST DID NOT RUN: {} not found; nothing was checked !!!\n",
                base.join("sigma").display()
            );
        }
        return;
    }
    let folders = [
        ("sigma/rules", true),
        ("sigma/rules-emerging-threats", true),
        ("sigma/rules-compliance", false),
        ("sigma/rules-placeholder", false),
        ("sigma-mdecrevoisier", false),
    ];
    let mut total = Sweep::default();
    let mut seen_known = vec![false; KNOWN_DEFECTS.len()];
    let mut unexpected = Vec::new();
    let all = Instant::now();
    for (folder, must_be_clean) in folders {
        let t = Instant::now();
        let s = sweep(
            &base.join(folder),
            folder.rsplit('/').next().unwrap_or(folder),
        );
        report(folder, &s, t.elapsed().as_secs_f64());
        assert!(s.files > 0, "{folder}: no files");
        assert!(
            s.not_sigma.is_empty(),
            "{folder}: files not recognised as Sigma: {:?}",
            s.not_sigma
        );
        if must_be_clean {
            assert!(
                s.problems.is_empty(),
                "{folder}: {} failures/errors in valid Sigma",
                s.problems.len()
            );
            assert!(s.rules >= s.files, "{folder}: fewer rules than files");
        } else {
            for (path, code, msg) in &s.problems {
                let full = format!("{folder}/{path}");
                match KNOWN_DEFECTS
                    .iter()
                    .position(|(p, c, m)| full == *p && code == c && msg.contains(m))
                {
                    Some(i) => seen_known[i] = true,
                    None => unexpected.push(format!("{full}: [{code}] {msg}")),
                }
            }
        }
        total.files += s.files;
        total.rules += s.rules;
        total.rules_with_errors += s.rules_with_errors;
        total.problems.extend(s.problems);
    }
    eprintln!(
        "TOTAL: {} files, {} rules, {} failures+errors, {} rules with errors, {:.2}s",
        total.files,
        total.rules,
        total.problems.len(),
        total.rules_with_errors,
        all.elapsed().as_secs_f64()
    );
    assert!(
        unexpected.is_empty(),
        "failures/errors that are not known defects:\n{}",
        unexpected.join("\n")
    );
    let missing: Vec<_> = KNOWN_DEFECTS
        .iter()
        .zip(&seen_known)
        .filter(|(_, s)| !**s)
        .map(|(k, _)| k)
        .collect();
    assert!(
        missing.is_empty(),
        "known defects no longer reported: {missing:?}"
    );
}

#[test]
fn regression_info_files_are_not_sigma() {
    let dir = corpus().join("sigma/regression_data");
    if !dir.is_dir() {
        {
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "\n!!! CORPUS TEST DID NOT RUN: {} not found; nothing was checked !!!\n",
                dir.display()
            );
        }
        return;
    }
    let mut files = Vec::new();
    yaml_files(&dir, &mut files);
    let infos: Vec<_> = files
        .iter()
        .filter(|p| p.file_name().is_some_and(|n| n == "info.yml"))
        .collect();
    assert!(!infos.is_empty());
    for p in infos {
        let text = std::fs::read_to_string(p).unwrap_or_default();
        let r = sigma::parse_file("sigma", "info.yml", &text);
        assert!(
            !r.is_sigma && r.rules.is_empty() && r.failures.is_empty(),
            "{}",
            p.display()
        );
    }
}
