//! Hostile rule folders: every bad file is reported with a reason, nothing panics, and the
//! good rules beside them still land in the catalog.

use std::fs;
use std::path::Path;

use catalog::{Catalog, Found};

const GOOD: &str = "title: Good Rule
id: 11111111-2222-3333-4444-555555555555
logsource:
  product: windows
  category: process_creation
detection:
  selection:
    Image|endswith: '\\good.exe'
  condition: selection
level: low
";

fn write(dir: &Path, name: &str, body: impl AsRef<[u8]>) {
    fs::write(dir.join(name), body).unwrap();
}

#[test]
fn bad_files_are_reported_and_the_rest_builds() {
    let tmp = tempfile::tempdir().unwrap();
    let rules = tmp.path().join("rules");
    fs::create_dir(&rules).unwrap();
    write(&rules, "good.yml", GOOD);
    write(&rules, "invalid_yaml.yml", "title: Broken\ndetection:\n  selection:\n    Image: [unclosed\n  condition: selection\n");
    write(&rules, "missing_selection.yml", GOOD.replace("condition: selection", "condition: selection and not filter").replace("1111", "2222"));
    let deep = format!("{}selection{}", "(".repeat(10_000), ")".repeat(10_000));
    write(&rules, "deep.yml", GOOD.replace("condition: selection", &format!("condition: {deep}")).replace("1111", "3333"));
    write(&rules, "deep_yaml.yml", format!("title: Deep\ndetection:\n  selection: {}{}\n  condition: selection\n", "[".repeat(10_000), "]".repeat(10_000)));
    write(&rules, "junk.yml", (0..4096u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect::<Vec<u8>>());
    // 50 MB: over the size limit, refused without being read.
    let big = fs::File::create(rules.join("huge.yml")).unwrap();
    big.set_len(50 * 1024 * 1024).unwrap();
    std::os::unix::fs::symlink(rules.join("nowhere.yml"), rules.join("dangling.yml")).unwrap();
    let fifo = rules.join("pipe.yml");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status().map(|s| s.success()).unwrap_or(false);
    assert!(made, "mkfifo is needed for this test");

    let db = tmp.path().join("catalog.db");
    let summary = catalog::build(std::slice::from_ref(&rules), &db, &()).expect("build completes");
    let reason = |file: &str| {
        summary
            .failures
            .iter()
            .find(|f| f.path == file)
            .map(|f| f.diagnostic.located())
            .unwrap_or_else(|| panic!("{file} not reported; failures: {:#?}", summary.failures))
    };
    // The unclosed flow list swallows the next line; the YAML reader stops at its `:`.
    assert!(reason("invalid_yaml.yml").starts_with("5:12: invalid YAML"), "{}", reason("invalid_yaml.yml"));
    assert!(reason("huge.yml").contains("limit"), "{}", reason("huge.yml"));
    assert!(reason("junk.yml").contains("UTF-8"), "{}", reason("junk.yml"));
    assert!(reason("dangling.yml").contains("dangling symlink"), "{}", reason("dangling.yml"));
    assert!(reason("pipe.yml").contains("not a regular file"), "{}", reason("pipe.yml"));
    assert!(reason("deep_yaml.yml").to_lowercase().contains("deep"), "{}", reason("deep_yaml.yml"));

    let cat = Catalog::open(&db).unwrap();
    let Found::One(good) = cat.find("11111111-2222-3333-4444-555555555555").unwrap() else { panic!("good rule missing") };
    assert!(good.diagnostics.is_empty());
    // Rules with a broken condition are kept, with the error located in the file.
    let Found::One(missing) = cat.find("22222222-2222-3333-4444-555555555555").unwrap() else { panic!() };
    let d = missing.diagnostics.iter().find(|d| d.severity == ir::Severity::Error).expect("error diagnostic");
    assert!(d.message.contains("filter"), "{d:?}");
    assert_eq!(d.span.map(|s| s.line), Some(9));
    let Found::One(deep) = cat.find("33333333-2222-3333-4444-555555555555").unwrap() else { panic!() };
    assert!(deep.has_errors());

    // A build that cannot finish leaves what was there and no temporary file behind.
    let taken = tmp.path().join("taken.db");
    fs::create_dir(&taken).unwrap();
    assert!(catalog::build(std::slice::from_ref(&rules), &taken, &()).is_err());
    assert!(taken.is_dir());
    let before = fs::read(&db).unwrap();
    catalog::build(&[rules], &db, &()).expect("rebuild");
    assert_eq!(fs::read(&db).unwrap().len(), before.len(), "same inputs, same catalog size");
    let leftovers: Vec<_> = fs::read_dir(tmp.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".rulelens-build-"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}
