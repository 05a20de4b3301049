//! The whole shared Sigma corpus in one catalog: parse rate, the seed rule's page, and corpus
//! counts checked against an independent count made with a plain YAML loader.

use std::path::{Path, PathBuf};

use catalog::{Catalog, Found, Page};
use yaml_rust2::{Yaml, YamlLoader};

fn corpus() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus");
    if p.join("sigma").is_dir() {
        Some(p)
    } else {
        {
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "\n!!! CORPUS SWEEP DID NOT RUN: {} not found (CI always has it) !!!\n",
                p.display()
            );
        }
        None
    }
}

const SEED: &str = "Impacket DCOMexec process abuse via MMC";

#[test]
fn whole_sigma_corpus_builds_and_the_seed_page_is_right() {
    let Some(corpus) = corpus() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("catalog.db");
    let dirs = [corpus.join("sigma"), corpus.join("sigma-mdecrevoisier")];
    let s = catalog::build(&dirs, &db, &()).expect("build");
    let total: usize = s.rules.values().sum();
    eprintln!(
        "sigma corpus: {} files, {} rules, {} rules kept with errors, {} failures, {:.2} s (test profile)",
        s.files,
        total,
        s.with_errors.values().sum::<usize>(),
        s.failures.len(),
        s.seconds
    );
    for f in &s.failures {
        eprintln!(
            "  failure {}/{}:{}",
            f.origin,
            f.path,
            f.diagnostic.located()
        );
    }
    let in_rules: Vec<_> = s
        .failures
        .iter()
        .filter(|f| f.origin == "sigma" && f.path.starts_with("rules"))
        .collect();
    assert!(
        in_rules.is_empty(),
        "SigmaHQ rules must all parse: {in_rules:#?}"
    );
    assert!(total >= 3_614 + 352, "too few rules: {total}");

    let cat = Catalog::open(&db).unwrap();
    let Found::One(rule) = cat.find(SEED).unwrap() else {
        panic!("seed rule not found by title")
    };
    assert!(rule.diagnostics.is_empty(), "{:?}", rule.diagnostics);
    let page = Page::new(&cat, *rule).unwrap();
    assert_eq!(
        page.rule.path,
        "windows-os/win-os-DCOMexec abuse via MMC (command).yaml"
    );
    let names: Vec<&str> = page.stages.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["condition", "selection_basic", "selection_sysmon"]);
    assert_eq!(
        page.stages[0].text.trim(),
        "selection_basic or selection_sysmon"
    );

    let (docs, rejected) = independent_docs(&dirs);
    let expected = [
        ("Image", "endswith", "\\mmc.exe"),
        ("NewProcessName", "endswith", "\\mmc.exe"),
        ("ParentImage", "endswith", "\\svchost.exe"),
        ("ParentProcessName", "endswith", "\\svchost.exe"),
        ("Version", "eq", "2"),
    ];
    assert_eq!(
        page.indicators.len(),
        expected.len(),
        "{:#?}",
        page.indicators
    );
    for (field, kind, value) in expected {
        let ind = page
            .indicators
            .iter()
            .find(|i| i.field.as_deref() == Some(field) && i.kind == kind && i.value == value)
            .unwrap_or_else(|| panic!("indicator {field} {kind} {value} missing"));
        let independent = count_independently(&docs, field, kind, value)
            + count_in_rejected(&rejected, field, kind, value);
        eprintln!(
            "  {field} {kind} {value}: corpus {} (independent count {independent})",
            ind.corpus.total
        );
        assert_eq!(ind.corpus.total, independent, "{field} {kind} {value}");
        assert_eq!(ind.corpus.by_source.get("sigma"), Some(&independent));
        assert!(independent >= 1);
    }

    // Canonical forms: the Sysmon and the Security spelling of one indicator meet.
    let canon = |field: &str| page.indicators.iter().find(|i| i.field.as_deref() == Some(field)).unwrap();
    for (a, b, name) in [("Image", "NewProcessName", "process.name"), ("ParentImage", "ParentProcessName", "process.parent.name")] {
        let (a, b) = (canon(a), canon(b));
        // `endswith \x.exe` on the path is `eq x.exe` on the name field.
        assert_eq!((a.canonical.as_deref(), b.canonical.as_deref()), (Some(name), Some(name)));
        assert_eq!((a.canonical_kind, a.canonical_value.as_deref()), (Some("eq"), b.canonical_value.as_deref()));
        assert_eq!(a.canonical_corpus, b.canonical_corpus);
        let c = a.canonical_corpus.as_ref().unwrap();
        // Rules of either raw spelling, duplicates counted once.
        assert!(c.total >= 1 && c.total <= a.corpus.total + b.corpus.total, "{c:?}");
    }
    // Relations by logic: SigmaHQ's MMC20 rule asks for all the seed asks, and more.
    let mmc20 = page.related.iter().find(|r| r.rule.title == "MMC20 Lateral Movement").expect("MMC20 related");
    assert_eq!(mmc20.relation, "narrower");
    assert!(page.related.iter().any(|r| r.relation == "same_technique" && r.technique.as_deref() == Some("T1021.003")));
    let stats = cat.stats().unwrap();
    let sigma = &stats.canonical["sigma"];
    eprintln!(
        "  canonical fields: sigma {:.1}% of {} predicates, Windows rules {:.1}% of {}; unmapped: {:?}",
        sigma.share * 100.0,
        sigma.predicates,
        sigma.windows_share * 100.0,
        sigma.windows_predicates,
        &sigma.unmapped[..sigma.unmapped.len().min(10)]
    );
    assert!(sigma.windows_share >= 0.95, "canonical coverage of Windows Sigma rules: {:.3}", sigma.windows_share);
}

/// Every YAML document with a `detection` map, loaded with yaml-rust2's own loader.
/// Files its loader rejects for a duplicated key are returned as text.
fn independent_docs(dirs: &[PathBuf]) -> (Vec<Yaml>, Vec<String>) {
    let (mut out, mut rejected) = (Vec::new(), Vec::new());
    for d in dirs {
        for e in walkdir(d) {
            let Ok(text) = std::fs::read_to_string(&e) else {
                continue;
            };
            match YamlLoader::load_from_str(&text) {
                Ok(docs) => out.extend(docs.into_iter().filter(|y| !y["detection"].is_badvalue())),
                Err(err) if err.to_string().contains("duplicated key") => rejected.push(text),
                Err(_) => {}
            }
        }
    }
    (out, rejected)
}

fn walkdir(d: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![d.to_path_buf()];
    while let Some(p) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&p) else {
            continue;
        };
        for e in rd.flatten() {
            let path = e.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|x| x == "yml" || x == "yaml") {
                out.push(path);
            }
        }
    }
    out
}

/// Rules whose detection has `field|kind: value` (or, for endswith, `field: '*value'`),
/// directly or in a list of maps; values compared case-insensitively.
fn count_independently(docs: &[Yaml], field: &str, kind: &str, value: &str) -> usize {
    let want = value.to_lowercase();
    let matches_value = |v: &Yaml, wildcard_form: bool| -> bool {
        let s = match v {
            Yaml::String(s) => s.clone(),
            Yaml::Integer(i) => i.to_string(),
            _ => return false,
        }
        .to_lowercase();
        if wildcard_form {
            s == format!("*{want}")
        } else {
            s == want
        }
    };
    let item_has = |item: &Yaml| -> bool {
        let Some(map) = item.as_hash() else {
            return false;
        };
        map.iter().any(|(k, v)| {
            let Some(k) = k.as_str() else { return false };
            let mut parts = k.split('|');
            if parts.next() != Some(field) {
                return false;
            }
            let mods: Vec<&str> = parts.collect();
            let (direct, wildcard) = match kind {
                "eq" => (mods.is_empty(), false),
                _ => (mods == [kind], mods.is_empty()),
            };
            if !direct && !wildcard {
                return false;
            }
            let vals: Vec<&Yaml> = match v {
                Yaml::Array(a) => a.iter().collect(),
                other => vec![other],
            };
            vals.iter().any(|x| matches_value(x, wildcard && !direct))
        })
    };
    docs.iter()
        .filter(|doc| {
            let Some(det) = doc["detection"].as_hash() else {
                return false;
            };
            det.values().any(|item| match item {
                Yaml::Array(list) => list.iter().any(item_has),
                other => item_has(other),
            })
        })
        .count()
}

/// Rules in files the strict loader rejects for a duplicated key (rulelens keeps them, with a
/// warning, as most YAML readers do): counted line by line on `field|kind: value` lines.
fn count_in_rejected(texts: &[String], field: &str, kind: &str, value: &str) -> usize {
    let key = if kind == "eq" {
        format!("{field}:")
    } else {
        format!("{field}|{kind}:")
    };
    let want = value.to_lowercase();
    texts
        .iter()
        .filter(|t| {
            t.lines().any(|l| {
                let l = l.split(" #").next().unwrap_or("").trim();
                l.strip_prefix(&key)
                    .is_some_and(|v| v.trim().trim_matches('\'').to_lowercase() == want)
            })
        })
        .count()
}

#[test]
fn attack_bundle_names_techniques_places_v19_tactics_and_gives_coverage() {
    let Some(corpus) = corpus() else { return };
    let attack = attack::Attack::load(&corpus.join("attack/enterprise-attack.json")).expect("bundle");
    assert_eq!(attack.tactics.len(), 14);
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("catalog.db");
    let dirs = [corpus.join("sigma"), corpus.join("sigma-mdecrevoisier")];
    catalog::build_with(&dirs, &db, &(), Some(&attack)).expect("build");
    let cat = Catalog::open(&db).unwrap();
    let Found::One(seed) = cat.find(SEED).unwrap() else { panic!() };
    let dcom = seed.attack.iter().find(|a| a.technique == "T1021.003").expect("T1021.003");
    assert_eq!(dcom.name.as_deref(), Some("Remote Services: Distributed Component Object Model"));
    // A current SigmaHQ rule tagged with the v19 tactic `stealth`: placed in the v18 bundle.
    let Found::One(rlo) = cat.find("MMC Executing Files with Reversed Extensions Using RTLO Abuse").unwrap() else { panic!() };
    assert!(rlo.tags.iter().any(|t| t == "attack.stealth"), "{:?}", rlo.tags);
    assert!(rlo.tactics.iter().any(|t| t == "defense-evasion"), "{:?}", rlo.tactics);
    let notes = rlo.meta.get("attack_notes").and_then(|v| v.as_array()).expect("a note says so");
    assert!(notes.iter().any(|n| n.as_str().is_some_and(|n| n.contains("stealth"))));
    let cov = cat.coverage().unwrap();
    assert_eq!(cov.tactics.len(), 14);
    let t = cov.techniques.iter().find(|t| t.id == "T1021.003").unwrap();
    let independent = cat.all_rules().unwrap().iter().filter(|r| r.attack.iter().any(|a| a.technique == "T1021.003")).count();
    assert_eq!(t.rules.total, independent);
    assert!(independent >= 10, "{independent}");
    let layer = cat.navigator(Some("sigma")).unwrap();
    assert_eq!(layer["domain"], "enterprise-attack");
    let entry = layer["techniques"].as_array().unwrap().iter().find(|x| x["techniqueID"] == "T1021.003").unwrap();
    assert_eq!(entry["score"], independent);
}
