//! The producer: walks folders, tells file types apart by their content, opens archives, and cuts
//! each input into decoding work for the [pipeline](crate::pipeline).

use std::cell::Cell;
use std::io::{self, BufRead, BufReader, Cursor, Read, Seek, SeekFrom};
use std::mem;
use std::path::Path;
use std::rc::Rc;

use crate::event::Event;
use crate::flatten::{parse_json_stream, Builder};
use crate::guard::{read_head, Budget, Compressed, Counting, Guard, PerEventLimit, Trip};
use crate::pipeline::{Pipeline, Work};
use crate::report::{FileKind, FileReport, Location};

const HEAD: usize = 8192;
const EVTX_HEADER: u64 = 4096;
const CHUNK: u64 = 65536;
const CHUNK_HEADER: usize = 512;
/// Bytes of JSON lines per decoding job.
const BATCH: usize = 1 << 20;
/// Events per job for JSON documents.
const DOC_BATCH: usize = 256;

/// What the first bytes of an input say it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Sniffed {
    Evtx,
    Zip,
    Gzip,
    Tar,
    Json,
    Skip(String),
}

fn extension(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    match base.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => ext.to_ascii_lowercase(),
        _ => String::new(),
    }
}

fn hex_prefix(b: &[u8]) -> String {
    b.iter().take(8).map(|x| format!("{x:02x}")).collect::<Vec<_>>().join(" ")
}

/// Tell an input's type from its first bytes (and, for text, its name).
pub(crate) fn sniff(head: &[u8], name: &str) -> Sniffed {
    if head.is_empty() {
        return Sniffed::Skip("empty file".into());
    }
    if head.starts_with(b"ElfFile\0") {
        return Sniffed::Evtx;
    }
    // An EVTX file whose file header is damaged but whose first chunk is there.
    if head.get(EVTX_HEADER as usize..EVTX_HEADER as usize + 8) == Some(b"ElfChnk\0") {
        return Sniffed::Evtx;
    }
    if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        return Sniffed::Zip;
    }
    if head.starts_with(&[0x1f, 0x8b]) {
        return Sniffed::Gzip;
    }
    if head.get(257..262) == Some(b"ustar") {
        return Sniffed::Tar;
    }
    let ext = extension(name);
    let json_name = matches!(ext.as_str(), "json" | "jsonl" | "ndjson" | "jsonlines");
    if head.starts_with(&[0xff, 0xfe]) || head.starts_with(&[0xfe, 0xff]) {
        // UTF-16 text (PowerShell 5 writes it): JSON if its first character is.
        let unit = |i: usize| -> Option<u16> {
            let (a, b) = (*head.get(i)?, *head.get(i + 1)?);
            Some(if head[0] == 0xff { u16::from_le_bytes([a, b]) } else { u16::from_be_bytes([a, b]) })
        };
        let mut i = 2;
        while let Some(u) = unit(i) {
            if !matches!(u, 0x20 | 0x09 | 0x0a | 0x0d) {
                return if u == u16::from(b'{') || u == u16::from(b'[') {
                    Sniffed::Json
                } else {
                    Sniffed::Skip("UTF-16 text that is not JSON".into())
                };
            }
            i += 2;
        }
        return Sniffed::Skip("UTF-16 text that is not JSON".into());
    }
    let text = head.strip_prefix(b"\xef\xbb\xbf").unwrap_or(head);
    match text.iter().find(|c| !c.is_ascii_whitespace()) {
        // Damage further on is reported line by line.
        Some(b'{' | b'[') => return Sniffed::Json,
        None => return Sniffed::Skip("only white space".into()),
        _ => {}
    }
    let binary = text.contains(&0);
    if !binary {
        // JSON lines after a first line that is not JSON: a JSON name and one object line are
        // enough; otherwise most lines must be objects.
        let lines: Vec<&[u8]> =
            text.split(|&c| c == b'\n').map(|l| l.trim_ascii()).filter(|l| !l.is_empty()).take(64).collect();
        let objects = lines.iter().filter(|l| l.starts_with(b"{")).count();
        if objects > 0 && (json_name || objects * 2 > lines.len()) {
            return Sniffed::Json;
        }
    }
    let shown = hex_prefix(head);
    Sniffed::Skip(if json_name || ext == "evtx" {
        format!("named .{ext} but its content is not (first bytes: {shown})")
    } else if binary {
        format!("unrecognised binary content (first bytes: {shown})")
    } else {
        "text that holds no JSON events".into()
    })
}

fn is_macos_metadata(name: &str) -> bool {
    name.starts_with("__MACOSX/")
        || name.contains("/__MACOSX/")
        || name.rsplit('/').next().is_some_and(|b| b.starts_with("._"))
}

/// Entries named without their archive; nested ones as `inner.zip!/x.json`.
fn entry_name(prefix: &str, name: &str) -> String {
    format!("{prefix}{name}")
}

pub(crate) struct Producer<'p, 'a, 's> {
    pipe: &'p mut Pipeline<'a, 's>,
    builder: Builder,
}

impl<'p, 'a, 's> Producer<'p, 'a, 's> {
    pub(crate) fn new(pipe: &'p mut Pipeline<'a, 's>) -> Self {
        let mut builder = Builder::new(pipe.opts.max_line_bytes);
        builder.configure(pipe.opts.max_line_bytes, pipe.opts.trim_trailing_whitespace);
        Producer { pipe, builder }
    }

    fn skip(&mut self, file: usize, reason: impl Into<String>) {
        self.pipe.report(file).skip(reason);
    }

    /// Bytes of a file are its length on disk, or what was read of a stream.
    fn grow_bytes(&mut self, file: usize, bytes: u64) {
        let r = self.pipe.report(file);
        r.bytes = r.bytes.max(bytes);
    }

    /// A file or a folder.
    pub(crate) fn path(&mut self, path: &Path) {
        match std::fs::metadata(path) {
            Ok(m) if m.is_dir() => self.dir(path),
            Ok(m) if m.is_file() => self.file(path),
            Ok(_) => {
                let idx = self.pipe.add(FileReport::new(path, None, FileKind::Unknown));
                self.skip(idx, "not a regular file (a pipe or a device)");
            }
            Err(e) => {
                let idx = self.pipe.add(FileReport::new(path, None, FileKind::Unknown));
                self.skip(idx, format!("cannot read: {e}"));
            }
        }
    }

    fn dir(&mut self, dir: &Path) {
        let walk = walkdir::WalkDir::new(dir)
            .follow_links(self.pipe.opts.follow_links)
            .sort_by(|a, b| a.file_name().cmp(b.file_name()));
        for entry in walk {
            match entry {
                Ok(e) if e.file_type().is_file() => self.file(e.path()),
                Ok(e) if e.file_type().is_symlink() => {
                    let idx = self.pipe.add(FileReport::new(e.path(), None, FileKind::Unknown));
                    self.skip(idx, "symbolic link (not followed)");
                }
                Ok(_) => {}
                Err(e) => {
                    let p = e.path().unwrap_or(dir).to_path_buf();
                    let idx = self.pipe.add(FileReport::new(&p, None, FileKind::Unknown));
                    self.skip(idx, format!("cannot read: {e}"));
                }
            }
        }
    }

    fn file(&mut self, path: &Path) {
        let idx = self.pipe.add(FileReport::new(path, None, FileKind::Unknown));
        let file = match std::fs::File::open(path) {
            Ok(f) => f,
            Err(e) => return self.skip(idx, format!("cannot open: {e}")),
        };
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        self.guarded(idx, |p| p.seekable(idx, &name, file, len));
    }

    /// An input held in memory.
    pub(crate) fn bytes(&mut self, name: &str, data: Vec<u8>) {
        let idx = self.pipe.add(FileReport::new(Path::new(name), None, FileKind::Unknown));
        let len = data.len() as u64;
        self.guarded(idx, |p| p.seekable(idx, name, Cursor::new(data), len));
    }

    /// Run `f`; a panic in a library reading the file is reported on it (and the rest of the
    /// input read on), while a panic of the caller's own event handler goes on up.
    fn guarded(&mut self, idx: usize, f: impl FnOnce(&mut Self)) {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&mut *self)));
        if let Err(payload) = result {
            if self.pipe.in_user_code() || payload.is::<crate::pipeline::UserPanic>() {
                std::panic::resume_unwind(payload);
            }
            self.pipe.recover_after_panic();
            let max = self.pipe.opts.max_error_samples;
            self.pipe.report(idx).error(
                max,
                Location::File,
                "a reader panicked on this file; the rest of it was not read",
            );
            self.skip(idx, "a reader panicked on this file");
        }
    }

    fn seekable<R: Read + Seek>(&mut self, idx: usize, name: &str, mut r: R, len: u64) {
        self.pipe.report(idx).bytes = len;
        let head = match read_head(&mut r, HEAD) {
            Ok(h) => h,
            Err(e) => return self.skip(idx, format!("cannot read: {e}")),
        };
        let sniffed = sniff(&head, name);
        if !matches!(sniffed, Sniffed::Json | Sniffed::Skip(_)) {
            if let Err(e) = r.seek(SeekFrom::Start(0)) {
                return self.skip(idx, format!("cannot read: {e}"));
            }
        }
        let path = self.pipe.report(idx).path.clone();
        match sniffed {
            Sniffed::Evtx => self.evtx(idx, r, len),
            Sniffed::Zip => {
                let budget = Budget::new(self.pipe.opts.max_archive_bytes);
                self.zip(idx, &path, "", r, 0, &budget);
            }
            Sniffed::Gzip => {
                let budget = Budget::new(self.pipe.opts.max_archive_bytes);
                self.gzip(idx, &path, "", name, &mut r, 0, &budget);
            }
            Sniffed::Tar => {
                let budget = Budget::new(self.pipe.opts.max_archive_bytes);
                self.pipe.set_kind(idx, FileKind::Tar);
                self.tar(idx, &path, "", &mut r, 0, &budget);
            }
            Sniffed::Json => {
                let _ = self.json(idx, head, &mut r);
            }
            Sniffed::Skip(reason) => self.skip(idx, reason),
        }
    }

    /// An input that can only be read forward (an archive entry, a gzip stream). `depth` is the
    /// number of archives it is inside.
    fn stream(&mut self, idx: usize, name: &str, r: &mut dyn Read, depth: u32, budget: &Budget) -> io::Result<()> {
        let head = match read_head(r, HEAD) {
            Ok(h) => h,
            Err(e) => {
                self.pipe.note(idx, Location::Offset(0), format!("read error: {e}"));
                return Err(e);
            }
        };
        let sniffed = sniff(&head, name);
        let nested_ok = self.pipe.opts.nested_archives && depth <= 1;
        let path = self.pipe.report(idx).path.clone();
        let entry = self.pipe.report(idx).entry.clone().unwrap_or_default();
        let prefix = format!("{entry}!/");
        match sniffed {
            Sniffed::Json => self.json(idx, head, r),
            Sniffed::Skip(reason) => {
                self.skip(idx, reason);
                Ok(())
            }
            Sniffed::Zip | Sniffed::Gzip | Sniffed::Tar if !nested_ok => {
                self.skip(idx, "archive inside an archive inside an archive: not read (one level of nesting is read)");
                Ok(())
            }
            Sniffed::Gzip => {
                let mut r = Cursor::new(head).chain(r);
                self.gzip(idx, &path, &prefix, name, &mut r, depth, budget);
                Ok(())
            }
            Sniffed::Tar => {
                self.pipe.set_kind(idx, FileKind::Tar);
                let mut r = Cursor::new(head).chain(r);
                self.tar(idx, &path, &prefix, &mut r, depth, budget);
                Ok(())
            }
            Sniffed::Evtx | Sniffed::Zip => {
                // Both need random access: hold the entry in memory.
                let max = self.pipe.opts.max_buffered_entry_bytes;
                let mut data = head;
                let res = r.take(max.saturating_add(1)).read_to_end(&mut data);
                self.pipe.report(idx).bytes = data.len() as u64;
                if let Err(e) = res {
                    self.pipe.note(idx, Location::Offset(data.len() as u64), format!("read error: {e}"));
                    self.skip(idx, "could not be read whole");
                    return Err(e);
                }
                if data.len() as u64 > max {
                    self.skip(idx, format!("larger than {max} bytes, the most held in memory to read an EVTX or zip inside an archive"));
                    return Ok(());
                }
                let len = data.len() as u64;
                if sniffed == Sniffed::Evtx {
                    self.evtx(idx, Cursor::new(data), len);
                } else {
                    self.zip(idx, &path, &prefix, Cursor::new(data), depth, budget);
                }
                Ok(())
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // EVTX

    fn evtx<R: Read + Seek>(&mut self, idx: usize, mut r: R, len: u64) {
        self.pipe.set_kind(idx, FileKind::Evtx);
        self.pipe.report(idx).bytes = len;
        let mut header = [0u8; 8];
        if r.read_exact(&mut header).is_err() || len < EVTX_HEADER {
            return self.skip(idx, "truncated inside the EVTX file header: no chunks");
        }
        if &header != b"ElfFile\0" {
            self.pipe.note(idx, Location::Offset(0), "EVTX file header is damaged (no ElfFile signature); chunks read anyway");
        }
        let body = len - EVTX_HEADER;
        let (full, tail) = (body / CHUNK, body % CHUNK);

        // Records are in order from the chunk holding the lowest record id (a full log wraps).
        // Chunks whose header is all zeros are unused space (files are allocated ahead) and are
        // not read.
        let mut oldest = (u64::MAX, 0u64);
        let mut hdr = [0u8; CHUNK_HEADER];
        let mut unused = vec![false; usize::try_from(full).unwrap_or(0)];
        for n in 0..full {
            if r.seek(SeekFrom::Start(EVTX_HEADER + n * CHUNK)).is_err() || r.read_exact(&mut hdr).is_err() {
                break;
            }
            if hdr.iter().all(|&b| b == 0) {
                if let Some(u) = unused.get_mut(n as usize) {
                    *u = true;
                }
                continue;
            }
            if let Ok(h) = evtx::EvtxChunkHeader::from_bytes(&hdr) {
                if h.first_event_record_id <= h.last_event_record_id && h.first_event_record_id < oldest.0 {
                    oldest = (h.first_event_record_id, n);
                }
            }
        }
        let start = if oldest.0 == u64::MAX { 0 } else { oldest.1 };
        for n in (start..full).chain(0..start) {
            if unused.get(n as usize).copied().unwrap_or(false) {
                continue;
            }
            let mut data = vec![0u8; CHUNK as usize];
            if let Err(e) = r.seek(SeekFrom::Start(EVTX_HEADER + n * CHUNK)).and_then(|_| r.read_exact(&mut data)) {
                self.pipe.note(idx, Location::Chunk(n), format!("read error: {e}"));
                return self.skip(idx, "read error: the rest of the file was not read");
            }
            if data.iter().all(|&b| b == 0) {
                continue;
            }
            self.pipe.submit(idx, Work::EvtxChunk { data, number: n, partial: false });
        }
        if tail > 0 {
            self.pipe.note(
                idx,
                Location::Chunk(full),
                format!("file is truncated: its last chunk has {tail} of {CHUNK} bytes; the whole records in it were read"),
            );
            if tail >= CHUNK_HEADER as u64 {
                let mut data = vec![0u8; CHUNK as usize];
                let got = r
                    .seek(SeekFrom::Start(EVTX_HEADER + full * CHUNK))
                    .and_then(|_| r.read_exact(&mut data[..tail as usize]));
                if got.is_ok() && !data.iter().all(|&b| b == 0) {
                    self.pipe.submit(idx, Work::EvtxChunk { data, number: full, partial: true });
                }
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // JSON

    /// JSON lines, or JSON documents; `head` is what was read of `rest` already.
    fn json(&mut self, idx: usize, head: Vec<u8>, rest: &mut dyn Read) -> io::Result<()> {
        self.pipe.set_kind(idx, FileKind::JsonLines);
        if head.starts_with(&[0xff, 0xfe]) || head.starts_with(&[0xfe, 0xff]) {
            return self.json_utf16(idx, head, rest);
        }
        let doc = head
            .strip_prefix(b"\xef\xbb\xbf")
            .unwrap_or(&head)
            .iter()
            .find(|c| !c.is_ascii_whitespace())
            == Some(&b'[');
        let bom = head.starts_with(b"\xef\xbb\xbf");
        let mut r = BufReader::with_capacity(256 << 10, Cursor::new(head).chain(rest));
        if bom {
            r.consume(3);
        }
        if doc {
            return self.json_doc(idx, &mut r);
        }
        self.json_lines(idx, &mut r)
    }

    fn json_utf16(&mut self, idx: usize, head: Vec<u8>, rest: &mut dyn Read) -> io::Result<()> {
        let max = self.pipe.opts.max_buffered_entry_bytes;
        let le = head.first() == Some(&0xff);
        let mut raw = head;
        let res = rest.take(max.saturating_add(1)).read_to_end(&mut raw);
        if raw.len() as u64 > max {
            self.skip(idx, format!("UTF-16 file larger than {max} bytes, the most converted in memory"));
            return Ok(());
        }
        if let Err(e) = &res {
            self.pipe.note(idx, Location::Offset(raw.len() as u64), format!("read error: {e}"));
        }
        let units: Vec<u16> = raw
            .get(2..)
            .unwrap_or(&[])
            .chunks_exact(2)
            .map(|p| if le { u16::from_le_bytes([p[0], p[1]]) } else { u16::from_be_bytes([p[0], p[1]]) })
            .collect();
        let text = String::from_utf16_lossy(&units).into_bytes();
        let head = text.get(..HEAD.min(text.len())).unwrap_or(&[]).to_vec();
        let rest_text = text.get(head.len()..).unwrap_or(&[]).to_vec();
        self.json(idx, head, &mut Cursor::new(rest_text))?;
        res.map(|_| ())
    }

    fn flush_lines(&mut self, idx: usize, batch: &mut Vec<u8>, first_line: u64) {
        if batch.iter().any(|c| !c.is_ascii_whitespace()) {
            let data = mem::replace(batch, Vec::with_capacity(BATCH + (64 << 10)));
            self.pipe.submit(idx, Work::Lines { data, first_line });
        } else {
            batch.clear();
        }
    }

    fn json_lines(&mut self, idx: usize, r: &mut BufReader<impl Read>) -> io::Result<()> {
        let cap = self.pipe.opts.max_line_bytes;
        let mut batch: Vec<u8> = Vec::with_capacity(BATCH + (64 << 10));
        let mut batch_first = 1u64;
        let mut line_no = 1u64;
        let mut line_start = 0usize;
        let mut skipping = false;
        let mut decided = false;
        let mut bytes = 0u64;
        loop {
            let buf = match r.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    batch.truncate(line_start);
                    self.flush_lines(idx, &mut batch, batch_first);
                    self.grow_bytes(idx, bytes);
                    self.pipe.note(idx, Location::Line(line_no), format!("read error: {e}; the rest was not read"));
                    return Err(e);
                }
            };
            if buf.is_empty() {
                break;
            }
            let (take, ends_line) = match memchr::memchr(b'\n', buf) {
                Some(i) => (i + 1, true),
                None => (buf.len(), false),
            };
            if skipping {
                r.consume(take);
                bytes += take as u64;
                if ends_line {
                    skipping = false;
                    line_no += 1;
                    batch_first = line_no;
                }
                continue;
            }
            if batch.len() - line_start + take > cap + 2 {
                // Too long: hand over the lines before it, report it, read past its end.
                batch.truncate(line_start);
                self.flush_lines(idx, &mut batch, batch_first);
                self.pipe.note(idx, Location::Line(line_no), format!("line longer than {cap} bytes: skipped"));
                r.consume(take);
                bytes += take as u64;
                line_start = 0;
                if ends_line {
                    line_no += 1;
                    batch_first = line_no;
                } else {
                    skipping = true;
                }
                continue;
            }
            batch.extend_from_slice(&buf[..take]);
            r.consume(take);
            bytes += take as u64;
            if !ends_line {
                continue;
            }
            if !decided {
                let line = batch[line_start..].trim_ascii();
                if !line.is_empty() {
                    decided = true;
                    if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(line) {
                        if e.is_eof() {
                            // A pretty-printed document: its first line is not a whole value.
                            self.grow_bytes(idx, bytes);
                            let mut doc = BufReader::new(Cursor::new(mem::take(&mut batch)).chain(r));
                            return self.json_doc(idx, &mut doc);
                        }
                    }
                }
            }
            line_no += 1;
            line_start = batch.len();
            if batch.len() >= BATCH {
                self.flush_lines(idx, &mut batch, batch_first);
                batch_first = line_no;
                line_start = 0;
            }
        }
        self.grow_bytes(idx, bytes);
        if !decided {
            let line = batch[line_start..].trim_ascii();
            if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(line) {
                if e.is_eof() && !line.is_empty() {
                    let mut doc = BufReader::new(Cursor::new(mem::take(&mut batch)));
                    return self.json_doc(idx, &mut doc);
                }
            }
        }
        self.flush_lines(idx, &mut batch, batch_first);
        Ok(())
    }

    /// JSON documents read as a stream: objects, arrays of objects, several documents in a row.
    fn json_doc(&mut self, idx: usize, r: &mut dyn Read) -> io::Result<()> {
        self.pipe.set_kind(idx, FileKind::Json);
        let since = Rc::new(Cell::new(0u64));
        let total = Rc::new(Cell::new(0u64));
        let limited = PerEventLimit {
            inner: r,
            since: Rc::clone(&since),
            total: Rc::clone(&total),
            max: self.pipe.opts.max_line_bytes as u64,
        };
        let mut de = serde_json::Deserializer::from_reader(limited);
        let mut batch: Vec<Event> = Vec::new();
        let mut result = Ok(());
        loop {
            let res = {
                let pipe = &mut *self.pipe;
                let batch = &mut batch;
                let since = &since;
                let mut emit = |ev: Event| {
                    since.set(0);
                    batch.push(ev);
                    if batch.len() >= DOC_BATCH {
                        pipe.submit(idx, Work::Events(mem::take(batch)));
                    }
                };
                parse_json_stream(&mut de, &mut self.builder, &mut emit)
            };
            match res {
                Ok(()) => {
                    if de.end().is_ok() {
                        break;
                    }
                }
                Err(e) => {
                    if !batch.is_empty() {
                        self.pipe.submit(idx, Work::Events(mem::take(&mut batch)));
                    }
                    let loc = Location::Line(e.line() as u64);
                    self.pipe.note(idx, loc, format!("invalid JSON document: {e}; the rest of the file was not read"));
                    if e.is_io() {
                        result = Err(io::Error::other(e.to_string()));
                    }
                    break;
                }
            }
        }
        if !batch.is_empty() {
            self.pipe.submit(idx, Work::Events(batch));
        }
        let r = self.pipe.report(idx);
        r.bytes = r.bytes.max(total.get());
        result
    }

    // -----------------------------------------------------------------------------------------
    // Archives

    /// Register an archive entry; `None` (and a skipped report) for macOS metadata files.
    fn entry(&mut self, archive: usize, path: &Path, prefix: &str, name: &str) -> Option<usize> {
        self.pipe.report(archive).entries += 1;
        let idx = self.pipe.add(FileReport::new(path, Some(entry_name(prefix, name)), FileKind::Unknown));
        if is_macos_metadata(name) {
            self.skip(idx, "macOS metadata (AppleDouble) file");
            return None;
        }
        Some(idx)
    }

    /// After an entry was read through a guard: report a limit it hit. `Some(true)` when the
    /// archive must stop (its budget is spent), `Some(false)` when only the entry was cut.
    fn after_guard(&mut self, archive: usize, entry: usize, budget: &Budget) -> Option<bool> {
        match budget.take_trip() {
            None => None,
            Some(t @ Trip::Ratio { .. }) => {
                self.pipe.note(entry, Location::File, t.describe());
                self.skip(entry, t.describe());
                Some(false)
            }
            Some(t @ Trip::Total { .. }) => {
                if entry != archive {
                    self.pipe.note(entry, Location::File, t.describe());
                    self.skip(entry, "archive limit reached while reading it");
                }
                self.pipe.note(archive, Location::File, t.describe());
                self.skip(archive, t.describe());
                Some(true)
            }
        }
    }

    fn zip<R: Read + Seek>(&mut self, idx: usize, path: &Path, prefix: &str, r: R, depth: u32, budget: &Budget) {
        self.pipe.set_kind(idx, FileKind::Zip);
        let mut ar = match zip::ZipArchive::new(r) {
            Ok(a) => a,
            Err(e) => return self.skip(idx, format!("not a readable zip archive: {e}")),
        };
        let (max_ratio, grace) = (self.pipe.opts.max_compression_ratio, self.pipe.opts.ratio_grace_bytes);
        for i in 0..ar.len() {
            if budget.exhausted() {
                let reason = Trip::Total { limit: budget.limit() }.describe();
                self.skip(idx, reason);
                break;
            }
            let listed = match ar.name_for_index(i) {
                Some(Ok(n)) => n.into_owned(),
                _ => format!("entry #{i}"),
            };
            let mut file = match ar.by_index(i) {
                Ok(f) => f,
                Err(e) => {
                    let name = listed;
                    if let Some(eidx) = self.entry(idx, path, prefix, &name) {
                        self.pipe.note(eidx, Location::File, format!("cannot read this entry: {e}"));
                        self.skip(eidx, format!("cannot read this entry: {e}"));
                    }
                    continue;
                }
            };
            if file.is_dir() {
                continue;
            }
            let name = match file.name() {
                Ok(n) => n.into_owned(),
                Err(_) => String::from_utf8_lossy(file.name_raw()).into_owned(),
            };
            let Some(eidx) = self.entry(idx, path, prefix, &name) else { continue };
            let (size, csize) = (file.size(), file.compressed_size());
            if size > budget.remaining() {
                let msg = format!(
                    "declares {size} decompressed bytes, more than the {} the archive limit leaves: skipped (possible zip bomb)",
                    budget.remaining()
                );
                self.pipe.note(eidx, Location::File, msg.clone());
                self.skip(eidx, msg);
                continue;
            }
            if size > grace && size / csize.max(1) > max_ratio {
                let msg = Trip::Ratio { out: size, compressed: csize, max: max_ratio }.describe();
                self.pipe.note(eidx, Location::File, msg.clone());
                self.skip(eidx, msg);
                continue;
            }
            let mut guard = Guard::new(&mut file, budget, Compressed::Fixed(csize), max_ratio, grace);
            let res = self.stream(eidx, &name, &mut guard, depth + 1, budget);
            self.pipe.report(eidx).bytes = self.pipe.report(eidx).bytes.max(guard.out());
            match self.after_guard(idx, eidx, budget) {
                Some(true) => break,
                Some(false) => continue,
                None => {}
            }
            if let Err(e) = res {
                if self.pipe.report(eidx).skipped.is_none() {
                    self.skip(eidx, format!("stopped early: {e}"));
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn gzip(&mut self, idx: usize, path: &Path, prefix: &str, name: &str, r: &mut dyn Read, depth: u32, budget: &Budget) {
        self.pipe.set_kind(idx, FileKind::Gzip);
        let count = Rc::new(Cell::new(0u64));
        let counting = Counting { inner: r, count: Rc::clone(&count) };
        let decoder = flate2::read::MultiGzDecoder::new(counting);
        let opts = self.pipe.opts;
        let mut guard =
            Guard::new(decoder, budget, Compressed::Counted(count), opts.max_compression_ratio, opts.ratio_grace_bytes);
        let head = match read_head(&mut guard, 512) {
            Ok(h) => h,
            Err(e) => {
                if self.after_guard(idx, idx, budget).is_some() {
                    self.skip(idx, "limit reached");
                    return;
                }
                self.pipe.note(idx, Location::Offset(0), format!("not a readable gzip stream: {e}"));
                return self.skip(idx, format!("not a readable gzip stream: {e}"));
            }
        };
        let mut r = Cursor::new(head.clone()).chain(&mut guard);
        if head.get(257..262) == Some(b"ustar") {
            self.pipe.set_kind(idx, FileKind::TarGz);
            self.tar(idx, path, prefix, &mut r, depth, budget);
        } else {
            // One compressed file: `x.json.gz` holds `x.json`.
            let lower = name.to_ascii_lowercase();
            let inner = if lower.ends_with(".gz") {
                &name[..name.len() - 3]
            } else if lower.ends_with(".tgz") {
                &name[..name.len() - 4]
            } else {
                name
            };
            let inner = inner.rsplit(['/', '\\']).next().unwrap_or(inner).to_string();
            self.pipe.report(idx).entries += 1;
            let eidx = self.pipe.add(FileReport::new(path, Some(entry_name(prefix, &inner)), FileKind::Unknown));
            let res = self.stream(eidx, &inner, &mut r, depth + 1, budget);
            if let Some(stop) = self.after_guard(idx, eidx, budget) {
                if !stop {
                    self.skip(idx, "the compressed stream expands too much (likely a zip bomb)");
                }
                return;
            }
            if let Err(e) = res {
                self.pipe.note(idx, Location::File, format!("compressed stream ends early or is damaged: {e}"));
            }
        }
    }

    fn tar(&mut self, idx: usize, path: &Path, prefix: &str, r: &mut dyn Read, depth: u32, budget: &Budget) {
        let mut ar = tar::Archive::new(r);
        let entries = match ar.entries() {
            Ok(e) => e,
            Err(e) => return self.skip(idx, format!("not a readable tar archive: {e}")),
        };
        for entry in entries {
            if budget.exhausted() {
                let reason = Trip::Total { limit: budget.limit() }.describe();
                self.skip(idx, reason);
                break;
            }
            let mut entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    if self.after_guard(idx, idx, budget).is_some() {
                        self.skip(idx, "limit reached");
                        break;
                    }
                    self.pipe.note(idx, Location::File, format!("archive is damaged or truncated: {e}"));
                    self.skip(idx, "archive is damaged or truncated: entries after that point were not read");
                    break;
                }
            };
            let kind = entry.header().entry_type();
            if !(kind.is_file() || kind.is_contiguous()) {
                continue;
            }
            let name = match entry.path() {
                Ok(p) => p.to_string_lossy().into_owned(),
                Err(_) => String::from_utf8_lossy(&entry.path_bytes()).into_owned(),
            };
            let Some(eidx) = self.entry(idx, path, prefix, &name) else { continue };
            let res = self.stream(eidx, &name, &mut entry, depth + 1, budget);
            if let Some(stop) = self.after_guard(idx, eidx, budget) {
                // A compressed stream cannot skip an entry: past a limit the archive stops.
                if !stop {
                    self.skip(idx, "an entry expands too much (likely a zip bomb): the rest was not read");
                }
                break;
            }
            if let Err(e) = res {
                // The stream under the tar broke: nothing after it can be read.
                self.pipe.note(idx, Location::File, format!("archive ends early or is damaged: {e}"));
                self.skip(idx, "archive ends early or is damaged: entries after that point were not read");
                if self.pipe.report(eidx).skipped.is_none() {
                    self.pipe.report(eidx).skip(format!("read partly: {e}"));
                }
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffing() {
        assert_eq!(sniff(b"ElfFile\0rest", "x.evtx"), Sniffed::Evtx);
        assert_eq!(sniff(b"PK\x03\x04....", "x.bin"), Sniffed::Zip);
        assert_eq!(sniff(&[0x1f, 0x8b, 8, 0], "x"), Sniffed::Gzip);
        assert_eq!(sniff(b"  {\"a\":1}\n", "x.log"), Sniffed::Json);
        assert_eq!(sniff(b"\xef\xbb\xbf[{}]", "x"), Sniffed::Json);
        assert_eq!(sniff(b"header line\n{\"a\":1}\n", "x.jsonl"), Sniffed::Json);
        assert_eq!(sniff(b"header line\n{\"a\":1}\n{\"a\":2}\n", "x.txt"), Sniffed::Json);
        assert!(matches!(sniff(b"# title\ntext\n{ x }\n", "README.md"), Sniffed::Skip(_)));
        assert!(matches!(sniff(b"\x7fELF\x02\x01\x00\x00", "x.json"), Sniffed::Skip(r) if r.contains("named .json")));
        assert!(matches!(sniff(b"", "x.json"), Sniffed::Skip(_)));
        assert_eq!(sniff(b"\xff\xfe{\x00}\x00", "x.json"), Sniffed::Json);
        assert!(is_macos_metadata("__MACOSX/._a.json"));
        assert!(is_macos_metadata("dir/._a.json"));
        assert!(!is_macos_metadata("dir/a.json"));
    }
}
