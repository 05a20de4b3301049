//! The seed rule (shared/seeds/000_7b592a4482ca7232.txt) lowers as its reference page shows.

use std::path::PathBuf;

use ir::{Expr, Op, StageKind, Value};

fn corpus() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus")
}

#[test]
fn dcom_mmc_seed_rule() {
    let rel = "windows-os/win-os-DCOMexec abuse via MMC (command).yaml";
    let path = corpus().join("sigma-mdecrevoisier").join(rel);
    let Ok(text) = std::fs::read_to_string(&path) else {
        {
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "\n!!! CORPUS TEST DID NOT RUN: {} not found; nothing was checked !!!\n",
                path.display()
            );
        }
        return;
    };
    let res = sigma::parse_file("sigma-mdecrevoisier", rel, &text);
    assert!(res.is_sigma);
    assert!(res.failures.is_empty(), "{:?}", res.failures);
    assert_eq!(res.rules.len(), 1);
    let r = &res.rules[0];
    assert!(!r.has_errors(), "{:?}", r.diagnostics);
    assert_eq!(r.title, "Impacket DCOMexec process abuse via MMC");
    assert_eq!(r.kind, "detection");
    assert_eq!(r.level.as_deref(), Some("high"));
    assert_eq!(r.status.as_deref(), Some("experimental"));
    assert_eq!(r.author.as_deref(), Some("mdecrevoisier"));
    assert_eq!(
        r.attack
            .iter()
            .map(|a| a.technique.as_str())
            .collect::<Vec<_>>(),
        vec!["T1021.003"]
    );
    assert_eq!(r.tactics, vec!["lateral-movement"]);
    assert_eq!(
        r.declared,
        vec![ir::Telemetry::LogSource {
            product: Some("windows".into()),
            category: Some("process_creation".into()),
            service: None
        }]
    );
    assert_eq!(r.raw, text);
    assert_eq!(r.logic.output, 0);

    let st = &r.logic.stages;
    assert_eq!(st.len(), 3);
    assert_eq!(st[0].name, "condition");
    assert_eq!(st[0].text, "selection_basic or selection_sysmon");
    assert_eq!(
        st[0].kind,
        StageKind::Condition {
            expr: Expr::Or {
                of: vec![
                    Expr::Ref {
                        stage: 1,
                        name: "selection_basic".into()
                    },
                    Expr::Ref {
                        stage: 2,
                        name: "selection_sysmon".into()
                    }
                ]
            }
        }
    );
    let sp = st[0].span.expect("condition span");
    assert_eq!(
        &text[sp.start..sp.end],
        "selection_basic or selection_sysmon"
    );

    let preds = |i: usize| -> Vec<(String, Op, Vec<Value>)> {
        assert!(matches!(st[i].kind, StageKind::Selection { .. }));
        st[i]
            .predicates()
            .iter()
            .map(|p| (p.field.clone().unwrap_or_default(), p.op, p.values.clone()))
            .collect()
    };
    let s = |v: &str| Value::Str(v.into());
    assert_eq!(st[1].name, "selection_basic");
    assert!(
        st[1]
            .text
            .starts_with("selection_basic:\n  EventID: 4688\n  Version: 2"),
        "{}",
        st[1].text
    );
    assert_eq!(
        preds(1),
        vec![
            ("EventID".into(), Op::Eq, vec![Value::Int(4688)]),
            ("Version".into(), Op::Eq, vec![Value::Int(2)]),
            (
                "ParentProcessName".into(),
                Op::EndsWith,
                vec![s("\\svchost.exe")]
            ),
            ("NewProcessName".into(), Op::EndsWith, vec![s("\\mmc.exe")]),
        ]
    );
    assert_eq!(st[2].name, "selection_sysmon");
    assert_eq!(
        st[2].text,
        "selection_sysmon:\n  EventID: 1\n  ParentImage|endswith: '\\svchost.exe'\n  Image|endswith: '\\mmc.exe'"
    );
    assert_eq!(
        preds(2),
        vec![
            ("EventID".into(), Op::Eq, vec![Value::Int(1)]),
            ("ParentImage".into(), Op::EndsWith, vec![s("\\svchost.exe")]),
            ("Image".into(), Op::EndsWith, vec![s("\\mmc.exe")]),
        ]
    );
    for p in st[1].predicates().into_iter().chain(st[2].predicates()) {
        assert!(!p.case_sensitive && !p.negated && !p.all && p.transforms.is_empty());
        let sp = p.span.expect("predicate span");
        assert_eq!(&text[sp.start..sp.end], p.raw);
    }
}
