//! Small segments of their own for the primitives that belong to no array:
//! [`Barrier`](crate::sync::barrier::Barrier) and [`Event`](crate::sync::event::Event).
//!
//! A primitive segment is an ordinary anonymous segment (a sealed memfd)
//! holding a one-dimensional array of [`WORDS`] little-endian `u64`
//! (`"<u8"`): word 0 is a magic naming the primitive, the others its state.
//! Being an array segment, it travels between processes exactly as arrays
//! do, and goes when its last user goes. The layout is in docs/format.md,
//! "Lock word protocol".

use std::sync::atomic::AtomicU64;

use crate::error::{Error, Result};
use crate::format::layout::{Layout, Order};
use crate::segment::Segment;

/// Words in a primitive segment's data.
pub const WORDS: usize = 8;

/// Which primitive a segment holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Barrier,
    Event,
}

impl Kind {
    /// Word 0 of the data: eight ASCII bytes, the last one a version.
    fn magic(self) -> u64 {
        u64::from_le_bytes(*match self {
            Kind::Barrier => b"NDSBARR2",
            Kind::Event => b"NDSEVNT1",
        })
    }

    fn label(self) -> &'static str {
        match self {
            Kind::Barrier => "an ndshare barrier",
            Kind::Event => "an ndshare event",
        }
    }
}

/// A new anonymous primitive segment: magic written, then `init` as
/// `(word, value)` pairs; all else zero. No other process can see it yet.
pub(crate) fn create(kind: Kind, init: &[(usize, u64)]) -> Result<Segment> {
    let layout = Layout::contiguous(&[WORDS as u64], 8, Order::C)?;
    let seg = Segment::create(layout, "<u8", None, 0o600)?;
    let w = words_unchecked(&seg);
    w[0].store(kind.magic(), std::sync::atomic::Ordering::Relaxed);
    for &(i, v) in init {
        w[i].store(v, std::sync::atomic::Ordering::Relaxed);
    }
    Ok(seg)
}

/// The state words of a primitive segment of `kind`.
///
/// # Errors
/// [`Error::TypeMismatch`] if the segment does not hold that primitive;
/// [`Error::ReadOnly`] if its data is mapped read-only.
pub(crate) fn words(seg: &Segment, kind: Kind) -> Result<&[AtomicU64; WORDS]> {
    let mismatch = |found: String| Error::TypeMismatch {
        expected: kind.label().to_owned(),
        found,
    };
    if !crate::format::dtype::matches::<u64>(seg.dtype()) || seg.layout().shape() != [WORDS as u64]
    {
        return Err(mismatch(format!(
            "an array of dtype {} and shape {:?}",
            seg.dtype(),
            seg.layout().shape()
        )));
    }
    if !seg.is_writable() {
        return Err(Error::ReadOnly);
    }
    let w = words_unchecked(seg);
    let magic = w[0].load(std::sync::atomic::Ordering::Relaxed);
    if magic != kind.magic() {
        let found = [Kind::Barrier, Kind::Event]
            .into_iter()
            .find(|k| k.magic() == magic)
            .map_or_else(|| "an array of 8 u64".to_owned(), |k| k.label().to_owned());
        return Err(mismatch(found));
    }
    Ok(w)
}

fn words_unchecked(seg: &Segment) -> &[AtomicU64; WORDS] {
    assert!(seg.data_len() >= WORDS * 8);
    #[allow(clippy::cast_ptr_alignment, reason = "the data is page-aligned")]
    // SAFETY: the data is page-aligned and at least WORDS * 8 bytes (checked
    // above: the layout is WORDS u64), mapped for as long as `seg` lives;
    // primitive words are only ever accessed atomically.
    unsafe {
        &*seg.data_ptr().cast::<[AtomicU64; WORDS]>()
    }
}
