//! Byte offsets to 1-based line:column (columns count characters), for every front end: in
//! O(log n + 64) per lookup whatever the line length, so long single-line inputs stay linear.

use crate::Span;

const CHUNK: usize = 64;

pub struct LineIndex<'t> {
    text: &'t str,
    /// Byte offset of each line's first character.
    starts: Vec<usize>,
    /// Characters before each CHUNK-byte boundary (only for non-ASCII texts).
    chunks: Option<Vec<u32>>,
}

impl<'t> LineIndex<'t> {
    pub fn new(text: &'t str) -> Self {
        let bytes = text.as_bytes();
        let mut starts = vec![0];
        for (i, &b) in bytes.iter().enumerate() {
            // `\r\n` and lone `\r` and `\n` all end a line.
            if b == b'\n' || (b == b'\r' && bytes.get(i + 1) != Some(&b'\n')) {
                starts.push(i + 1);
            }
        }
        let chunks = if text.is_ascii() {
            None
        } else {
            let mut v = Vec::with_capacity(bytes.len() / CHUNK + 2);
            let mut count = 0u32;
            for (i, &b) in bytes.iter().enumerate() {
                if i % CHUNK == 0 {
                    v.push(count);
                }
                if (b & 0xC0) != 0x80 {
                    count += 1;
                }
            }
            v.push(count);
            Some(v)
        };
        LineIndex {
            text,
            starts,
            chunks,
        }
    }

    fn chars_before(&self, off: usize) -> usize {
        match &self.chunks {
            None => off,
            Some(cum) => {
                let k = off / CHUNK;
                let base = cum.get(k).copied().unwrap_or(0) as usize;
                let from = (k * CHUNK).min(self.text.len());
                let to = off.min(self.text.len());
                base + self.text.as_bytes()[from..to]
                    .iter()
                    .filter(|&&b| (b & 0xC0) != 0x80)
                    .count()
            }
        }
    }

    /// 1-based line and column of a byte offset.
    pub fn line_col(&self, off: usize) -> (u32, u32) {
        let off = off.min(self.text.len());
        let line = match self.starts.binary_search(&off) {
            Ok(i) => i,
            Err(i) => i.saturating_sub(1),
        };
        let start = self.starts.get(line).copied().unwrap_or(0);
        let col = self.chars_before(off) - self.chars_before(start) + 1;
        (line as u32 + 1, col as u32)
    }

    pub fn span(&self, start: usize, end: usize) -> Span {
        let end = end.max(start);
        let (line, col) = self.line_col(start);
        Span {
            start,
            end,
            line,
            col,
        }
    }
}
