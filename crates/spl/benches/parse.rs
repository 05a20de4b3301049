//! `cargo bench -p spl`: macro expansion + parsing + lowering of every ESCU detection's search in
//! ../shared/corpus/splunk-security-content, on one thread. Goal: the whole corpus under 0.3 s.

use std::path::Path;
use std::time::Instant;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/splunk-security-content");
    if !root.join("macros").is_dir() {
        eprintln!("!!! BENCHMARK DID NOT RUN: {} not found !!!", root.display());
        return;
    }
    let macros = load_macros(&root.join("macros"));
    let mut searches = Vec::new();
    let mut stack = vec![root.join("detections")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(text) = std::fs::read_to_string(&p) {
                if let Some(s) = search_of(&text) {
                    searches.push(s);
                }
            }
        }
    }
    let bytes: usize = searches.iter().map(String::len).sum();
    println!("spl: {} searches, {} KiB of SPL before expansion, {} macros", searches.len(), bytes / 1024, macros.by_key.len());
    let mut best = f64::MAX;
    for run in 0..7 {
        let t = Instant::now();
        let mut stages = 0;
        for s in &searches {
            let e = macros.expand(s);
            stages += spl::lower(&e.text).logic.stages.len();
        }
        let secs = t.elapsed().as_secs_f64();
        best = best.min(secs);
        println!("  run {run}: {:.4} s ({stages} stages)", secs);
    }
    println!("best {:.4} s for the corpus, one thread", best);
}

/// The `search:` value of a detection (single-line YAML string, as ESCU writes it).
fn search_of(text: &str) -> Option<String> {
    let line = text.lines().find(|l| l.starts_with("search:"))?;
    let v = line["search:".len()..].trim();
    let v = v.strip_prefix('\'').and_then(|x| x.strip_suffix('\'')).map(|x| x.replace("''", "'")).unwrap_or_else(|| v.to_string());
    Some(v)
}

fn load_macros(dir: &Path) -> spl::Macros {
    let mut m = spl::Macros::default();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let Ok(text) = std::fs::read_to_string(e.path()) else { continue };
        let get = |k: &str| text.lines().find_map(|l| l.strip_prefix(&format!("{k}:")).map(|v| v.trim().trim_matches('\'').trim_matches('"').to_string()));
        let (Some(name), Some(definition)) = (get("name"), get("definition")) else { continue };
        let args = text.lines().skip_while(|l| !l.starts_with("arguments:")).skip(1).take_while(|l| l.starts_with("- ")).map(|l| l[2..].trim().to_string()).collect();
        m.add(spl::Macro { name, args, definition });
    }
    m
}
