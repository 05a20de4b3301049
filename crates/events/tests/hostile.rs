//! Damaged and hostile inputs: each is reported, nothing panics, and the good events still read.

use std::io::Write;
use std::path::{Path, PathBuf};

use events::{read_all, FileKind, Location, ReadOptions, Reader};

fn corpus() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus");
    if p.is_dir() {
        Some(p)
    } else {
        {
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "\n!!! CORPUS TEST DID NOT RUN: {} is missing; nothing was checked !!!\n",
                p.display()
            );
        }
        None
    }
}

/// A real EVTX file with several chunks of records.
fn multi_chunk_evtx(c: &Path) -> Vec<u8> {
    let p = c.join("evtx/mdecrevoisier-EVTX-to-MITRE-Attack/TA0007-Discovery/T1069-Permission Groups Discovery/ID4662-Domain group enumeration CME.evtx");
    std::fs::read(p).expect("corpus EVTX")
}

fn good_lines(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            format!(
                r#"{{"EventID":1,"Channel":"Microsoft-Windows-Sysmon/Operational","SourceName":"Microsoft-Windows-Sysmon","Hostname":"h","UtcTime":"2020-09-17 21:45:41.433","Image":"C:\\Windows\\System32\\cmd{i}.exe","CommandLine":"cmd /c echo {i}"}}"#
            )
        })
        .collect()
}

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

#[test]
fn truncated_evtx() {
    let Some(c) = corpus() else { return };
    let full = multi_chunk_evtx(&c);
    let (all, r) = Reader::default().collect(&[c.join("evtx/mdecrevoisier-EVTX-to-MITRE-Attack/TA0007-Discovery/T1069-Permission Groups Discovery/ID4662-Domain group enumeration CME.evtx")]);
    assert_eq!(r.errors(), 0, "{r}");
    let chunks_with_records = (0..(full.len() - 4096) / 65536)
        .filter(|n| {
            full[4096 + n * 65536..4096 + (n + 1) * 65536]
                .iter()
                .any(|&b| b != 0)
        })
        .count();
    assert!(chunks_with_records >= 2, "need a file with several chunks");

    // Cut in the middle of the records of the second chunk (its header says where they end).
    let second = 4096 + 65536;
    let free =
        u32::from_le_bytes(full[second + 48..second + 52].try_into().expect("4 bytes")) as usize;
    assert!(free > 1024 && free <= 65536);
    let cut = second + 512 + (free - 512) / 2;
    let (events, report) = Reader::default().collect::<&str>(&[]);
    assert!(events.is_empty() && report.files.is_empty());
    let mut got = Vec::new();
    let report = Reader::default().read_bytes("cut.evtx", full[..cut].to_vec(), |_, e| got.push(e));
    let f = &report.files[0];
    assert_eq!(f.kind, FileKind::Evtx);
    assert!(f.errors >= 1, "{report}");
    assert!(
        f.error_samples
            .iter()
            .any(|e| e.message.contains("truncated")),
        "{report}"
    );
    // The first chunk and the whole records of the cut one are read.
    let first_chunk = all
        .iter()
        .filter(|e| got.iter().any(|g| g.record_id() == e.record_id()))
        .count();
    assert!(!got.is_empty() && first_chunk == got.len());
    assert!(got.len() < all.len());
    let in_first: usize = {
        let mut one = Vec::new();
        Reader::default().read_bytes("one.evtx", full[..4096 + 65536].to_vec(), |_, e| {
            one.push(e)
        });
        one.len()
    };
    assert!(
        got.len() > in_first,
        "records of the cut chunk were read: {} > {}",
        got.len(),
        in_first
    );

    // Cut inside the file header: skipped, with the reason.
    let report = Reader::default().read_bytes("tiny.evtx", full[..2000].to_vec(), |_, _| {});
    assert!(report.files[0].is_skipped(), "{report}");
    assert_eq!(report.events(), 0);
}

#[test]
fn corrupted_evtx_chunk() {
    let Some(c) = corpus() else { return };
    let full = multi_chunk_evtx(&c);
    let (all, _) = {
        let mut v = Vec::new();
        let r = Reader::default().read_bytes("ok.evtx", full.clone(), |_, e| v.push(e));
        (v, r)
    };
    // Overwrite a stretch of the first chunk's records with junk.
    let mut bad = full.clone();
    for (i, b) in bad[4096 + 6000..4096 + 9000].iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(37) ^ 0xa5;
    }
    // And wreck the third chunk's header.
    bad[4096 + 2 * 65536..4096 + 2 * 65536 + 8].copy_from_slice(b"JUNKJUNK");
    let mut got = Vec::new();
    let report = Reader::default().read_bytes("bad.evtx", bad, |_, e| got.push(e));
    let f = &report.files[0];
    assert!(f.errors >= 2, "{report}");
    assert!(
        f.error_samples.iter().any(|e| matches!(
            e.location,
            Location::Chunk(0) | Location::Record { chunk: 0, .. }
        )),
        "{report}"
    );
    assert!(
        f.error_samples
            .iter()
            .any(|e| e.location == Location::Chunk(2)),
        "{report}"
    );
    // The other chunks are read in full.
    assert!(got.len() > all.len() / 2, "{} of {}", got.len(), all.len());

    // Damaged file header, intact chunks: read, and said.
    let mut bad_header = full.clone();
    bad_header[..8].copy_from_slice(b"XXXXXXXX");
    let mut n = 0;
    let report = Reader::default().read_bytes("header.evtx", bad_header, |_, _| n += 1);
    assert_eq!(n, all.len(), "{report}");
    assert!(
        report.files[0]
            .error_samples
            .iter()
            .any(|e| e.message.contains("file header")),
        "{report}"
    );
}

#[test]
fn evtx_mutations_never_panic() {
    let Some(c) = corpus() else { return };
    let full = multi_chunk_evtx(&c);
    let chunk = &full[..4096 + 65536];
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut rnd = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for round in 0..24 {
        let mut m = chunk.to_vec();
        for _ in 0..(1 + round * 4) {
            let at = 4096 + (rnd() as usize % 65536);
            m[at] = rnd() as u8;
        }
        let report = Reader::default().read_bytes("m.evtx", m, |_, e| {
            let _ = (e.text().len(), e.to_json());
        });
        assert_eq!(report.files.len(), 1);
    }
}

#[test]
fn binary_junk_named_json_and_unknown_files() {
    let dir = tmp();
    let mut junk = vec![0u8; 5000];
    for (i, b) in junk.iter_mut().enumerate() {
        *b = (i * 7919 % 251) as u8;
    }
    std::fs::write(dir.path().join("junk.json"), &junk).expect("write");
    let junk_bytes = junk.clone();
    std::fs::write(dir.path().join("notes.md"), "# notes\nnothing here\n").expect("write");
    std::fs::write(dir.path().join("empty.jsonl"), "").expect("write");
    std::fs::write(dir.path().join("good.jsonl"), good_lines(3).join("\n")).expect("write");
    let (events, report) = read_all(dir.path());
    assert_eq!(events.len(), 3, "{report}");
    let junk = report.find("junk.json").expect("junk report");
    assert!(
        junk.is_skipped()
            && junk
                .skipped
                .as_deref()
                .is_some_and(|r| r.contains("named .json")),
        "{junk}"
    );
    assert!(report.find("notes.md").expect("md").is_skipped());
    assert!(report.find("empty.jsonl").expect("empty").is_skipped());
    let good = report.find("good.jsonl").expect("good");
    assert_eq!(
        (good.kind, good.events, good.errors),
        (FileKind::JsonLines, 3, 0)
    );

    // Junk that starts like JSON: every line is an error, none is an event.
    let mut j = b"{\"a\":".to_vec();
    j.extend_from_slice(&junk_bytes[..2000]);
    let report = Reader::default().read_bytes("x.json", j, |_, _| {});
    assert_eq!(report.events(), 0);
    assert!(report.errors() > 0, "{report}");
}

#[test]
fn invalid_json_lines_among_good_ones() {
    let mut lines = good_lines(10);
    lines.insert(2, "{\"EventID\": 4688, broken".into());
    lines.insert(5, "not json at all".into());
    lines.insert(7, "".into());
    lines.insert(8, "42".into());
    lines.push("{\"EventID\":".into()); // cut last line, no newline
    let text = lines.join("\r\n");
    let mut got = Vec::new();
    let report =
        Reader::default().read_bytes("mixed.ndjson", text.into_bytes(), |_, e| got.push(e));
    let f = &report.files[0];
    assert_eq!(f.kind, FileKind::JsonLines);
    assert_eq!(got.len(), 10, "{report}");
    assert_eq!(f.events, 10);
    assert_eq!(f.errors, 4, "{report}");
    let lines_with_errors: Vec<Location> = f.error_samples.iter().map(|e| e.location).collect();
    assert_eq!(
        lines_with_errors[..4],
        [
            Location::Line(3),
            Location::Line(6),
            Location::Line(9),
            Location::Line(15)
        ]
    );
    // Line numbers of events are kept.
    assert_eq!(got[0].line(), 1);
    assert_eq!(got[2].line(), 4);
    assert_eq!(got[9].get_str("CommandLine"), Some("cmd /c echo 9"));
    assert!(got.iter().all(|e| e.timestamp().is_some()));
}

#[test]
fn very_long_line_is_skipped_not_kept() {
    let opts = ReadOptions {
        max_line_bytes: 4096,
        ..ReadOptions::default()
    };
    let mut lines = good_lines(6);
    let long = format!(
        "{{\"EventID\":1,\"CommandLine\":\"{}\"}}",
        "A".repeat(3_000_000)
    );
    lines.insert(3, long);
    let text = lines.join("\n") + "\n";
    let mut got = Vec::new();
    let report =
        Reader::new(opts.clone()).read_bytes("long.jsonl", text.into_bytes(), |_, e| got.push(e));
    let f = &report.files[0];
    assert_eq!(got.len(), 6, "{report}");
    assert_eq!(f.errors, 1);
    assert_eq!(f.error_samples[0].location, Location::Line(4));
    assert!(f.error_samples[0].message.contains("longer than 4096"));
    assert_eq!(got[3].line(), 5);

    // A long line at the very end, without a newline, and a long first line.
    let text = format!("{{\"a\":\"{}\"}}\n{}", "x".repeat(10_000), good_lines(1)[0])
        + "\n"
        + &"y".repeat(9000);
    let report = Reader::new(opts.clone()).read_bytes("long2.jsonl", text.into_bytes(), |_, _| {});
    assert_eq!((report.events(), report.errors()), (1, 2), "{report}");

    // A pretty-printed document larger than the limit for one event.
    let doc = format!(
        "{{\n  \"EventID\": 1,\n  \"Big\": \"{}\"\n}}\n",
        "B".repeat(100_000)
    );
    let report = Reader::new(opts).read_bytes("big.json", doc.into_bytes(), |_, _| {});
    assert_eq!(report.events(), 0);
    assert!(report.errors() >= 1, "{report}");
}

fn zip_with(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let o = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in entries {
        w.start_file(*name, o).expect("zip entry");
        w.write_all(data).expect("zip write");
    }
    w.finish().expect("zip").into_inner()
}

#[test]
fn zip_bomb_is_skipped_and_the_rest_read() {
    let zeros = vec![0u8; 8 << 20];
    let good = good_lines(5).join("\n");
    let z = zip_with(&[
        ("a.jsonl", good.as_bytes()),
        ("bomb.json", &zeros),
        ("b.jsonl", good.as_bytes()),
    ]);
    assert!(z.len() < 100_000);

    // Over the archive's byte limit: the entry is skipped before it is inflated.
    let opts = ReadOptions {
        max_archive_bytes: 1 << 20,
        ..ReadOptions::default()
    };
    let mut n = 0;
    let report = Reader::new(opts).read_bytes("bomb.zip", z.clone(), |_, _| n += 1);
    assert_eq!(n, 10, "{report}");
    let bomb = report.find("bomb.json").expect("bomb entry");
    assert!(bomb.is_skipped() && bomb.errors == 1, "{report}");
    assert!(
        bomb.skipped
            .as_deref()
            .is_some_and(|r| r.contains("zip bomb")),
        "{report}"
    );

    // Over the ratio: skipped too.
    let opts = ReadOptions {
        max_compression_ratio: 50,
        ratio_grace_bytes: 1 << 20,
        ..ReadOptions::default()
    };
    let report = Reader::new(opts).read_bytes("bomb.zip", z, |_, _| {});
    assert_eq!(report.events(), 10, "{report}");
    assert!(
        report
            .find("bomb.json")
            .expect("bomb")
            .skipped
            .as_deref()
            .is_some_and(|r| r.contains("ratio")),
        "{report}"
    );
}

fn tar_gz_with(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut t = tar::Builder::new(gz);
    for (name, data) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        t.append_data(&mut h, name, *data).expect("tar entry");
    }
    t.into_inner().expect("tar").finish().expect("gz")
}

#[test]
fn tar_gz_bomb_is_stopped_while_streaming() {
    // Sizes in a tar.gz are only known once inflated: the guard stops the stream.
    let good = good_lines(4).join("\n") + "\n";
    let mut big = good.clone().into_bytes();
    big.extend(std::iter::repeat_n(b' ', 6 << 20));
    let tgz = tar_gz_with(&[
        ("first.jsonl", good.as_bytes()),
        ("bomb.jsonl", &big),
        ("after.jsonl", good.as_bytes()),
    ]);
    let opts = ReadOptions {
        max_archive_bytes: 2 << 20,
        ..ReadOptions::default()
    };
    let report = Reader::new(opts).read_bytes("bomb.tgz", tgz.clone(), |_, _| {});
    let ar = &report.files[0];
    assert_eq!(ar.kind, FileKind::TarGz);
    assert!(
        ar.is_skipped()
            && ar
                .skipped
                .as_deref()
                .is_some_and(|r| r.contains("archive limit")),
        "{report}"
    );
    assert!(
        report.find("first.jsonl").is_some_and(|f| f.events == 4),
        "{report}"
    );
    assert!(
        report.find("bomb.jsonl").is_some_and(|f| f.is_skipped()),
        "{report}"
    );

    // Within the limits, all of it reads.
    let (events, report) = {
        let mut v = Vec::new();
        let r = Reader::default().read_bytes("ok.tgz", tgz, |_, e| v.push(e));
        (v, r)
    };
    assert_eq!(events.len(), 12, "{report}");
    assert_eq!(report.errors(), 0, "{report}");
}

#[test]
fn nested_archives_one_level() {
    let good = good_lines(2).join("\n");
    let inner = zip_with(&[("in.jsonl", good.as_bytes())]);
    let middle = zip_with(&[("inner.zip", &inner), ("m.jsonl", good.as_bytes())]);
    let outer = zip_with(&[
        ("middle.zip", &middle),
        ("__MACOSX/._middle.zip", b"\x00\x05\x16\x07junk"),
    ]);
    let mut got = Vec::new();
    let report = Reader::default().read_bytes("outer.zip", middle.clone(), |o, e| {
        got.push((o.to_string(), e))
    });
    assert_eq!(got.len(), 4, "{report}");
    assert!(
        got.iter()
            .any(|(o, _)| o.ends_with("outer.zip!/inner.zip!/in.jsonl")),
        "{got:?}",
        got = got.iter().map(|g| &g.0).collect::<Vec<_>>()
    );

    let report = Reader::default().read_bytes("outer.zip", outer, |_, _| {});
    assert_eq!(report.events(), 2, "{report}");
    let deep = report.find("inner.zip").expect("inner report");
    assert!(deep.is_skipped(), "{report}");
    assert!(report.find("._middle.zip").is_some_and(|f| f.is_skipped()));
}

#[test]
fn json_documents_and_arrays() {
    let doc = r##"[
      {"Event": {"System": {"EventID": 4688, "Channel": "Security",
        "TimeCreated": {"#attributes": {"SystemTime": "2021-04-21T09:40:32.5013415Z"}}},
        "EventData": {"NewProcessName": "C:\\Windows\\System32\\mmc.exe"}}},
      {"EventID": 1, "UtcTime": "2020-01-01 00:00:00.000"}
    ]
    {"EventID": 2}
    "##;
    let mut got = Vec::new();
    let report =
        Reader::default().read_bytes("doc.json", doc.as_bytes().to_vec(), |_, e| got.push(e));
    assert_eq!(report.files[0].kind, FileKind::Json);
    assert_eq!(
        got.iter().map(|e| e.event_id()).collect::<Vec<_>>(),
        vec![Some(4688), Some(1), Some(2)],
        "{report}"
    );
    assert_eq!(
        got[0].get_str("NewProcessName"),
        Some("C:\\Windows\\System32\\mmc.exe")
    );

    // A document cut short: the events before the cut are kept, the cut reported.
    let cut = &doc[..doc.find("{\"EventID\": 1").expect("marker") + 5];
    let mut got = Vec::new();
    let report =
        Reader::default().read_bytes("cut.json", cut.as_bytes().to_vec(), |_, e| got.push(e));
    assert_eq!(got.len(), 1);
    assert_eq!(report.errors(), 1, "{report}");

    // UTF-16 (PowerShell 5 `Out-File`): read too.
    let mut utf16 = vec![0xff, 0xfe];
    for u in "{\"EventID\": 7}\r\n{\"EventID\": 8}\r\n".encode_utf16() {
        utf16.extend_from_slice(&u.to_le_bytes());
    }
    let mut n = 0;
    let report = Reader::default().read_bytes("ps.json", utf16, |_, _| n += 1);
    assert_eq!(n, 2, "{report}");

    // Deeply nested JSON: an error, not a stack overflow.
    let deep = format!("{}\n{}\n", "[".repeat(200_000), good_lines(1)[0]);
    let report = Reader::default().read_bytes("deep.jsonl", deep.into_bytes(), |_, _| {});
    assert_eq!(report.files.len(), 1);
}

#[test]
fn gzip_of_json_lines() {
    let good = good_lines(3).join("\n");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(good.as_bytes()).expect("gz");
    let data = gz.finish().expect("gz");
    let report = Reader::default().read_bytes("x.jsonl.gz", data.clone(), |_, _| {});
    assert_eq!(report.events(), 3, "{report}");
    assert_eq!(report.files[0].kind, FileKind::Gzip);
    assert_eq!(report.files[1].entry.as_deref(), Some("x.jsonl"));
    // Cut short: what is there is read, the cut reported.
    let report =
        Reader::default().read_bytes("x.jsonl.gz", data[..data.len() - 20].to_vec(), |_, _| {});
    assert!(report.errors() >= 1, "{report}");
}

#[test]
fn a_panicking_handler_is_not_swallowed() {
    let lines = good_lines(3000).join("\n");
    for threads in [0usize, 1] {
        let reader = Reader::new(ReadOptions {
            threads,
            ..ReadOptions::default()
        });
        let data = lines.clone().into_bytes();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            reader.read_bytes("x.jsonl", data, |_, e| {
                if e.line() == 2500 {
                    panic!("handler says no");
                }
            })
        }));
        let payload = r.expect_err("the handler's panic comes out");
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"handler says no"));

        let dir = tmp();
        std::fs::write(dir.path().join("a.jsonl"), &lines).expect("write");
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            reader.read_parallel(&[dir.path()], |_, e| {
                if e.line() == 2500 {
                    panic!("parallel handler says no");
                }
            })
        }));
        let payload = r.expect_err("the handler's panic comes out");
        assert_eq!(
            payload.downcast_ref::<&str>(),
            Some(&"parallel handler says no")
        );
    }
}
