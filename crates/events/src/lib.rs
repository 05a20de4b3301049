//! Windows event-log readers: EVTX files, JSON lines, JSON documents, and zip / tar.gz / gzip
//! archives of them, decoded into one [`Event`] model whose fields are named the way Sigma rules
//! name them.
//!
//! ```no_run
//! use events::{Reader, ReadOptions};
//!
//! let reader = Reader::new(ReadOptions::default());
//! let report = reader.read(&["logs/"], |origin, event| {
//!     if event.event_id() == Some(4688) {
//!         println!("{origin}: {:?}", event.get_str("NewProcessName"));
//!     }
//! });
//! eprintln!("{report}");
//! ```
//!
//! # Inputs
//! * **EVTX** (`ElfFile` signature; a file whose header is damaged but whose first chunk is intact
//!   is read too). Chunks are decoded on the rayon pool with the `evtx` crate; bad chunks and
//!   records are counted and skipped, a file cut inside a chunk has that chunk's whole records
//!   read, and chunks are read from the oldest (a full log wraps around).
//! * **JSON lines** (any extension: the content decides), one object — or one array of objects —
//!   per line. Invalid lines are counted and reported with their line numbers; a line longer than
//!   [`ReadOptions::max_line_bytes`] is read past without being kept.
//! * **JSON documents**: pretty-printed objects (SigmaHQ `regression_data`), arrays of events,
//!   several documents in a row; streamed, never read whole.
//! * **zip**, **tar.gz / tgz**, **tar**, **gzip** holding any of these, streamed entry by entry; an
//!   archive inside an archive is read (one level). Each archive may yield at most
//!   [`ReadOptions::max_archive_bytes`] and each entry may expand at most
//!   [`ReadOptions::max_compression_ratio`] times: past that it is reported and skipped.
//! * **Folders**, walked recursively in name order; files of unknown type are skipped with the
//!   reason in their [`FileReport`].
//!
//! # Shapes and field names
//! EVTX and EVTX-JSON (`{"Event": {"System": …, "EventData": …}}`): `System` gives `EventID`,
//! `Version`, `Level`, `Task`, `Opcode`, `Keywords`, `EventRecordID`, `Channel`, `Computer`,
//! `Provider_Name`, `Provider_Guid`, `TimeCreated_SystemTime`, `ProcessID`, `ThreadID`,
//! `Security_UserID`, `Correlation_ActivityID`, `EventID_Qualifiers`, …; `EventData.*` and
//! `UserData.<X>.*` give bare names; unnamed `<Data>` elements give `Data[1]`, `Data[2]`, … and
//! `Data` (all of them joined with `\n`).
//!
//! Winlogbeat (`winlog.*`): `winlog.event_data.*` give bare names, the rest keeps dotted names.
//! Flat exports (NXLog/OTRF, Splunk attack_data, Sentinel tables): top-level names as they are,
//! nested objects joined with `.`. For these two shapes the EVTX names are added when the input
//! spells them otherwise: `EventID` (from `winlog.event_id`, `EventCode`), `Channel`,
//! `Provider_Name` (from `SourceName`, `winlog.provider_name`), `Computer` (from `Hostname`,
//! `winlog.computer_name`), `EventRecordID` (from `RecordNumber`, `winlog.record_id`).
//!
//! Spaces are dropped from field names (Windows Defender's `Threat Name` is read as `ThreatName`,
//! the name Sigma rules use).
//!
//! String values lose trailing white space by default
//! ([`ReadOptions::trim_trailing_whitespace`]): Windows keeps some (`CommandLine` of
//! `"C:\Windows\system32\cmd.exe" `), the tools Sigma rules are tested with drop it.
//! JSON input that is not UTF-8 is read with U+FFFD for the bad bytes; UTF-16 files with a BOM
//! are converted.
//!
//! # Threads
//! Decoding runs on the rayon pool (EVTX chunk by chunk, JSON lines 1 MiB at a time), at most a
//! few jobs ahead of delivery, so memory stays bounded (about 30 MiB for the OTRF corpus).
//! [`Reader::read`] hands events to an `FnMut` on the calling thread in input order;
//! [`Reader::read_parallel`] hands them to a `Fn + Sync` on the decoding threads, for work (rule
//! matching) that should use every core.
//!
//! # Time
//! [`Event::timestamp`] is UTC: EVTX `System.TimeCreated.SystemTime` (the record header's time if
//! absent); Winlogbeat `@timestamp`; flat exports `UtcTime`, else `@timestamp` (collection time in
//! OTRF), else `TimeGenerated`/`TimeCreated`, else `EventTime` (local time without a zone in
//! NXLog). A time written without a zone is read as UTC, flagged on the event
//! ([`Event::timestamp_assumed_utc`]) and counted in [`FileReport::timestamps_without_zone`].

mod event;
mod flatten;
mod guard;
mod pipeline;
mod reader;
mod report;
mod time;

use std::fmt;
use std::path::Path;

pub use event::{Event, FieldKey, Shape, Timestamp, Value};
pub use report::{FileKind, FileReport, Location, Origin, ReadError, ReadOptions};
pub use time::{parse_timestamp, ParsedTime};

/// Reads event logs with one set of options.
#[derive(Debug, Clone, Default)]
pub struct Reader {
    opts: ReadOptions,
}

impl Reader {
    pub fn new(opts: ReadOptions) -> Self {
        Reader { opts }
    }

    pub fn options(&self) -> &ReadOptions {
        &self.opts
    }

    /// Read files and folders; `on_event` gets every event on the calling thread, in input order
    /// (files in the order given, folders in name order). Decoding runs on the rayon pool.
    pub fn read<P: AsRef<Path>>(&self, paths: &[P], mut on_event: impl FnMut(&Origin, Event)) -> ReadReport {
        let files = pipeline::run(&self.opts, Some(&mut on_event), None, |pipe| {
            let mut p = reader::Producer::new(pipe);
            for path in paths {
                p.path(path.as_ref());
            }
        });
        ReadReport { files }
    }

    /// Like [`Reader::read`], but `on_event` is called on the decoding threads as events are
    /// decoded, in no particular order across parts of the input (events of one EVTX chunk or
    /// one batch of JSON lines stay in order). For matching on every core.
    pub fn read_parallel<P: AsRef<Path>, F: Fn(&Origin, Event) + Sync>(&self, paths: &[P], on_event: F) -> ReadReport {
        let files = pipeline::run(&self.opts, None, Some(&on_event), |pipe| {
            let mut p = reader::Producer::new(pipe);
            for path in paths {
                p.path(path.as_ref());
            }
        });
        ReadReport { files }
    }

    /// Read an input held in memory (any of the supported types), named `name` in reports.
    pub fn read_bytes(&self, name: &str, data: Vec<u8>, mut on_event: impl FnMut(&Origin, Event)) -> ReadReport {
        let files = pipeline::run(&self.opts, Some(&mut on_event), None, |pipe| {
            reader::Producer::new(pipe).bytes(name, data);
        });
        ReadReport { files }
    }

    /// Read everything into memory: for small inputs and tests.
    pub fn collect<P: AsRef<Path>>(&self, paths: &[P]) -> (Vec<Event>, ReadReport) {
        let mut events = Vec::new();
        let report = self.read(paths, |_, e| events.push(e));
        (events, report)
    }
}

/// [`Reader::collect`] with default options, for one path.
pub fn read_all(path: impl AsRef<Path>) -> (Vec<Event>, ReadReport) {
    Reader::default().collect(&[path])
}

/// Reports of every file, archive and archive entry read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadReport {
    pub files: Vec<FileReport>,
}

impl ReadReport {
    pub fn events(&self) -> u64 {
        self.files.iter().map(|f| f.events).sum()
    }

    pub fn errors(&self) -> u64 {
        self.files.iter().map(|f| f.errors).sum()
    }

    pub fn timestamps_without_zone(&self) -> u64 {
        self.files.iter().map(|f| f.timestamps_without_zone).sum()
    }

    pub fn skipped(&self) -> impl Iterator<Item = &FileReport> {
        self.files.iter().filter(|f| f.is_skipped())
    }

    /// The report of a file (or entry) whose name ends with `suffix`.
    pub fn find(&self, suffix: &str) -> Option<&FileReport> {
        self.files.iter().find(|f| f.name().ends_with(suffix))
    }
}

impl fmt::Display for ReadReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for r in &self.files {
            if !r.notes().is_empty() {
                writeln!(f, "{r}")?;
            }
        }
        write!(
            f,
            "{} files/entries, {} events, {} errors, {} skipped, {} timestamps without a time zone read as UTC",
            self.files.len(),
            self.events(),
            self.errors(),
            self.skipped().count(),
            self.timestamps_without_zone()
        )
    }
}
