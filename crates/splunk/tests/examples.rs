//! The example repository shipped in `examples/rules/splunk` (written for rulelens), and
//! located errors: spans go back into the YAML file, through macro calls.

use std::path::Path;

use ir::{Op, Severity, StageKind, Telemetry};

fn repo() -> splunk::Repo {
    splunk::Repo::find(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/rules/splunk/detections")).expect("the example repository")
}

fn read(rel: &str) -> ir::Rule {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/rules/splunk");
    let text = std::fs::read_to_string(root.join(rel)).unwrap();
    let mut r = splunk::parse_file("examples", rel, &text, &repo());
    assert!(r.failures.is_empty(), "{:?}", r.failures);
    r.rules.remove(0)
}

#[test]
fn example_detections() {
    let r = read("detections/endpoint/mmc_spawned_by_svchost_dcom.yml");
    assert!(r.diagnostics.iter().all(|d| d.severity != Severity::Error), "{:?}", r.diagnostics);
    assert_eq!(r.derived, [Telemetry::DataModel { node: "Endpoint.Processes".into() }]);
    let preds: Vec<(String, Op, String)> = r.logic.stages[1].predicates().iter().map(|p| (p.field.clone().unwrap(), p.op, p.values[0].text())).collect();
    assert_eq!(preds[0], ("Processes.parent_process_name".into(), Op::Eq, "svchost.exe".into()));
    assert_eq!(preds[1], ("Processes.process_name".into(), Op::Eq, "mmc.exe".into()));
    assert_eq!(preds[3], ("Processes.process".into(), Op::Contains, "-Embedding".into()));
    // A predicate written in the file points at its line there; one from a macro at the call.
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/rules/splunk/detections/endpoint/mmc_spawned_by_svchost_dcom.yml")).unwrap();
    let parent = r.logic.stages[1].predicates()[0].span.unwrap();
    assert_eq!(&text[parent.start..parent.end], "Processes.parent_process_name=svchost.exe");
    let mmc = r.logic.stages[1].predicates()[1].span.unwrap();
    assert_eq!(&text[mmc.start..mmc.end], "`process_mmc`");
    assert_eq!(r.meta["deployment"]["scheduling"]["cron_schedule"], "0 * * * *");

    let r = read("detections/endpoint/encoded_powershell_burst.yml");
    // The raw search's own source and EventCode give the events it reads.
    assert!(r.derived.contains(&Telemetry::WinEvent { provider: None, channel: Some("Microsoft-Windows-Sysmon/Operational".into()), event_id: Some(1), title: None }), "{:?}", r.derived);
    assert_eq!(r.meta["post_aggregation_filters"], serde_json::json!(["where count > 3"]));
    // The subsearch is a stage of its own, an input of the filter that uses it.
    let filter = r.logic.stages.iter().find(|s| s.name == "search").unwrap();
    assert_eq!(filter.inputs.len(), 1);
    assert_eq!(r.logic.stages[filter.inputs[0]].kind.name(), "project");
    let facts = splunk::facts(&r);
    assert!(facts.iter().any(|(k, v)| k == "Post-aggregation filter" && v == "where count > 3"), "{facts:?}");
}

#[test]
fn errors_point_into_the_file() {
    let text = "name: Broken\nid: 1\ntype: TTP\nsearch: '| tstats count from datamodel=Endpoint.Processes where (Processes.process_name=a.exe\n  `process_mmc` by Processes.dest | rename x | where like(process, \"%a%\"'\n";
    let r = splunk::parse_file("t", "detections/broken.yml", text, &repo()).rules.remove(0);
    let errors: Vec<(u32, u32, &str)> = r.diagnostics.iter().filter(|d| d.severity == Severity::Error).map(|d| (d.span.unwrap().line, d.span.unwrap().col, d.message.as_str())).collect();
    // The unclosed `(` on line 4, `rename x` without `as` on line 5, the unclosed call at the end.
    let open = text.lines().nth(3).unwrap().find('(').unwrap() as u32 + 1;
    assert!(errors.iter().any(|e| e.0 == 4 && e.1 == open && e.2.contains("`)`")), "{errors:?}");
    assert!(errors.iter().any(|e| e.0 == 5 && e.2.contains("`as`")), "{errors:?}");
    assert!(errors.iter().any(|e| e.0 == 5 && e.2.contains("`,` or `)`")), "{errors:?}");
    // The rest still lowers: the data model, the filter's predicates.
    assert!(r.logic.stages.iter().any(|s| matches!(s.kind, StageKind::Filter { .. }) && s.predicates().len() == 3));
    // A self-expanding macro is reported at its call, not followed.
    let mut repo = repo();
    repo.macros.add(spl::Macro { name: "loop".into(), args: vec![], definition: "x=1 `loop`".into() });
    let text = "name: Loop\nsearch: 'index=a `loop` | stats count'\n";
    let r = splunk::parse_file("t", "detections/loop.yml", text, &repo).rules.remove(0);
    let d = r.diagnostics.iter().find(|d| d.code == "recursive-macro").unwrap();
    assert_eq!(d.span.map(|s| (s.line, s.col)), Some((2, 18)));
}
