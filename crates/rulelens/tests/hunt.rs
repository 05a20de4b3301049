//! `rulelens hunt` and `rulelens test` on the sample rules, logs and regression case in examples/.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

fn rulelens(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rulelens")).args(args).env_remove("RULELENS_DB").output().expect("rulelens runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn sample_hunt(extra: &[&str]) -> Output {
    let rules = examples().join("rules/sigma");
    let logs = examples().join("logs");
    let mut args = vec!["hunt", "--rules", rules.to_str().unwrap(), "--logs", logs.to_str().unwrap()];
    args.extend_from_slice(extra);
    rulelens(&args)
}

#[test]
fn hunt_jsonl_has_one_alert_per_match_with_the_public_keys() {
    let out = sample_hunt(&["--format", "jsonl"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let alerts: Vec<Value> = text(&out.stdout).lines().map(|l| serde_json::from_str(l).expect("JSON line")).collect();
    let titles: Vec<&str> = alerts.iter().map(|a| a["title"].as_str().unwrap()).collect();
    assert_eq!(
        titles,
        [
            "MMC Started by the DCOM Launcher",
            "MMC Started by the DCOM Launcher",
            "Excel Started by the DCOM Launcher",
            "PowerShell With an Encoded Command That Downloads",
            "Mimikatz Strings in Any Windows Log",
            "Many Failed Logons From One Address",
            "One Account Logging On to Many Hosts (Legacy Aggregation)",
            "Security Event Log Cleared",
        ],
        "alerts in event-time order"
    );
    for a in &alerts {
        for key in ["timestamp", "computer", "channel", "provider", "event_id", "record_id", "rule_id", "title", "level", "techniques", "file", "fields"] {
            assert!(a.get(key).is_some(), "{key} missing in {a}");
        }
        assert!(a["timestamp"].as_str().unwrap().ends_with('Z'));
    }
    // Security 4688 read through the field map: the rule's selection names the 4688 fields.
    let sec = alerts.iter().find(|a| a["event_id"] == 4688).expect("4688 alert");
    assert_eq!(sec["channel"], "Security");
    assert_eq!(sec["record_id"], 5001);
    assert_eq!(sec["fields"]["NewProcessName"], "C:\\Windows\\System32\\mmc.exe");
    // The correlation: 22 failures from 10.1.2.3 (20 needed), 3 from another address.
    let corr = alerts.iter().find(|a| a["title"] == "Many Failed Logons From One Address").unwrap();
    assert_eq!(corr["correlation"]["type"], "event_count");
    assert_eq!(corr["correlation"]["group"]["IpAddress"], "10.1.2.3");
    assert_eq!(corr["correlation"]["matches"], 20);
    // The 1102 by a machine account is filtered; NXLog's zone-less EventTime is read as UTC.
    let cleared = alerts.iter().find(|a| a["event_id"] == 1102).unwrap();
    assert_eq!(cleared["timestamp"], "2026-11-20T10:15:00Z");
    assert_eq!(cleared["computer"], "DC01.lab.local");
    let summary = text(&out.stderr);
    assert!(summary.contains("44 events read (jsonl 44)"), "{summary}");
    assert!(summary.contains("8 alerts (critical 1, high 5, medium 2)"), "{summary}");
    assert!(summary.contains("2 event times carried no time zone and were read as UTC"), "{summary}");
}

#[test]
fn hunt_writes_csv_to_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("alerts.csv");
    let out = sample_hunt(&["--format", "csv", "--output", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty());
    let csv = std::fs::read_to_string(&file).unwrap();
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("timestamp,computer,channel,provider,event_id,record_id,rule_id,title,level,techniques,file,fields"));
    assert_eq!(lines.count(), 8);
    let leftovers = std::fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(leftovers, 1, "only the output file, no temporary file left");
}

#[test]
fn hunt_reports_bad_log_files_and_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(examples().join("logs/lab_events.jsonl"), dir.path().join("good.jsonl")).unwrap();
    std::fs::write(dir.path().join("broken.evtx"), b"ElfFile\0 but nothing after").unwrap();
    std::fs::write(dir.path().join("bad.jsonl"), "{\"EventID\": 1\nnot json at all\n").unwrap();
    let rules = examples().join("rules/sigma");
    let out = rulelens(&["hunt", "--rules", rules.to_str().unwrap(), "--logs", dir.path().to_str().unwrap(), "--format", "jsonl"]);
    assert!(out.status.success());
    assert_eq!(text(&out.stdout).lines().count(), 8);
    let summary = text(&out.stderr);
    assert!(summary.contains("files skipped or read with errors"), "{summary}");
    assert!(summary.contains("broken.evtx") && summary.contains("bad.jsonl"), "{summary}");
}

#[test]
fn hunt_without_rules_or_with_a_missing_path_is_a_clear_error() {
    let out = rulelens(&["hunt", "--logs", examples().join("logs").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("no rules to run"), "{}", text(&out.stderr));
    let out = sample_hunt(&["--logs", "/no/such/logs"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("/no/such/logs: no such file or folder"));
}

#[test]
fn test_command_passes_fails_and_skips() {
    // The shipped case finds its rules beside regression_data/ on its own.
    let out = rulelens(&["test", examples().join("regression_data").to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((v["passed"].as_u64(), v["failed"].as_u64(), v["skipped"].as_u64()), (Some(1), Some(0), Some(0)));
    assert_eq!(v["cases"][0]["rule_id"], "5d0a8c1e-9b1f-4c52-a7f4-0c6f1d2e3a41");
    assert_eq!(v["cases"][0]["passed"], true);

    // A wrong count fails (exit 1); a case without a readable event file is skipped, not passed.
    let dir = tempfile::tempdir().unwrap();
    let case = examples().join("regression_data/dcom_mmc_spawned_by_svchost");
    let wrong = dir.path().join("wrong_count");
    std::fs::create_dir(&wrong).unwrap();
    let info = std::fs::read_to_string(case.join("info.yml")).unwrap();
    std::fs::write(wrong.join("info.yml"), info.replace("match_count: 2", "match_count: 3")).unwrap();
    for e in std::fs::read_dir(&case).unwrap().flatten() {
        if e.file_name() != "info.yml" {
            std::fs::copy(e.path(), wrong.join(e.file_name())).unwrap();
        }
    }
    let empty = dir.path().join("no_events");
    std::fs::create_dir(&empty).unwrap();
    std::fs::write(empty.join("info.yml"), &info).unwrap();
    std::fs::write(empty.join("events.raw"), "Nov 20 09:00:01 host sshd[1]: not a Windows event\n").unwrap();
    let rules = examples().join("rules");
    let out = rulelens(&["test", "--rules", rules.to_str().unwrap(), dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let t = text(&out.stdout);
    // The failure names the events that fired (their record ids), to check the count by hand.
    assert!(t.contains("FAIL") && t.contains("2 matches (records ") && t.contains("), expected 3"), "{t}");
    assert!(t.contains("skip") && t.contains("no event file the engine can read"), "{t}");
    assert!(t.trim_end().ends_with("0 passed, 1 failed, 1 skipped"), "{t}");

    // `--min-count` reads match_count as SigmaHQ's runner does: firing more often than it says
    // passes (with a note), less often still fails.
    let more = dir.path().join("fewer_said");
    std::fs::create_dir(&more).unwrap();
    std::fs::write(more.join("info.yml"), info.replace("match_count: 2", "match_count: 1")).unwrap();
    for e in std::fs::read_dir(&case).unwrap().flatten() {
        if e.file_name() != "info.yml" {
            std::fs::copy(e.path(), more.join(e.file_name())).unwrap();
        }
    }
    let out = rulelens(&["test", "--rules", rules.to_str().unwrap(), more.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(1), "exact by default");
    let out = rulelens(&["test", "--rules", rules.to_str().unwrap(), dir.path().to_str().unwrap(), "--min-count", "--json"]);
    assert_eq!(out.status.code(), Some(1), "match_count 3 is still not met");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((v["passed"].as_u64(), v["failed"].as_u64(), v["skipped"].as_u64()), (Some(1), Some(1), Some(1)));
    let passed = v["cases"].as_array().unwrap().iter().find(|c| c["passed"] == true).unwrap();
    assert!(passed["path"].as_str().unwrap().ends_with("fewer_said"), "{passed}");
    assert!(passed["why"].as_str().unwrap().contains(": 2 (records "), "{passed}");
    assert!(passed["why"].as_str().unwrap().contains("match_count says 1"), "{passed}");
}
