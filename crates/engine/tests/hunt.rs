//! Hunts over real logs from `../shared/corpus`: the DCOM seed rule and SigmaHQ's MMC20 rule on the
//! DCOM EVTX (and nowhere else), SigmaHQ rules on OTRF and Splunk attack_data JSON with the same
//! field mapping as EVTX, and a hunt that completes past broken files.

use std::path::{Path, PathBuf};

use engine::{hunt, HuntOptions, HuntResult, RuleSet};

fn corpus() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus");
    if p.join("evtx").is_dir() {
        Some(p)
    } else {
        {
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "\n!!! CORPUS HUNT TEST DID NOT RUN: {} not found (CI always has it) !!!\n",
                p.display()
            );
        }
        None
    }
}

fn rules(paths: &[PathBuf]) -> RuleSet {
    let loaded = catalog::load(paths, &());
    assert!(!loaded.rules.is_empty(), "no rules in {paths:?}");
    RuleSet::new(loaded.rules)
}

fn run(set: &RuleSet, logs: &[PathBuf]) -> HuntResult {
    hunt(set, logs, &HuntOptions::default(), &|_| {})
}

const SEED: &str = "sigma-mdecrevoisier/windows-os/win-os-DCOMexec abuse via MMC (command).yaml";
const MMC20: &str =
    "sigma/rules/windows/process_creation/proc_creation_win_mmc_mmc20_lateral_movement.yml";
const DCOM: &str = "evtx/mdecrevoisier-EVTX-to-MITRE-Attack/TA0008-Lateral Movement/T1021.003-Distributed Component Object Model (DCOM)";

#[test]
fn seed_and_mmc20_fire_on_the_dcom_4688_event() {
    let Some(c) = corpus() else { return };
    let set = rules(&[c.join(SEED), c.join(MMC20)]);
    assert!(set.skipped.is_empty(), "{:?}", set.skipped);
    let res = run(
        &set,
        &[c.join(DCOM)
            .join("ID4688,4674-DCOMexec process spawned.evtx")],
    );
    assert!(res.events() > 0);
    let mut titles: Vec<&str> = res.alerts.iter().map(|a| a.title.as_str()).collect();
    titles.sort();
    assert_eq!(
        titles,
        [
            "Impacket DCOMexec process abuse via MMC",
            "MMC20 Lateral Movement"
        ]
    );
    for a in &res.alerts {
        assert_eq!(a.channel.as_deref(), Some("Security"));
        assert_eq!(a.event_id, Some(4688));
        assert_eq!(a.computer.as_deref(), Some("srvdefender01.offsec.lan"));
        assert!(a
            .timestamp
            .as_deref()
            .is_some_and(|t| t.starts_with("2021-04-26T15:16:04") && t.ends_with('Z')));
        // The rules name Sysmon fields (`Image`, `ParentImage`) or 4688 ones; the alert shows what
        // the event holds.
        assert!(
            a.fields
                .get("NewProcessName")
                .is_some_and(|v| v.to_lowercase().ends_with("\\mmc.exe")),
            "{:?}",
            a.fields
        );
        assert!(a
            .fields
            .get("ParentProcessName")
            .is_some_and(|v| v.to_lowercase().ends_with("\\svchost.exe")));
    }
    let mmc20 = res
        .alerts
        .iter()
        .find(|a| a.title == "MMC20 Lateral Movement")
        .unwrap();
    assert!(mmc20.fields["CommandLine"].contains("-Embedding"));
    assert_eq!(mmc20.techniques, ["T1021.003"]);
}

#[test]
fn seed_and_mmc20_stay_quiet_on_unrelated_data() {
    let Some(c) = corpus() else { return };
    let set = rules(&[c.join(SEED), c.join(MMC20)]);
    let evtx_root = c.join("evtx/mdecrevoisier-EVTX-to-MITRE-Attack");
    let mut logs: Vec<PathBuf> = std::fs::read_dir(&evtx_root)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir() && !p.ends_with("TA0008-Lateral Movement"))
        .collect();
    logs.push(c.join("otrf-security-datasets/datasets/atomic/windows/credential_access/host/cmd_sam_copy_esentutl.zip"));
    logs.push(c.join(
        "splunk-attack-data/datasets/attack_techniques/T1047/atomic_red_team/attack_data.tar.gz",
    ));
    let res = run(&set, &logs);
    assert!(res.events() > 10_000, "only {} events read", res.events());
    let process_creations = res.report.files.iter().filter(|f| f.events > 0).count();
    assert!(process_creations > 50, "{process_creations} files");
    assert!(
        res.alerts.is_empty(),
        "{:#?}",
        res.alerts
            .iter()
            .map(|a| (&a.title, &a.file))
            .collect::<Vec<_>>()
    );
}

#[test]
fn sigmahq_rules_fire_on_otrf_and_splunk_json_with_the_evtx_field_mapping() {
    let Some(c) = corpus() else { return };
    let set = rules(&[c.join("sigma/rules/windows")]);
    // OTRF (NXLog-style flat JSON in a zip): Security 4688 is read with the Sysmon names the rule uses.
    let otrf = run(&set, &[c.join("otrf-security-datasets/datasets/atomic/windows/credential_access/host/cmd_sam_copy_esentutl.zip")]);
    let copy = |channel: &str, id: u32| {
        otrf.alerts.iter().any(|a| {
            a.title == "Copying Sensitive Files with Credential Data"
                && a.channel.as_deref() == Some(channel)
                && a.event_id == Some(id)
        })
    };
    assert!(
        copy("Microsoft-Windows-Sysmon/Operational", 1),
        "Sysmon 1 copy not detected"
    );
    assert!(
        copy("Security", 4688),
        "Security 4688 copy not detected: the 4688 field map is not applied to JSON"
    );
    assert!(otrf
        .alerts
        .iter()
        .any(|a| a.title == "Security Eventlog Cleared" && a.event_id == Some(1102)));
    // NXLog's EventTime has no zone: read as UTC and counted.
    assert!(otrf.report.timestamps_without_zone() > 0);
    assert!(otrf
        .alerts
        .iter()
        .all(|a| a.timestamp.as_deref().is_some_and(|t| t.ends_with('Z'))));

    // Splunk attack_data (a tar.gz of JSON lines): WMIC process creations.
    let splunk = run(&set, &[c.join("splunk-attack-data/datasets/attack_techniques/T1047/atomic_red_team/attack_data.tar.gz")]);
    let wmic: Vec<_> = splunk
        .alerts
        .iter()
        .filter(|a| a.title == "Process Creation Attempt via Wmic.EXE")
        .collect();
    assert!(!wmic.is_empty(), "no WMIC alert on the Splunk data");
    assert!(wmic.iter().all(|a| a
        .fields
        .get("CommandLine")
        .is_some_and(|v| v.to_lowercase().contains("process"))));
}

#[test]
fn broken_files_are_reported_and_the_hunt_completes() {
    let Some(c) = corpus() else { return };
    let set = rules(&[c.join(SEED), c.join(MMC20)]);
    let tmp = tempfile::tempdir().unwrap();
    let good = std::fs::read(
        c.join(DCOM)
            .join("ID4688,4674-DCOMexec process spawned.evtx"),
    )
    .unwrap();
    std::fs::write(tmp.path().join("a_good.evtx"), &good).unwrap();
    // Chunk data overwritten with junk after the file header.
    let mut bad = good.clone();
    for (i, b) in bad.iter_mut().enumerate().skip(4096 + 512) {
        *b = (i * 7919 % 251) as u8;
    }
    std::fs::write(tmp.path().join("b_bad_chunk.evtx"), &bad).unwrap();
    std::fs::write(tmp.path().join("c_cut.evtx"), &good[..good.len() / 3]).unwrap();
    std::fs::write(
        tmp.path().join("d_lines.json"),
        "{\"EventID\": 1,\n not json\n\u{0}\u{1}\n",
    )
    .unwrap();
    std::fs::write(
        tmp.path().join("e_junk.bin"),
        (0..10_000u32)
            .map(|i| (i * 31 % 256) as u8)
            .collect::<Vec<u8>>(),
    )
    .unwrap();
    // A 1 GiB line (sparse on disk) between two good ones: read past, reported, not kept.
    let mmc = r#"{"EventID":4688,"Channel":"Security","Provider_Name":"Microsoft-Windows-Security-Auditing","NewProcessName":"C:\\Windows\\System32\\mmc.exe","ParentProcessName":"C:\\Windows\\System32\\svchost.exe","CommandLine":"mmc.exe -Embedding","Version":2}"#;
    {
        use std::io::{Seek, SeekFrom, Write};
        let mut f = std::fs::File::create(tmp.path().join("f_gigaline.jsonl")).unwrap();
        writeln!(f, "{mmc}").unwrap();
        f.seek(SeekFrom::Current(1 << 30)).unwrap();
        writeln!(f, "\n{mmc}").unwrap();
    }
    let res = run(&set, &[tmp.path().to_path_buf()]);
    assert_eq!(
        res.alerts
            .iter()
            .filter(|a| a.file.ends_with("a_good.evtx"))
            .count(),
        2
    );
    let giga = res
        .report
        .find("f_gigaline.jsonl")
        .expect("gigaline reported");
    assert_eq!((giga.events, giga.errors), (2, 1), "{giga}");
    assert_eq!(
        res.alerts
            .iter()
            .filter(|a| a.file.ends_with("f_gigaline.jsonl"))
            .count(),
        4,
        "both rules on both good lines"
    );
    let report = |name: &str| {
        res.report
            .find(name)
            .unwrap_or_else(|| panic!("{name} not in the report"))
    };
    assert!(report("b_bad_chunk.evtx").errors > 0 || report("b_bad_chunk.evtx").is_skipped());
    assert!(report("d_lines.json").errors > 0 || report("d_lines.json").is_skipped());
    assert!(report("e_junk.bin").is_skipped());
}
