//! Applies a predicate's value transforms (`windash`, `utf16*`/`wide`, `base64`, `base64offset`)
//! so that an engine can match the values as plain strings.

use ir::Predicate;

/// Dashes a Windows command line flag may be written with (`windash`).
pub const WINDASHES: [char; 5] = ['-', '/', '\u{2013}', '\u{2014}', '\u{2015}'];

/// Upper bound on the variants `windash` produces for one value: beyond it, later dashes are left
/// as written.
const MAX_VARIANTS: usize = 3125;

/// The strings a predicate's values stand for once their transforms are applied, in order.
/// Transforms that do not change values (`expand`, time parts, fieldref sub-operators) are left
/// out. Values without transforms are returned as their text.
pub fn expand_values(p: &Predicate) -> Vec<String> {
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for v in &p.values {
        let mut cur: Vec<Vec<u8>> = vec![v.text().into_bytes()];
        for t in &p.transforms {
            cur = match t.as_str() {
                "windash" => {
                    cur.iter().flat_map(|b| windash(&String::from_utf8_lossy(b))).map(String::into_bytes).collect()
                }
                "utf16le" | "wide" => cur.iter().map(|b| utf16(&String::from_utf8_lossy(b), false, false)).collect(),
                "utf16be" => cur.iter().map(|b| utf16(&String::from_utf8_lossy(b), true, false)).collect(),
                "utf16" => cur.iter().map(|b| utf16(&String::from_utf8_lossy(b), false, true)).collect(),
                "base64" => cur.iter().map(|b| base64(b).into_bytes()).collect(),
                "base64offset" => cur.iter().flat_map(|b| base64_offsets(b)).map(String::into_bytes).collect(),
                _ => cur,
            };
        }
        for b in cur {
            let s = String::from_utf8_lossy(&b).into_owned();
            if seen.insert(s.clone()) {
                out.push(s);
            }
        }
    }
    out
}

/// Every combination of dashes for each `-` or `/` that starts the value or follows whitespace.
pub fn windash(s: &str) -> Vec<String> {
    let chars: Vec<char> = s.chars().collect();
    let mut variants: Vec<String> = vec![String::new()];
    for (i, &c) in chars.iter().enumerate() {
        let flag = (c == '-' || c == '/') && (i == 0 || chars[i - 1].is_whitespace());
        if flag && variants.len() * WINDASHES.len() <= MAX_VARIANTS {
            variants = variants
                .iter()
                .flat_map(|v| {
                    WINDASHES.iter().map(move |d| {
                        let mut n = v.clone();
                        n.push(*d);
                        n
                    })
                })
                .collect();
        } else {
            variants.iter_mut().for_each(|v| v.push(c));
        }
    }
    variants
}

fn utf16(s: &str, big_endian: bool, bom: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len() * 2 + 2);
    if bom {
        out.extend_from_slice(&[0xFF, 0xFE]);
    }
    for u in s.encode_utf16() {
        if big_endian {
            out.extend_from_slice(&u.to_be_bytes());
        } else {
            out.extend_from_slice(&u.to_le_bytes());
        }
    }
    out
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with `=` padding.
pub fn base64(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [chunk[0], chunk.get(1).copied().unwrap_or(0), chunk.get(2).copied().unwrap_or(0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let idx = [(n >> 18) & 63, (n >> 12) & 63, (n >> 6) & 63, n & 63];
        for (i, x) in idx.iter().enumerate() {
            if i <= chunk.len() {
                out.push(B64[*x as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The three encodings of `data` at byte offsets 0, 1 and 2 of a longer base64 stream, with the
/// characters that depend on the surrounding bytes removed: at offset 1 the first two characters,
/// at offset 2 the first three; at the end, the padding and the partial character before it.
pub fn base64_offsets(data: &[u8]) -> Vec<String> {
    const START: [usize; 3] = [0, 2, 3];
    (0..3)
        .filter_map(|shift| {
            let mut buf = vec![b' '; shift];
            buf.extend_from_slice(data);
            let enc = base64(&buf);
            let cut_end = match buf.len() % 3 {
                0 => 0,
                1 => 3,
                _ => 2,
            };
            let end = enc.len().saturating_sub(cut_end);
            let start = START[shift];
            (start < end).then(|| enc[start..end].to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ir::{Op, Value};

    fn pred(values: &[&str], transforms: &[&str]) -> Predicate {
        Predicate {
            field: Some("CommandLine".into()),
            op: Op::Contains,
            values: values.iter().map(|v| Value::Str(v.to_string())).collect(),
            all: false,
            case_sensitive: false,
            negated: false,
            transforms: transforms.iter().map(|t| t.to_string()).collect(),
            flags: String::new(),
            raw: String::new(),
            canonical: None,
            span: None,
        }
    }

    #[test]
    fn base64_known_encodings() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(expand_values(&pred(&["cmd.exe"], &["base64"])), vec!["Y21kLmV4ZQ=="]);
    }

    #[test]
    fn base64offset_known_encodings() {
        // Checked against Python: base64.b64encode(b' ' * i + b'/bin/bash'), trimmed per offset.
        assert_eq!(base64_offsets(b"/bin/bash"), vec!["L2Jpbi9iYXNo", "9iaW4vYmFza", "vYmluL2Jhc2"]);
        // "http": 4 bytes, so each offset ends with a different partial group.
        assert_eq!(base64_offsets(b"http"), vec!["aHR0c", "h0dH", "odHRw"]);
        assert_eq!(expand_values(&pred(&["http"], &["base64offset"])), vec!["aHR0c", "h0dH", "odHRw"]);
    }

    #[test]
    fn utf16_then_base64() {
        // "cmd" in UTF-16LE is 63 00 6d 00 64 00.
        assert_eq!(expand_values(&pred(&["cmd"], &["utf16le", "base64"])), vec!["YwBtAGQA"]);
        assert_eq!(expand_values(&pred(&["cmd"], &["wide", "base64"])), vec!["YwBtAGQA"]);
        assert_eq!(expand_values(&pred(&["cmd"], &["utf16be", "base64"])), vec!["AGMAbQBk"]);
        assert_eq!(expand_values(&pred(&["cmd"], &["utf16", "base64"])), vec!["//5jAG0AZAA="]);
        // IEX as UTF-16LE at the three offsets.
        assert_eq!(
            expand_values(&pred(&["IEX"], &["utf16le", "base64offset"])),
            vec!["SQBFAFgA", "kARQBYA", "JAEUAWA"]
        );
    }

    #[test]
    fn windash_variants() {
        let v = windash(" -exec ");
        assert_eq!(v, vec![" -exec ", " /exec ", " \u{2013}exec ", " \u{2014}exec ", " \u{2015}exec "]);
        // Two flags: every combination.
        let v = windash("-a -b");
        assert_eq!(v.len(), 25);
        assert!(v.contains(&"/a \u{2014}b".to_string()));
        // Not a flag: a dash inside a word.
        assert_eq!(windash("a-b"), vec!["a-b"]);
        let v = expand_values(&pred(&["-enc", "x"], &["windash"]));
        assert_eq!(v.len(), 6);
        assert!(v.contains(&"/enc".into()) && v.contains(&"x".into()));
        // Bounded.
        assert!(windash(&" -x".repeat(50)).len() <= MAX_VARIANTS);
    }

    #[test]
    fn no_transform_gives_the_text() {
        let mut p = pred(&["a"], &[]);
        p.values.push(Value::Int(4688));
        assert_eq!(expand_values(&p), vec!["a", "4688"]);
    }
}
