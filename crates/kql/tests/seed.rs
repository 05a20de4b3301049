//! The seed rule: FalconFriday DCOM Lateral Movement (reference page shared/seeds/003_…).

mod common;

use ir::{Op, Predicate, StageKind, Value};

const SEED: &str =
    "sentinel/upstream-2026-dcom/Solutions/FalconFriday/Analytic Rules/DCOMLateralMovement.yaml";

fn find<'a>(preds: &[&'a Predicate], raw: &str) -> &'a Predicate {
    preds
        .iter()
        .copied()
        .find(|p| p.raw == raw)
        .unwrap_or_else(|| panic!("no predicate `{raw}`"))
}

#[test]
fn dcom_lateral_movement() {
    if common::sentinel_or_skip("kql seed").is_none() {
        return;
    }
    let path = common::corpus_root().join(SEED);
    let raw = std::fs::read_to_string(&path).expect("seed file");
    let q = common::extract(&path, &raw, "query").expect("a query");
    let parsed = kql::parse(&q.text);
    assert!(parsed.diagnostics.is_empty(), "{:?}", parsed.diagnostics);
    let l = kql::lower(&parsed, &q.text, &|_| None);
    let stages = &l.logic.stages;

    // The parameter and the lets are named stages.
    let by_name = |n: &str| {
        stages
            .iter()
            .find(|s| s.name == n)
            .unwrap_or_else(|| panic!("no stage {n}"))
    };
    let StageKind::Let { values, list, .. } = &by_name("allowListedExecs").kind else {
        panic!("allowListedExecs is not a let")
    };
    assert!(*list);
    assert_eq!(values.len(), 11);
    assert_eq!(values[0], Value::Str("TiWorker.exe".into()));
    for n in [
        "rpcNetwEvents",
        "dcomProcEvents",
        "lastBootTime",
        "RemoteDcomProcs",
    ] {
        assert!(
            matches!(by_name(n).kind, StageKind::View { materialized: true }),
            "{n}"
        );
    }

    // The final join: RemoteDcomProcs joined with the child processes, feeding the output.
    let joins: Vec<_> = stages
        .iter()
        .filter(|s| matches!(s.kind, StageKind::Join { .. }))
        .collect();
    assert_eq!(joins.len(), 3);
    let last = joins[2];
    let StageKind::Join {
        mode, on, hints, ..
    } = &last.kind
    else {
        unreachable!()
    };
    assert_eq!(mode, "inner");
    assert_eq!(
        hints,
        &[("hint.strategy".to_string(), "broadcast".to_string())]
    );
    let pair = |a: &str, b: &str| (a.to_string(), b.to_string());
    assert_eq!(
        on,
        &[
            pair("DCOMHostPID", "InitiatingProcessParentId"),
            pair("DeviceId", "DeviceId"),
            pair("DCOMPID", "InitiatingProcessId")
        ]
    );
    assert_eq!(last.inputs[0], by_name("RemoteDcomProcs").id);
    let out = &stages[l.logic.output];
    assert!(
        matches!(out.kind, StageKind::Aggregate { .. }),
        "output is the summarize"
    );

    // Predicates, reachable from the output with positive polarity.
    let reach = l.logic.predicates_with_polarity();
    assert!(reach.iter().all(|(_, pos)| *pos));
    let preds: Vec<&Predicate> = reach.iter().map(|(p, _)| *p).collect();
    let p = find(&preds, "InitiatingProcessFileName =~ \"svchost.exe\"");
    assert_eq!((p.op, p.case_sensitive, p.negated), (Op::Eq, false, false));
    let p = find(&preds, "InitiatingProcessCommandLine has \"rpcss\"");
    assert_eq!(
        (p.op, p.case_sensitive, p.values.clone()),
        (Op::Token, false, vec![Value::Str("rpcss".into())])
    );
    let p = find(&preds, "LocalPort == 135");
    assert_eq!(
        (p.op, p.case_sensitive, p.values.clone()),
        (Op::Eq, true, vec![Value::Int(135)])
    );
    let p = find(&preds, "ActionType != \"ListeningConnectionCreated\"");
    assert_eq!((p.op, p.negated), (Op::Eq, true));
    let window: Vec<&Predicate> = preds
        .iter()
        .copied()
        .filter(|p| p.raw.ends_with("between (0 .. 2)"))
        .collect();
    assert_eq!(window.len(), 2);
    let field = "datetime_diff(\"second\", TimestampProcEventExact, TimestampNetwEventExact)";
    assert_eq!(
        (window[0].field.as_deref(), window[0].op, &window[0].values),
        (Some(field), Op::Ge, &vec![Value::Int(0)])
    );
    assert_eq!(
        (window[1].field.as_deref(), window[1].op, &window[1].values),
        (Some(field), Op::Le, &vec![Value::Int(2)])
    );
    let p = find(&preds, "DCOMFileName !in~ (allowListedExecs)");
    assert_eq!(
        (p.op, p.negated, p.case_sensitive, p.values.len()),
        (Op::Eq, true, false, 11)
    );
    assert_eq!(p.values, *values);
    let p = find(&preds, "LocalIP !~ RemoteIP");
    assert_eq!((p.op, p.negated), (Op::FieldRef, true));

    // What it reads, and what it outputs.
    assert_eq!(l.tables, ["DeviceNetworkEvents", "DeviceProcessEvents"]);
    assert_eq!(
        l.outputs.last().map(String::as_str),
        Some("set_ProcessCommandLine")
    );
    assert_eq!(l.outputs.len(), 10);

    // Spans shift to the file: the `LocalPort == 135` predicate, found in the YAML text.
    let p = find(&preds, "LocalPort == 135");
    let s = kql::shift_span(p.span.unwrap(), q.origin);
    assert_eq!(&raw[s.start..s.end], "LocalPort == 135");
    let line = raw.lines().nth(s.line as usize - 1).unwrap();
    assert_eq!(&line[s.col as usize - 1..][..16], "LocalPort == 135");
}
