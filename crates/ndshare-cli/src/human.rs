//! Numbers and times as people read them.

use std::time::{Duration, UNIX_EPOCH};

pub use ndshare::human_size as size;

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
    fn times_and_tuples() {
        assert_eq!(time(0), "1970-01-01T00:00:00Z");
        assert_eq!(time(1_700_000_000_999_999_999), "2023-11-14T22:13:20Z");
        assert_eq!(tuple::<u64>(&[]), "()");
        assert_eq!(tuple(&[5u64]), "(5,)");
        assert_eq!(tuple(&[3u64, 4]), "(3, 4)");
        assert_eq!(mode(0o600), "0600");
    }
}
