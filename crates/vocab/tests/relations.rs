//! Logic relations on real rules: the DCOM seed rule (mdecrevoisier) and SigmaHQ's MMC20 rule,
//! plus hand-made pairs for the edge cases.

use std::path::Path;

use vocab::{annotate, relate, Relation};

fn rule(origin: &str, path: &str, text: &str) -> ir::Rule {
    let mut r = sigma::parse_file(origin, path, text).rules.remove(0);
    annotate(&mut r);
    r
}

const BASE: &str = "title: T
logsource:
  product: windows
  category: process_creation
";

fn mk(detection: &str) -> ir::Rule {
    rule("t", "t.yml", &format!("{BASE}detection:\n{detection}\n"))
}

fn rel(a: &ir::Rule, b: &ir::Rule) -> Option<Relation> {
    let rules = [a.clone(), b.clone()];
    relate(&rules).into_iter().find(|(i, j, _)| (*i, *j) == (0, 1)).map(|x| x.2)
}

#[test]
fn stricter_duplicate_and_unrelated() {
    let loose = mk("  s:\n    ParentImage|endswith: '\\svchost.exe'\n    Image|endswith: '\\mmc.exe'\n  condition: s");
    let strict = mk("  s:\n    ParentImage|endswith: '\\svchost.exe'\n    Image|endswith: '\\mmc.exe'\n    CommandLine|contains: '-Embedding'\n  condition: s");
    // The same logic in 4688 names, written the other way round.
    let copy = mk("  a:\n    NewProcessName|endswith: '\\MMC.EXE'\n  b:\n    ParentProcessName|endswith: '\\svchost.exe'\n  condition: b and a");
    let other = mk("  s:\n    Image|endswith: '\\cmd.exe'\n  condition: s");
    let negated = mk("  s:\n    Image|endswith: '\\mmc.exe'\n  f:\n    ParentImage|endswith: '\\svchost.exe'\n  condition: s and not f");
    assert_eq!(rel(&loose, &strict), Some(Relation::Narrower));
    assert_eq!(rel(&strict, &loose), Some(Relation::Broader));
    assert_eq!(rel(&loose, &copy), Some(Relation::Duplicate));
    assert_eq!(rel(&loose, &other), None);
    // `not svchost` and `svchost` match different events: no logic relation, but the two rules
    // name the same two indicators.
    assert_eq!(rel(&loose, &negated), Some(Relation::SharesIndicators));
    // An `or` of values is broader than one of them.
    let either = mk("  s:\n    Image|endswith:\n      - '\\mmc.exe'\n      - '\\cmd.exe'\n  condition: s");
    assert_eq!(rel(&either, &other), Some(Relation::Narrower));
    assert_eq!(rel(&other, &either), Some(Relation::Broader));
}

#[test]
fn mmc20_is_narrower_than_the_dcom_seed_rule() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus");
    let seed_path = corpus.join("sigma-mdecrevoisier/windows-os/win-os-DCOMexec abuse via MMC (command).yaml");
    let mmc20_path = corpus.join("sigma/rules/windows/process_creation/proc_creation_win_mmc_mmc20_lateral_movement.yml");
    let (Ok(seed), Ok(mmc20)) = (std::fs::read_to_string(&seed_path), std::fs::read_to_string(&mmc20_path)) else {
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), "\n!!! CORPUS TEST DID NOT RUN: {} is missing; nothing was checked !!!\n", corpus.display());
        return;
    };
    let seed = rule("sigma-mdecrevoisier", "seed.yaml", &seed);
    let mmc20 = rule("sigma", "mmc20.yml", &mmc20);
    assert_eq!(rel(&seed, &mmc20), Some(Relation::Narrower), "seed: {:?}\nmmc20: {:?}", vocab::normal_form(&seed), vocab::normal_form(&mmc20));
}

#[test]
fn a_log_source_that_cannot_carry_the_event_is_a_finding() {
    let r = mk("  s:\n    EventID: 4624\n    LogonType: 3\n  condition: s");
    let f = vocab::telemetry_findings(&r);
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(f[0].message.contains("EventID 4624") && f[0].message.contains("process_creation"), "{}", f[0].message);
    let ok = mk("  s:\n    EventID: 4688\n    NewProcessName|endswith: '\\mmc.exe'\n  condition: s");
    assert!(vocab::telemetry_findings(&ok).is_empty());
}

#[test]
fn overlapping_and_shared_indicators() {
    let a = mk("  s:\n    ParentImage|endswith: '\\svchost.exe'\n    Image|endswith: '\\mmc.exe'\n  condition: s");
    // Shares `mmc.exe` and can hold on the same event; neither contains the other.
    let b = mk("  s:\n    Image|endswith: '\\mmc.exe'\n    CommandLine|contains: '-Embedding'\n  condition: s");
    assert_eq!(rel(&a, &b), Some(Relation::Overlapping));
    assert_eq!(rel(&b, &a), Some(Relation::Overlapping));
    // Another parent: both cannot hold on one event (one parent name), so no overlap.
    let c = mk("  s:\n    ParentImage|endswith: '\\explorer.exe'\n    Image|endswith: '\\mmc.exe'\n  condition: s");
    assert_eq!(rel(&a, &c), None);
    // Contradicting logic (`not svchost`), but two indicators in common.
    let d = mk("  s:\n    Image|endswith: '\\mmc.exe'\n    CommandLine|contains: '-Embedding'\n  f:\n    ParentImage|endswith: '\\svchost.exe'\n  condition: s and not f");
    let e = mk("  s:\n    ParentImage|endswith: '\\svchost.exe'\n    Image|endswith: '\\mmc.exe'\n    CommandLine|contains: '-Embedding'\n  condition: s");
    assert_eq!(rel(&d, &e), Some(Relation::SharesIndicators));
    assert_eq!(rel(&e, &d), Some(Relation::SharesIndicators));
}
