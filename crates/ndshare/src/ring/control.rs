//! The bytes of a ring segment's data: the control block, the slot records
//! and the slot buffers (docs/format.md, "Rings"), and the checks that make
//! every offset read from a segment safe to use.

use std::sync::atomic::{AtomicU32, AtomicU64};

use crate::error::{Error, Result};
use crate::format::dtype::itemsize_of;
use crate::format::header::{check_dtype_descr, MAX_DTYPE_LEN, MAX_NDIM};
use crate::segment::Segment;

pub use crate::format::ring::{
    member, offset, MAGIC, MEMBER_LEN, MEMBER_SLOTS, PRODUCER_LEN, PRODUCER_SLOTS, SUBSCRIBER_LEN,
    SUBSCRIBER_SLOTS, VERSION,
};

/// Bytes per slot record: `u32` state, `u32` pid, `u64` start ticks, `u64`
/// sequence, `u32` buffer, `u32` free-buffer stack entry (the fields of
/// [`record`]).
pub const RECORD_LEN: usize = 32;

/// Byte offsets in a slot record. Record `s mod capacity` stands for the
/// item of sequence number `s`; the item's bytes are in the slot buffer the
/// record names, which changes from item to item: the most recently freed
/// buffer is used next, so that a stream reuses a few cache-hot buffers.
pub mod record {
    /// `u32` state (the values of [`state`](super::state)).
    pub const STATE: usize = 0;
    /// `u32` pid of the process that writes or holds the item.
    pub const PID: usize = 4;
    /// `u64` start ticks of that process.
    pub const START: usize = 8;
    /// `u64` sequence number of the record's item.
    pub const SEQ: usize = 16;
    /// `u32` the slot buffer that holds the item, or [`NO_BUFFER`].
    pub const BUFFER: usize = 24;
    /// `u32` entry `i` of the free-buffer stack, in record `i`: a buffer
    /// index (meaningful below the control block's `free_top`).
    pub const FREE_ENTRY: usize = 28;
    /// The record holds no buffer: it is free or dead.
    pub const NO_BUFFER: u32 = u32::MAX;
}
/// Bytes of the control block's fixed fields: those before the lock.
const FIXED: usize = offset::LOCK;

/// Most slots a ring may have.
pub const MAX_CAPACITY: u32 = 1 << 20;

/// Record states (the record's `state`).
pub mod state {
    /// Never used, or released (queue).
    pub const FREE: u32 = 0;
    /// A producer writes it.
    pub const WRITING: u32 = 1;
    /// Committed: readable.
    pub const READY: u32 = 2;
    /// Queue: a consumer holds it.
    pub const READING: u32 = 3;
    /// Claimed and never committed: consumers skip it.
    pub const ABANDONED: u32 = 4;
    /// Broadcast: every subscriber is done with the item, and its buffer is
    /// back on the free-buffer stack. Claimable like `FREE`; readers skip
    /// it, as `ABANDONED`, without counting anything.
    pub const DEAD: u32 = 5;

    /// Whether a record in state `st` holds a buffer: it does from its
    /// claim until it is freed (queue) or dead (broadcast).
    #[must_use]
    pub fn holds_buffer(st: u32) -> bool {
        matches!(st, WRITING | READY | READING | ABANDONED)
    }
}

/// How items reach consumers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Delivery {
    /// A work queue: each item goes to exactly one consumer.
    Queue,
    /// Every subscriber gets every item; the slowest holds producers back.
    Broadcast,
    /// Every subscriber gets every item it keeps up with; a full ring
    /// overwrites the oldest items, and a subscriber is told how many it
    /// missed.
    Overwrite,
}

impl Delivery {
    pub(crate) fn code(self) -> u32 {
        match self {
            Delivery::Queue => 0,
            Delivery::Broadcast => 1,
            Delivery::Overwrite => 2,
        }
    }

    fn from_code(c: u32) -> Option<Delivery> {
        match c {
            0 => Some(Delivery::Queue),
            1 => Some(Delivery::Broadcast),
            2 => Some(Delivery::Overwrite),
            _ => None,
        }
    }

    /// Whether subscribers each see every item (the two broadcast forms).
    #[must_use]
    pub fn is_broadcast(self) -> bool {
        self != Delivery::Queue
    }
}

/// What a ring holds, checked against the segment's size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Geometry {
    pub(crate) delivery: Delivery,
    pub(crate) capacity: u32,
    pub(crate) shape: Vec<u64>,
    pub(crate) itemsize: u64,
    pub(crate) dtype: String,
    pub(crate) item_bytes: u64,
    pub(crate) slot_stride: u64,
    pub(crate) records: usize,
    pub(crate) slots: u64,
}

fn align(n: u64, to: u64) -> Option<u64> {
    n.checked_add(to - 1).map(|v| v / to * to)
}

fn too_big() -> Error {
    Error::InvalidShape("the ring is too big: its size in bytes overflows".into())
}

impl Geometry {
    /// The geometry of a new ring.
    pub(crate) fn new(
        dtype: &str,
        itemsize: u64,
        shape: &[u64],
        capacity: u32,
        delivery: Delivery,
    ) -> Result<Geometry> {
        if capacity == 0 || capacity > MAX_CAPACITY {
            return Err(Error::InvalidShape(format!(
                "a ring has 1 to {MAX_CAPACITY} slots, not {capacity}"
            )));
        }
        if shape.len() > MAX_NDIM {
            return Err(Error::InvalidShape(format!(
                "{} dimensions; at most {MAX_NDIM} are supported",
                shape.len()
            )));
        }
        check_dtype_descr(dtype)?;
        if let Some(n) = itemsize_of(dtype)? {
            if n != itemsize {
                return Err(Error::InvalidDtype(format!(
                    "dtype {dtype:?} has item size {n}, not {itemsize}"
                )));
            }
        }
        let item_bytes = shape
            .iter()
            .try_fold(itemsize, |acc, &d| acc.checked_mul(d))
            .ok_or_else(too_big)?;
        let slot_stride = if item_bytes >= 4096 {
            align(item_bytes, 4096)
        } else {
            align(item_bytes.max(1), 64)
        }
        .ok_or_else(too_big)?;
        let records = align((offset::SHAPE + 8 * shape.len() + dtype.len()) as u64, 64)
            .ok_or_else(too_big)? as usize;
        let slots =
            align((records + RECORD_LEN * capacity as usize) as u64, 4096).ok_or_else(too_big)?;
        let g = Geometry {
            delivery,
            capacity,
            shape: shape.to_vec(),
            itemsize,
            dtype: dtype.to_owned(),
            item_bytes,
            slot_stride,
            records,
            slots,
        };
        g.data_len()?;
        Ok(g)
    }

    /// Bytes of data the ring needs.
    pub(crate) fn data_len(&self) -> Result<u64> {
        self.slot_stride
            .checked_mul(u64::from(self.capacity))
            .and_then(|n| n.checked_add(self.slots))
            .filter(|&n| i64::try_from(n).is_ok())
            .ok_or_else(too_big)
    }

    /// Writes the control block of a new ring into `data` (zero-filled).
    pub(crate) fn write(&self, data: &mut [u8]) {
        let mut put = |at: usize, bytes: &[u8]| data[at..at + bytes.len()].copy_from_slice(bytes);
        put(offset::MAGIC, &MAGIC);
        put(offset::VERSION, &VERSION.to_le_bytes());
        put(offset::DELIVERY, &self.delivery.code().to_le_bytes());
        put(offset::CAPACITY, &self.capacity.to_le_bytes());
        put(offset::NDIM, &(self.shape.len() as u32).to_le_bytes());
        put(offset::ITEMSIZE, &self.itemsize.to_le_bytes());
        put(offset::ITEM_BYTES, &self.item_bytes.to_le_bytes());
        put(offset::SLOT_STRIDE, &self.slot_stride.to_le_bytes());
        put(offset::SLOTS, &self.slots.to_le_bytes());
        put(offset::DTYPE_LEN, &(self.dtype.len() as u32).to_le_bytes());
        put(offset::RECORDS, &(self.records as u32).to_le_bytes());
        let mut at = offset::SHAPE;
        for &d in &self.shape {
            put(at, &d.to_le_bytes());
            at += 8;
        }
        put(at, self.dtype.as_bytes());
        // Every record without a buffer; the stack holds every buffer, the
        // top (entry `capacity - 1`) buffer 0, so that the first claim takes
        // buffer 0, the next one buffer 1, and so on.
        for i in 0..self.capacity {
            let rec = self.records + RECORD_LEN * i as usize;
            put(rec + record::BUFFER, &record::NO_BUFFER.to_le_bytes());
            put(
                rec + record::FREE_ENTRY,
                &(self.capacity - 1 - i).to_le_bytes(),
            );
        }
        put(offset::FREE_TOP, &self.capacity.to_le_bytes());
    }

    /// Reads and checks the control block of `seg`: every offset it gives
    /// lies inside the data, so no later access can reach outside it.
    pub(crate) fn read(seg: &Segment) -> Result<Geometry> {
        let corrupt = |what: String| Error::Corrupt(format!("ring: {what}"));
        let len = seg.data_len();
        if len < FIXED {
            return Err(corrupt(format!("{len} bytes of data is too short")));
        }
        // The control block's fixed fields (up to the lock) are written
        // once, before the segment can be reached, and never again: plain
        // reads are enough.
        let mut fixed = [0u8; FIXED];
        // SAFETY: `len >= FIXED` bytes of data are mapped for as long as
        // `seg` lives; the copy reads bytes only (valid for any value).
        unsafe { std::ptr::copy_nonoverlapping(seg.data_ptr(), fixed.as_mut_ptr(), fixed.len()) };
        let u32_at = |at: usize| u32::from_le_bytes(fixed[at..at + 4].try_into().expect("4"));
        let u64_at = |at: usize| u64::from_le_bytes(fixed[at..at + 8].try_into().expect("8"));
        if fixed[..8] != MAGIC {
            return Err(corrupt("bad magic".into()));
        }
        // Before any size check: a ring of another version has another
        // layout, and the version is what to tell.
        if u32_at(offset::VERSION) != VERSION {
            return Err(corrupt(format!(
                "ring protocol version {} is not supported (this build reads version \
                 {VERSION}): make the ring again with this version of ndshare",
                u32_at(offset::VERSION)
            )));
        }
        if len < offset::SHAPE {
            return Err(corrupt(format!("{len} bytes of data is too short")));
        }
        let delivery = Delivery::from_code(u32_at(offset::DELIVERY))
            .ok_or_else(|| corrupt(format!("delivery {}", u32_at(offset::DELIVERY))))?;
        let ndim = u32_at(offset::NDIM) as usize;
        let dtype_len = u32_at(offset::DTYPE_LEN) as usize;
        if ndim > MAX_NDIM || dtype_len == 0 || dtype_len > MAX_DTYPE_LEN {
            return Err(corrupt(format!("ndim {ndim}, dtype length {dtype_len}")));
        }
        let var_end = offset::SHAPE + 8 * ndim + dtype_len;
        if var_end > len {
            return Err(corrupt("the shape and dtype reach past the data".into()));
        }
        let mut var = vec![0u8; var_end - offset::SHAPE];
        // SAFETY: `var_end <= len` bytes of data are mapped (checked above).
        unsafe {
            std::ptr::copy_nonoverlapping(
                seg.data_ptr().add(offset::SHAPE),
                var.as_mut_ptr(),
                var.len(),
            );
        };
        let shape: Vec<u64> = (0..ndim)
            .map(|i| u64::from_le_bytes(var[8 * i..8 * i + 8].try_into().expect("8")))
            .collect();
        let dtype = std::str::from_utf8(&var[8 * ndim..])
            .map_err(|_| corrupt("dtype descriptor is not UTF-8".into()))?;
        let expected = Geometry::new(
            dtype,
            u64_at(offset::ITEMSIZE),
            &shape,
            u32_at(offset::CAPACITY),
            delivery,
        )
        .map_err(|e| corrupt(e.to_string()))?;
        let found = (
            u64_at(offset::ITEM_BYTES),
            u64_at(offset::SLOT_STRIDE),
            u32_at(offset::RECORDS) as usize,
            u64_at(offset::SLOTS),
        );
        if found
            != (
                expected.item_bytes,
                expected.slot_stride,
                expected.records,
                expected.slots,
            )
            || expected.data_len()? != len as u64
        {
            return Err(corrupt(
                "its sizes and offsets do not follow from its shape and capacity".into(),
            ));
        }
        Ok(expected)
    }
}

/// The atomic words of a mapped ring, at offsets checked by [`Geometry`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Words {
    base: *mut u8,
}

// SAFETY: `Words` is a pointer into a shared mapping accessed only through
// atomics; it is as thread-safe as the atomics it hands out.
unsafe impl Send for Words {}
// SAFETY: as above.
unsafe impl Sync for Words {}

impl Words {
    /// # Safety
    /// `base` must be the 4096-aligned data of a ring segment whose
    /// geometry was checked, mapped writable for as long as the result is used.
    pub(crate) unsafe fn new(base: *mut u8) -> Words {
        Words { base }
    }

    pub(crate) fn u64(&self, at: usize) -> &AtomicU64 {
        debug_assert_eq!(at % 8, 0);
        #[allow(clippy::cast_ptr_alignment, reason = "offsets are multiples of 8")]
        // SAFETY: `at` is a constant offset of the control block or a record
        // or table offset below the checked slot area, 8-aligned in the
        // page-aligned data (see `Words::new`); words are only accessed
        // atomically by every process.
        unsafe {
            &*self.base.add(at).cast::<AtomicU64>()
        }
    }

    pub(crate) fn u32(&self, at: usize) -> &AtomicU32 {
        debug_assert_eq!(at % 4, 0);
        #[allow(clippy::cast_ptr_alignment, reason = "offsets are multiples of 4")]
        // SAFETY: as in `u64`, 4-aligned.
        unsafe {
            &*self.base.add(at).cast::<AtomicU32>()
        }
    }

    pub(crate) fn ptr(&self, at: usize) -> *mut u8 {
        // SAFETY: callers pass offsets inside the checked data.
        unsafe { self.base.add(at) }
    }
}
