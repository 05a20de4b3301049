//! Timestamp parsing for the forms Windows log exports use.

use jiff::Timestamp;

/// A parsed instant and whether the text carried a time zone (an offset or `Z`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParsedTime {
    pub timestamp: Timestamp,
    pub had_zone: bool,
}

/// Parse `YYYY-MM-DD[T ]HH:MM[:SS[.fraction]][Z|±HH[:MM]]` (the EVTX, Sysmon, NXLog, Winlogbeat and
/// Sentinel forms), then anything else jiff reads as an instant. A time without a zone is read as
/// UTC and reported through `had_zone: false`.
pub fn parse_timestamp(s: &str) -> Option<ParsedTime> {
    let s = s.trim();
    fast_parse(s.as_bytes()).or_else(|| {
        s.parse::<Timestamp>().ok().map(|timestamp| ParsedTime { timestamp, had_zone: true })
    })
}

fn digits(b: &[u8], at: usize, n: usize) -> Option<i64> {
    let part = b.get(at..at + n)?;
    let mut v: i64 = 0;
    for &c in part {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + i64::from(c - b'0');
    }
    Some(v)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(y) => 29,
        _ => 28,
    }
}

/// Days from 1970-01-01 to the civil date (proleptic Gregorian).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn fast_parse(b: &[u8]) -> Option<ParsedTime> {
    let year = digits(b, 0, 4)?;
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    let month = digits(b, 5, 2)?;
    let day = digits(b, 8, 2)?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let mut secs_of_day = 0i64;
    let mut nanos = 0i64;
    let mut i = 10;
    if matches!(b.get(10), Some(b'T' | b't' | b' ')) {
        let hour = digits(b, 11, 2)?;
        if b.get(13) != Some(&b':') {
            return None;
        }
        let minute = digits(b, 14, 2)?;
        i = 16;
        let mut second = 0;
        if b.get(16) == Some(&b':') {
            second = digits(b, 17, 2)?;
            i = 19;
            if matches!(b.get(19), Some(b'.' | b',')) {
                i = 20;
                let mut scale = 100_000_000i64;
                let start = i;
                while let Some(c) = b.get(i).filter(|c| c.is_ascii_digit()) {
                    nanos += i64::from(c - b'0') * scale;
                    scale /= 10;
                    i += 1;
                }
                if i == start {
                    return None;
                }
            }
        }
        if hour > 23 || minute > 59 || second > 60 {
            return None;
        }
        // A leap second is read as the last second of its minute.
        secs_of_day = hour * 3600 + minute * 60 + second.min(59);
    } else if b.len() != 10 {
        return None;
    }
    let (offset, had_zone) = match b.get(i) {
        None => (0, false),
        Some(b'Z' | b'z') if i + 1 == b.len() => (0, true),
        Some(&sign @ (b'+' | b'-')) => {
            let rest = b.get(i + 1..)?;
            let (oh, om) = match rest.len() {
                2 => (digits(rest, 0, 2)?, 0),
                4 => (digits(rest, 0, 2)?, digits(rest, 2, 2)?),
                5 if rest.get(2) == Some(&b':') => (digits(rest, 0, 2)?, digits(rest, 3, 2)?),
                _ => return None,
            };
            if oh > 23 || om > 59 {
                return None;
            }
            let off = oh * 3600 + om * 60;
            (if sign == b'-' { -off } else { off }, true)
        }
        Some(b' ') if b.get(i + 1..) == Some(b"UTC") => (0, true),
        _ => return None,
    };
    let secs = days_from_civil(year, month, day) * 86_400 + secs_of_day - offset;
    let timestamp = Timestamp::new(secs, nanos as i32).ok()?;
    Some(ParsedTime { timestamp, had_zone })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Option<(String, bool)> {
        parse_timestamp(s).map(|p| (p.timestamp.to_string(), p.had_zone))
    }

    #[test]
    fn forms() {
        assert_eq!(ts("2021-10-20T13:39:12.7319042Z"), Some(("2021-10-20T13:39:12.7319042Z".into(), true)));
        assert_eq!(ts("2020-09-17 21:45:41.433"), Some(("2020-09-17T21:45:41.433Z".into(), false)));
        assert_eq!(ts("2020-09-17 17:45:41"), Some(("2020-09-17T17:45:41Z".into(), false)));
        assert_eq!(ts("2020-09-17T21:45:42.739Z"), Some(("2020-09-17T21:45:42.739Z".into(), true)));
        assert_eq!(ts("2020-09-17T23:45:42+02:00"), Some(("2020-09-17T21:45:42Z".into(), true)));
        assert_eq!(ts("2020-09-17T23:45:42+0200"), Some(("2020-09-17T21:45:42Z".into(), true)));
        assert_eq!(ts("2020-09-17T20:45:42-01"), Some(("2020-09-17T21:45:42Z".into(), true)));
        assert_eq!(ts("2024-02-29"), Some(("2024-02-29T00:00:00Z".into(), false)));
        assert_eq!(ts("1969-12-31T23:59:59Z"), Some(("1969-12-31T23:59:59Z".into(), true)));
        assert_eq!(ts("2023-02-29T00:00:00Z"), None);
        assert_eq!(ts("2020-13-01T00:00:00Z"), None);
        assert_eq!(ts("2020-01-01T24:00:00Z"), None);
        assert_eq!(ts("garbage"), None);
        assert_eq!(ts(""), None);
        assert_eq!(ts("2020-01-01T00:00:00.Z"), None);
        assert_eq!(ts("2020-01-01T00:00:00Zjunk"), None);
    }
}
