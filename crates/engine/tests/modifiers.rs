//! Sigma value modifiers, keywords, null/empty/exists and case rules, each run end to end: rule
//! text → parser → engine, on one hand-made event.

use engine::{hunt, HuntOptions, RuleSet};

/// Does a rule with this `detection` (YAML, indented two spaces) fire on this event (JSON)?
fn fires(detection: &str, event: &str) -> bool {
    let tmp = tempfile::tempdir().unwrap();
    let rule = format!(
        "title: T\nid: 6c1d1f7e-0000-4000-8000-000000000001\nlogsource:\n  product: windows\n  category: process_creation\ndetection:\n{detection}\nlevel: low\n"
    );
    std::fs::write(tmp.path().join("r.yml"), rule).unwrap();
    let loaded = catalog::load(&[tmp.path().join("r.yml")], &());
    assert!(loaded.failures.is_empty(), "{:?}", loaded.failures);
    let set = RuleSet::new(loaded.rules);
    assert!(set.skipped.is_empty(), "{detection}: {:?}", set.skipped);
    let base = r#""Channel":"Microsoft-Windows-Sysmon/Operational","Provider_Name":"Microsoft-Windows-Sysmon","EventID":1,"@timestamp":"2026-03-04T05:06:07Z""#;
    let line = format!("{{{base},{}}}", event.trim().trim_start_matches('{').trim_end_matches('}'));
    std::fs::write(tmp.path().join("e.json"), line).unwrap();
    let res = hunt(&set, &[tmp.path().join("e.json")], &HuntOptions::default(), &|_| {});
    assert_eq!(res.events(), 1);
    !res.alerts.is_empty()
}

const CMD: &str = r#"{"Image":"C:\\Windows\\System32\\cmd.exe","CommandLine":"cmd.exe /c whoami /all","ParentImage":"C:\\Windows\\explorer.exe","User":"LAB\\alice","DestinationIp":"10.1.2.3","DestinationPort":445,"Empty":"","UtcTime":"2026-03-04 05:06:07.123"}"#;

#[test]
fn plain_values_are_case_insensitive_whole_matches_with_wildcards() {
    assert!(fires("  s:\n    Image: 'c:\\windows\\system32\\CMD.EXE'\n  condition: s", CMD));
    assert!(!fires("  s:\n    Image: 'cmd.exe'\n  condition: s", CMD));
    assert!(fires("  s:\n    Image: '*\\cmd.exe'\n  condition: s", CMD));
    assert!(fires("  s:\n    CommandLine: 'cmd.exe /c who?mi *'\n  condition: s", CMD));
    assert!(fires("  s:\n    Image|cased: 'C:\\Windows\\System32\\cmd.exe'\n  condition: s", CMD));
    assert!(!fires("  s:\n    Image|cased: 'c:\\windows\\system32\\cmd.exe'\n  condition: s", CMD));
}

#[test]
fn string_modifiers() {
    assert!(fires("  s:\n    CommandLine|contains: 'WHOAMI'\n  condition: s", CMD));
    assert!(fires("  s:\n    CommandLine|contains|all:\n      - '/c'\n      - '/all'\n  condition: s", CMD));
    assert!(!fires("  s:\n    CommandLine|contains|all:\n      - '/c'\n      - '/priv'\n  condition: s", CMD));
    assert!(fires("  s:\n    Image|startswith: 'C:\\Windows\\'\n  condition: s", CMD));
    assert!(fires("  s:\n    Image|endswith:\n      - '\\powershell.exe'\n      - '\\cmd.exe'\n  condition: s", CMD));
    assert!(fires("  s:\n    CommandLine|re: 'who[a-z]{2}i'\n  condition: s", CMD));
    assert!(!fires("  s:\n    CommandLine|re: 'WHOAMI'\n  condition: s", CMD));
    assert!(fires("  s:\n    CommandLine|re|i: 'WHOAMI'\n  condition: s", CMD));
    assert!(fires("  s:\n    CommandLine|windash|contains: '-all'\n  condition: s", CMD));
}

#[test]
fn encoded_forms() {
    // "whoami" as UTF-16LE, base64 at any of the three offsets.
    let ev = r#"{"CommandLine":"powershell -enc dwBoAG8AYQBtAGkAIAAvAGEAbABsAA=="}"#;
    assert!(fires("  s:\n    CommandLine|wide|base64offset|contains: 'whoami'\n  condition: s", ev));
    assert!(!fires("  s:\n    CommandLine|base64offset|contains: 'whoami'\n  condition: s", ev));
    let plain = r#"{"CommandLine":"echo d2hvYW1p | base64 -d"}"#;
    assert!(fires("  s:\n    CommandLine|base64|contains: 'whoami'\n  condition: s", plain));
}

#[test]
fn numbers_networks_and_field_references() {
    assert!(fires("  s:\n    DestinationPort: 445\n  condition: s", CMD));
    assert!(fires("  s:\n    DestinationPort|gte: 445\n  condition: s", CMD));
    assert!(!fires("  s:\n    DestinationPort|lt: 445\n  condition: s", CMD));
    assert!(fires("  s:\n    DestinationIp|cidr: '10.0.0.0/8'\n  condition: s", CMD));
    assert!(!fires("  s:\n    DestinationIp|cidr: '192.168.0.0/16'\n  condition: s", CMD));
    let same = r#"{"SourceUser":"alice","TargetUser":"ALICE"}"#;
    assert!(fires("  s:\n    SourceUser|fieldref: TargetUser\n  condition: s", same));
}

#[test]
fn null_empty_and_exists() {
    assert!(fires("  s:\n    Missing: null\n  condition: s", CMD));
    assert!(!fires("  s:\n    Image: null\n  condition: s", CMD));
    assert!(fires("  s:\n    Empty: ''\n  condition: s", CMD));
    assert!(fires("  s:\n    Image|exists: true\n  condition: s", CMD));
    assert!(fires("  s:\n    Missing|exists: false\n  condition: s", CMD));
    assert!(!fires("  s:\n    Missing|exists: true\n  condition: s", CMD));
}

#[test]
fn keywords_conditions_and_time_parts() {
    assert!(fires("  keywords:\n    - 'WHOAMI /ALL'\n  condition: keywords", CMD));
    assert!(!fires("  keywords:\n    - 'mimikatz'\n  condition: keywords", CMD));
    let det = "  a:\n    Image|endswith: '\\cmd.exe'\n  b:\n    User|endswith: '\\bob'\n  c:\n    ParentImage|endswith: '\\explorer.exe'\n";
    assert!(fires(&format!("{det}  condition: a and not b"), CMD));
    assert!(fires(&format!("{det}  condition: 2 of them"), CMD));
    assert!(!fires(&format!("{det}  condition: all of them"), CMD));
    assert!(fires(&format!("{det}  condition: 1 of a* and (b or c)"), CMD));
    // UtcTime 2026-03-04 05:06:07 (week 10 of 2026).
    assert!(fires("  s:\n    UtcTime|hour: 5\n  condition: s", CMD));
    assert!(fires("  s:\n    UtcTime|minute: 6\n    UtcTime|month: 3\n    UtcTime|year: 2026\n    UtcTime|week: 10\n    UtcTime|day: 4\n  condition: s", CMD));
    assert!(!fires("  s:\n    UtcTime|hour: 6\n  condition: s", CMD));
}

#[test]
fn meta_filters_apply_to_the_rules_they_name() {
    let tmp = tempfile::tempdir().unwrap();
    let rules = "title: Whoami
id: 6c1d1f7e-0000-4000-8000-000000000002
logsource:
  product: windows
  category: process_creation
detection:
  s:
    CommandLine|contains: whoami
  condition: s
level: low
---
title: Not On The Admin Host
logsource:
  product: windows
  category: process_creation
filter:
  rules:
    - 6c1d1f7e-0000-4000-8000-000000000002
  admin:
    Computer|startswith: 'ADM-'
  condition: not admin
";
    std::fs::write(tmp.path().join("r.yml"), rules).unwrap();
    let set = RuleSet::new(catalog::load(&[tmp.path().join("r.yml")], &()).rules);
    assert!(set.skipped.is_empty(), "{:?}", set.skipped);
    let ev = |host: &str| {
        format!(r#"{{"Channel":"Microsoft-Windows-Sysmon/Operational","EventID":1,"Computer":"{host}","CommandLine":"whoami /all"}}"#)
    };
    std::fs::write(tmp.path().join("e.json"), [ev("ADM-01"), ev("WKS-07")].join("\n")).unwrap();
    let res = hunt(&set, &[tmp.path().join("e.json")], &HuntOptions::default(), &|_| {});
    let hosts: Vec<_> = res.alerts.iter().map(|a| a.computer.as_deref().unwrap_or("")).collect();
    assert_eq!(hosts, ["WKS-07"]);
}

#[test]
fn expand_takes_placeholder_values_from_a_file() {
    let tmp = tempfile::tempdir().unwrap();
    let rule = "title: Admin Tool From A Workstation
id: 6c1d1f7e-0000-4000-8000-000000000003
logsource:
  product: windows
  category: process_creation
detection:
  s:
    Computer|expand: '%Workstations%'
    CommandLine|contains|expand: 'net group %domain%'
  condition: s
level: low
";
    std::fs::write(tmp.path().join("r.yml"), rule).unwrap();
    let rules = catalog::load(&[tmp.path().join("r.yml")], &()).rules;
    // Without values the rule cannot run, and says why.
    let bare = RuleSet::new(rules.clone());
    assert!(bare.skipped[0].reason.contains("%Workstations%"), "{:?}", bare.skipped);
    std::fs::write(tmp.path().join("p.yml"), "Workstations: [WKS-01, WKS-02]\n'%domain%': LAB\n").unwrap();
    let values = engine::placeholders::load(&tmp.path().join("p.yml")).unwrap();
    let set = RuleSet::with_placeholders(rules, &values);
    assert!(set.skipped.is_empty(), "{:?}", set.skipped);
    let ev = |host: &str, cmd: &str| {
        format!(r#"{{"Channel":"Microsoft-Windows-Sysmon/Operational","EventID":1,"Computer":"{host}","CommandLine":"{cmd}"}}"#)
    };
    let lines = [ev("WKS-02", "net group LAB /domain"), ev("SRV-01", "net group LAB"), ev("WKS-01", "net group OTHER")];
    std::fs::write(tmp.path().join("e.json"), lines.join("\n")).unwrap();
    let res = hunt(&set, &[tmp.path().join("e.json")], &HuntOptions::default(), &|_| {});
    let hosts: Vec<_> = res.alerts.iter().map(|a| a.computer.as_deref().unwrap_or("")).collect();
    assert_eq!(hosts, ["WKS-02"]);
}

#[test]
fn log_sources_route_by_provider_not_by_event_id_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let rule = "title: Cmd
id: 6c1d1f7e-0000-4000-8000-000000000004
logsource:
  product: windows
  category: process_creation
detection:
  s:
    Image|endswith: '\\cmd.exe'
  condition: s
level: low
";
    std::fs::write(tmp.path().join("r.yml"), rule).unwrap();
    let set = RuleSet::new(catalog::load(&[tmp.path().join("r.yml")], &()).rules);
    let ev = |channel: &str, provider: &str, id: u32, field: &str| {
        format!(r#"{{"Channel":"{channel}","Provider_Name":"{provider}","EventID":{id},"{field}":"C:\\Windows\\System32\\cmd.exe"}}"#)
    };
    let lines = [
        ev("Microsoft-Windows-Sysmon/Operational", "Microsoft-Windows-Sysmon", 1, "Image"),
        ev("Security", "Microsoft-Windows-Security-Auditing", 4688, "NewProcessName"),
        // EventID 1 of another provider, and a Sysmon event of another kind: not process creations.
        ev("Application", "Some-App", 1, "Image"),
        ev("Microsoft-Windows-Sysmon/Operational", "Microsoft-Windows-Sysmon", 7, "Image"),
    ];
    std::fs::write(tmp.path().join("e.json"), lines.join("\n")).unwrap();
    let res = hunt(&set, &[tmp.path().join("e.json")], &HuntOptions::default(), &|_| {});
    let fired: Vec<(Option<&str>, Option<u32>)> = res.alerts.iter().map(|a| (a.channel.as_deref(), a.event_id)).collect();
    assert_eq!(fired, [(Some("Microsoft-Windows-Sysmon/Operational"), Some(1)), (Some("Security"), Some(4688))]);
}

/// The prefilter anchors rules on non-ASCII needles too (`windash` dashes, emoji, regex case
/// variants such as the long `ſ` and the Kelvin sign): each still fires on what it matches.
#[test]
fn non_ascii_needles_do_not_hide_matches() {
    let ev = |cmd: &str| format!(r#"{{"Image":"C:\\x.exe","CommandLine":"{cmd}"}}"#);
    assert!(fires("  s:\n    CommandLine|contains|windash: ' -s '\n  condition: s", &ev("psexec \u{2013}s cmd")));
    assert!(fires("  s:\n    CommandLine|contains|windash: ' -s '\n  condition: s", &ev("psexec /s cmd")));
    assert!(!fires("  s:\n    CommandLine|contains|windash: ' -s '\n  condition: s", &ev("psexec cmd")));
    assert!(fires("  s:\n    CommandLine|contains: '\u{1F525}'\n  condition: s", &ev("echo \u{1F525} done")));
    assert!(fires("  s:\n    CommandLine|re: '(?i)set x'\n  condition: s", &ev("\u{17F}ET X")));
    assert!(fires("  s:\n    CommandLine|re: '(?i)kill'\n  condition: s", &ev("\u{212A}ILL")));
    assert!(!fires("  s:\n    CommandLine|re: '(?i)kill'\n  condition: s", &ev("skil")));
    // Whole-value tests fold Unicode case; a caseless non-ASCII character (`’`) anchors them.
    let desc = |d: &str| format!(r#"{{"Image":"C:\\x.exe","Description":"{d}"}}"#);
    assert!(fires("  s:\n    Description: 'GnuPG’s tool'\n  condition: s", &desc("GNUPG’S TOOL")));
    assert!(!fires("  s:\n    Description: 'GnuPG’s tool'\n  condition: s", &desc("GnuPG's tool")));
    assert!(fires("  s:\n    Description|startswith: 'Ärger'\n  condition: s", &desc("ärger über")));
    // The Kelvin sign lower-cases to `k` and the long s folds to `s`: whole-value tests, globs
    // and substring tests see through them (and the prefilter lets such values through).
    let img = |i: &str| format!(r#"{{"Image":"{i}","CommandLine":"x"}}"#);
    assert!(fires("  s:\n    Image: 'C:\\kernel.exe'\n  condition: s", &img("C:\\\\\u{212A}ERNEL.EXE")));
    assert!(fires("  s:\n    CommandLine: '*set?x*'\n  condition: s", &ev("\u{17F}ET X")));
    assert!(fires("  s:\n    CommandLine|contains: 'set x'\n  condition: s", &ev("\u{17F}ET X")));
    assert!(fires("  s:\n    CommandLine|contains: '\u{17F}et'\n  condition: s", &ev("SET X")));
    assert!(!fires("  s:\n    CommandLine|contains: 'set y'\n  condition: s", &ev("\u{17F}ET X")));
}

/// The prefilter reads a field under the very name the matcher reads: an event holding
/// `CommandLine` and `commandline` (System and EventData fields can differ only in case) must
/// not hide a match in the one the rule names.
#[test]
fn fields_differing_only_in_case_are_read_alike() {
    let ev = r#"{"Image":"C:\\x.exe","CommandLine":"cmd /c whoami","commandline":"nothing here"}"#;
    assert!(fires("  s:\n    CommandLine|contains: 'whoami'\n  condition: s", ev));
}

#[test]
fn a_glob_of_stars_is_any_value() {
    assert!(fires("  s:\n    CommandLine: '*'\n  condition: s", CMD));
    assert!(fires("  s:\n    Empty|contains: '*'\n  condition: s", CMD));
    assert!(fires("  s:\n    CommandLine: '**'\n  condition: s", CMD));
    assert!(!fires("  s:\n    Missing: '*'\n  condition: s", CMD));
    assert!(!fires("  s:\n    CommandLine: '*'\n  filter:\n    Image|contains: '*'\n  condition: s and not filter", CMD));
    // An escaped star is a star.
    assert!(!fires("  s:\n    CommandLine: '\\*'\n  condition: s", CMD));
    assert!(fires("  s:\n    CommandLine: '\\*'\n  condition: s", r#"{"CommandLine":"*"}"#));
}

#[test]
fn regexes_anchored_on_an_inner_literal_still_match() {
    // The prefilter looks for `werfaultsecure.exe` (not the leading `.exe`): any case, any
    // position, and the rule still fires only when the whole regex matches.
    let d = "  s:\n    CommandLine|re: '(?i)\\.exe[\"'']?\\s+[^\"]{0,64}werfaultsecure\\.exe[\"'']?\\s+\\d{2,10}'\n  condition: s";
    assert!(fires(d, r#"{"CommandLine":"wsass.exe C:\\Windows\\System32\\WerFaultSecure.EXE 612"}"#));
    assert!(!fires(d, r#"{"CommandLine":"wsass.exe C:\\Windows\\System32\\WerFaultSecure.exe"}"#));
    assert!(!fires(d, r#"{"CommandLine":"notepad.exe 612"}"#));
    let alt = "  s:\n    CommandLine|re: 'x+(abc|defg)[0-9]'\n  condition: s";
    assert!(fires(alt, r#"{"CommandLine":"run xxdefg7"}"#));
    assert!(!fires(alt, r#"{"CommandLine":"run defg7"}"#));
}

#[test]
fn substring_tests_of_one_field_under_or_are_searched_together() {
    // `1 of filter_*` over one field becomes one search; the meaning of each part is kept.
    let d = |f2: &str| {
        format!("  s:\n    Image|endswith: '.exe'\n  filter_a:\n    CommandLine|contains: 'nomatch'\n  filter_b:\n    {f2}\n  condition: s and not 1 of filter_*")
    };
    assert!(!fires(&d("CommandLine|contains: 'WHOAMI'"), CMD));
    assert!(fires(&d("CommandLine|contains|cased: 'WHOAMI'"), CMD));
    assert!(!fires(&d("CommandLine|contains|cased: 'whoami'"), CMD));
    assert!(!fires(&d("CommandLine|contains|all:\n      - 'cmd'\n      - '/all'"), CMD));
    assert!(fires(&d("CommandLine|contains|all:\n      - 'cmd'\n      - '/priv'"), CMD));
    assert!(fires(&d("ParentImage|contains: 'whoami'"), CMD));
    assert!(!fires(&d("ParentImage|contains: 'EXPLORER'"), CMD));
}

#[test]
fn substring_searches_of_every_size_ignore_ascii_case() {
    // One value (memchr), a few (Teddy), many (an automaton), all of several: each looked up in
    // the value's lower-cased copy, which the prefilter made already.
    let list = |n: usize, last: &str| {
        let mut v: Vec<String> = (0..n).map(|i| format!("      - 'tool{i}.exe'")).collect();
        v.push(format!("      - '{last}'"));
        v.join("\n")
    };
    for n in [0, 4, 40, 100] {
        assert!(fires(&format!("  s:\n    CommandLine|contains:\n{}\n  condition: s", list(n, "WhoAmI /ALL")), CMD), "{n}");
        assert!(!fires(&format!("  s:\n    CommandLine|contains:\n{}\n  condition: s", list(n, "whoami /priv")), CMD), "{n}");
        assert!(!fires(&format!("  s:\n    CommandLine|contains|cased:\n{}\n  condition: s", list(n, "WhoAmI /ALL")), CMD), "{n}");
        assert!(fires(&format!("  s:\n    CommandLine|contains|cased:\n{}\n  condition: s", list(n, "whoami /all")), CMD), "{n}");
    }
    assert!(fires("  s:\n    CommandLine|contains|all:\n      - 'CMD.exe'\n      - '/ALL'\n      - 'WhoAmI'\n  condition: s", CMD));
    assert!(!fires("  s:\n    CommandLine|contains|all:\n      - 'CMD.exe'\n      - '/ALL'\n      - 'net.exe'\n  condition: s", CMD));
    // Keywords and fields of one event are lowered apart: a keyword is not found across them.
    assert!(fires("  keywords:\n    - 'EXPLORER.EXE'\n  s:\n    CommandLine|contains: 'WHOAMI'\n  condition: keywords and s", CMD));
    assert!(!fires("  keywords:\n    - 'whoami /all C:'\n  condition: keywords", CMD));
}
