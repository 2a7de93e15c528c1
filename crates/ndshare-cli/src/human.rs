//! Numbers and times as people read them.

use std::time::{Duration, UNIX_EPOCH};

/// A byte count in binary units: `512 B`, `1.5 KiB`, `96 MiB`.
#[must_use]
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    // Precision beyond three digits is not shown anyway.
    #[allow(clippy::cast_precision_loss)]
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if value < 10.0 {
        format!("{value:.1} {}", UNITS[unit])
    } else {
        format!("{value:.0} {}", UNITS[unit])
    }
}

/// A time given in nanoseconds since the Unix epoch, as RFC 3339 in UTC to
/// the second: `2026-11-01T12:34:56Z`.
#[must_use]
pub fn time(ns: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_nanos(ns)).to_string()
}

/// A shape as Python writes a tuple: `(3, 4)`, `(5,)`, `()`.
#[must_use]
pub fn tuple<T: std::fmt::Display>(items: &[T]) -> String {
    match items {
        [] => "()".to_owned(),
        [one] => format!("({one},)"),
        many => format!(
            "({})",
            many.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Permission bits as `ls -l` and `stat` count them: `0600`.
#[must_use]
pub fn mode(bits: u32) -> String {
    format!("{bits:04o}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(size(0), "0 B");
        assert_eq!(size(1023), "1023 B");
        assert_eq!(size(1024), "1.0 KiB");
        assert_eq!(size(1536), "1.5 KiB");
        assert_eq!(size(96 * 1024 * 1024), "96 MiB");
        assert_eq!(size(3 << 30), "3.0 GiB");
        assert_eq!(size(u64::MAX), "16 EiB");
    }

    #[test]
    fn times_and_tuples() {
        assert_eq!(time(0), "1970-01-01T00:00:00Z");
        assert_eq!(time(1_700_000_000_999_999_999), "2023-11-14T22:13:20Z");
        assert_eq!(tuple::<u64>(&[]), "()");
        assert_eq!(tuple(&[5u64]), "(5,)");
        assert_eq!(tuple(&[3u64, 4]), "(3, 4)");
        assert_eq!(mode(0o600), "0600");
    }
}
