//! Sigma correlation rules over hand-made event streams: in order, out of order and split across
//! files, per group-by value, at the window edges; event_count, value_count, temporal_ordered and
//! the legacy `| count() by` aggregation.

use std::path::PathBuf;

use engine::{hunt, Alert, HuntOptions, RuleSet};

const BASE: &str = "title: Failed Logon
name: failed_logon
id: 0e4c3d0a-0000-4000-8000-000000000001
logsource:
  product: windows
  service: security
detection:
  selection:
    EventID: 4625
  condition: selection
level: low
---
title: Successful Logon
name: success_logon
id: 0e4c3d0a-0000-4000-8000-000000000002
logsource:
  product: windows
  service: security
detection:
  selection:
    EventID: 4624
  condition: selection
level: low
";

fn event(time: &str, event_id: u32, ip: &str, user: &str) -> String {
    format!(
        r#"{{"@timestamp":"2026-01-01T{time}Z","Channel":"Security","Provider_Name":"Microsoft-Windows-Security-Auditing","EventID":{event_id},"IpAddress":"{ip}","TargetUserName":"{user}","Computer":"dc01"}}"#
    )
}

fn fail(time: &str, ip: &str) -> String {
    event(time, 4625, ip, "alice")
}

/// Writes the rules and the event files (each a list of lines), hunts, returns the alerts.
fn hunt_with(correlation: &str, files: &[Vec<String>]) -> Vec<Alert> {
    let tmp = tempfile::tempdir().unwrap();
    let rules = tmp.path().join("rules.yml");
    std::fs::write(&rules, format!("{BASE}---\n{correlation}")).unwrap();
    let loaded = catalog::load(&[rules], &());
    assert!(loaded.failures.is_empty(), "{:?}", loaded.failures);
    assert!(loaded.rules.iter().all(|r| r.diagnostics.is_empty()), "{:#?}", loaded.rules.iter().map(|r| &r.diagnostics).collect::<Vec<_>>());
    let set = RuleSet::new(loaded.rules);
    assert!(set.skipped.is_empty(), "{:?}", set.skipped);
    let logs: Vec<PathBuf> = files
        .iter()
        .enumerate()
        .map(|(i, lines)| {
            let p = tmp.path().join(format!("events{i}.json"));
            std::fs::write(&p, lines.join("\n")).unwrap();
            p
        })
        .collect();
    hunt(&set, &logs, &HuntOptions::default(), &|_| {}).alerts
}

const COUNT: &str = "title: Many Failed Logons From One Address
id: 0e4c3d0a-0000-4000-8000-000000000010
correlation:
  type: event_count
  rules:
    - failed_logon
  group-by:
    - IpAddress
  timespan: 5m
  condition:
    gte: 3
level: high
";

#[test]
fn event_count_in_order_fires_once_with_its_group() {
    let alerts = hunt_with(COUNT, &[vec![fail("10:00:00", "10.0.0.1"), fail("10:01:00", "10.0.0.1"), fail("10:02:00", "10.0.0.1")]]);
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    let a = &alerts[0];
    assert_eq!(a.title, "Many Failed Logons From One Address");
    assert_eq!(a.level.as_deref(), Some("high"));
    assert_eq!(a.timestamp.as_deref(), Some("2026-01-01T10:02:00Z"));
    let c = a.correlation.as_ref().unwrap();
    assert_eq!(c.kind, "event_count");
    assert_eq!(c.group.get("IpAddress").map(String::as_str), Some("10.0.0.1"));
    assert_eq!((c.value, c.matches), (3.0, 3));
    // The member rule does not alert on its own (no `generate: true`).
    assert!(alerts.iter().all(|a| a.title != "Failed Logon"));
}

#[test]
fn event_count_out_of_order_and_across_files() {
    // The later file is given first and each file is in reverse time order.
    let alerts = hunt_with(
        COUNT,
        &[vec![fail("10:02:00", "10.0.0.1"), fail("10:01:30", "10.0.0.1")], vec![fail("10:00:00", "10.0.0.1")]],
    );
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    assert_eq!(alerts[0].timestamp.as_deref(), Some("2026-01-01T10:02:00Z"));
}

#[test]
fn event_count_keeps_groups_apart() {
    let alerts = hunt_with(
        COUNT,
        &[vec![
            fail("10:00:00", "10.0.0.1"),
            fail("10:00:10", "10.0.0.2"),
            fail("10:00:20", "10.0.0.1"),
            fail("10:00:30", "10.0.0.2"),
            fail("10:03:00", "10.0.0.1"),
        ]],
    );
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    assert_eq!(alerts[0].correlation.as_ref().unwrap().group["IpAddress"], "10.0.0.1");
    assert_eq!(alerts[0].timestamp.as_deref(), Some("2026-01-01T10:03:00Z"));
}

#[test]
fn event_count_window_edges() {
    // Exactly the timespan from first to last: inside.
    let inside = hunt_with(COUNT, &[vec![fail("10:00:00.000", "10.0.0.1"), fail("10:02:30", "10.0.0.1"), fail("10:05:00.000", "10.0.0.1")]]);
    assert_eq!(inside.len(), 1);
    // One millisecond more: the first has left the window.
    let outside = hunt_with(COUNT, &[vec![fail("10:00:00.000", "10.0.0.1"), fail("10:02:30", "10.0.0.1"), fail("10:05:00.001", "10.0.0.1")]]);
    assert!(outside.is_empty(), "{outside:#?}");
}

#[test]
fn value_count_counts_distinct_users_per_address() {
    let rule = "title: Password Spray
id: 0e4c3d0a-0000-4000-8000-000000000011
correlation:
  type: value_count
  rules:
    - failed_logon
  group-by:
    - IpAddress
  timespan: 10m
  condition:
    field: TargetUserName
    gte: 3
level: high
";
    let mut lines = Vec::new();
    for (i, u) in ["alice", "bob", "carol"].iter().enumerate() {
        lines.push(event(&format!("10:0{i}:00"), 4625, "10.0.0.9", u));
        lines.push(event(&format!("10:0{i}:30"), 4625, "10.0.0.7", "alice"));
    }
    lines.push(event("10:04:00", 4625, "10.0.0.7", "alice"));
    let alerts = hunt_with(rule, &[lines]);
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    let c = alerts[0].correlation.as_ref().unwrap();
    assert_eq!((c.kind.as_str(), c.group["IpAddress"].as_str(), c.value), ("value_count", "10.0.0.9", 3.0));
}

#[test]
fn temporal_ordered_needs_the_order() {
    let rule = "title: Logon After Failures
id: 0e4c3d0a-0000-4000-8000-000000000012
correlation:
  type: temporal_ordered
  rules:
    - failed_logon
    - success_logon
  group-by:
    - IpAddress
  timespan: 1m
level: high
";
    let ordered = hunt_with(rule, &[vec![fail("10:00:00", "10.0.0.1"), event("10:00:40", 4624, "10.0.0.1", "alice")]]);
    assert_eq!(ordered.len(), 1, "{ordered:#?}");
    assert_eq!(ordered[0].correlation.as_ref().unwrap().kind, "temporal_ordered");
    let reversed = hunt_with(rule, &[vec![event("10:00:00", 4624, "10.0.0.1", "alice"), fail("10:00:40", "10.0.0.1")]]);
    assert!(reversed.is_empty(), "{reversed:#?}");
    let too_late = hunt_with(rule, &[vec![fail("10:00:00", "10.0.0.1"), event("10:01:00.001", 4624, "10.0.0.1", "alice")]]);
    assert!(too_late.is_empty());
    let other_group = hunt_with(rule, &[vec![fail("10:00:00", "10.0.0.1"), event("10:00:10", 4624, "10.0.0.2", "alice")]]);
    assert!(other_group.is_empty());
}

#[test]
fn legacy_count_aggregation() {
    // The pre-correlation form: `selection | count() by IpAddress > 2` within `timeframe`.
    let tmp = tempfile::tempdir().unwrap();
    let rules = tmp.path().join("legacy.yml");
    std::fs::write(
        &rules,
        "title: Legacy Failed Logon Burst
id: 0e4c3d0a-0000-4000-8000-000000000013
logsource:
  product: windows
  service: security
detection:
  selection:
    EventID: 4625
  timeframe: 2m
  condition: selection | count() by IpAddress > 2
level: medium
",
    )
    .unwrap();
    let set = RuleSet::new(catalog::load(&[rules], &()).rules);
    assert!(set.skipped.is_empty(), "{:?}", set.skipped);
    let logs = tmp.path().join("e.json");
    let lines = [fail("10:00:00", "a"), fail("10:00:30", "a"), fail("10:01:00", "a"), fail("10:00:00", "b"), fail("10:05:00", "b"), fail("10:06:00", "b")];
    std::fs::write(&logs, lines.join("\n")).unwrap();
    let alerts = hunt(&set, &[logs], &HuntOptions::default(), &|_| {}).alerts;
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    assert_eq!(alerts[0].correlation.as_ref().unwrap().group["IpAddress"], "a");
}
