//! JSON → [`Event`], in one pass over the input and without building a `serde_json::Value`.
//!
//! The walk is a set of serde visitors. Each value in the input has a *name* (a suffix of
//! `Builder::path`) and a *context* that says how its children are named:
//!
//! * EVTX-JSON `{"Event": {...}}`: `System.<K>` → `K`; `System.<K>.#text` → `K`;
//!   `System.<K>.#attributes.<A>` → `K_A` (`Provider_Name`, `TimeCreated_SystemTime`,
//!   `Security_UserID`, …) except `Execution`'s `ProcessID`/`ThreadID`, which keep their names;
//!   `EventData.<K>` and `UserData.<X>.<K>` → `K`; arrays there (unnamed `<Data>`) → `K[1]`,
//!   `K[2]`, … and `K` (the elements joined with `\n`); `#attributes` of data elements are dropped.
//! * Winlogbeat `{"winlog": {...}}`: `winlog.event_data.<K>` and `winlog.user_data.<K>` → `K`; the
//!   rest keeps its dotted path (`winlog.event_id`, `winlog.channel`, …).
//! * Anything else: nested objects are joined with `.`; arrays give one field per element under
//!   the same name.
//!
//! After the walk, [`Builder::finish`] derives the common keys (event id, channel, provider,
//! computer, record id, timestamp) and, for the non-EVTX shapes, adds the EVTX names Sigma rules
//! use when the input spelled them otherwise (`Provider_Name` from `SourceName`, `Computer` from
//! `Hostname`, `EventID` from `winlog.event_id`, …).

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::event::{fold_hash, Event, Shape, Slot};
use crate::time::parse_timestamp;

/// Reusable state for decoding many events on one thread.
pub(crate) struct Builder {
    ev: Event,
    path: String,
    max_event_bytes: usize,
    /// Drop trailing white space from string values.
    trim: bool,
    hint_bytes: usize,
    hint_fields: usize,
}

impl Builder {
    pub(crate) fn new(max_event_bytes: usize) -> Self {
        Builder {
            ev: Event::with_capacity(0, 0),
            path: String::with_capacity(128),
            // Spans inside an event are u32.
            max_event_bytes: max_event_bytes.min(u32::MAX as usize / 2),
            trim: true,
            hint_bytes: 1024,
            hint_fields: 32,
        }
    }

    pub(crate) fn configure(&mut self, max_event_bytes: usize, trim: bool) {
        self.max_event_bytes = max_event_bytes.min(u32::MAX as usize / 2);
        self.trim = trim;
    }

    fn begin(&mut self) {
        self.ev = Event::with_capacity(self.hint_bytes, self.hint_fields);
        self.path.clear();
    }

    #[inline]
    fn check_size<E: de::Error>(&self) -> Result<(), E> {
        if self.ev.buf.len() > self.max_event_bytes {
            return Err(E::custom(format_args!(
                "event larger than the limit of {} bytes",
                self.max_event_bytes
            )));
        }
        Ok(())
    }

    #[inline]
    fn push_str<E: de::Error>(&mut self, start: usize, v: &str) -> Result<(), E> {
        let v = if self.trim { v.trim_end_matches([' ', '\t', '\r', '\n']) } else { v };
        let name = self.path.get(start..).unwrap_or("");
        self.ev.push_str_field(name, v);
        self.check_size()
    }

    #[inline]
    fn push_scalar<E: de::Error>(&mut self, start: usize, v: Slot) -> Result<(), E> {
        let name = self.path.get(start..).unwrap_or("");
        self.ev.push_slot(name, v);
        self.check_size()
    }

    /// Derive the common keys, add aliases, and hand out the event.
    /// `record` is the EVTX record header's id and time, used when the record body lacks them.
    fn finish(&mut self, record: Option<(u64, jiff::Timestamp)>) -> Event {
        let mut ev = std::mem::take(&mut self.ev);
        derive_common(&mut ev, record);
        self.hint_bytes = (self.hint_bytes * 3 + ev.buf.len() + ev.buf.len() / 4) / 4 + 16;
        self.hint_fields = (self.hint_fields * 3 + ev.fields.len() + 4) / 4 + 1;
        ev
    }
}

/// The input as text: validated once as a whole (fast for ASCII), so that the parser need not
/// validate each string; input that is not UTF-8 is read with U+FFFD for the bad bytes.
fn as_text(json: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(json) {
        Ok(s) => std::borrow::Cow::Borrowed(s),
        Err(_) => String::from_utf8_lossy(json),
    }
}

/// Decode one JSON text holding an event object, or an array of them; each event goes to `emit`.
pub(crate) fn parse_json_events(
    json: &[u8],
    b: &mut Builder,
    emit: &mut dyn FnMut(Event),
) -> Result<(), serde_json::Error> {
    let text = as_text(json);
    let mut de = serde_json::Deserializer::from_str(&text);
    Top { b, emit, record: None }.deserialize(&mut de)?;
    de.end()
}

/// Decode the JSON the `evtx` crate renders for one record.
pub(crate) fn parse_evtx_record(
    json: &[u8],
    b: &mut Builder,
    record_id: u64,
    time: jiff::Timestamp,
) -> Result<Event, serde_json::Error> {
    let mut out = None;
    let mut emit = |ev: Event| out = Some(ev);
    let text = as_text(json);
    let mut de = serde_json::Deserializer::from_str(&text);
    Top { b, emit: &mut emit, record: Some((record_id, time)) }.deserialize(&mut de)?;
    de.end()?;
    out.ok_or_else(|| de::Error::custom("record rendered to no event"))
}

/// Streams the top-level values of a JSON document from a reader.
pub(crate) fn parse_json_stream<R: std::io::Read>(
    de: &mut serde_json::Deserializer<serde_json::de::IoRead<R>>,
    b: &mut Builder,
    emit: &mut dyn FnMut(Event),
) -> Result<(), serde_json::Error> {
    Top { b, emit, record: None }.deserialize(de)
}

/// The top level of an input: an object is one event, an array holds events.
struct Top<'a, 'b> {
    b: &'a mut Builder,
    emit: &'a mut (dyn FnMut(Event) + 'b),
    record: Option<(u64, jiff::Timestamp)>,
}

impl<'de> DeserializeSeed<'de> for Top<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

fn not_event<E: de::Error>(what: &str) -> Result<(), E> {
    Err(E::custom(format_args!("expected an event (a JSON object), found {what}")))
}

impl<'de> Visitor<'de> for Top<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object or an array of objects")
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        self.b.begin();
        Node { b: self.b, ctx: Ctx::Root, start: 0 }.visit_map(map)?;
        let ev = self.b.finish(self.record);
        (self.emit)(ev);
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let record = self.record;
        while seq.next_element_seed(Top { b: &mut *self.b, emit: &mut *self.emit, record })?.is_some() {}
        Ok(())
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        not_event("a string")
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        not_event("a boolean")
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        not_event("a number")
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        not_event("a number")
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        not_event("a number")
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        not_event("null")
    }
}

/// How a value's children are named.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Ctx {
    /// The event object.
    Root,
    /// Dotted names, one field per array element.
    Flat,
    /// `Event`.
    EvtEvent,
    /// `Event.System`.
    System,
    /// A child of `System` (`Provider`, `EventID`, `TimeCreated`, …).
    SysElem,
    /// `#attributes` of a `System` child.
    SysAttrs,
    /// `EventData`, `UserData.<X>`, `winlog.event_data`: children get bare names.
    Data,
    /// A child of a data section: `#text` is its value, arrays are indexed.
    DataElem,
    /// `Event.UserData`: its one child is a data section.
    UserData,
    /// Winlogbeat's `winlog`.
    Winlog,
    /// Dropped.
    Ignore,
}

/// A value to decode, named `b.path[start..]`.
struct Node<'a> {
    b: &'a mut Builder,
    ctx: Ctx,
    start: usize,
}

impl<'de> DeserializeSeed<'de> for Node<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        if self.ctx == Ctx::Ignore {
            d.deserialize_ignored_any(IgnoredAny)?;
            return Ok(());
        }
        d.deserialize_any(self)
    }
}

/// Reads a map key, appends the child's name to the path, and says how to decode the value.
struct Key<'a> {
    b: &'a mut Builder,
    ctx: Ctx,
    /// Start of the parent's name.
    start: usize,
    /// End of the parent's name (where the child's suffix goes).
    base: usize,
}

/// The child's context and where its name starts.
type Child = (Ctx, usize);

impl<'de> DeserializeSeed<'de> for Key<'_> {
    type Value = Child;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Child, D::Error> {
        d.deserialize_str(self)
    }
}

impl Key<'_> {
    /// Child named `key` alone.
    fn bare(self, key: &str, ctx: Ctx) -> Child {
        self.b.path.push_str(key);
        (ctx, self.base)
    }
    /// Child named `<parent>.<key>` (or `key` when the parent has no name).
    fn dotted(self, key: &str, ctx: Ctx) -> Child {
        if self.base > self.start {
            self.b.path.push('.');
        }
        self.b.path.push_str(key);
        (ctx, self.start)
    }
    /// Child with the parent's name.
    fn same(self, ctx: Ctx) -> Child {
        (ctx, self.start)
    }
}

impl<'de> Visitor<'de> for Key<'_> {
    type Value = Child;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }
    fn visit_str<E: de::Error>(self, key: &str) -> Result<Child, E> {
        Ok(match self.ctx {
            Ctx::Root => match key {
                "Event" => self.bare(key, Ctx::EvtEvent),
                "winlog" => self.bare(key, Ctx::Winlog),
                _ => self.bare(key, Ctx::Flat),
            },
            Ctx::EvtEvent => match key {
                "System" => self.bare(key, Ctx::System),
                "EventData" => self.bare(key, Ctx::Data),
                "UserData" => self.bare(key, Ctx::UserData),
                "#attributes" => self.same(Ctx::Ignore),
                _ => self.bare(key, Ctx::Flat),
            },
            Ctx::System => match key.strip_suffix("_attributes") {
                // evtx's `separate_json_attributes` output: `EventID_attributes: {...}`.
                Some(elem) if !elem.is_empty() => self.bare(elem, Ctx::SysAttrs),
                _ => self.bare(key, Ctx::SysElem),
            },
            Ctx::SysElem => match key {
                "#text" => self.same(Ctx::Flat),
                "#attributes" => self.same(Ctx::SysAttrs),
                _ => self.dotted(key, Ctx::Flat),
            },
            Ctx::SysAttrs => {
                let elem = self.b.path.get(self.start..self.base).unwrap_or("");
                if elem == "Execution" && (key == "ProcessID" || key == "ThreadID") {
                    self.bare(key, Ctx::Flat)
                } else {
                    self.b.path.push('_');
                    self.b.path.push_str(key);
                    (Ctx::Flat, self.start)
                }
            }
            Ctx::Data => match key {
                "#attributes" | "xmlns" => self.same(Ctx::Ignore),
                _ => self.bare(key, Ctx::DataElem),
            },
            Ctx::DataElem => match key {
                "#text" => self.same(Ctx::DataElem),
                "#attributes" => self.same(Ctx::Ignore),
                _ => self.dotted(key, Ctx::Flat),
            },
            Ctx::UserData => match key {
                "#attributes" => self.same(Ctx::Ignore),
                _ => self.bare(key, Ctx::Data),
            },
            Ctx::Winlog => match key {
                "event_data" | "user_data" => self.dotted(key, Ctx::Data),
                _ => self.dotted(key, Ctx::Flat),
            },
            Ctx::Flat => self.dotted(key, Ctx::Flat),
            Ctx::Ignore => self.same(Ctx::Ignore),
        })
    }
}

impl<'de> Visitor<'de> for Node<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.b.push_str(self.start, v)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        self.b.push_scalar(self.start, Slot::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        self.b.push_scalar(self.start, Slot::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        let slot = match i64::try_from(v) {
            Ok(i) => Slot::Int(i),
            Err(_) => Slot::UInt(v),
        };
        self.b.push_scalar(self.start, slot)
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        self.b.push_scalar(self.start, Slot::Float(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        // `"Correlation": null`, `"Security": null` say nothing.
        if self.ctx == Ctx::SysElem {
            return Ok(());
        }
        self.b.push_scalar(self.start, Slot::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.visit_unit()
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        match self.ctx {
            Ctx::EvtEvent => self.b.ev.shape = Shape::Evtx,
            Ctx::Winlog => self.b.ev.shape = Shape::Winlogbeat,
            _ => {}
        }
        let base = self.b.path.len();
        loop {
            self.b.path.truncate(base);
            let key = Key { b: &mut *self.b, ctx: self.ctx, start: self.start, base };
            let Some((ctx, start)) = map.next_key_seed(key)? else { break };
            map.next_value_seed(Node { b: &mut *self.b, ctx, start })?;
        }
        self.b.path.truncate(base);
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let indexed = matches!(self.ctx, Ctx::Data | Ctx::DataElem);
        if !indexed {
            // One field per element, all under this name.
            let ctx = if self.ctx == Ctx::Root { Ctx::Flat } else { self.ctx };
            let ctx = if ctx == Ctx::SysElem { Ctx::Flat } else { ctx };
            while seq.next_element_seed(Node { b: &mut *self.b, ctx, start: self.start })?.is_some() {}
            return Ok(());
        }
        // Unnamed `<Data>` elements: `Data[1]`, `Data[2]`, … and `Data` with them all.
        let base = self.b.path.len();
        let mut joined = String::new();
        let mut any = false;
        let mut i = 0u32;
        loop {
            i += 1;
            self.b.path.truncate(base);
            {
                use std::fmt::Write;
                let _ = write!(self.b.path, "[{i}]");
            }
            let before = self.b.ev.fields.len();
            let node = Node { b: &mut *self.b, ctx: Ctx::Flat, start: self.start };
            if seq.next_element_seed(node)?.is_none() {
                break;
            }
            if self.b.ev.fields.len() == before + 1 {
                if let Some(f) = self.b.ev.fields.last().copied() {
                    let text = match f.value {
                        Slot::Str { start, len } => {
                            self.b.ev.buf.get(start as usize..(start + len) as usize).map(str::to_owned)
                        }
                        Slot::Null => Some(String::new()),
                        other => Some(slot_text(other)),
                    };
                    if let Some(t) = text {
                        if any {
                            joined.push('\n');
                        }
                        joined.push_str(&t);
                        any = true;
                    }
                }
            }
        }
        self.b.path.truncate(base);
        if any {
            self.b.push_str(self.start, &joined)?;
        }
        Ok(())
    }
}

fn slot_text(s: Slot) -> String {
    match s {
        Slot::Int(i) => i.to_string(),
        Slot::UInt(u) => u.to_string(),
        Slot::Float(f) => f.to_string(),
        Slot::Bool(b) => b.to_string(),
        Slot::Str { .. } | Slot::Null => String::new(),
    }
}

// ---------------------------------------------------------------------------------------------
// Common keys.

#[derive(Clone, Copy, PartialEq, Eq)]
enum Common {
    EventId,
    RecordId,
    Channel,
    Provider,
    Computer,
    Time,
}

struct Known {
    hash: u32,
    name: &'static str,
    what: Common,
    /// Lower wins.
    rank: u8,
}

const fn known(name: &'static str, what: Common, rank: u8) -> Known {
    Known { hash: fold_hash(name.as_bytes()), name, what, rank }
}

/// Names the common keys are read from, best first within each key. Time ranks are per shape
/// (see `time_rank`).
const KNOWN: [Known; 26] = [
    known("EventID", Common::EventId, 0),
    known("winlog.event_id", Common::EventId, 1),
    known("EventCode", Common::EventId, 2),
    known("event.code", Common::EventId, 3),
    known("EventRecordID", Common::RecordId, 0),
    known("RecordNumber", Common::RecordId, 1),
    known("winlog.record_id", Common::RecordId, 2),
    known("Channel", Common::Channel, 0),
    known("winlog.channel", Common::Channel, 1),
    known("LogName", Common::Channel, 2),
    known("Provider_Name", Common::Provider, 0),
    known("SourceName", Common::Provider, 1),
    known("winlog.provider_name", Common::Provider, 2),
    known("ProviderName", Common::Provider, 3),
    known("EventSourceName", Common::Provider, 4),
    known("Computer", Common::Computer, 0),
    known("Hostname", Common::Computer, 1),
    known("winlog.computer_name", Common::Computer, 2),
    known("host.name", Common::Computer, 3),
    known("ComputerName", Common::Computer, 4),
    known("TimeCreated_SystemTime", Common::Time, 0),
    known("UtcTime", Common::Time, 1),
    known("@timestamp", Common::Time, 2),
    known("TimeGenerated", Common::Time, 3),
    known("TimeCreated", Common::Time, 4),
    known("EventTime", Common::Time, 5),
];

/// `KNOWN` index + 1 by the low byte of the name's hash; 0: no known name; `u8::MAX`: several
/// (look through `KNOWN`).
const KNOWN_BY_HASH: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < KNOWN.len() {
        let slot = (KNOWN[i].hash & 0xff) as usize;
        t[slot] = if t[slot] == 0 { i as u8 + 1 } else { u8::MAX };
        i += 1;
    }
    t
};

/// Rank of a time field for a shape (`None`: not used for that shape), and whether the field is
/// UTC by definition even when written without a zone. EVTX keeps to `System.TimeCreated`
/// (EventData's `UtcTime` is Sysmon's, not the record's); Winlogbeat's `@timestamp` is the event's
/// own time; in flat exports `UtcTime` is the event's UTC time where present, `@timestamp` the
/// collector's, and `EventTime` local time without a zone.
fn time_rank(shape: Shape, name: &str) -> Option<(u8, bool)> {
    let utc = matches!(name, "UtcTime" | "TimeCreated_SystemTime" | "@timestamp" | "TimeGenerated");
    let rank = match shape {
        Shape::Evtx => (name == "TimeCreated_SystemTime").then_some(0),
        Shape::Winlogbeat => match name {
            "@timestamp" => Some(0),
            "TimeCreated_SystemTime" => Some(1),
            _ => None,
        },
        Shape::Flat => match name {
            "UtcTime" => Some(0),
            "@timestamp" => Some(1),
            "TimeCreated_SystemTime" => Some(2),
            "TimeGenerated" => Some(3),
            "TimeCreated" => Some(4),
            "EventTime" => Some(5),
            _ => None,
        },
    }?;
    Some((rank, utc))
}

const NO: usize = usize::MAX;

fn derive_common(ev: &mut Event, record: Option<(u64, jiff::Timestamp)>) {
    // Best (rank, field index) per common key; times keep every candidate, best first.
    let mut best = [(u8::MAX, NO); 5];
    let mut times: [(bool, usize); 6] = [(false, NO); 6];
    for (i, f) in ev.fields.iter().enumerate() {
        let candidates: &[Known] = match KNOWN_BY_HASH[(f.hash & 0xff) as usize] {
            0 => continue,
            u8::MAX => &KNOWN,
            n => std::slice::from_ref(&KNOWN[n as usize - 1]),
        };
        for k in candidates {
            if k.hash != f.hash || k.name.len() != f.name_len as usize {
                continue;
            }
            let s = f.name_start as usize;
            let name = ev.buf.get(s..s + f.name_len as usize).unwrap_or("");
            if !name.eq_ignore_ascii_case(k.name) {
                continue;
            }
            if k.what == Common::Time {
                if let Some((rank, utc)) = time_rank(ev.shape, k.name) {
                    if let Some(slot) = times.get_mut(rank as usize) {
                        if slot.1 == NO {
                            *slot = (utc, i);
                        }
                    }
                }
            } else {
                let slot = &mut best[k.what as usize];
                if k.rank < slot.0 {
                    *slot = (k.rank, i);
                }
            }
            break;
        }
    }
    let as_u64 = |ev: &Event, i: usize| -> Option<u64> {
        let f = ev.fields.get(i)?;
        match f.value {
            Slot::Str { start, len } => {
                crate::event::parse_int(ev.buf.get(start as usize..(start + len) as usize)?)
                    .and_then(|v| u64::try_from(v).ok())
            }
            Slot::Int(v) => u64::try_from(v).ok(),
            Slot::UInt(v) => Some(v),
            _ => None,
        }
    };
    let shape = ev.shape;
    // A value read from another name also gets the EVTX name (not needed for EVTX itself).
    let canonical = |rank: u8| rank == 0 || shape == Shape::Evtx;

    let (rank, i) = best[Common::EventId as usize];
    if i != NO {
        ev.event_id = as_u64(ev, i).and_then(|v| u32::try_from(v).ok());
        if let (false, Some(id)) = (canonical(rank), ev.event_id) {
            ev.push_slot("EventID", Slot::Int(i64::from(id)));
        }
    }
    let (rank, i) = best[Common::RecordId as usize];
    if i != NO {
        ev.record_id = as_u64(ev, i);
        if let (false, Some(id)) = (canonical(rank), ev.record_id) {
            let slot = i64::try_from(id).map(Slot::Int).unwrap_or(Slot::UInt(id));
            ev.push_slot("EventRecordID", slot);
        }
    }
    for (what, alias) in
        [(Common::Channel, "Channel"), (Common::Provider, "Provider_Name"), (Common::Computer, "Computer")]
    {
        let (rank, i) = best[what as usize];
        let Some(slot) = ev.fields.get(i).map(|f| f.value) else { continue };
        if !matches!(slot, Slot::Str { .. }) {
            continue;
        }
        let mut idx = i;
        if !canonical(rank) {
            // The alias shares the value's bytes.
            ev.push_slot(alias, slot);
            idx = ev.fields.len() - 1;
        }
        let idx = u32::try_from(idx).unwrap_or(u32::MAX);
        match what {
            Common::Channel => ev.channel = idx,
            Common::Provider => ev.provider = idx,
            _ => ev.computer = idx,
        }
    }
    for &(utc, i) in times.iter() {
        let Some(Slot::Str { start, len }) = ev.fields.get(i).map(|f| f.value) else { continue };
        let text = ev.buf.get(start as usize..(start + len) as usize).unwrap_or("");
        if let Some(p) = parse_timestamp(text) {
            ev.timestamp = Some(p.timestamp);
            ev.timestamp_assumed_utc = !p.had_zone && !utc;
            break;
        }
    }
    if let Some((id, time)) = record {
        if ev.record_id.is_none() {
            ev.record_id = Some(id);
        }
        if ev.timestamp.is_none() {
            ev.timestamp = Some(time);
            ev.timestamp_assumed_utc = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Value;

    fn one(json: &str) -> Event {
        let mut b = Builder::new(1 << 20);
        let mut out = Vec::new();
        parse_json_events(json.as_bytes(), &mut b, &mut |e| out.push(e)).expect("parses");
        assert_eq!(out.len(), 1);
        out.pop().expect("one event")
    }

    #[test]
    fn evtx_json_shape() {
        let e = one(
            r##"{"Event":{"#attributes":{"xmlns":"x"},"System":{"Provider":{"#attributes":{"Name":"MSSQL$RADAR","Guid":"{g}"}},
            "EventID":{"#attributes":{"Qualifiers":16384},"#text":33205},"Level":0,"Keywords":"0x90000000000000",
            "TimeCreated":{"#attributes":{"SystemTime":"2020-07-15T19:39:15.9758779Z"}},"EventRecordID":58975,
            "Correlation":null,"Execution":{"#attributes":{"ProcessID":732,"ThreadID":3728}},
            "Channel":"Application","Computer":"mssql01.offsec.lan","Security":{"#attributes":{"UserID":"S-1-5-18"}}},
            "EventData":{"#attributes":{"Name":"T"},"Data":{"#text":["", "a\\b", 5]},"Binary":null,"ProcessId":42}}}"##,
        );
        assert_eq!(e.shape(), Shape::Evtx);
        assert_eq!(e.event_id(), Some(33205));
        assert_eq!(e.get("EventID"), Some(Value::Int(33205)));
        assert_eq!(e.get("EventID_Qualifiers"), Some(Value::Int(16384)));
        assert_eq!(e.provider(), Some("MSSQL$RADAR"));
        assert_eq!(e.get_str("provider_name"), Some("MSSQL$RADAR"));
        assert_eq!(e.get_str("Provider_Guid"), Some("{g}"));
        assert_eq!(e.channel(), Some("Application"));
        assert_eq!(e.computer(), Some("mssql01.offsec.lan"));
        assert_eq!(e.record_id(), Some(58975));
        assert_eq!(e.get("ProcessID"), Some(Value::Int(732)));
        assert_eq!(e.get("ProcessId"), Some(Value::Int(42)));
        assert_eq!(e.get("ThreadID"), Some(Value::Int(3728)));
        assert_eq!(e.get_str("Security_UserID"), Some("S-1-5-18"));
        assert_eq!(e.get_str("TimeCreated_SystemTime"), Some("2020-07-15T19:39:15.9758779Z"));
        assert_eq!(e.timestamp().map(|t| t.to_string()).as_deref(), Some("2020-07-15T19:39:15.9758779Z"));
        assert!(!e.timestamp_assumed_utc());
        assert_eq!(e.get_str("Data[1]"), Some(""));
        assert_eq!(e.get_str("Data[2]"), Some("a\\b"));
        assert_eq!(e.get("Data[3]"), Some(Value::Int(5)));
        assert_eq!(e.get_str("Data"), Some("\na\\b\n5"));
        assert_eq!(e.get("Binary"), Some(Value::Null));
        assert!(!e.contains("Correlation"));
        assert!(!e.contains("xmlns"));
        assert!(!e.contains("Name"));
    }

    #[test]
    fn userdata_and_single_data() {
        let e = one(
            r##"{"Event":{"System":{"EventID":1102,"Channel":"Security"},"UserData":{"LogFileCleared":{"#attributes":{"xmlns":"x"},"SubjectUserName":"admmig"}}}}"##,
        );
        assert_eq!(e.get_str("SubjectUserName"), Some("admmig"));
        assert!(!e.contains("xmlns"));
        let e = one(r##"{"Event":{"System":{"EventID":1},"EventData":{"Data":{"#text":"only"}}}}"##);
        assert_eq!(e.get_str("Data"), Some("only"));
    }

    #[test]
    fn separate_attributes_shape() {
        let e = one(
            r##"{"Event":{"System":{"Provider_attributes":{"Name":"P"},"EventID":4688,"EventID_attributes":{"Qualifiers":0},
            "TimeCreated_attributes":{"SystemTime":"2021-01-01T00:00:00Z"},"Execution_attributes":{"ProcessID":4}}}}"##,
        );
        assert_eq!(e.provider(), Some("P"));
        assert_eq!(e.get("EventID_Qualifiers"), Some(Value::Int(0)));
        assert_eq!(e.get("ProcessID"), Some(Value::Int(4)));
        assert!(e.timestamp().is_some());
    }

    #[test]
    fn nxlog_flat_shape() {
        let e = one(
            r##"{"EventTime":"2020-09-17 17:45:41","EventID":1,"SourceName":"Microsoft-Windows-Sysmon","Channel":"Microsoft-Windows-Sysmon/Operational",
            "Hostname":"WORKSTATION6","host":"wec","@timestamp":"2020-09-17T21:45:42.739Z","UtcTime":"2020-09-17 21:45:41.433",
            "RecordNumber":698639,"ProcessID":3336,"ProcessId":"4524","Keywords":-9223372036854775808,"tags":["a","b"]}"##,
        );
        assert_eq!(e.shape(), Shape::Flat);
        assert_eq!(e.event_id(), Some(1));
        assert_eq!(e.provider(), Some("Microsoft-Windows-Sysmon"));
        assert_eq!(e.get_str("Provider_Name"), Some("Microsoft-Windows-Sysmon"));
        assert_eq!(e.computer(), Some("WORKSTATION6"));
        assert_eq!(e.get_str("Computer"), Some("WORKSTATION6"));
        assert_eq!(e.record_id(), Some(698639));
        assert_eq!(e.get("EventRecordID"), Some(Value::Int(698639)));
        assert_eq!(e.timestamp().map(|t| t.to_string()).as_deref(), Some("2020-09-17T21:45:41.433Z"));
        // UtcTime is UTC by definition.
        assert!(!e.timestamp_assumed_utc());
        let local = one(r##"{"EventTime":"2020-09-17 17:45:41","EventID":4624}"##);
        assert_eq!(local.timestamp().map(|t| t.to_string()).as_deref(), Some("2020-09-17T17:45:41Z"));
        assert!(local.timestamp_assumed_utc());
        assert_eq!(e.get("Keywords"), Some(Value::Int(i64::MIN)));
        assert_eq!(e.get_all("tags").count(), 2);
        assert_eq!(e.get_str("tags"), Some("a"));
    }

    #[test]
    fn winlogbeat_shape() {
        let e = one(
            r##"{"@timestamp":"2019-05-18T20:19:22.123Z","host":{"name":"h1"},"winlog":{"event_id":4688,"channel":"Security",
            "provider_name":"Microsoft-Windows-Security-Auditing","computer_name":"WS1.x","record_id":77,
            "event_data":{"NewProcessName":"C:\\Windows\\System32\\mmc.exe","CommandLine":"mmc -Embedding"}}}"##,
        );
        assert_eq!(e.shape(), Shape::Winlogbeat);
        assert_eq!(e.get_str("NewProcessName"), Some("C:\\Windows\\System32\\mmc.exe"));
        assert_eq!(e.event_id(), Some(4688));
        assert_eq!(e.get("EventID"), Some(Value::Int(4688)));
        assert_eq!(e.channel(), Some("Security"));
        assert_eq!(e.get_str("Channel"), Some("Security"));
        assert_eq!(e.computer(), Some("WS1.x"));
        assert_eq!(e.get_str("host.name"), Some("h1"));
        assert_eq!(e.record_id(), Some(77));
        assert!(e.timestamp().is_some());
    }

    #[test]
    fn arrays_of_events_and_errors() {
        let mut b = Builder::new(1 << 20);
        let mut out = Vec::new();
        parse_json_events(br##"[{"EventID":1},{"EventID":"2"}]"##, &mut b, &mut |e| out.push(e)).expect("ok");
        assert_eq!(out.iter().map(|e| e.event_id()).collect::<Vec<_>>(), vec![Some(1), Some(2)]);
        assert!(parse_json_events(b"42", &mut b, &mut |_| {}).is_err());
        assert!(parse_json_events(b"{\"a\":", &mut b, &mut |_| {}).is_err());
        let deep = "[".repeat(100_000);
        assert!(parse_json_events(deep.as_bytes(), &mut b, &mut |_| {}).is_err());
        let mut small = Builder::new(10);
        assert!(parse_json_events(br##"{"a":"0123456789abcdef"}"##, &mut small, &mut |_| {}).is_err());
    }
}
