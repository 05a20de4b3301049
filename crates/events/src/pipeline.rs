//! Decoding work fanned out over rayon, with results handed back in submission order.
//!
//! The calling thread walks files and archives and cuts the input into jobs (an EVTX chunk, a
//! batch of JSON lines, events already decoded from a JSON document, a note about a problem).
//! Jobs run on the pool; at most `max_in_flight` of them are between submission and delivery,
//! which bounds memory. In sequential mode the caller's `FnMut` gets the events on the calling
//! thread in input order; in parallel mode the workers call a `Fn + Sync` themselves.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::any::Any;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::sync::Arc;
use std::time::Duration;

use evtx::{EvtxChunkData, ParserSettings};

use crate::event::Event;
use crate::flatten::{parse_evtx_record, parse_json_events, Builder};
use crate::report::{FileReport, Location, Origin, ReadOptions};

/// A unit of decoding.
pub(crate) enum Work {
    /// One 64 KiB EVTX chunk; `partial` when the file ended inside it (the rest is zeros).
    EvtxChunk { data: Vec<u8>, number: u64, partial: bool },
    /// Whole JSON lines; the first is line `first_line` (1-based) of the file.
    Lines { data: Vec<u8>, first_line: u64 },
    /// Events decoded already (JSON documents are parsed as they stream in).
    Events(Vec<Event>),
    /// A problem found while cutting the input, to be reported in order with the rest.
    Note(Location, String),
}

/// What a job produced.
struct Done {
    seq: u64,
    file: usize,
    events: Vec<Event>,
    stats: Stats,
    user_panic: Option<Box<dyn Any + Send>>,
}

#[derive(Default)]
struct Stats {
    events: u64,
    naive_times: u64,
    no_times: u64,
    errors: u64,
    samples: Vec<(Location, String)>,
}

impl Stats {
    fn error(&mut self, max: usize, loc: Location, msg: String) {
        self.errors += 1;
        if self.samples.len() < max {
            self.samples.push((loc, msg));
        }
    }
}

/// A panic raised by the caller's event handler (not by a decoder).
pub(crate) struct UserPanic(pub(crate) Box<dyn Any + Send>);

/// The caller's handler in sequential mode.
pub(crate) type SeqSink<'a> = &'a mut dyn FnMut(&Origin, Event);

pub(crate) type ParSink<'s> = &'s (dyn Fn(&Origin, Event) + Sync);

/// Everything a job needs besides its input.
struct JobEnv<'s> {
    settings: Arc<ParserSettings>,
    max_event_bytes: usize,
    trim: bool,
    max_samples: usize,
    par: Option<ParSink<'s>>,
}

thread_local! {
    static BUILDER: RefCell<Option<Builder>> = const { RefCell::new(None) };
}

fn with_builder<T>(env: &JobEnv<'_>, f: impl FnOnce(&mut Builder) -> T) -> T {
    BUILDER.with(|cell| {
        let mut slot = cell.borrow_mut();
        let b = slot.get_or_insert_with(|| Builder::new(env.max_event_bytes));
        b.configure(env.max_event_bytes, env.trim);
        f(b)
    })
}

/// Where decoded events go inside a job.
struct Out<'o, 's> {
    events: Vec<Event>,
    stats: Stats,
    origin: &'o Origin,
    par: Option<ParSink<'s>>,
    /// A panic of the caller's event handler, re-raised once the job is done.
    user_panic: Option<Box<dyn Any + Send>>,
}

impl Out<'_, '_> {
    #[inline]
    fn event(&mut self, ev: Event) {
        self.stats.events += 1;
        if ev.timestamp.is_none() {
            self.stats.no_times += 1;
        } else if ev.timestamp_assumed_utc {
            self.stats.naive_times += 1;
        }
        match self.par {
            Some(f) => {
                if self.user_panic.is_none() {
                    let origin = self.origin;
                    if let Err(p) = catch_unwind(AssertUnwindSafe(|| f(origin, ev))) {
                        self.user_panic = Some(p);
                    }
                }
            }
            None => self.events.push(ev),
        }
    }
}

/// Decode one job. A panic of the caller's handler (parallel mode) comes back as the third item.
fn run_job(env: &JobEnv<'_>, origin: &Origin, work: Work) -> (Vec<Event>, Stats, Option<Box<dyn Any + Send>>) {
    let mut out = Out { events: Vec::new(), stats: Stats::default(), origin, par: env.par, user_panic: None };
    let max = env.max_samples;
    let result = catch_unwind(AssertUnwindSafe(|| match work {
        Work::EvtxChunk { data, number, partial } => {
            with_builder(env, |b| decode_chunk(env, data, number, partial, b, &mut out))
        }
        Work::Lines { data, first_line } => {
            with_builder(env, |b| decode_lines(max, &data, first_line, b, &mut out))
        }
        Work::Events(events) => {
            out.events.reserve(events.len());
            for ev in events {
                out.event(ev);
            }
        }
        Work::Note(loc, msg) => out.stats.error(max, loc, msg),
    }));
    if result.is_err() && out.user_panic.is_none() {
        out.stats.error(max, Location::File, "the decoder panicked on this part of the file; it was skipped".into());
    }
    (out.events, out.stats, out.user_panic)
}

fn decode_chunk(env: &JobEnv<'_>, data: Vec<u8>, number: u64, partial: bool, b: &mut Builder, out: &mut Out<'_, '_>) {
    let max = env.max_samples;
    let mut chunk_data = match EvtxChunkData::new(data, false) {
        Ok(c) => c,
        Err(e) => {
            out.stats.error(max, Location::Chunk(number), format!("bad chunk, skipped: {e}"));
            return;
        }
    };
    if !partial && !chunk_data.validate_checksum() {
        out.stats.error(
            max,
            Location::Chunk(number),
            "chunk checksum mismatch (damaged or not flushed); its records were read anyway".into(),
        );
    }
    let mut chunk = match chunk_data.parse(Arc::clone(&env.settings)) {
        Ok(c) => c,
        Err(e) => {
            out.stats.error(max, Location::Chunk(number), format!("bad chunk, skipped: {e}"));
            return;
        }
    };
    for record in chunk.iter() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                out.stats.error(max, Location::Chunk(number), format!("bad record: {e}"));
                continue;
            }
        };
        let (id, time) = (record.event_record_id, record.timestamp);
        let loc = Location::Record { chunk: number, record_id: id };
        match record.into_json_bytes() {
            Ok(json) => match parse_evtx_record(&json.data, b, id, time) {
                Ok(ev) => out.event(ev),
                Err(e) => out.stats.error(max, loc, format!("record did not decode: {e}")),
            },
            Err(e) => out.stats.error(max, loc, format!("bad record: {e}")),
        }
    }
}

fn decode_lines(max: usize, data: &[u8], first_line: u64, b: &mut Builder, out: &mut Out<'_, '_>) {
    let mut line_no = first_line;
    let mut rest = data;
    while !rest.is_empty() {
        let (line, next) = match memchr::memchr(b'\n', rest) {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, &rest[rest.len()..]),
        };
        rest = next;
        let line = line.trim_ascii();
        if !line.is_empty() {
            let n = line_no;
            let mut emit = |mut ev: Event| {
                ev.line = n;
                out.event(ev);
            };
            if let Err(e) = parse_json_events(line, b, &mut emit) {
                out.stats.error(max, Location::Line(n), format!("invalid JSON: {e}"));
            }
        }
        line_no += 1;
    }
}

/// Waits for results, running pool jobs meanwhile when the caller is itself a pool thread.
fn recv(rx: &Receiver<Done>) -> Option<Done> {
    loop {
        match rx.try_recv() {
            Ok(d) => return Some(d),
            Err(TryRecvError::Disconnected) => return None,
            Err(TryRecvError::Empty) => {}
        }
        match rayon::yield_now() {
            Some(rayon::Yield::Executed) => continue,
            Some(rayon::Yield::Idle) => match rx.recv_timeout(Duration::from_micros(200)) {
                Ok(d) => return Some(d),
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => return None,
            },
            None => return rx.recv().ok(),
        }
    }
}

/// The producer's handle: register files, submit work, get the reports back.
pub(crate) struct Pipeline<'a, 'scope> {
    scope: Option<&'a rayon::Scope<'scope>>,
    env: Arc<JobEnv<'scope>>,
    seq_sink: Option<SeqSink<'a>>,
    tx: Sender<Done>,
    rx: Receiver<Done>,
    reports: Vec<FileReport>,
    origins: Vec<Arc<Origin>>,
    next_seq: u64,
    next_out: u64,
    max_in_flight: u64,
    /// Jobs on the pool whose result has not been received.
    running: usize,
    pool_threads: usize,
    reorder: BTreeMap<u64, Done>,
    in_user_code: bool,
    pub(crate) opts: &'a ReadOptions,
}

impl<'a, 'scope> Pipeline<'a, 'scope> {
    /// Register a file (or archive entry); returns its index for [`Pipeline::submit`].
    pub(crate) fn add(&mut self, report: FileReport) -> usize {
        self.origins.push(Arc::new(Origin {
            path: report.path.clone(),
            entry: report.entry.clone(),
            kind: report.kind,
        }));
        self.reports.push(report);
        self.reports.len() - 1
    }

    /// Whether a panic now would come from the caller's event handler.
    pub(crate) fn in_user_code(&self) -> bool {
        self.in_user_code
    }

    /// After a reader panicked mid-file: deliver what is in flight, so that the next file starts
    /// clean.
    pub(crate) fn recover_after_panic(&mut self) {
        self.drain();
    }

    pub(crate) fn report(&mut self, file: usize) -> &mut FileReport {
        &mut self.reports[file]
    }

    /// Change a registered file's kind (once its content told what it is).
    pub(crate) fn set_kind(&mut self, file: usize, kind: crate::report::FileKind) {
        self.reports[file].kind = kind;
        if self.origins[file].kind != kind {
            let mut o = (*self.origins[file]).clone();
            o.kind = kind;
            self.origins[file] = Arc::new(o);
        }
    }

    /// Record a problem in file order (after the work submitted before it).
    pub(crate) fn note(&mut self, file: usize, loc: Location, msg: impl Into<String>) {
        self.submit(file, Work::Note(loc, msg.into()));
    }

    pub(crate) fn submit(&mut self, file: usize, work: Work) {
        let seq = self.next_seq;
        self.next_seq += 1;
        // Collect what is done without waiting.
        while let Ok(d) = self.rx.try_recv() {
            self.running -= 1;
            self.accept(d);
        }
        let scope = match self.scope {
            // Every pool thread is busy: this thread decodes the job itself rather than wait.
            Some(scope) if self.running < self.pool_threads => scope,
            _ => {
                let (events, stats, user_panic) = run_job(&self.env, &self.origins[file], work);
                self.accept(Done { seq, file, events, stats, user_panic });
                return;
            }
        };
        let env = Arc::clone(&self.env);
        let origin = Arc::clone(&self.origins[file]);
        let tx = self.tx.clone();
        self.running += 1;
        scope.spawn(move |_| {
            let (events, stats, user_panic) = run_job(&env, &origin, work);
            let _ = tx.send(Done { seq, file, events, stats, user_panic });
        });
        while self.next_seq - self.next_out > self.max_in_flight && self.running > 0 {
            match recv(&self.rx) {
                Some(d) => {
                    self.running -= 1;
                    self.accept(d);
                }
                None => break,
            }
        }
    }

    fn accept(&mut self, mut done: Done) {
        if let Some(p) = done.user_panic.take() {
            resume_unwind(Box::new(UserPanic(p)));
        }
        self.reorder.insert(done.seq, done);
        while let Some(d) = self.reorder.remove(&self.next_out) {
            self.next_out += 1;
            self.deliver(d);
        }
    }

    fn deliver(&mut self, d: Done) {
        if let Some(sink) = self.seq_sink.as_mut() {
            let origin = &self.origins[d.file];
            self.in_user_code = true;
            for ev in d.events {
                sink(origin, ev);
            }
            self.in_user_code = false;
        }
        let max = self.opts.max_error_samples;
        let r = &mut self.reports[d.file];
        r.events += d.stats.events;
        r.timestamps_without_zone += d.stats.naive_times;
        r.events_without_timestamp += d.stats.no_times;
        let sampled = d.stats.samples.len() as u64;
        for (loc, msg) in d.stats.samples {
            r.error(max, loc, msg);
        }
        r.errors += d.stats.errors - sampled;
    }

    /// Wait for every job and deliver what is left.
    fn drain(&mut self) {
        while self.running > 0 {
            match recv(&self.rx) {
                Some(d) => {
                    self.running -= 1;
                    self.accept(d);
                }
                None => break,
            }
        }
    }
}

/// Run `produce` with a pipeline; returns the reports of every file it registered.
pub(crate) fn run<'s>(
    opts: &ReadOptions,
    seq_sink: Option<SeqSink<'_>>,
    par_sink: Option<ParSink<'s>>,
    produce: impl FnOnce(&mut Pipeline<'_, 's>),
) -> Vec<FileReport> {
    let env = Arc::new(JobEnv {
        settings: Arc::new(ParserSettings::new().indent(false).num_threads(1)),
        max_event_bytes: opts.max_line_bytes.max(1 << 16),
        trim: opts.trim_trailing_whitespace,
        max_samples: opts.max_error_samples,
        par: par_sink,
    });
    let result = catch_unwind(AssertUnwindSafe(|| run_inner(opts, seq_sink, env, produce)));
    match result {
        Ok(reports) => reports,
        Err(payload) => match payload.downcast::<UserPanic>() {
            Ok(user) => resume_unwind(user.0),
            Err(other) => resume_unwind(other),
        },
    }
}

fn make<'a, 's>(
    scope: Option<&'a rayon::Scope<'s>>,
    threads: usize,
    seq_sink: Option<SeqSink<'a>>,
    env: &Arc<JobEnv<'s>>,
    opts: &'a ReadOptions,
) -> Pipeline<'a, 's> {
    let (tx, rx) = channel();
    Pipeline {
        scope,
        env: Arc::clone(env),
        seq_sink,
        tx,
        rx,
        reports: Vec::new(),
        origins: Vec::new(),
        next_seq: 0,
        next_out: 0,
        max_in_flight: (threads as u64).max(1) * 3,
        running: 0,
        pool_threads: threads.max(1),
        reorder: BTreeMap::new(),
        in_user_code: false,
        opts,
    }
}

fn run_inner<'s>(
    opts: &ReadOptions,
    seq_sink: Option<SeqSink<'_>>,
    env: Arc<JobEnv<'s>>,
    produce: impl FnOnce(&mut Pipeline<'_, 's>),
) -> Vec<FileReport> {
    if opts.threads == 1 {
        // Re-wrapping shortens the handler's lifetime to this scope's.
        #[allow(clippy::match_like_matches_macro, clippy::manual_map, clippy::needless_match)]
        let sink: Option<SeqSink<'_>> = match seq_sink {
            Some(f) => Some(f),
            None => None,
        };
        let mut p = make(None, 1, sink, &env, opts);
        produce(&mut p);
        p.drain();
        return p.reports;
    }
    let body = |scope: &rayon::Scope<'s>, threads: usize| {
        // Re-wrapping shortens the handler's lifetime to this scope's.
        #[allow(clippy::match_like_matches_macro, clippy::manual_map, clippy::needless_match)]
        let sink: Option<SeqSink<'_>> = match seq_sink {
            Some(f) => Some(f),
            None => None,
        };
        let mut p = make(Some(scope), threads, sink, &env, opts);
        produce(&mut p);
        p.drain();
        p.reports
    };
    if opts.threads == 0 {
        return rayon::in_place_scope(|s| body(s, rayon::current_num_threads()));
    }
    match rayon::ThreadPoolBuilder::new().num_threads(opts.threads).build() {
        Ok(pool) => pool.in_place_scope(|s| body(s, opts.threads)),
        Err(_) => rayon::in_place_scope(|s| body(s, rayon::current_num_threads())),
    }
}
