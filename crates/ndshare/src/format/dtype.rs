//! Element types and their dtype descriptors.
//!
//! A segment stores its dtype as numpy's `.npy` format writes it (the `descr`
//! of an NPY header): a type string such as `"<f8"`, `"|b1"`, `"<M8[ns]"`,
//! `"|S10"`, or the repr of a list of fields for structured dtypes. Rust reads
//! the simple type strings through [`Element`]; any descriptor is carried
//! as-is.

use crate::error::{Error, Result};

/// A Rust type that is one numpy dtype, element for element.
///
/// Implemented for the fixed-size numbers (`u8` ... `u64`, `i8` ... `i64`,
/// `f32`, `f64`): the types for which every bit pattern is a valid value.
/// Data in shared memory can be written by any process at any time, so a
/// type with invalid bit patterns (`bool`, `char`, enums, references) would
/// let another process create an invalid value in this one: such types are
/// read through [`RawArray`](crate::RawArray) as bytes instead.
///
/// # Safety
/// `DESCR` must describe exactly `size_of::<Self>()` bytes, and every bit
/// pattern of that many bytes must be a valid `Self` (data written by another
/// process is read as `Self` without checks).
pub unsafe trait Element: Copy + Send + Sync + 'static {
    /// The dtype descriptor, little-endian (`"<f8"`) or byte-order free (`"|u1"`).
    const DESCR: &'static str;
}

macro_rules! element {
    ($($t:ty => $d:literal),* $(,)?) => {$(
        // SAFETY: a plain number type of the size the descriptor names, valid
        // for every bit pattern.
        unsafe impl Element for $t {
            const DESCR: &'static str = $d;
        }
    )*};
}

#[cfg(target_endian = "little")]
element! {
    u8 => "|u1", i8 => "|i1",
    u16 => "<u2", i16 => "<i2",
    u32 => "<u4", i32 => "<i4",
    u64 => "<u8", i64 => "<i8",
    f32 => "<f4", f64 => "<f8",
}

/// The item size a descriptor implies, checked.
///
/// For a type string (`"<f4"`, `"|S10"`, `"<U3"`, `"<M8[ms]"`) this is the
/// size numpy gives it: the number, times 4 for `U` (UCS-4 characters), 8 for
/// `M`/`m`. A structured descriptor (the repr of a field list, starting with
/// `[`) is not parsed here: `Ok(None)`, and numpy checks it against the
/// header's item size when Python maps the segment.
///
/// # Errors
/// [`Error::InvalidDtype`] for a type string numpy would not read back, and
/// for `O` (Python objects: pointers into one process's memory).
///
/// # Example
/// ```
/// use ndshare::format::itemsize_of;
/// assert_eq!(itemsize_of("<f4")?, Some(4));
/// assert_eq!(itemsize_of("<U3")?, Some(12));
/// assert_eq!(itemsize_of("<M8[ns]")?, Some(8));
/// assert_eq!(itemsize_of("[('x', '<f8'), ('n', '<i4')]")?, None);
/// assert!(itemsize_of("|O").is_err());
/// # Ok::<(), ndshare::Error>(())
/// ```
pub fn itemsize_of(descr: &str) -> Result<Option<u64>> {
    if descr.starts_with('[') {
        return Ok(None);
    }
    let bad = |why: &str| {
        Err(Error::InvalidDtype(format!(
            "dtype descriptor {descr:?}: {why}"
        )))
    };
    let body = descr.strip_prefix(['<', '>', '|', '=']).unwrap_or(descr);
    let mut chars = body.chars();
    let Some(kind) = chars.next() else {
        return bad("empty");
    };
    let rest = chars.as_str();
    let (digits, unit) = match rest.find('[') {
        Some(i) => (&rest[..i], Some(&rest[i..])),
        None => (rest, None),
    };
    let Ok(n) = digits.parse::<u64>() else {
        return bad("expected a type code and a size, like \"<f8\"");
    };
    if unit.is_some() && !matches!(kind, 'M' | 'm') {
        return bad("only datetime64 and timedelta64 take a unit");
    }
    let size = match kind {
        'b' if n == 1 => 1,
        'i' | 'u' if matches!(n, 1 | 2 | 4 | 8) => n,
        'f' if matches!(n, 2 | 4 | 8 | 16) => n,
        'c' if matches!(n, 8 | 16 | 32) => n,
        'M' | 'm' if n == 8 && unit.is_none_or(|u| u.len() > 2 && u.ends_with(']')) => 8,
        'S' | 'V' if n > 0 => n,
        'U' if n > 0 => n
            .checked_mul(4)
            .ok_or_else(|| Error::InvalidDtype("dtype too large".into()))?,
        'O' => return bad("Python objects cannot be shared between processes"),
        _ => return bad("not a fixed-size numpy type string"),
    };
    Ok(Some(size))
}

/// Whether a descriptor names `T`, allowing numpy's equivalent spellings of
/// the byte order (`=`/`<` on a little-endian machine, `|` for one byte).
#[must_use]
pub fn matches<T: Element>(descr: &str) -> bool {
    let norm = |d: &str| -> String {
        let d = d.strip_prefix(['<', '=', '|']).unwrap_or(d);
        d.to_owned()
    };
    !descr.starts_with('>') && norm(descr) == norm(T::DESCR)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descr_matching() {
        assert!(matches::<f64>("<f8"));
        assert!(matches::<f64>("=f8"));
        assert!(!matches::<f64>(">f8"));
        assert!(!matches::<f32>("<f8"));
        assert!(matches::<u8>("|u1"));
    }

    #[test]
    fn itemsizes() {
        for (d, n) in [
            ("|b1", 1),
            ("<i2", 2),
            ("<u8", 8),
            ("<f2", 2),
            ("<c16", 16),
            ("|S7", 7),
            ("|V3", 3),
            ("<U2", 8),
            ("<m8[s]", 8),
            ("<M8", 8),
        ] {
            assert_eq!(itemsize_of(d).unwrap(), Some(n), "{d}");
        }
        for d in [
            "",
            "<",
            "<f3",
            "<i16",
            "|O",
            "|O8",
            "<f8[ns]",
            "<M8[",
            "|S0",
            "<U99999999999999999999",
            "xyz",
        ] {
            assert!(matches!(itemsize_of(d), Err(Error::InvalidDtype(_))), "{d}");
        }
    }
}
