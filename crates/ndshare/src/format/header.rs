//! The segment header: fixed, versioned, little-endian. See docs/format.md.
//!
//! A segment is one file (a memfd, or a file in /dev/shm): a header of
//! `header_len` bytes, a multiple of [`HEADER_ALIGN`] (4096), then the data.
//! The header is written once by the creator before any other process can
//! reach the segment; the `state` word is written last, with release
//! ordering, so an opener that reads `READY` with acquire ordering reads a
//! whole header (iceoryx2 does the same).
//!
//! Versioning: `magic` and the version come first and never move. A new minor
//! version only appends fields (in reserved space or after the last field)
//! and readers of an older minor version ignore them; a new major version may
//! change anything, and readers refuse majors they do not know.
//!
//! Every field read back is checked: against the others and against the
//! segment's real size from `fstat`. Parsing works on a private copy of the
//! header bytes, so a process that rewrites the header concurrently cannot
//! make a check and a use see different values.

use crate::error::{Error, Result};
use crate::format::layout::Layout;
use crate::liveness::ProcessStamp;

/// The eight bytes every segment starts with.
pub const MAGIC: [u8; 8] = *b"NDSHARE\0";
/// The major format version this build writes and reads.
pub const VERSION_MAJOR: u16 = 1;
/// The minor format version this build writes.
///
/// - 1.0: the first format.
/// - 1.1: processes that map a named array register in the attacher table
///   (the table of processes that map it, `named::Snapshot`) and count overflows in `ATTACH_OVERFLOW`.
/// - 1.2: `KIND` says what the segment holds: an array ([`KIND_ARRAY`], what
///   every earlier segment is) or a ring of arrays ([`KIND_RING`]).
/// - 1.3: the top bit of an attacher slot's `seq` marks a holder that keeps
///   its mapping after its last use (older readers ignore it).
pub const VERSION_MINOR: u16 = 3;

/// `kind`: the segment holds an array (and every segment of minor version
/// below [`KIND_SINCE_MINOR`] does).
pub const KIND_ARRAY: u32 = 0;
/// `kind`: the segment holds a ring of arrays (docs/format.md, "Rings"); its
/// header describes the data as bytes (`|u1`), so a reader that predates
/// kinds sees a byte array, and an array reader of this version refuses it.
pub const KIND_RING: u32 = 1;
/// First minor version whose header has the `KIND` field.
pub const KIND_SINCE_MINOR: u16 = 2;

/// `state`: the creator is still writing the header.
pub const STATE_INIT: u32 = 0;
/// `state`: the header is complete.
pub const STATE_READY: u32 = 0x5245_4459; // "YDER" little-endian: "READY"-ish, never 0 or 1 by accident

/// `flags` bit: the segment is a named array (a file in /dev/shm).
pub const FLAG_NAMED: u64 = 1;

/// Most dimensions a segment may have (numpy 2 allows 64).
pub const MAX_NDIM: usize = 64;
/// Longest dtype descriptor a segment may hold.
pub const MAX_DTYPE_LEN: usize = 64 * 1024;

/// Byte offsets of the header fields. docs/format.md lists the same table and
/// a test checks the two agree.
pub mod offset {
    /// `[u8; 8]` magic.
    pub const MAGIC: usize = 0;
    /// `u16` major version.
    pub const VERSION_MAJOR: usize = 8;
    /// `u16` minor version.
    pub const VERSION_MINOR: usize = 10;
    /// `u32` state: `STATE_INIT` or `STATE_READY`; written last.
    pub const STATE: usize = 12;
    /// `u64` header length = offset of the data, a multiple of 4096.
    pub const HEADER_LEN: usize = 16;
    /// `u64` data length in bytes.
    pub const DATA_LEN: usize = 24;
    /// `u64` flags.
    pub const FLAGS: usize = 32;
    /// `u32` number of dimensions.
    pub const NDIM: usize = 40;
    /// `u32` length of the dtype descriptor in bytes (of UTF-8, not characters).
    pub const DTYPE_LEN: usize = 44;
    /// `u64` item size in bytes.
    pub const ITEMSIZE: usize = 48;
    /// `u64` creation time, nanoseconds since the Unix epoch.
    pub const CREATED_NS: usize = 56;
    /// `u32` creator pid.
    pub const CREATOR_PID: usize = 64;
    /// `u64` creator start time, clock ticks since boot.
    pub const CREATOR_START: usize = 72;
    /// `u32` (since 1.1) processes mapping the array that found no free
    /// attacher slot and have not unmapped it yet.
    pub const ATTACH_OVERFLOW: usize = 80;
    /// `u32` (since 1.2) what the segment holds: `KIND_ARRAY` or `KIND_RING`.
    pub const KIND: usize = 84;
    /// Start of the lock area (64 bytes, its own cache line).
    pub const LOCK: usize = 128;
    /// Start of the read/write lock area (64 bytes).
    pub const RWLOCK: usize = 192;
    /// Start of the attacher table: `ATTACH_SLOTS` slots of 16 bytes.
    pub const ATTACHERS: usize = 256;
    /// End of the attacher table.
    pub const ATTACHERS_END: usize = ATTACHERS + super::ATTACH_SLOTS * super::ATTACH_SLOT_LEN;
    /// Start of the shape (`ndim` x `u64`), then strides (`ndim` x `i64`),
    /// then the dtype descriptor (`dtype_len` bytes, UTF-8).
    pub const SHAPE: usize = 1280;
}

/// Slots in the attacher table.
pub const ATTACH_SLOTS: usize = 64;
/// Bytes per attacher slot: `u32` pid, `u32` sequence (reserved in 1.0),
/// `u64` start ticks.
pub const ATTACH_SLOT_LEN: usize = 16;
/// First minor version whose writers keep the attacher table.
pub const ATTACHERS_SINCE_MINOR: u16 = 1;

const _: () = assert!(offset::ATTACHERS_END == offset::SHAPE);

/// Header length is a multiple of this, so the data is page-aligned on every
/// page size up to 4 KiB and at least 64-byte aligned (for SIMD) everywhere.
pub const HEADER_ALIGN: usize = 4096;

/// What a header says, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Minor version found (the major is always [`VERSION_MAJOR`]).
    pub version_minor: u16,
    /// Offset of the data.
    pub header_len: u64,
    /// Length of the data region.
    pub data_len: u64,
    /// `FLAG_*` bits.
    pub flags: u64,
    /// Element layout of the array.
    pub layout: Layout,
    /// The dtype descriptor (numpy's `.npy` `descr` form).
    pub dtype: String,
    /// Creation time, ns since the Unix epoch.
    pub created_ns: u64,
    /// Who created the segment.
    pub creator: ProcessStamp,
    /// What the segment holds: [`KIND_ARRAY`] or [`KIND_RING`] (another
    /// value: a kind this build does not know).
    pub kind: u32,
}

fn rd_u16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}
fn rd_u32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}
fn rd_u64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}
fn wr_u16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_le_bytes());
}
fn wr_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}
fn wr_u64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

/// Rounds `n` up to a multiple of [`HEADER_ALIGN`].
fn align_up(n: usize) -> usize {
    n.div_ceil(HEADER_ALIGN) * HEADER_ALIGN
}

/// Length of the header for an array of `ndim` dimensions and a dtype
/// descriptor of `dtype_len` bytes.
#[must_use]
pub fn header_len_for(ndim: usize, dtype_len: usize) -> usize {
    align_up(offset::SHAPE + 16 * ndim + dtype_len)
}

impl Header {
    /// A header for a new segment holding `layout` with `dtype`.
    ///
    /// # Errors
    /// [`Error::InvalidDtype`] for a descriptor a segment cannot hold (empty,
    /// longer than [`MAX_DTYPE_LEN`] bytes, or with a control character);
    /// [`Error::InvalidShape`] for too many dimensions or too many bytes.
    pub fn new(
        layout: Layout,
        dtype: &str,
        flags: u64,
        creator: ProcessStamp,
        created_ns: u64,
    ) -> Result<Header> {
        check_dtype_descr(dtype)?;
        if layout.ndim() > MAX_NDIM {
            return Err(Error::InvalidShape(format!(
                "{} dimensions; at most {MAX_NDIM} are supported",
                layout.ndim()
            )));
        }
        let header_len = header_len_for(layout.ndim(), dtype.len()) as u64;
        let data_len = layout.required_bytes()?;
        // Never write a header that `decode` would refuse: strides given by
        // the caller must keep every element inside the data.
        layout.check_fits(0, data_len)?;
        header_len
            .checked_add(data_len)
            .filter(|&n| i64::try_from(n).is_ok())
            .ok_or_else(|| Error::InvalidShape("array is too big".into()))?;
        Ok(Header {
            version_minor: VERSION_MINOR,
            header_len,
            data_len,
            flags,
            layout,
            dtype: dtype.to_owned(),
            created_ns,
            creator,
            kind: KIND_ARRAY,
        })
    }

    /// Total bytes of the segment.
    #[must_use]
    pub fn segment_len(&self) -> u64 {
        self.header_len + self.data_len
    }

    /// The header bytes, `state` left at `STATE_INIT`: the caller copies them
    /// in and then publishes `STATE_READY` (see [`Segment::create`](crate::Segment::create)).
    #[must_use]
    pub fn encode(&self) -> Vec<u8> {
        let mut b = vec![0u8; self.header_len as usize];
        b[offset::MAGIC..offset::MAGIC + 8].copy_from_slice(&MAGIC);
        wr_u16(&mut b, offset::VERSION_MAJOR, VERSION_MAJOR);
        wr_u16(&mut b, offset::VERSION_MINOR, self.version_minor);
        wr_u32(&mut b, offset::STATE, STATE_INIT);
        wr_u64(&mut b, offset::HEADER_LEN, self.header_len);
        wr_u64(&mut b, offset::DATA_LEN, self.data_len);
        wr_u64(&mut b, offset::FLAGS, self.flags);
        wr_u32(&mut b, offset::NDIM, self.layout.ndim() as u32);
        wr_u32(&mut b, offset::DTYPE_LEN, self.dtype.len() as u32);
        wr_u64(&mut b, offset::ITEMSIZE, self.layout.itemsize());
        wr_u64(&mut b, offset::CREATED_NS, self.created_ns);
        wr_u32(&mut b, offset::CREATOR_PID, self.creator.pid);
        wr_u64(&mut b, offset::CREATOR_START, self.creator.start_ticks);
        wr_u32(&mut b, offset::KIND, self.kind);
        let mut at = offset::SHAPE;
        for &d in self.layout.shape() {
            wr_u64(&mut b, at, d);
            at += 8;
        }
        for &s in self.layout.strides() {
            wr_u64(&mut b, at, s as u64);
            at += 8;
        }
        b[at..at + self.dtype.len()].copy_from_slice(self.dtype.as_bytes());
        b
    }

    /// Parses and checks a header.
    ///
    /// `bytes` is a private copy of at least the segment's first page (or the
    /// whole segment if shorter); `segment_len` is the segment's real size.
    ///
    /// # Errors
    /// [`Error::Corrupt`] for anything inconsistent, [`Error::VersionMismatch`]
    /// for a major version this build does not read.
    pub fn decode(bytes: &[u8], segment_len: u64) -> Result<Header> {
        let corrupt = |what: String| Err(Error::Corrupt(what));
        if bytes.len() < offset::SHAPE {
            return corrupt(format!("{segment_len} bytes is too short for a header"));
        }
        if bytes[..8] != MAGIC {
            return corrupt("not an ndshare segment (bad magic)".into());
        }
        let major = rd_u16(bytes, offset::VERSION_MAJOR);
        let minor = rd_u16(bytes, offset::VERSION_MINOR);
        if major != VERSION_MAJOR {
            return Err(Error::VersionMismatch {
                found_major: major,
                found_minor: minor,
                supported: VERSION_MAJOR,
            });
        }
        let state = rd_u32(bytes, offset::STATE);
        if state != STATE_READY {
            return corrupt("the header was never completed (its creator died while writing it, or is still writing)".into());
        }
        let header_len = rd_u64(bytes, offset::HEADER_LEN);
        let data_len = rd_u64(bytes, offset::DATA_LEN);
        let ndim = rd_u32(bytes, offset::NDIM) as usize;
        let dtype_len = rd_u32(bytes, offset::DTYPE_LEN) as usize;
        let itemsize = rd_u64(bytes, offset::ITEMSIZE);
        if ndim > MAX_NDIM {
            return corrupt(format!("ndim {ndim} exceeds {MAX_NDIM}"));
        }
        if dtype_len == 0 || dtype_len > MAX_DTYPE_LEN {
            return corrupt(format!("dtype descriptor length {dtype_len}"));
        }
        let needed = header_len_for(ndim, dtype_len) as u64;
        if header_len < needed || header_len % HEADER_ALIGN as u64 != 0 {
            return corrupt(format!(
                "header length {header_len} (needs {needed}, a multiple of {HEADER_ALIGN})"
            ));
        }
        match header_len.checked_add(data_len) {
            Some(total) if total == segment_len => {}
            _ => {
                return corrupt(format!(
                    "header says {header_len} + {data_len} bytes but the segment has {segment_len}"
                ))
            }
        }
        let var_end = offset::SHAPE + 16 * ndim + dtype_len;
        if bytes.len() < var_end {
            return corrupt("header extends past the bytes read".into());
        }
        let mut at = offset::SHAPE;
        let mut shape = Vec::with_capacity(ndim);
        for _ in 0..ndim {
            shape.push(rd_u64(bytes, at));
            at += 8;
        }
        let mut strides = Vec::with_capacity(ndim);
        for _ in 0..ndim {
            strides.push(rd_u64(bytes, at) as i64);
            at += 8;
        }
        let dtype = std::str::from_utf8(&bytes[at..at + dtype_len])
            .map_err(|_| Error::Corrupt("dtype descriptor is not UTF-8".into()))?
            .to_owned();
        check_dtype_descr(&dtype).map_err(|e| Error::Corrupt(e.to_string()))?;
        let layout = Layout::from_parts(shape, strides, itemsize)
            .map_err(|e| Error::Corrupt(e.to_string()))?;
        layout
            .check_fits(0, data_len)
            .map_err(|e| Error::Corrupt(e.to_string()))?;
        Ok(Header {
            version_minor: minor,
            header_len,
            data_len,
            flags: rd_u64(bytes, offset::FLAGS),
            layout,
            dtype,
            created_ns: rd_u64(bytes, offset::CREATED_NS),
            creator: ProcessStamp {
                pid: rd_u32(bytes, offset::CREATOR_PID),
                start_ticks: rd_u64(bytes, offset::CREATOR_START),
            },
            kind: if minor >= KIND_SINCE_MINOR {
                rd_u32(bytes, offset::KIND)
            } else {
                KIND_ARRAY
            },
        })
    }

    /// Whether the segment holds an array (not a ring).
    #[must_use]
    pub fn is_array(&self) -> bool {
        self.kind == KIND_ARRAY
    }

    /// What the segment holds, in words: "an array", "an ndshare ring".
    #[must_use]
    pub fn kind_label(&self) -> String {
        match self.kind {
            KIND_ARRAY => "an array".to_owned(),
            KIND_RING => "an ndshare ring (open it with ndshare.attach_ring / RawRing)".to_owned(),
            k => format!("a segment of unknown kind {k}"),
        }
    }

    /// Whether this is a named array.
    #[must_use]
    pub fn is_named(&self) -> bool {
        self.flags & FLAG_NAMED != 0
    }
}

/// A dtype descriptor is 1 to [`MAX_DTYPE_LEN`] bytes of UTF-8 (a `&str`
/// already is UTF-8) without control characters: the CLI prints it to a
/// terminal and numpy parses it. Field names are not restricted to ASCII;
/// Python's `repr`, which writes structured descriptors, escapes every
/// character it does not print (NUL, newline, a lone surrogate), so no name
/// numpy accepts is refused.
pub(crate) fn check_dtype_descr(d: &str) -> Result<()> {
    if d.is_empty() || d.len() > MAX_DTYPE_LEN {
        return Err(Error::InvalidDtype(format!(
            "the dtype descriptor is {} bytes of UTF-8; a segment holds 1 to {MAX_DTYPE_LEN}",
            d.len()
        )));
    }
    if let Some(c) = d.chars().find(|c| c.is_control()) {
        return Err(Error::InvalidDtype(format!(
            "the dtype descriptor holds the control character {c:?}, which is not printable"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::layout::Order;

    fn sample() -> Header {
        let layout = Layout::contiguous(&[3, 4], 8, Order::C).unwrap();
        Header::new(
            layout,
            "<f8",
            0,
            ProcessStamp {
                pid: 42,
                start_ticks: 7,
            },
            123,
        )
        .unwrap()
    }

    fn ready(h: &Header) -> Vec<u8> {
        let mut b = h.encode();
        wr_u32(&mut b, offset::STATE, STATE_READY);
        b
    }

    #[test]
    fn round_trip() {
        let h = sample();
        let b = ready(&h);
        assert_eq!(b.len(), 4096);
        assert_eq!(Header::decode(&b, h.segment_len()).unwrap(), h);
    }

    #[test]
    fn non_ascii_descriptor_round_trips_as_utf8() {
        // What numpy writes for field names of several scripts.
        let descr = "[('temp\u{e9}rature', '<f4'), ('\u{df}', '<i2'), ('\u{6e29}\u{5ea6}', '<f8')]";
        let h = Header::new(
            Layout::contiguous(&[5], 14, Order::C).unwrap(),
            descr,
            0,
            ProcessStamp {
                pid: 1,
                start_ticks: 1,
            },
            1,
        )
        .unwrap();
        let b = ready(&h);
        let len = rd_u32(&b, offset::DTYPE_LEN) as usize;
        assert_eq!(len, descr.len(), "the length counts bytes");
        assert!(len > descr.chars().count());
        assert_eq!(
            &b[offset::SHAPE + 16..offset::SHAPE + 16 + len],
            descr.as_bytes()
        );
        let back = Header::decode(&b, h.segment_len()).unwrap();
        assert_eq!(back.dtype, descr);
        assert_eq!(back.layout.itemsize(), 14);
    }

    #[test]
    fn descriptor_limits_count_bytes_and_refuse_control_characters() {
        let layout = || Layout::contiguous(&[1], 4, Order::C).unwrap();
        let new = |d: &str| {
            Header::new(
                layout(),
                d,
                0,
                ProcessStamp {
                    pid: 1,
                    start_ticks: 1,
                },
                1,
            )
        };
        // 2 bytes a character: within the limit in characters, not in bytes.
        let long = format!("[('{}', '<f4')]", "\u{e9}".repeat(MAX_DTYPE_LEN / 2));
        assert!(long.chars().count() < MAX_DTYPE_LEN);
        assert!(matches!(new(&long), Err(Error::InvalidDtype(m)) if m.contains("bytes")));
        for d in [
            "",
            "[('a\0', '<f4')]",
            "[('a\n', '<f4')]",
            "[('\u{85}', '<f4')]",
        ] {
            assert!(matches!(new(d), Err(Error::InvalidDtype(_))), "{d:?}");
        }
        // A header whose descriptor bytes are not UTF-8 is corrupt.
        let h = new("<f4").unwrap();
        let mut b = ready(&h);
        b[offset::SHAPE + 16 + 1] = 0xe9;
        assert!(matches!(
            Header::decode(&b, h.segment_len()),
            Err(Error::Corrupt(_))
        ));
    }

    #[test]
    fn unfinished_header_is_refused() {
        let h = sample();
        let b = h.encode();
        assert!(matches!(
            Header::decode(&b, h.segment_len()),
            Err(Error::Corrupt(_))
        ));
    }

    #[test]
    fn future_major_is_refused() {
        let h = sample();
        let mut b = ready(&h);
        wr_u16(&mut b, offset::VERSION_MAJOR, 2);
        assert!(matches!(
            Header::decode(&b, h.segment_len()),
            Err(Error::VersionMismatch { found_major: 2, .. })
        ));
    }

    #[test]
    fn newer_minor_is_read() {
        let h = sample();
        let mut b = ready(&h);
        wr_u16(&mut b, offset::VERSION_MINOR, 9);
        assert_eq!(
            Header::decode(&b, h.segment_len()).unwrap().version_minor,
            9
        );
    }

    #[test]
    fn size_mismatch_is_refused() {
        let h = sample();
        let b = ready(&h);
        assert!(Header::decode(&b, h.segment_len() - 1).is_err());
        assert!(Header::decode(&b, h.segment_len() + 4096).is_err());
        assert!(Header::decode(&b[..100], h.segment_len()).is_err());
    }

    #[test]
    fn lying_strides_are_refused() {
        let h = sample();
        let mut b = ready(&h);
        // stride of axis 0 made to jump past the data
        wr_u64(&mut b, offset::SHAPE + 16, 1 << 40);
        assert!(matches!(
            Header::decode(&b, h.segment_len()),
            Err(Error::Corrupt(_))
        ));
    }

    #[test]
    fn every_byte_flipped_never_panics() {
        let h = sample();
        let good = ready(&h);
        for i in 0..offset::SHAPE + 64 {
            for v in [0u8, 1, 0x7f, 0x80, 0xff] {
                let mut b = good.clone();
                b[i] = v;
                let _ = Header::decode(&b, h.segment_len());
            }
        }
    }
}
