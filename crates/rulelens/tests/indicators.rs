//! `rulelens indicators` and the canonical keys of `show --json` on the sample rules.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn rulelens(db: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rulelens")).args(args).arg("--db").arg(db).env_remove("RULELENS_DB").output().unwrap()
}

fn json(out: &Output) -> Value {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn built() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("c.db");
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/rules");
    let out = Command::new(env!("CARGO_BIN_EXE_rulelens")).arg("build").arg("--db").arg(&db).arg(rules).output().unwrap();
    assert!(out.status.success());
    (dir, db)
}

#[test]
fn canonical_indicators_and_the_rules_behind_them() {
    let (_d, db) = built();
    // `ParentImage|endswith: \svchost.exe` (Sysmon) and `ParentProcessName|endswith: \svchost.exe`
    // (Security 4688) in the two Sigma DCOM rules, `InitiatingProcessFileName in~ ("svchost.exe")`
    // on DeviceProcessEvents in the Sentinel one, `Processes.parent_process_name=svchost.exe` over
    // Endpoint.Processes in the Splunk one: one canonical indicator, four rules.
    let top = json(&rulelens(&db, &["indicators", "--canonical", "--field", "process.parent.name", "--json"]));
    let svchost = top.as_array().unwrap().iter().find(|r| r["value"] == "svchost.exe").expect("svchost.exe");
    assert_eq!(svchost["kind"], "eq");
    assert_eq!(svchost["corpus"]["total"], 4);
    let by = &svchost["corpus"]["by_source"];
    assert_eq!((by["sigma"].as_u64(), by["sentinel"].as_u64(), by["splunk"].as_u64()), (Some(2), Some(1), Some(1)));
    let behind = json(&rulelens(&db, &["indicators", "--canonical", "--field", "process.parent.name", "--value", "svchost.exe", "--json"]));
    let titles: Vec<&str> = behind.as_array().unwrap().iter().map(|h| h["title"].as_str().unwrap()).collect();
    assert_eq!(titles, ["MMC Started by the DCOM Launcher (Defender)", "Excel Started by the DCOM Launcher", "MMC Started by the DCOM Launcher", "MMC Spawned by Svchost via DCOM"]);
    // Raw counting keeps the spellings apart.
    let raw = json(&rulelens(&db, &["indicators", "--field", "ParentProcessName", "--json"]));
    assert_eq!(raw[0]["corpus"]["total"], 1);

    // show --json: each indicator keeps `field`/`corpus` and gains the canonical keys.
    let page = json(&rulelens(&db, &["show", "MMC Started by the DCOM Launcher", "--json"]));
    let ind = page["indicators"].as_array().unwrap().iter().find(|i| i["field"] == "ParentProcessName").unwrap();
    assert_eq!(ind["corpus"]["total"], 1);
    assert_eq!(ind["canonical"], "process.parent.name");
    assert_eq!((ind["canonical_kind"].as_str(), ind["canonical_value"].as_str()), (Some("eq"), Some("svchost.exe")));
    assert_eq!(ind["canonical_corpus"]["total"], 4);
    assert_eq!(ind["canonical_corpus"]["by_source"]["sigma"], 2);
    assert_eq!(ind["canonical_corpus"]["by_source"]["sentinel"], 1);
    assert_eq!(ind["canonical_corpus"]["by_source"]["splunk"], 1);
    // Stats report the canonical coverage per source.
    let stats = json(&rulelens(&db, &["stats", "--json"]));
    assert!(stats["canonical"]["sigma"]["share"].as_f64().unwrap() > 0.9, "{}", stats["canonical"]);
    // --value alone is a usage error.
    let bad = rulelens(&db, &["indicators", "--value", "x"]);
    assert_eq!(bad.status.code(), Some(1));
}
