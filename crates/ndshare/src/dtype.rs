//! Element types and their dtype descriptors.
//!
//! A segment stores its dtype as numpy's `.npy` format writes it (the `descr`
//! of an NPY header): a type string such as `"<f8"`, `"|b1"`, `"<M8[ns]"`,
//! `"|S10"`, or the repr of a list of fields for structured dtypes. Rust reads
//! the simple type strings through [`Element`]; any descriptor is carried
//! as-is.

/// A Rust type that is one numpy dtype, element for element.
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
}
