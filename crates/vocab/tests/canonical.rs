//! Canonical values never merge predicates that match different events: whenever two
//! predicates get the same canonical form, they match the same events.

use ir::Op;
use proptest::prelude::*;
use vocab::canonical_form;

/// What a predicate on `process.executable` (a full path) or `process.name` (its last component)
/// matches, case-insensitively as Sigma and `=~` do.
fn matches(field: &str, op: Op, value: &str, path: &str) -> bool {
    let v = value.to_lowercase();
    let path = path.to_lowercase();
    let subject = if field == "process.name" { path.rsplit('\\').next().unwrap_or("").to_string() } else { path };
    match op {
        Op::Eq => subject == v,
        Op::EndsWith => subject.ends_with(&v),
        Op::StartsWith => subject.starts_with(&v),
        Op::Contains => subject.contains(&v),
        _ => unreachable!(),
    }
}

fn component() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["a.exe", "A.EXE", "mmc.exe", "xmmc.exe", "b", "system32", "svchost.exe"]).prop_map(str::to_string)
}

fn predicate() -> impl Strategy<Value = (&'static str, Op, String)> {
    let field = prop::sample::select(vec!["process.executable", "process.name"]);
    let op = prop::sample::select(vec![Op::Eq, Op::EndsWith, Op::StartsWith, Op::Contains]);
    let value = (prop::collection::vec(component(), 1..3), any::<bool>()).prop_map(|(parts, lead)| {
        let v = parts.join("\\");
        if lead { format!("\\{v}") } else { v }
    });
    (field, op, value)
}

proptest! {
    #[test]
    fn equal_canonical_forms_match_the_same_paths(
        a in predicate(),
        b in predicate(),
        paths in prop::collection::vec(prop::collection::vec(component(), 1..4), 1..20),
    ) {
        let ca = canonical_form(a.0, a.1, &a.2);
        let cb = canonical_form(b.0, b.1, &b.2);
        if (ca.0.as_str(), ca.1, ca.2.to_lowercase()) == (cb.0.as_str(), cb.1, cb.2.to_lowercase()) {
            for parts in &paths {
                let path = format!("C:\\{}", parts.join("\\"));
                prop_assert_eq!(matches(a.0, a.1, &a.2, &path), matches(b.0, b.1, &b.2, &path), "{:?} vs {:?} on {}", a, b, path);
            }
        }
    }
}

#[test]
fn the_seed_indicators_meet_across_sources() {
    // Sigma `Image|endswith: \mmc.exe`, KQL `FileName =~ "mmc.exe"` (DeviceProcessEvents), SPL
    // `Processes.process_name=mmc.exe`: one canonical indicator.
    let f = vocab::fields();
    let sigma = canonical_form(f.sigma(Some("process_creation"), None, "Image").unwrap(), Op::EndsWith, "\\mmc.exe");
    let kql = canonical_form(f.table("DeviceProcessEvents", "FileName").unwrap(), Op::Eq, "mmc.exe");
    let spl = canonical_form(f.cim(None, "Processes.process_name").unwrap(), Op::Eq, "mmc.exe");
    assert_eq!(sigma, kql);
    assert_eq!(kql, spl);
    // The parent: Sigma ParentImage, KQL InitiatingProcessFileName in DeviceProcessEvents.
    let parent = canonical_form(f.sigma(Some("process_creation"), None, "ParentImage").unwrap(), Op::EndsWith, "\\svchost.exe");
    let kql_parent = canonical_form(f.table("DeviceProcessEvents", "InitiatingProcessFileName").unwrap(), Op::Eq, "svchost.exe");
    assert_eq!(parent, kql_parent);
    assert_eq!(parent.0, "process.parent.name");
}
