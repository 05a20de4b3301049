//! What reading each file found: [`FileReport`], and the options that bound the reading.

use std::fmt;
use std::path::{Path, PathBuf};

/// What a file (or an archive entry) was read as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileKind {
    Evtx,
    /// One JSON object (or array of objects) per line.
    JsonLines,
    /// JSON documents: pretty-printed objects, arrays of events, concatenated documents.
    Json,
    Zip,
    TarGz,
    /// An uncompressed tar archive.
    Tar,
    /// A gzip stream that is not a tar archive (`x.json.gz`, `x.evtx.gz`).
    Gzip,
    Directory,
    /// Not recognised (the report is skipped with the reason).
    Unknown,
}

impl FileKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FileKind::Evtx => "evtx",
            FileKind::JsonLines => "jsonl",
            FileKind::Json => "json",
            FileKind::Zip => "zip",
            FileKind::TarGz => "targz",
            FileKind::Tar => "tar",
            FileKind::Gzip => "gzip",
            FileKind::Directory => "dir",
            FileKind::Unknown => "unknown",
        }
    }

    pub fn is_archive(self) -> bool {
        matches!(self, FileKind::Zip | FileKind::TarGz | FileKind::Tar | FileKind::Gzip)
    }
}

impl fmt::Display for FileKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where in a file a problem was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Location {
    /// The file as a whole.
    File,
    /// A 1-based line (JSON lines) or the line of a JSON document's error.
    Line(u64),
    /// An EVTX chunk (0-based, as `evtx_dump info` numbers them).
    Chunk(u64),
    /// An EVTX record, by its `EventRecordID`, in a chunk.
    Record { chunk: u64, record_id: u64 },
    /// A byte offset in the (decompressed) file.
    Offset(u64),
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Location::File => f.write_str("file"),
            Location::Line(n) => write!(f, "line {n}"),
            Location::Chunk(n) => write!(f, "chunk {n}"),
            Location::Record { chunk, record_id } => write!(f, "chunk {chunk} record {record_id}"),
            Location::Offset(o) => write!(f, "offset {o}"),
        }
    }
}

/// One problem met while reading, with where it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadError {
    pub location: Location,
    pub message: String,
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

/// Where an event came from: the file, and the entry inside an archive.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    pub path: PathBuf,
    /// The entry inside an archive (`inner.zip!/x.json` for an archive inside an archive).
    pub entry: Option<String>,
    pub kind: FileKind,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.entry {
            Some(e) => write!(f, "{}!/{}", self.path.display(), e),
            None => write!(f, "{}", self.path.display()),
        }
    }
}

/// What reading one file, or one entry of an archive, found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileReport {
    pub path: PathBuf,
    /// The entry inside an archive; `None` for a file on disk.
    pub entry: Option<String>,
    pub kind: FileKind,
    /// Bytes read (decompressed, for archive entries).
    pub bytes: u64,
    /// Events handed out.
    pub events: u64,
    /// Problems met: invalid lines, bad records, bad chunks, truncation, limits hit. Reading went
    /// on past each one where it could.
    pub errors: u64,
    /// The first few problems (see [`ReadOptions::max_error_samples`]), in file order.
    pub error_samples: Vec<ReadError>,
    /// Why the file was not read (or not read to its end), if so.
    pub skipped: Option<String>,
    /// Events whose time was written without a time zone and read as UTC.
    pub timestamps_without_zone: u64,
    /// Events with no time found.
    pub events_without_timestamp: u64,
    /// For archives: the entries looked at.
    pub entries: u64,
}

impl FileReport {
    pub fn new(path: &Path, entry: Option<String>, kind: FileKind) -> Self {
        FileReport {
            path: path.to_path_buf(),
            entry,
            kind,
            bytes: 0,
            events: 0,
            errors: 0,
            error_samples: Vec::new(),
            skipped: None,
            timestamps_without_zone: 0,
            events_without_timestamp: 0,
            entries: 0,
        }
    }

    pub fn is_skipped(&self) -> bool {
        self.skipped.is_some()
    }

    /// `path` or `path!/entry`.
    pub fn name(&self) -> String {
        match &self.entry {
            Some(e) => format!("{}!/{}", self.path.display(), e),
            None => self.path.display().to_string(),
        }
    }

    pub(crate) fn error(&mut self, max_samples: usize, location: Location, message: impl Into<String>) {
        self.errors += 1;
        if self.error_samples.len() < max_samples {
            self.error_samples.push(ReadError { location, message: message.into() });
        }
    }

    pub(crate) fn skip(&mut self, reason: impl Into<String>) {
        if self.skipped.is_none() {
            self.skipped = Some(reason.into());
        }
    }

    /// Notes for a person: skipping, errors, and times read as UTC, one per line.
    pub fn notes(&self) -> Vec<String> {
        let mut notes = Vec::new();
        if let Some(reason) = &self.skipped {
            notes.push(format!("skipped: {reason}"));
        }
        if self.errors > 0 {
            let shown: Vec<String> = self.error_samples.iter().map(|e| e.to_string()).collect();
            let more = self.errors.saturating_sub(shown.len() as u64);
            let mut s = format!("{} error(s): {}", self.errors, shown.join("; "));
            if more > 0 {
                s.push_str(&format!("; and {more} more"));
            }
            notes.push(s);
        }
        if self.events_without_timestamp > 0 {
            notes.push(format!("{} events had no timestamp", self.events_without_timestamp));
        }
        if self.timestamps_without_zone > 0 {
            notes.push(format!(
                "{} timestamps had no time zone and were read as UTC",
                self.timestamps_without_zone
            ));
        }
        notes
    }
}

impl fmt::Display for FileReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} [{}]: {} events", self.name(), self.kind, self.events)?;
        for n in self.notes() {
            write!(f, "; {n}")?;
        }
        Ok(())
    }
}

/// Limits and knobs for reading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadOptions {
    /// A JSON line longer than this is skipped (the rest of it is read past, not kept) and
    /// reported. Also the largest event a JSON document may hold.
    pub max_line_bytes: usize,
    /// Decompressed bytes one archive (with the archives inside it) may yield; past it the rest of
    /// the archive is skipped and reported.
    pub max_archive_bytes: u64,
    /// Largest decompressed/compressed ratio an archive entry may have once it has yielded
    /// `ratio_grace_bytes`; past it the entry is skipped as a likely zip bomb.
    pub max_compression_ratio: u64,
    /// Decompressed bytes an entry may yield before the ratio is checked.
    pub ratio_grace_bytes: u64,
    /// Largest EVTX file read from inside an archive (it is held in memory to be read).
    pub max_buffered_entry_bytes: u64,
    /// Problems kept verbatim per file (all are counted).
    pub max_error_samples: usize,
    /// Worker threads for decoding: 0 = rayon's global pool as it is; 1 = decode on the calling
    /// thread.
    pub threads: usize,
    /// Follow symbolic links when walking folders.
    pub follow_links: bool,
    /// Read archives inside archives (one level).
    pub nested_archives: bool,
    /// Drop trailing white space (space, tab, CR, LF) from string values. Windows keeps it in
    /// some values (a `CommandLine` of `"C:\Windows\system32\cmd.exe" `) but the tools Sigma
    /// rules are written and tested with (older `evtx` releases, SigmaHQ's regression data) drop
    /// it, and rules such as `CommandLine|endswith: '.exe"'` rely on that.
    pub trim_trailing_whitespace: bool,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            max_line_bytes: 16 << 20,
            max_archive_bytes: 4 << 30,
            max_compression_ratio: 1000,
            ratio_grace_bytes: 64 << 20,
            max_buffered_entry_bytes: 1 << 30,
            max_error_samples: 5,
            threads: 0,
            follow_links: false,
            nested_archives: true,
            trim_trailing_whitespace: true,
        }
    }
}
