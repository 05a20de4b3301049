//! Real inputs from `../shared/corpus`: EVTX, SigmaHQ regression data, OTRF zips, Splunk tar.gz.

use std::path::{Path, PathBuf};

use events::{read_all, Event, FileKind, ReadOptions, Reader, Shape, Value};

fn corpus() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus");
    if p.is_dir() {
        Some(p)
    } else {
        {
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "\n!!! CORPUS TEST DID NOT RUN: {} is missing; nothing was checked !!!\n",
                p.display()
            );
        }
        None
    }
}

fn ends_with_ci(s: Option<&str>, suffix: &str) -> bool {
    s.is_some_and(|s| {
        s.to_ascii_lowercase()
            .ends_with(&suffix.to_ascii_lowercase())
    })
}

#[test]
fn dcom_4688_from_evtx() {
    let Some(c) = corpus() else { return };
    let path = c.join(
        "evtx/mdecrevoisier-EVTX-to-MITRE-Attack/TA0008-Lateral Movement/T1021.003-Distributed Component Object Model (DCOM)/ID4688,4674-DCOMexec process spawned.evtx",
    );
    let (events, report) = read_all(&path);
    assert_eq!(report.files.len(), 1, "{report}");
    let file = &report.files[0];
    assert_eq!(file.kind, FileKind::Evtx);
    assert_eq!(file.errors, 0, "{report}");
    assert!(!file.is_skipped(), "{report}");
    assert_eq!(file.events, events.len() as u64);
    let hit = events
        .iter()
        .find(|e| {
            e.event_id() == Some(4688)
                && ends_with_ci(e.get_str("NewProcessName"), "\\mmc.exe")
                && ends_with_ci(e.get_str("ParentProcessName"), "\\svchost.exe")
                && e.get_str("CommandLine")
                    .is_some_and(|c| c.contains("-Embedding"))
        })
        .unwrap_or_else(|| {
            panic!(
                "no 4688 svchost -> mmc -Embedding among {} events",
                events.len()
            )
        });
    assert_eq!(hit.shape(), Shape::Evtx);
    assert_eq!(hit.provider(), Some("Microsoft-Windows-Security-Auditing"));
    assert_eq!(
        hit.get_str("Provider_Name"),
        Some("Microsoft-Windows-Security-Auditing")
    );
    assert_eq!(hit.channel(), Some("Security"));
    assert_eq!(hit.get("EventID"), Some(Value::Int(4688)));
    let ts = hit.timestamp().expect("timestamp");
    assert!(!hit.timestamp_assumed_utc());
    // The instant is the one TimeCreated names.
    let created = hit
        .get_str("TimeCreated_SystemTime")
        .expect("TimeCreated_SystemTime");
    assert_eq!(ts, created.parse::<events::Timestamp>().expect("parses"));
    assert!(hit.record_id().is_some_and(|r| r > 0));
    assert_eq!(
        hit.get("EventRecordID").and_then(|v| v.as_u64()),
        hit.record_id()
    );
    assert!(hit.computer().is_some_and(|c| !c.is_empty()));
    // Field names match case-insensitively; the keyword text holds the values.
    assert_eq!(hit.get_str("newprocessname"), hit.get_str("NewProcessName"));
    assert!(hit.text().contains("-Embedding"));
}

/// The SigmaHQ regression cases hold each event twice: as EVTX and as the JSON `evtx_dump` wrote.
#[test]
fn sigma_regression_evtx_and_json_agree() {
    let Some(c) = corpus() else { return };
    let root = c.join("sigma/regression_data");
    let mut pairs = Vec::new();
    for e in walk(&root) {
        if e.extension().is_some_and(|x| x == "json") {
            let evtx = e.with_extension("evtx");
            if evtx.is_file() {
                pairs.push((evtx, e));
            }
        }
    }
    assert!(pairs.len() >= 50, "found {} pairs", pairs.len());
    let mut compared_fields = 0;
    let mut mismatches = Vec::new();
    for (evtx, json) in &pairs {
        let (from_evtx, r1) = read_all(evtx);
        let (from_json, r2) = read_all(json);
        assert_eq!(r1.errors() + r2.errors(), 0, "{r1}\n{r2}");
        assert_eq!(r2.files[0].kind, FileKind::Json, "{}", json.display());
        assert!(!from_json.is_empty(), "{}", json.display());
        for j in &from_json {
            assert_eq!(j.shape(), Shape::Evtx);
            let e = from_evtx
                .iter()
                .find(|e| e.record_id() == j.record_id())
                .unwrap_or_else(|| {
                    panic!(
                        "{}: record {:?} not in the EVTX",
                        json.display(),
                        j.record_id()
                    )
                });
            let at = json.display().to_string();
            if e.event_id() != j.event_id()
                || e.channel() != j.channel()
                || e.provider() != j.provider()
                || e.computer() != j.computer()
            {
                mismatches.push(format!("{at}: common keys differ"));
            }
            // The JSON files were written by an evtx_dump that kept microseconds only.
            let micros = |t: Option<events::Timestamp>| t.map(|t| t.as_microsecond());
            if micros(e.timestamp()) != micros(j.timestamp()) {
                mismatches.push(format!(
                    "{at}: time {:?} vs {:?}",
                    e.timestamp(),
                    j.timestamp()
                ));
            }
            if e.len() != j.len() {
                mismatches.push(format!("{at}: fields {:?} vs {:?}", names(e), names(j)));
            }
            for (name, value) in j.fields() {
                let other = e.get(name);
                // GUIDs: the evtx_dump that wrote the JSON printed them in upper case without
                // braces; evtx 0.15 prints them as Windows does, `{lower-case}`.
                let guid = |v: Option<Value>| {
                    v.map(|v| {
                        v.to_text()
                            .trim_start_matches('{')
                            .trim_end_matches('}')
                            .to_ascii_lowercase()
                    })
                };
                let same = other == Some(value)
                    || other.map(|v| v.to_text()) == Some(value.to_text())
                    || (value.as_str().is_some_and(|s| s.len() >= 36 && s.matches('-').count() == 4)
                        && guid(other) == guid(Some(value)))
                    // Sigma matches case-insensitively; one JSON file was edited by hand.
                    || other.and_then(|v| v.as_str()).zip(value.as_str()).is_some_and(|(a, b)| a.eq_ignore_ascii_case(b))
                    || (name == "TimeCreated_SystemTime"
                        && micros(other.and_then(|v| v.as_str()).and_then(|s| s.parse().ok()))
                            == micros(value.as_str().and_then(|s| s.parse().ok())));
                if !same {
                    mismatches.push(format!("{at}: field {name}: json {value:?} evtx {other:?}"));
                }
                compared_fields += 1;
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} mismatches:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
    assert!(compared_fields > 1000, "compared {compared_fields} fields");
}

fn names(e: &Event) -> Vec<&str> {
    e.fields().map(|(n, _)| n).collect()
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn otrf_dcom_excel_zip() {
    let Some(c) = corpus() else { return };
    let path = c.join("otrf-security-datasets/datasets/atomic/windows/lateral_movement/host/covenant_dcom_executeexcel4macro_allowed.zip");
    let (events, report) = read_all(&path);
    let zip = report.files.first().expect("archive report");
    assert_eq!(zip.kind, FileKind::Zip);
    assert_eq!(zip.entries, 1, "{report}");
    let entry = &report.files[1];
    assert_eq!(entry.kind, FileKind::JsonLines);
    assert!(entry.entry.as_deref().is_some_and(|e| e.ends_with(".json")));
    assert_eq!(entry.errors, 0, "{report}");
    assert!(entry.events > 1000, "{report}");
    assert_eq!(entry.events, events.len() as u64);
    let hit = events
        .iter()
        .find(|e| {
            e.event_id() == Some(1)
                && e.channel() == Some("Microsoft-Windows-Sysmon/Operational")
                && ends_with_ci(e.get_str("ParentImage"), "\\svchost.exe")
                && ends_with_ci(e.get_str("Image"), "\\EXCEL.EXE")
        })
        .expect("Sysmon 1 svchost -> EXCEL.EXE");
    assert_eq!(hit.shape(), Shape::Flat);
    assert!(hit
        .get_str("CommandLine")
        .is_some_and(|c| c.contains("-Embedding")));
    assert_eq!(hit.provider(), Some("Microsoft-Windows-Sysmon"));
    assert_eq!(
        hit.get_str("Provider_Name"),
        Some("Microsoft-Windows-Sysmon")
    );
    assert!(hit.line() > 0);
    // The time is Sysmon's UtcTime (UTC by definition), not the collector's @timestamp nor the
    // local EventTime.
    let utc = hit.get_str("UtcTime").expect("UtcTime");
    let expected = events::parse_timestamp(utc)
        .expect("UtcTime parses")
        .timestamp;
    assert_eq!(hit.timestamp(), Some(expected));
    assert!(!hit.timestamp_assumed_utc());
    let at =
        events::parse_timestamp(hit.get_str("@timestamp").expect("@timestamp")).expect("parses");
    assert_ne!(Some(at.timestamp), hit.timestamp());
    // Events without UtcTime (Security) take @timestamp, which has a zone.
    let sec = events
        .iter()
        .find(|e| e.channel() == Some("Security"))
        .expect("a Security event");
    assert!(sec.timestamp().is_some() && !sec.timestamp_assumed_utc());
    assert_eq!(entry.timestamps_without_zone, 0, "{report}");
    assert_eq!(entry.events_without_timestamp, 0, "{report}");
    // The computer is the host the event happened on, not the collector.
    assert_eq!(hit.computer(), Some("WORKSTATION6.theshire.local"));
}

#[test]
fn splunk_attack_data_tar_gz() {
    let Some(c) = corpus() else { return };
    let path = c.join(
        "splunk-attack-data/datasets/attack_techniques/T1047/atomic_red_team/attack_data.tar.gz",
    );
    let (events, report) = read_all(&path);
    let ar = &report.files[0];
    assert_eq!(ar.kind, FileKind::TarGz, "{report}");
    assert_eq!(ar.errors, 0, "{report}");
    let entry = &report.files[1];
    assert_eq!(entry.entry.as_deref(), Some("attack_data.txt"));
    assert_eq!(entry.kind, FileKind::JsonLines);
    assert_eq!(entry.errors, 0, "{report}");
    assert!(events.len() > 1000);
    let sysmon1: Vec<&Event> = events
        .iter()
        .filter(|e| e.event_id() == Some(1) && e.provider() == Some("Microsoft-Windows-Sysmon"))
        .collect();
    assert!(!sysmon1.is_empty());
    for e in &sysmon1 {
        assert!(
            e.get_str("Image").is_some_and(|s| !s.is_empty()),
            "{:?}",
            e.to_json()
        );
        assert!(e.get_str("CommandLine").is_some(), "{:?}", e.to_json());
        assert!(e.get_str("ParentImage").is_some());
        // UtcTime carries the time; Sysmon events need no zone guess.
        assert!(e.timestamp().is_some() && !e.timestamp_assumed_utc());
    }
    assert!(sysmon1
        .iter()
        .any(|e| ends_with_ci(e.get_str("Image"), "\\wmic.exe")));
    // Security events here have only EventTime (local, no zone): read as UTC and counted.
    let sec = events
        .iter()
        .find(|e| e.channel() == Some("Security"))
        .expect("a Security event");
    assert!(sec.timestamp_assumed_utc());
    assert!(entry.timestamps_without_zone > 0);
    assert!(report
        .to_string()
        .contains("timestamps had no time zone and were read as UTC"));
    assert_eq!(
        sec.get("EventID").and_then(|v| v.as_u64()),
        sec.event_id().map(u64::from)
    );
}

/// OTRF's tar.gz files end with a stray byte after the gzip stream (GNU tar calls them
/// truncated); every event in them is there and is read.
#[test]
fn otrf_tar_gz_with_trailing_byte_reads_whole() {
    let Some(c) = corpus() else { return };
    let path = c.join("otrf-security-datasets/datasets/atomic/windows/persistence/host/covenant_persistwmi.tar.gz");
    let (events, report) = read_all(&path);
    let ar = &report.files[0];
    assert_eq!(ar.kind, FileKind::TarGz);
    assert_eq!(report.errors(), 0, "{report}");
    // Count the lines independently.
    let gz = flate2::read::MultiGzDecoder::new(std::fs::File::open(&path).expect("open"));
    let mut tar = tar::Archive::new(gz);
    let mut lines = 0;
    for entry in tar.entries().expect("entries") {
        let Ok(mut entry) = entry else { break };
        let mut s = Vec::new();
        let _ = std::io::Read::read_to_end(&mut entry, &mut s);
        lines += s
            .split(|&b| b == b'\n')
            .filter(|l| !l.trim_ascii().is_empty())
            .count();
    }
    assert!(lines > 500);
    assert_eq!(events.len(), lines, "{report}");
}

#[test]
fn sequential_and_parallel_reads_agree() {
    let Some(c) = corpus() else { return };
    let dir = c.join("evtx/mdecrevoisier-EVTX-to-MITRE-Attack/TA0008-Lateral Movement");
    let reader = Reader::new(ReadOptions::default());
    let mut seq = Vec::new();
    let r1 = reader.read(&[&dir], |_, e| {
        seq.push((e.record_id(), e.event_id(), e.len()))
    });
    let par = std::sync::Mutex::new(Vec::new());
    let r2 = reader.read_parallel(&[&dir], |_, e| {
        if let Ok(mut v) = par.lock() {
            v.push((e.record_id(), e.event_id(), e.len()));
        }
    });
    let mut par = par.into_inner().expect("lock");
    assert_eq!(r1, r2);
    assert!(seq.len() > 100);
    let single = Reader::new(ReadOptions {
        threads: 1,
        ..ReadOptions::default()
    });
    let mut one = Vec::new();
    single.read(&[&dir], |_, e| {
        one.push((e.record_id(), e.event_id(), e.len()))
    });
    // Sequential reads give the same events in the same order on any number of threads.
    assert_eq!(seq, one);
    seq.sort();
    par.sort();
    assert_eq!(seq, par);
}

#[test]
fn folder_walk_reports_every_file() {
    let Some(c) = corpus() else { return };
    let dir = c.join("sigma/regression_data/rules/windows/builtin");
    if !dir.is_dir() {
        {
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "\n!!! CORPUS TEST DID NOT RUN: {} is missing; nothing was checked !!!\n",
                dir.display()
            );
        }
        return;
    }
    let (events, report) = read_all(&dir);
    assert!(!events.is_empty());
    // info.yml files are not event logs: skipped, with the reason.
    let yml: Vec<_> = report
        .files
        .iter()
        .filter(|f| f.path.extension().is_some_and(|x| x == "yml"))
        .collect();
    assert!(!yml.is_empty());
    for f in yml {
        assert!(f.is_skipped(), "{f}");
        assert_eq!(f.kind, FileKind::Unknown);
    }
    assert_eq!(report.errors(), 0, "{report}");
}
