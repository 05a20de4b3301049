//! Read event logs and print the report, and the first events as flat JSON:
//! `cargo run -p events --release --example read -- PATH... [--show N]`
use events::{Reader, ReadOptions};

fn main() {
    let mut paths = Vec::new();
    let mut show = 0usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--show" {
            show = args.next().and_then(|n| n.parse().ok()).unwrap_or(5);
        } else {
            paths.push(a);
        }
    }
    let mut shown = 0;
    let report = Reader::new(ReadOptions::default()).read(&paths, |origin, e| {
        if shown < show {
            shown += 1;
            println!("{origin} line {} ts {:?} id {:?}: {}", e.line(), e.timestamp(), e.event_id(), e.to_json());
        }
    });
    for f in &report.files {
        println!("{f}");
    }
    println!("{report}");
}
