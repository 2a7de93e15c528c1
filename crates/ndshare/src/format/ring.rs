//! The layout of a ring's control block (docs/format.md, "Rings"), shared
//! by the ring itself and by the reports that read a ring's counters from
//! its file without attaching it.

use crate::format::header::MAX_DTYPE_LEN;
use crate::format::header::MAX_NDIM;

/// The first 8 bytes of a ring's data.
pub const MAGIC: [u8; 8] = *b"NDSRING1";
/// The ring protocol version this build writes and reads: 2 added the
/// member table and the slot buffers that records point to (a ring of
/// version 1 is refused, not read).
pub const VERSION: u32 = 2;

/// Byte offsets in the control block, from the start of the segment's data.
pub mod offset {
    /// `[u8; 8]` magic `NDSRING1`.
    pub const MAGIC: usize = 0;
    /// `u32` protocol version (2).
    pub const VERSION: usize = 8;
    /// `u32` delivery: 0 queue, 1 broadcast, 2 broadcast with overwrite.
    pub const DELIVERY: usize = 12;
    /// `u32` number of slot records, and of slot buffers.
    pub const CAPACITY: usize = 16;
    /// `u32` dimensions of an item.
    pub const NDIM: usize = 20;
    /// `u64` bytes per element of an item.
    pub const ITEMSIZE: usize = 24;
    /// `u64` bytes of one item (C-contiguous).
    pub const ITEM_BYTES: usize = 32;
    /// `u64` bytes from one slot buffer to the next.
    pub const SLOT_STRIDE: usize = 40;
    /// `u64` offset of slot buffer 0 from the start of the data.
    pub const SLOTS: usize = 48;
    /// `u32` length of the item's dtype descriptor.
    pub const DTYPE_LEN: usize = 56;
    /// `u32` offset of the slot records from the start of the data.
    pub const RECORDS: usize = 60;
    /// `u64` the lock word (the lock word protocol of array headers).
    pub const LOCK: usize = 64;
    /// `u64` sequence number the next claimed slot gets.
    pub const HEAD: usize = 128;
    /// `u64` queue delivery: sequence number of the next item to deliver.
    pub const TAIL: usize = 136;
    /// `u32` 1 once closed.
    pub const CLOSED: usize = 144;
    /// `u32` producers ever registered.
    pub const PRODUCERS_EVER: usize = 148;
    /// `u64` items committed.
    pub const PUT: usize = 152;
    /// `u64` items delivered (to each subscriber, in broadcast).
    pub const GOT: usize = 160;
    /// `u64` items overwritten before a subscriber read them.
    pub const DROPPED: usize = 168;
    /// `u64` slots claimed but never committed (aborted, or the producer died).
    pub const ABANDONED: usize = 176;
    /// `u64` queue items taken by consumers that died before releasing them.
    pub const LOST: usize = 184;
    /// `u32` futex: changes whenever an item may have become available.
    pub const ITEMS: usize = 192;
    /// `u32` consumers sleeping on `ITEMS`.
    pub const GET_WAITERS: usize = 196;
    /// `u32` futex: changes whenever a slot may have become free.
    pub const SPACE: usize = 200;
    /// `u32` producers sleeping on `SPACE`.
    pub const PUT_WAITERS: usize = 204;
    /// `u32` processes that found the member table full (each one makes
    /// every waiter poll while it is counted).
    pub const MEMBERS_OVERFLOW: usize = 208;
    /// `u32` buffers on the free-buffer stack (its entries live in the slot
    /// records: entry `i` in record `i`).
    pub const FREE_TOP: usize = 212;
    /// `u64` broadcast: every item with a smaller sequence number has given
    /// its buffer back to the free-buffer stack.
    pub const RECLAIMED: usize = 216;
    /// Producer table: `PRODUCER_SLOTS` entries of `PRODUCER_LEN` bytes.
    pub const PRODUCERS: usize = 256;
    /// Subscriber table: `SUBSCRIBER_SLOTS` entries of `SUBSCRIBER_LEN` bytes.
    pub const SUBSCRIBERS: usize = 768;
    /// Member table: `MEMBER_SLOTS` entries of `MEMBER_LEN` bytes.
    pub const MEMBERS: usize = 3840;
    /// The item's shape (`ndim` x `u64`), then its dtype descriptor.
    pub const SHAPE: usize = 4864;
}

/// Entries in the producer table: `u32` pid (0: empty), `u32` zero, `u64`
/// start ticks.
pub const PRODUCER_SLOTS: usize = 32;
/// Bytes per producer entry.
pub const PRODUCER_LEN: usize = 16;
/// Entries in the subscriber table: `u32` state (0 free, 1 active), `u32`
/// pid, `u64` start ticks, `u64` cursor, `u64` held (sequence + 1, or 0),
/// `u64` missed, `u64` zero.
pub const SUBSCRIBER_SLOTS: usize = 64;
/// Bytes per subscriber entry.
pub const SUBSCRIBER_LEN: usize = 48;
/// Entries in the member table, one per process (per handle of the ring in
/// it) that takes part: `u32` wake word, `u32` pid (0: free), `u64` start
/// ticks. The wake word holds the thread id of the member's death watch
/// (0: none), with the bits of [`member`].
pub const MEMBER_SLOTS: usize = 64;
/// Bytes per member entry.
pub const MEMBER_LEN: usize = 16;
const _: () = assert!(offset::PRODUCERS + PRODUCER_SLOTS * PRODUCER_LEN == offset::SUBSCRIBERS);
const _: () = assert!(offset::SUBSCRIBERS + SUBSCRIBER_SLOTS * SUBSCRIBER_LEN == offset::MEMBERS);
const _: () = assert!(offset::MEMBERS + MEMBER_SLOTS * MEMBER_LEN == offset::SHAPE);
const _: () = assert!(offset::MEMBERS_OVERFLOW + 4 <= offset::FREE_TOP);
const _: () = assert!(offset::FREE_TOP + 4 <= offset::RECLAIMED && offset::RECLAIMED % 8 == 0);
const _: () = assert!(offset::RECLAIMED + 8 <= offset::PRODUCERS);

/// The bits of a member's wake word: those of the kernel's robust futexes
/// (`futex(2)`), which the kernel writes when the thread the word names ends.
pub mod member {
    /// Bits 0-29: the thread id of the member's death watch; 0: the member
    /// has none (a process that does not register one), and waiters poll.
    pub const TID_MASK: u32 = 0x3fff_ffff;
    /// Bit 30: the thread ended (the kernel sets it): its process died, or
    /// called `execve`.
    pub const OWNER_DIED: u32 = 0x4000_0000;
    /// Bit 31: some process sleeps on the word.
    pub const WAITERS: u32 = 0x8000_0000;
}

/// Bytes of a ring's data that [`RingReport::parse`] reads: the control
/// block up to the longest shape and dtype descriptor.
pub const REPORT_PREFIX: usize = offset::SHAPE + 8 * MAX_NDIM + MAX_DTYPE_LEN;

/// What a ring's control block says: its item, its delivery and its
/// counters, read from its file at one moment without attaching it (each
/// counter is exact; they may be from slightly different moments).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct RingReport {
    /// How items reach consumers: `queue`, `broadcast` or `overwrite`.
    pub delivery: String,
    /// Number of slots.
    pub capacity: u32,
    /// The dtype descriptor of one item.
    pub item_dtype: String,
    /// The shape of one item.
    pub item_shape: Vec<u64>,
    /// Items committed.
    pub put: u64,
    /// Items delivered (in broadcast, each delivery to each subscriber).
    pub got: u64,
    /// Items overwritten before a subscriber read them (overwrite mode).
    pub dropped: u64,
    /// Slots claimed but never committed: aborted, or their producer died.
    pub abandoned: u64,
    /// Queue items taken by consumers that died before releasing them.
    pub lost: u64,
    /// Active subscribers (broadcast and overwrite).
    pub subscribers: u32,
    /// Producers registered (alive or not yet found dead).
    pub producers: u32,
    /// Whether the ring was closed.
    pub closed: bool,
}

impl RingReport {
    /// The report of a ring's data (at least its first `REPORT_PREFIX`
    /// bytes, fewer if the data is shorter); `None` if it is not a ring's
    /// control block of this protocol version, or a field is out of range.
    #[must_use]
    pub fn parse(data: &[u8]) -> Option<RingReport> {
        let bytes = |at: usize, n: usize| data.get(at..at.checked_add(n)?);
        let u32_at = |at| Some(u32::from_le_bytes(bytes(at, 4)?.try_into().ok()?));
        let u64_at = |at| Some(u64::from_le_bytes(bytes(at, 8)?.try_into().ok()?));
        if bytes(offset::MAGIC, 8)? != MAGIC || u32_at(offset::VERSION)? != VERSION {
            return None;
        }
        let delivery = match u32_at(offset::DELIVERY)? {
            0 => "queue",
            1 => "broadcast",
            2 => "overwrite",
            _ => return None,
        };
        let ndim = u32_at(offset::NDIM)? as usize;
        let dtype_len = u32_at(offset::DTYPE_LEN)? as usize;
        if ndim > MAX_NDIM || dtype_len > MAX_DTYPE_LEN {
            return None;
        }
        let item_shape = (0..ndim)
            .map(|i| u64_at(offset::SHAPE + 8 * i))
            .collect::<Option<Vec<u64>>>()?;
        let item_dtype = std::str::from_utf8(bytes(offset::SHAPE + 8 * ndim, dtype_len)?)
            .ok()?
            .to_owned();
        let count = |table: usize, slots: usize, len: usize, used: fn(u32) -> bool| {
            (0..slots)
                .map(|i| u32_at(table + len * i).map(used))
                .try_fold(0u32, |n, u| Some(n + u32::from(u?)))
        };
        Some(RingReport {
            delivery: delivery.to_owned(),
            capacity: u32_at(offset::CAPACITY)?,
            item_dtype,
            item_shape,
            put: u64_at(offset::PUT)?,
            got: u64_at(offset::GOT)?,
            dropped: u64_at(offset::DROPPED)?,
            abandoned: u64_at(offset::ABANDONED)?,
            lost: u64_at(offset::LOST)?,
            subscribers: count(offset::SUBSCRIBERS, SUBSCRIBER_SLOTS, SUBSCRIBER_LEN, |s| {
                s == 1
            })?,
            producers: count(offset::PRODUCERS, PRODUCER_SLOTS, PRODUCER_LEN, |p| p != 0)?,
            closed: u32_at(offset::CLOSED)? != 0,
        })
    }
}
