//! The shared ESCU repository: every detection read with the repository's macros, and the seed
//! detection (Remote Process Instantiation via DCOM and PowerShell) lowered as Splunk reads it.

use std::path::Path;

use ir::{Op, StageKind, Telemetry};

#[test]
fn escu_detections_and_the_dcom_powershell_seed() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/corpus/splunk-security-content");
    if !root.join("macros").is_dir() {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "\n!!! ESCU CORPUS TEST DID NOT RUN: {} not found (CI always has it) !!!\n",
            root.display()
        );
        return;
    }
    // Found from a folder inside the repository too.
    let repo = splunk::Repo::find(&root.join("detections/endpoint")).expect("repository root");
    assert!(
        repo.macros.by_key.len() > 150,
        "{}",
        repo.macros.by_key.len()
    );

    let (mut files, mut rules, mut syntax, mut with_preds, mut yaml) = (0, 0, 0, 0, Vec::new());
    let (mut failures, mut post_agg, mut lenient) = (Vec::new(), 0, 0);
    let mut notes = std::collections::BTreeMap::new();
    let mut agg_forms = std::collections::BTreeMap::new();
    let mut stack = vec![root.join("detections")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let rel = p
                .strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            let text = std::fs::read_to_string(&p).unwrap();
            let r = splunk::parse_file("escu", &rel, &text, &repo);
            if !r.is_escu {
                continue;
            }
            files += 1;
            yaml.extend(r.failures.iter().map(|f| format!("{rel}:{}", f.located())));
            for rule in r.rules {
                rules += 1;
                let errors: Vec<&ir::Diagnostic> = rule
                    .diagnostics
                    .iter()
                    .filter(|d| d.severity == ir::Severity::Error)
                    .collect();
                syntax += !errors.is_empty() as usize;
                for d in errors {
                    let caret = d.span.map(|s| caret(&text, s)).unwrap_or_default();
                    failures.push(format!("{rel}:{}\n{caret}", d.located()));
                }
                lenient += rule.diagnostics.iter().any(|d| d.code == "spl-lenient") as usize;
                for d in rule
                    .diagnostics
                    .iter()
                    .filter(|d| d.severity != ir::Severity::Error)
                {
                    *notes
                        .entry(format!("{} {}", d.code, d.message))
                        .or_insert(0usize) += 1;
                }
                post_agg += rule.meta.contains_key("post_aggregation_filters") as usize;
                for f in rule.meta.get("post_aggregation_filters").and_then(|v| v.as_array()).into_iter().flatten() {
                    // The shape of the filter: numbers as N.
                    let mut shape = String::new();
                    for c in f.as_str().unwrap_or("").chars() {
                        if !c.is_ascii_digit() {
                            shape.push(c);
                        } else if !shape.ends_with('N') {
                            shape.push('N');
                        }
                    }
                    *agg_forms.entry(shape).or_insert(0usize) += 1;
                }
                let has_pred = rule.logic.stages.iter().any(|s| {
                    matches!(s.kind, StageKind::Filter { .. }) && !s.predicates().is_empty()
                });
                with_preds += has_pred as usize;
            }
        }
    }
    let clean = (rules - syntax) as f64 / files as f64;
    let preds = with_preds as f64 / rules as f64;
    eprintln!("ESCU: {files} detection files, {rules} rules, {syntax} with SPL syntax errors, {:.2}% clean; {:.1}% yield predicates; {post_agg} with post-aggregation filters; {lenient} accepted leniently; YAML failures: {yaml:?}", clean * 100.0, preds * 100.0);
    for f in &failures {
        eprintln!("{f}");
    }
    let mut notes: Vec<(usize, String)> = notes.into_iter().map(|(k, v)| (v, k)).collect();
    notes.sort_by(|a, b| b.cmp(a));
    let mut forms: Vec<(usize, String)> = agg_forms.into_iter().map(|(k, v)| (v, k)).collect();
    forms.sort_by(|a, b| b.cmp(a));
    eprintln!("post-aggregation filters, most frequent shapes first:");
    for (n, f) in forms.iter().take(12) {
        eprintln!("  {n:5}  {}", f.chars().take(120).collect::<String>());
    }
    eprintln!("warnings and notes, most frequent first:");
    for (n, what) in notes.iter().take(25) {
        eprintln!("  {n:5}  {what}");
    }
    assert!(clean >= 0.995, "{clean}");
    assert!(preds >= 0.96, "{preds}");

    let text = std::fs::read_to_string(
        root.join("detections/endpoint/remote_process_instantiation_via_dcom_and_powershell.yml"),
    )
    .unwrap();
    let rule = splunk::parse_file(
        "escu",
        "detections/endpoint/remote_process_instantiation_via_dcom_and_powershell.yml",
        &text,
        &repo,
    )
    .rules
    .remove(0);
    assert_eq!(
        rule.title,
        "Remote Process Instantiation via DCOM and PowerShell"
    );
    assert_eq!(rule.kind, "ttp");
    assert_eq!(rule.meta["risk_score"], 63);
    assert!(rule.meta["message"]
        .as_str()
        .unwrap()
        .contains("abusing DCOM using PowerShell.exe"));
    assert_eq!(
        rule.derived,
        [Telemetry::DataModel {
            node: "Endpoint.Processes".into()
        }]
    );
    // data_source entries resolved through data_sources/: Sysmon 1 and Security 4688.
    let events: Vec<(Option<&str>, Option<u32>)> = rule
        .declared
        .iter()
        .filter_map(|t| match t {
            Telemetry::WinEvent {
                channel, event_id, ..
            } => Some((channel.as_deref(), *event_id)),
            _ => None,
        })
        .collect();
    assert!(
        events.contains(&(Some("Microsoft-Windows-Sysmon/Operational"), Some(1))),
        "{events:?}"
    );
    assert!(
        events.contains(&(Some("Security"), Some(4688))),
        "{events:?}"
    );
    // The default configuration of its type (TTP) from deployments/.
    assert!(
        rule.meta["deployment"]["scheduling"]["cron_schedule"].is_string(),
        "{}",
        rule.meta["deployment"]
    );
    let macros: Vec<&str> = rule.meta["macros"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["name"].as_str())
        .collect();
    assert!(macros.contains(&"process_powershell"), "{macros:?}");
    // The tstats filter: the macro's process names/original file names OR-ed, AND the two command
    // lines OR-ed.
    let filter = rule
        .logic
        .stages
        .iter()
        .find(|s| matches!(s.kind, StageKind::Filter { .. }))
        .unwrap();
    let StageKind::Filter {
        expr: ir::Expr::And { of },
    } = &filter.kind
    else {
        panic!("{:?}", filter.kind)
    };
    assert_eq!(of.len(), 2);
    let mut first = Vec::new();
    of[0].collect_predicates(&mut first);
    let names: Vec<String> = first
        .iter()
        .filter(|p| p.field.as_deref() == Some("Processes.process_name"))
        .flat_map(|p| p.values.iter().map(|v| v.text()))
        .collect();
    assert_eq!(
        names,
        [
            "pwsh.exe",
            "sqlps.exe",
            "sqltoolsps.exe",
            "powershell.exe",
            "powershell_ise.exe"
        ]
    );
    assert!(first
        .iter()
        .any(|p| p.field.as_deref() == Some("Processes.original_file_name")));
    let mut second = Vec::new();
    of[1].collect_predicates(&mut second);
    let cmd: Vec<(Op, String)> = second.iter().map(|p| (p.op, p.values[0].text())).collect();
    assert_eq!(
        cmd,
        [
            (
                Op::Contains,
                "Document.ActiveView.ExecuteShellCommand".into()
            ),
            (Op::Contains, "Document.Application.ShellExecute".into())
        ]
    );
}

/// The file line at `span` with a caret under it.
fn caret(text: &str, span: ir::Span) -> String {
    let line = text
        .lines()
        .nth(span.line.saturating_sub(1) as usize)
        .unwrap_or("");
    let pad: String = line
        .chars()
        .take(span.col.saturating_sub(1) as usize)
        .map(|c| if c == '\t' { '\t' } else { ' ' })
        .collect();
    let width = (span.end.saturating_sub(span.start)).clamp(1, 60);
    format!("  {line}\n  {pad}{}", "^".repeat(width))
}
