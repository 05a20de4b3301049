//! The command line on the sample rules shipped in examples/ (no ../shared needed).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/rules")
}

fn rulelens(db: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rulelens"));
    cmd.args(args).arg("--db").arg(db).env_remove("RULELENS_DB");
    cmd.output().expect("rulelens runs")
}

fn json(out: &Output) -> Value {
    assert!(out.status.success(), "failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("valid JSON")
}

fn built() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("catalog.db");
    let out = Command::new(env!("CARGO_BIN_EXE_rulelens"))
        .arg("build")
        .arg("--db")
        .arg(&db)
        .arg(examples())
        .output()
        .unwrap();
    assert!(out.status.success(), "build failed: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("rules: 11 (sentinel 1, sigma 8, splunk 2)"), "summary: {text}");
    assert!(text.contains("failures (files or documents that gave no rule): 0"), "summary: {text}");
    (dir, db)
}

#[test]
fn stats_counts_the_sample_rules() {
    let (_dir, db) = built();
    let s = json(&rulelens(&db, &["stats", "--json"]));
    assert_eq!(s["rules"]["sigma"], 8);
    assert_eq!(s["failures"].as_object().map(|m| m.len()), Some(0));
    assert_eq!(s["by_kind"]["sigma"]["correlation"], 1);
    assert_eq!(s["by_level"]["sigma"]["high"], 4);
}

#[test]
fn show_by_title_gives_stages_predicates_and_indicators() {
    let (_dir, db) = built();
    let p = json(&rulelens(&db, &["show", "mmc started by the dcom launcher", "--json"]));
    assert_eq!(p["id"], "5d0a8c1e-9b1f-4c52-a7f4-0c6f1d2e3a41");
    assert_eq!(p["source"], "sigma");
    assert_eq!(p["path"], "sigma/windows/dcom_mmc_spawned_by_svchost.yml");
    assert_eq!(p["attack"][0]["technique"], "T1021.003");
    let stages = p["stages"].as_array().unwrap();
    let names: Vec<&str> = stages.iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["condition", "selection_sysmon", "selection_security", "selection_cli"]);
    assert_eq!(stages[0]["kind"], "condition");
    let cli = &stages[3]["predicates"][0];
    assert_eq!(cli["field"], "CommandLine");
    assert_eq!(cli["op"], "contains");
    assert_eq!(cli["transforms"][0], "windash");
    // Event coverage comes from the log source and the EventIDs the selections require.
    let derived = p["telemetry"]["derived"].as_array().unwrap();
    let ids: Vec<i64> = derived.iter().filter_map(|t| t["event_id"].as_i64()).collect();
    assert_eq!(ids, [1, 4688]);
    // \mmc.exe as an Image suffix: this rule only; \svchost.exe as a parent: the two DCOM rules.
    let ind = |field: &str, value: &str| {
        p["indicators"].as_array().unwrap().iter().find(|i| i["field"] == field && i["value"] == value).cloned()
    };
    let mmc = ind("Image", "\\mmc.exe").expect("Image indicator");
    assert_eq!(mmc["kind"], "endswith");
    assert_eq!(mmc["corpus"]["total"], 1);
    let parent = ind("ParentImage", "\\svchost.exe").expect("ParentImage indicator");
    assert_eq!(parent["corpus"]["total"], 2);
    assert_eq!(parent["corpus"]["by_source"]["sigma"], 2);
    assert!(ind("EventID", "1").is_none(), "EventID is event coverage, not an indicator");
}

#[test]
fn show_text_page_has_the_seed_sections() {
    let (_dir, db) = built();
    let out = rulelens(&db, &["show", "0b3c6e58-2d7f-4f1a-9c3e-5a8b7d6e4f10"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for section in ["Excel Started by the DCOM Launcher", "Status", "Severity", "Log source", "Author", "Source",
        "MITRE ATT&CK coverage", "Event coverage", "Rule body", "Stages and predicates", "Stage 0: condition",
        "Stage 2: filter_updater", "Indicators", "CommandLine contains all /automation | OfficeClickToRun", "Process creation"] {
        assert!(text.contains(section), "missing {section:?} in:\n{text}");
    }
}

#[test]
fn show_by_path_and_ambiguous_or_unknown_rules() {
    let (_dir, db) = built();
    let file = examples().join("sigma/windows/security_log_cleared.yml");
    let p = json(&rulelens(&db, &["show", file.to_str().unwrap(), "--json"]));
    assert_eq!(p["title"], "Security Event Log Cleared");
    // A two-document file named by path: both rules are candidates, exit code 2.
    let out = rulelens(&db, &["show", "sigma/correlations/rdp_bruteforce.yml"]);
    assert_eq!(out.status.code(), Some(2));
    let list = String::from_utf8_lossy(&out.stdout);
    assert!(list.contains("Failed Network Logon") && list.contains("Many Failed Logons"), "{list}");
    let out = rulelens(&db, &["show", "no such rule anywhere"]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn search_ranks_title_matches_first() {
    let (_dir, db) = built();
    let hits = json(&rulelens(&db, &["search", "dcom", "--json"]));
    let titles: Vec<&str> = hits.as_array().unwrap().iter().map(|h| h["title"].as_str().unwrap()).collect();
    assert_eq!(titles.len(), 4, "two Sigma rules, the Sentinel one and the Splunk one: {titles:?}");
    assert!(titles.iter().all(|t| t.contains("DCOM")));
    // Values are searchable too.
    let hits = json(&rulelens(&db, &["search", "sekurlsa", "--json"]));
    assert_eq!(hits[0]["title"], "Mimikatz Strings in Any Windows Log");
}

#[test]
fn missing_catalog_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = rulelens(&dir.path().join("none.db"), &["stats"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("run `rulelens build"));
}

#[test]
fn show_a_splunk_detection_with_macros_stages_and_configuration() {
    let (_dir, db) = built();
    let out = rulelens(&db, &["show", "MMC Spawned by Svchost via DCOM"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let page = String::from_utf8_lossy(&out.stdout);
    for want in [
        "Data model",
        "Endpoint.Processes",
        "RBA message",
        "MMC was started over DCOM on $dest$ by $user$",
        "Schedule (Example Default Configuration TTP)",
        "cron 0 * * * *",
        "notable yes, risk (RBA) yes",
        "`process_mmc` = (Processes.process_name=mmc.exe OR Processes.original_file_name=MMC.exe)",
        "Processes.parent_process_name eq svchost.exe",
        "Processes.process contains -Embedding",
    ] {
        assert!(page.contains(want), "missing {want:?} in:\n{page}");
    }
    // The parent-process indicator is shared with the Sigma and Sentinel samples on the canonical field.
    let j = json(&rulelens(&db, &["show", "MMC Spawned by Svchost via DCOM", "--json"]));
    let parent = j["indicators"].as_array().unwrap().iter().find(|i| i["field"] == "Processes.parent_process_name").expect("parent indicator");
    assert_eq!(parent["canonical"], "process.parent.name");
    let by = &parent["canonical_corpus"]["by_source"];
    assert!(by["splunk"].as_u64() == Some(1) && by["sigma"].as_u64().unwrap_or(0) >= 1 && by["sentinel"].as_u64() == Some(1), "{parent}");
}
