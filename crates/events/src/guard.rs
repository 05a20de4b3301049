//! Readers that bound what an archive may yield (zip bombs) and count what passes.

use std::cell::Cell;
use std::io::{self, Read};
use std::rc::Rc;

/// Why a guard stopped reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Trip {
    /// The archive as a whole yielded more than its limit.
    Total { limit: u64 },
    /// An entry (or a gzip stream) expanded more than the ratio allows.
    Ratio { out: u64, compressed: u64, max: u64 },
}

impl Trip {
    pub(crate) fn describe(self) -> String {
        match self {
            Trip::Total { limit } => format!(
                "archive limit reached: it yielded more than {limit} decompressed bytes (possible zip bomb); the rest was not read"
            ),
            Trip::Ratio { out, compressed, max } => format!(
                "compression ratio over {max}:1 ({out} bytes out of {compressed} compressed; likely a zip bomb): skipped"
            ),
        }
    }
}

/// Decompressed bytes an archive (and the archives inside it) may still yield.
#[derive(Debug)]
pub(crate) struct Budget {
    limit: u64,
    used: Cell<u64>,
    trip: Cell<Option<Trip>>,
}

impl Budget {
    pub(crate) fn new(limit: u64) -> Self {
        Budget { limit, used: Cell::new(0), trip: Cell::new(None) }
    }

    pub(crate) fn remaining(&self) -> u64 {
        self.limit.saturating_sub(self.used.get())
    }

    pub(crate) fn limit(&self) -> u64 {
        self.limit
    }

    pub(crate) fn exhausted(&self) -> bool {
        matches!(self.trip.get(), Some(Trip::Total { .. })) || self.used.get() > self.limit
    }

    /// The trip since the last call, if any (a total trip stays: the budget is spent).
    pub(crate) fn take_trip(&self) -> Option<Trip> {
        let t = self.trip.get();
        if !matches!(t, Some(Trip::Total { .. })) {
            self.trip.set(None);
        }
        t
    }
}

/// Where the compressed size of what a guard reads comes from.
#[derive(Debug, Clone)]
pub(crate) enum Compressed {
    /// Known up front (a zip entry's header).
    Fixed(u64),
    /// Counted as the compressed stream is read (gzip).
    Counted(Rc<Cell<u64>>),
}

/// Passes reads through, failing once the budget or the ratio is exceeded.
pub(crate) struct Guard<'b, R> {
    pub(crate) inner: R,
    budget: &'b Budget,
    out: u64,
    compressed: Compressed,
    max_ratio: u64,
    grace: u64,
}

impl<'b, R: Read> Guard<'b, R> {
    pub(crate) fn new(inner: R, budget: &'b Budget, compressed: Compressed, max_ratio: u64, grace: u64) -> Self {
        Guard { inner, budget, out: 0, compressed, max_ratio, grace }
    }
}

impl<R> Guard<'_, R> {
    /// Bytes passed through so far.
    pub(crate) fn out(&self) -> u64 {
        self.out
    }
}

impl<R: Read> Read for Guard<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.budget.exhausted() {
            return Err(io::Error::other("archive limit reached"));
        }
        let n = self.inner.read(buf)?;
        self.out += n as u64;
        let used = self.budget.used.get().saturating_add(n as u64);
        self.budget.used.set(used);
        if used > self.budget.limit {
            self.budget.trip.set(Some(Trip::Total { limit: self.budget.limit }));
            return Err(io::Error::other("archive limit reached"));
        }
        if self.out > self.grace {
            let compressed = match &self.compressed {
                Compressed::Fixed(c) => *c,
                Compressed::Counted(c) => c.get(),
            };
            if self.out / compressed.max(1) > self.max_ratio {
                self.budget.trip.set(Some(Trip::Ratio { out: self.out, compressed, max: self.max_ratio }));
                return Err(io::Error::other("compression ratio limit reached"));
            }
        }
        Ok(n)
    }
}

/// Counts the bytes read through it.
pub(crate) struct Counting<R> {
    pub(crate) inner: R,
    pub(crate) count: Rc<Cell<u64>>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.set(self.count.get() + n as u64);
        Ok(n)
    }
}

/// Fails once more than `max` bytes were read since `since` was last reset to 0 (one JSON event).
pub(crate) struct PerEventLimit<R> {
    pub(crate) inner: R,
    pub(crate) since: Rc<Cell<u64>>,
    pub(crate) total: Rc<Cell<u64>>,
    pub(crate) max: u64,
}

impl<R: Read> Read for PerEventLimit<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.total.set(self.total.get() + n as u64);
        let since = self.since.get() + n as u64;
        self.since.set(since);
        if since > self.max {
            return Err(io::Error::other(format!("one event is larger than the limit of {} bytes", self.max)));
        }
        Ok(n)
    }
}

/// Read up to `n` bytes (fewer only at the end of the input).
pub(crate) fn read_head(r: &mut dyn Read, n: usize) -> io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(n);
    r.take(n as u64).read_to_end(&mut head)?;
    Ok(head)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guard_trips_on_total_and_ratio() {
        let budget = Budget::new(1000);
        let zeros = vec![0u8; 5000];
        let mut g = Guard::new(&zeros[..], &budget, Compressed::Fixed(5000), 1000, 0);
        let mut out = Vec::new();
        assert!(g.read_to_end(&mut out).is_err());
        assert!(matches!(budget.take_trip(), Some(Trip::Total { .. })));
        assert!(budget.exhausted());

        let budget = Budget::new(1 << 30);
        let mut g = Guard::new(&zeros[..], &budget, Compressed::Fixed(10), 100, 100);
        assert!(g.read_to_end(&mut Vec::new()).is_err());
        assert!(matches!(budget.take_trip(), Some(Trip::Ratio { .. })));
        assert!(budget.take_trip().is_none());
    }
}
