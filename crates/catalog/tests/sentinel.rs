//! The shared Sentinel corpus in the catalog, with the Sigma corpus beside it: parse rate, the
//! DCOM Lateral Movement page (seed 003), and canonical indicators that meet across sources.

use std::path::{Path, PathBuf};

use catalog::{Catalog, Found, Page};

fn corpus() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus");
    if p.join("sentinel").is_dir() {
        Some(p)
    } else {
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), "\n!!! SENTINEL CORPUS TEST DID NOT RUN: {} not found (CI always has it) !!!\n", p.display());
        None
    }
}

#[test]
fn sentinel_corpus_and_the_dcom_page() {
    let Some(corpus) = corpus() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("catalog.db");
    let dirs = [corpus.join("sigma"), corpus.join("sigma-mdecrevoisier"), corpus.join("sentinel")];
    let s = catalog::build(&dirs, &db, &()).expect("build");
    let sentinel = s.rules["sentinel"];
    let with_errors = s.with_errors.get("sentinel").copied().unwrap_or(0);
    let rate = 1.0 - with_errors as f64 / sentinel as f64;
    eprintln!("sentinel: {sentinel} rules, {with_errors} with errors ({:.2}% clean), {:.2} s for all three folders", rate * 100.0, s.seconds);
    assert!(sentinel >= 1100, "{sentinel}");
    assert!(rate >= 0.99, "{rate}");
    assert!(s.failures.iter().all(|f| f.origin != "sentinel"), "{:?}", s.failures);

    let cat = Catalog::open(&db).unwrap();
    let stats = cat.stats().unwrap();
    assert!(stats.by_kind["sentinel"].get("hunting").copied().unwrap_or(0) > 500, "{:?}", stats.by_kind["sentinel"]);
    assert!(stats.by_kind["sentinel"].get("scheduled").copied().unwrap_or(0) > 300, "{:?}", stats.by_kind["sentinel"]);

    let Found::One(rule) = cat.find("d58035ff-0bac-4c61-a7f4-f58939ff9764").unwrap() else { panic!("seed 003 missing") };
    assert_eq!(rule.title, "DCOM Lateral Movement");
    assert!(rule.diagnostics.iter().all(|d| d.severity != ir::Severity::Error), "{:?}", rule.diagnostics);
    assert_eq!(rule.meta["queryFrequency"], "1h");
    let page = Page::new(&cat, *rule).unwrap();
    let names: Vec<&str> = page.stages.iter().map(|s| s.name.as_str()).collect();
    for want in ["allowListedExecs", "rpcNetwEvents", "dcomProcEvents", "lastBootTime", "RemoteDcomProcs"] {
        assert!(names.contains(&want), "stage {want} missing: {names:?}");
    }
    assert!(page.stages.iter().filter(|s| s.kind == "join").count() >= 3);
    let preds: Vec<&ir::Predicate> = page.stages.iter().flat_map(|s| &s.predicates).collect();
    let has = |field: &str, op: ir::Op, value: &str, cased: bool, negated: bool| {
        preds.iter().any(|p| {
            p.field.as_deref() == Some(field)
                && p.op == op
                && p.values.iter().any(|v| v.text() == value)
                && p.case_sensitive == cased
                && p.negated == negated
        })
    };
    assert!(has("InitiatingProcessFileName", ir::Op::Eq, "svchost.exe", false, false));
    assert!(has("InitiatingProcessCommandLine", ir::Op::Token, "rpcss", false, false));
    assert!(has("LocalPort", ir::Op::Eq, "135", true, false));
    assert!(has("ActionType", ir::Op::Eq, "ListeningConnectionCreated", true, true));
    // `between (0 .. 2)` on datetime_diff: two bounds on one expression.
    assert!(preds.iter().any(|p| p.field.as_deref().is_some_and(|f| f.starts_with("datetime_diff")) && p.op == ir::Op::Ge));
    assert!(preds.iter().any(|p| p.field.as_deref().is_some_and(|f| f.starts_with("datetime_diff")) && p.op == ir::Op::Le));
    // The allow-list constant inlined: a negated, case-insensitive membership test of 11 values.
    let allow = preds.iter().find(|p| p.field.as_deref() == Some("DCOMFileName")).expect("allow-list predicate");
    assert_eq!((allow.values.len(), allow.negated, allow.case_sensitive), (11, true, false));
    let tables: Vec<String> = page
        .telemetry
        .derived
        .iter()
        .filter_map(|t| match t {
            ir::Telemetry::Table { name } => Some(name.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(tables, ["DeviceNetworkEvents", "DeviceProcessEvents"]);

    // One raw field, two meanings: the parent in DeviceProcessEvents, the process in
    // DeviceNetworkEvents.
    let svchost: Vec<Option<&str>> = page
        .indicators
        .iter()
        .filter(|i| i.field.as_deref() == Some("InitiatingProcessFileName") && i.value == "svchost.exe")
        .map(|i| i.canonical.as_deref())
        .collect();
    assert!(svchost.contains(&Some("process.parent.name")) && svchost.contains(&Some("process.name")), "{svchost:?}");

    // Seed 000's parent indicator now counts the Sentinel rule too.
    let Found::One(seed) = cat.find("Impacket DCOMexec process abuse via MMC").unwrap() else { panic!() };
    let seed_page = Page::new(&cat, *seed).unwrap();
    let parent = seed_page.indicators.iter().find(|i| i.field.as_deref() == Some("ParentImage")).unwrap();
    let cc = parent.canonical_corpus.as_ref().unwrap();
    assert!(cc.by_source.get("sentinel").copied().unwrap_or(0) >= 1, "{cc:?}");
    assert!(seed_page.related.iter().any(|r| r.rule.id == "d58035ff-0bac-4c61-a7f4-f58939ff9764"), "seed 003 not related");
}
