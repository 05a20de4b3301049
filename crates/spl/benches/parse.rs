//! `cargo bench -p spl`: macro expansion + parsing + lowering of every ESCU detection's search in
//! ../shared/corpus/splunk-security-content, on one thread. Goal: the whole corpus under 0.3 s.
//! The repository and its detections are read as `rulelens build` reads them (`splunk` crate).

use std::path::Path;
use std::time::Instant;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/splunk-security-content");
    let Some(repo) = root.join("macros").is_dir().then(|| splunk::Repo::find(&root)).flatten() else {
        eprintln!("!!! BENCHMARK DID NOT RUN: {} not found !!!", root.display());
        return;
    };
    let mut searches = Vec::new();
    let mut stack = vec![root.join("detections")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(text) = std::fs::read_to_string(&p) {
                let loaded = ruleyaml::load(&text).ok().filter(|_| splunk::looks_like_escu(&p.to_string_lossy(), &text));
                if let Some(s) = loaded.and_then(|l| l.docs.first().and_then(|d| d["search"].as_str().map(str::to_string))) {
                    searches.push(s);
                }
            }
        }
    }
    let macros = &repo.macros;
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
