//! `cargo bench -p kql`: parses (and lowers) every Sentinel query of the corpus on one core and
//! prints the time. Goal: all of them parsed in < 0.3 s.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

fn main() {
    let Some(root) = common::sentinel_or_skip("kql bench") else {
        return;
    };
    let queries = common::queries(&root);
    let bytes: usize = queries.iter().map(|q| q.text.len()).sum();
    println!(
        "kql bench: {} queries, {:.1} KiB of KQL",
        queries.len(),
        bytes as f64 / 1024.0
    );

    let rounds = 10;
    let mut parse_times = Vec::new();
    let mut lower_times = Vec::new();
    let mut errors = 0;
    for _ in 0..rounds {
        let t = Instant::now();
        let parsed: Vec<kql::Parsed> = queries.iter().map(|q| kql::parse(&q.text)).collect();
        parse_times.push(t.elapsed());
        errors = parsed.iter().filter(|p| p.has_errors()).count();
        let t = Instant::now();
        let mut stages = 0;
        for (p, q) in parsed.iter().zip(&queries) {
            stages += kql::lower(p, &q.text, &|_| None).logic.stages.len();
        }
        lower_times.push(t.elapsed());
        std::hint::black_box(stages);
    }
    parse_times.sort();
    lower_times.sort();
    let show = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1e3);
    let p = parse_times[rounds / 2];
    let l = lower_times[rounds / 2];
    println!(
        "parse all: median {} (min {}), {:.1} MiB/s, {:.1} µs/query; {errors} with errors",
        show(p),
        show(parse_times[0]),
        bytes as f64 / p.as_secs_f64() / (1 << 20) as f64,
        p.as_secs_f64() * 1e6 / queries.len() as f64
    );
    println!(
        "lower all: median {} (min {})",
        show(l),
        show(lower_times[0])
    );
    println!(
        "parse + lower: {} (goal for parsing: < 300 ms)",
        show(p + l)
    );
    if p > Duration::from_millis(300) {
        println!("WARNING: parsing took longer than the 300 ms goal");
    }
}
