//! Decode-only throughput: `cargo bench -p events`.
//!
//! Reads every EVTX file of `../shared/corpus/evtx`, the OTRF zips, the Splunk attack_data
//! tar.gz files and the SigmaHQ regression JSON documents, and prints events, seconds, events/s
//! and peak RSS (VmHWM, reset before each run) per input type, on the default rayon pool and on
//! one thread.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use events::{Reader, ReadOptions};

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus")
}

fn files(dir: &Path, exts: &[&str]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let name = p.to_string_lossy().to_ascii_lowercase();
                if exts.iter().any(|x| name.ends_with(x)) {
                    out.push(p);
                }
            }
        }
    }
    out.sort();
    out
}

/// Peak resident set size in KiB since the last reset.
fn vm_hwm_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Reset VmHWM to the current RSS (Linux ≥ 4.0); false if not possible.
fn reset_hwm() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

struct Run {
    events: u64,
    bytes: u64,
    errors: u64,
    secs: f64,
    peak_kib: u64,
}

fn run(reader: &Reader, inputs: &[PathBuf], parallel: bool) -> Run {
    let fields = AtomicU64::new(0);
    let t = Instant::now();
    let report = if parallel {
        reader.read_parallel(inputs, |_, e| {
            fields.fetch_add(e.len() as u64, Ordering::Relaxed);
        })
    } else {
        let mut n = 0u64;
        let r = reader.read(inputs, |_, e| n += e.len() as u64);
        fields.fetch_add(n, Ordering::Relaxed);
        r
    };
    let secs = t.elapsed().as_secs_f64();
    std::hint::black_box(fields.load(Ordering::Relaxed));
    let bytes = report.files.iter().filter(|f| !f.kind.is_archive()).map(|f| f.bytes).sum();
    Run { events: report.events(), bytes, errors: report.errors(), secs, peak_kib: vm_hwm_kib() }
}

fn main() {
    let c = corpus();
    if !c.is_dir() {
        println!("==================================================================");
        println!("DID NOT RUN: events decode benchmark: corpus missing at {}", c.display());
        println!("==================================================================");
        return;
    }
    let sets: Vec<(&str, Vec<PathBuf>)> = vec![
        ("evtx (corpus/evtx)", files(&c.join("evtx"), &[".evtx"])),
        ("otrf zip (JSON lines)", files(&c.join("otrf-security-datasets"), &[".zip"])),
        ("splunk tar.gz (JSON lines)", files(&c.join("splunk-attack-data"), &[".tar.gz"])),
        ("sigma regression .json (documents)", files(&c.join("sigma/regression_data"), &[".json"])),
    ];
    let can_reset = reset_hwm();
    println!(
        "{:<36} {:>6} {:>9} {:>8} {:>9} {:>12} {:>9} {:>9}",
        "input", "files", "events", "MiB", "seconds", "events/s", "peak MiB", "mode"
    );
    let cores = rayon::current_num_threads();
    for (name, inputs) in &sets {
        if inputs.is_empty() {
            println!("{name:<36} DID NOT RUN: no files");
            continue;
        }
        for (mode, threads, parallel) in
            [(format!("seq/{cores}t"), 0usize, false), (format!("par/{cores}t"), 0, true), ("seq/1t".to_string(), 1, false)]
        {
            let reader = Reader::new(ReadOptions { threads, ..ReadOptions::default() });
            // Warm the page cache, then keep the best of three.
            let _ = run(&reader, inputs, parallel);
            let mut best: Option<Run> = None;
            for _ in 0..3 {
                reset_hwm();
                let r = run(&reader, inputs, parallel);
                if best.as_ref().is_none_or(|b| r.secs < b.secs) {
                    best = Some(r);
                }
            }
            let Some(b) = best else { continue };
            println!(
                "{:<36} {:>6} {:>9} {:>8.1} {:>9.3} {:>12.0} {:>9.1} {:>9}{}",
                name,
                inputs.len(),
                b.events,
                b.bytes as f64 / (1 << 20) as f64,
                b.secs,
                b.events as f64 / b.secs,
                b.peak_kib as f64 / 1024.0,
                mode,
                if b.errors > 0 { format!("  ({} errors)", b.errors) } else { String::new() }
            );
        }
    }
    if !can_reset {
        println!("(peak RSS could not be reset between runs: figures are process-wide peaks)");
    }
    println!("peak RSS of the whole run: {:.1} MiB", vm_hwm_kib() as f64 / 1024.0);
}
