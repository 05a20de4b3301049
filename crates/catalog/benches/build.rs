//! `cargo bench -p catalog`: catalog build time for the whole shared Sigma corpus
//! (../shared/corpus/sigma + sigma-mdecrevoisier), parsing in parallel on all cores.
//! Prints each run and the best and median wall time, split into walk / parse / write.

use std::path::Path;

fn main() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus");
    if !corpus.join("sigma").is_dir() {
        eprintln!("!!! BENCHMARK DID NOT RUN: {} not found !!!", corpus.display());
        return;
    }
    let dirs = [corpus.join("sigma"), corpus.join("sigma-mdecrevoisier")];
    let tmp = tempfile::tempdir().expect("temp dir");
    let db = tmp.path().join("bench.db");
    let runs = std::env::var("BENCH_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(7usize);
    println!("catalog build: {} and {}, {} threads", dirs[0].display(), dirs[1].display(), rayon::current_num_threads());
    let mut times = Vec::new();
    for i in 0..=runs {
        let s = catalog::build(&dirs, &db, &()).expect("build");
        let rules: usize = s.rules.values().sum();
        let label = if i == 0 { "warm-up".to_string() } else { format!("run {i}") };
        println!(
            "{label:>8}: {:.3} s  (walk {:.3}, parse {:.3}, write {:.3})  {} files, {} rules, {} failures",
            s.seconds, s.walk_seconds, s.parse_seconds, s.write_seconds, s.files, rules, s.failures.len()
        );
        if i > 0 {
            times.push(s.seconds);
        }
    }
    times.sort_by(f64::total_cmp);
    let size = std::fs::metadata(&db).map(|m| m.len()).unwrap_or(0);
    println!(
        "best {:.3} s, median {:.3} s over {} runs; catalog {:.1} MB",
        times[0],
        times[times.len() / 2],
        times.len(),
        size as f64 / 1e6
    );
}
