//! [`RawRing`]: the ring protocol (docs/format.md, "Rings"), for items of
//! any dtype seen as bytes.
//!
//! Every change of the shared state is made under the ring's lock, a robust
//! lock word of the same protocol as an array's: a process that dies holding
//! it is noticed by the next locker within 50 ms, which then runs the same
//! repair as any waiter ([`RawRing`]'s `reap`). Item data is written and read
//! outside the lock: a slot buffer belongs to one producer between claim and
//! commit, and goes back to the free-buffer stack only once no consumer can
//! read it any more.
//!
//! The item of sequence number `s` has record `s mod capacity`, as in any
//! ring, but its bytes are in whichever buffer the claim took from the
//! stack: the one freed last. A stream whose consumers keep up thus cycles
//! through one or two buffers, which stay in the cache, however large the
//! capacity; a ring whose buffers went round in order would write
//! `capacity` buffers of cold memory. Waits sleep on two
//! futex words, `ITEMS` and `SPACE`, which change with every event that may
//! end a wait, and at the same time on the wake word of every other member
//! of the ring (`member.rs`), which the kernel marks when that member dies:
//! a sleeper wakes for an event or a death, never to poll, unless some
//! member has no wake word.

use std::cell::Cell;
use std::hint;
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64};

use crate::error::{Error, Result};
use crate::format::dtype::{self, Element};
use crate::format::header::KIND_RING;
use crate::format::layout::{Layout, Order};
use crate::liveness::{pid_exists, ProcessStamp};
use crate::ring::control::{
    member as member_bits, offset, record, state, Delivery, Geometry, Words, PRODUCER_LEN,
    PRODUCER_SLOTS, RECORD_LEN, SUBSCRIBER_LEN, SUBSCRIBER_SLOTS,
};
use crate::ring::member::{self, Membership, Watch};
use crate::segment::{Access, Segment, DEFAULT_MODE};
use crate::sync::lock::RawLock;
use crate::sync::wait::{Slept, SleptOn, Wait, RING_POLL_INTERVAL};
use crate::sys;
use crate::transport::handle::Handle;

/// Looks at a futex word this many times before sleeping on it: an item
/// that is a few microseconds away arrives without a sleep and a wake.
const SPINS: u32 = 256;

/// Set once `futex_waitv` is found missing (Linux before 5.16): waits then
/// sleep on their one word, in slices of [`RING_POLL_INTERVAL`].
static NO_WAITV: AtomicBool = AtomicBool::new(false);

/// A slot a producer holds, between [`RawRing::claim`] and
/// [`RawRing::commit`] or [`RawRing::abort`].
///
/// The item's record is the one of its sequence number (`seq mod
/// capacity`); its bytes are in slot buffer `slot`, the buffer freed most
/// recently when it was claimed, at [`RawRing::slot_offset`]`(slot)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claim {
    /// The slot buffer to write the item into: an index below the capacity,
    /// not tied to `seq`.
    pub slot: u32,
    /// Sequence number of the item.
    pub seq: u64,
}

/// A subscriber of a broadcast ring: an entry of its subscriber table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Subscriber(u32);

impl Subscriber {
    /// The subscriber of table entry `index` (what [`Subscriber::index`]
    /// gave, e.g. in another process).
    #[must_use]
    pub fn from_index(index: u32) -> Subscriber {
        Subscriber(index)
    }

    /// Its entry in the subscriber table.
    #[must_use]
    pub fn index(self) -> u32 {
        self.0
    }
}

/// An item a consumer holds, between [`RawRing::take`] and
/// [`RawRing::release`]: its slot buffer is not reused meanwhile.
///
/// Its bytes are in slot buffer `slot`, at
/// [`RawRing::slot_offset`]`(slot)`; which buffer an item is in depends on
/// the order in which earlier ones were released, not on `seq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Taken {
    /// The slot buffer that holds the item: an index below the capacity,
    /// not tied to `seq`.
    pub slot: u32,
    /// Sequence number of the item (0 for the first item put).
    pub seq: u64,
    /// Items this subscriber missed just before this one (overwritten
    /// before it read them); always 0 but in [`Delivery::Overwrite`].
    pub missed: u64,
    /// The subscriber that took it (broadcast).
    pub subscriber: Option<Subscriber>,
}

/// The counters of a ring, read without its lock (each one is exact; they
/// may be from slightly different moments).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RingStats {
    /// How items reach consumers.
    pub delivery: Delivery,
    /// Number of slots.
    pub capacity: u32,
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
    /// Active subscribers.
    pub subscribers: u32,
    /// Producers registered (alive or not yet found dead).
    pub producers: u32,
    /// Whether the ring was closed.
    pub closed: bool,
}

thread_local! {
    /// This process as slot owners record it, and the fork generation it was
    /// read in (a forked child is another process).
    static ME: Cell<(u64, ProcessStamp)> = const {
        Cell::new((u64::MAX, ProcessStamp { pid: 0, start_ticks: 0 }))
    };
}

pub(super) fn me() -> ProcessStamp {
    let generation = sys::fork_generation();
    let (cached, stamp) = ME.get();
    if cached == generation {
        return stamp;
    }
    let stamp = ProcessStamp::current();
    ME.set((generation, stamp));
    stamp
}

/// Whether the process an owner record names may still live.
pub(super) fn alive(pid: u32, start: u64) -> bool {
    if pid == me().pid {
        return true;
    }
    if start == 0 {
        pid_exists(pid)
    } else {
        ProcessStamp {
            pid,
            start_ticks: start,
        }
        .is_alive()
    }
}

/// A ring of `capacity` slots in shared memory, each one n-d item of one
/// shape and dtype, passed from producers to consumers with no copy.
///
/// The untyped form of [`Ring`](crate::Ring): items are bytes, for every
/// dtype a segment can hold. Python's `ndshare.Ring` and C programs
/// (docs/format.md, "Rings") use the same rings.
///
/// # Example
/// ```
/// use std::time::Duration;
/// use ndshare::{Delivery, RawRing, Wait};
/// let ring = RawRing::create("<u2", 2, &[2, 2], 4, Delivery::Queue, None)?;
/// let mut slot = ring.put()?;
/// slot.bytes_mut().copy_from_slice(&[1, 0, 2, 0, 3, 0, 4, 0]);
/// slot.commit()?;
/// ring.close();
/// let item = ring.get_with(None, Wait::timeout(Duration::from_secs(1)))?.expect("one item");
/// assert_eq!(item.bytes()[4], 3);
/// drop(item);
/// assert!(ring.get()?.is_none()); // closed and drained: the stream has ended
/// # Ok::<(), ndshare::Error>(())
/// ```
#[derive(Debug)]
pub struct RawRing {
    /// This handle's entry in the member table and its death watch. The
    /// first field, so dropped first: the watch's word lies in `seg`'s
    /// mapping, which must outlive it.
    member: Membership,
    seg: Segment,
    geo: Geometry,
    w: Words,
    ctl: Control,
    /// Fork generation + 1 in which this handle registered as a producer.
    registered: AtomicU64,
}

/// Unlocks the ring's lock when dropped.
struct Locked<'a>(&'a RawLock);

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

/// The ring's words and what the repair needs to find its records: all a
/// handle's membership uses, down to its last moment.
#[derive(Debug, Clone, Copy)]
pub(super) struct Control {
    pub(super) w: Words,
    records: usize,
    capacity: u32,
    delivery: Delivery,
}

impl Control {
    /// Offset of record `i` (below the capacity).
    fn record(&self, i: u32) -> usize {
        self.records + RECORD_LEN * i as usize
    }

    /// Offset of the record of the item of sequence number `seq`.
    fn record_of(&self, seq: u64) -> usize {
        self.record((seq % u64::from(self.capacity)) as u32)
    }

    fn state(&self, rec: usize) -> u32 {
        self.w.u32(rec + record::STATE).load(Relaxed)
    }

    fn seq(&self, rec: usize) -> u64 {
        self.w.u64(rec + record::SEQ).load(Relaxed)
    }

    /// Under the lock: record `rec` goes to state `st`, held by process
    /// `me` (the stamp that tells a dead holder from a live one).
    fn hand_to(&self, rec: usize, st: u32, me: ProcessStamp) {
        self.w.u32(rec + record::STATE).store(st, Relaxed);
        self.w.u32(rec + record::PID).store(me.pid, Relaxed);
        self.w
            .u64(rec + record::START)
            .store(me.start_ticks, Relaxed);
    }

    /// Under the lock: the buffer record `rec` holds, checked to be one of
    /// the ring's (so that its offset lies in the data).
    fn buffer(&self, rec: usize) -> Result<u32> {
        let b = self.w.u32(rec + record::BUFFER).load(Relaxed);
        if b < self.capacity {
            Ok(b)
        } else {
            Err(Error::Corrupt(format!(
                "ring: the record of item {} names buffer {b} of {}",
                self.seq(rec),
                self.capacity
            )))
        }
    }

    /// Under the lock: pushes the buffer of record `rec` onto the
    /// free-buffer stack; the record then holds none.
    fn push_buffer(&self, rec: usize) -> Result<()> {
        let b = self.buffer(rec)?;
        let top = self.w.u32(offset::FREE_TOP);
        let n = top.load(Relaxed);
        if n >= self.capacity {
            return Err(Error::Corrupt(format!(
                "ring: the free-buffer stack is full ({n} of {}) before buffer {b} comes back",
                self.capacity
            )));
        }
        self.w
            .u32(self.record(n) + record::FREE_ENTRY)
            .store(b, Relaxed);
        top.store(n + 1, Relaxed);
        self.w
            .u32(rec + record::BUFFER)
            .store(record::NO_BUFFER, Relaxed);
        Ok(())
    }

    /// Under the lock: pops the buffer freed most recently off the stack
    /// into record `rec`, and returns it.
    fn pop_buffer(&self, rec: usize) -> Result<u32> {
        let top = self.w.u32(offset::FREE_TOP);
        let n = top.load(Relaxed);
        if n == 0 || n > self.capacity {
            return Err(Error::Corrupt(format!(
                "ring: the free-buffer stack holds {n} of {} buffers at a claim",
                self.capacity
            )));
        }
        let b = self
            .w
            .u32(self.record(n - 1) + record::FREE_ENTRY)
            .load(Relaxed);
        if b >= self.capacity {
            return Err(Error::Corrupt(format!(
                "ring: the free-buffer stack holds buffer {b} of {}",
                self.capacity
            )));
        }
        top.store(n - 1, Relaxed);
        self.w.u32(rec + record::BUFFER).store(b, Relaxed);
        Ok(b)
    }

    /// Under the lock, broadcast: gives back to the stack the buffer of
    /// every item no subscriber can read any more — those before the
    /// cursor or held item of every active subscriber (every item put, with
    /// none) — from `reclaimed` on, and stops at an item being written.
    /// Each item is looked at once over the ring's life: O(1) per item.
    /// Whether a buffer came back.
    fn reclaim_locked(&self) -> Result<bool> {
        if !self.delivery.is_broadcast() {
            return Ok(false);
        }
        let head = self.w.u64(offset::HEAD).load(Relaxed);
        let mut live = head;
        for i in 0..SUBSCRIBER_SLOTS {
            let e = offset::SUBSCRIBERS + SUBSCRIBER_LEN * i;
            if self.w.u32(e).load(Relaxed) != 1 {
                continue;
            }
            let mut needed = self.w.u64(e + 16).load(Relaxed);
            // Sequence number + 1 of the item it holds, or 0.
            let holding = self.w.u64(e + 24).load(Relaxed);
            if holding != 0 {
                needed = needed.min(holding - 1);
            }
            live = live.min(needed);
        }
        // The items before `head - capacity` gave their buffers back when
        // their records were claimed again.
        let reclaimed = self.w.u64(offset::RECLAIMED);
        let mut s = reclaimed
            .load(Relaxed)
            .max(head.saturating_sub(u64::from(self.capacity)));
        let mut pushed = false;
        while s < live {
            let rec = self.record_of(s);
            if self.seq(rec) == s {
                match self.state(rec) {
                    state::READY | state::ABANDONED => {
                        self.push_buffer(rec)?;
                        self.w.u32(rec + record::STATE).store(state::DEAD, Relaxed);
                        pushed = true;
                    }
                    state::WRITING => break,
                    _ => {}
                }
            }
            s += 1;
        }
        reclaimed.store(s, Relaxed);
        Ok(pushed)
    }

    /// Runs `f` under the ring's lock. A holder that died is taken over
    /// from, after the repair of [`Control::reap_locked`].
    pub(super) fn locked<R>(&self, f: impl FnOnce() -> R) -> Result<R> {
        // SAFETY: `LOCK` is an 8-aligned word of the checked control block,
        // mapped writable while the ring handle lives, used only as a lock
        // word.
        let lock = unsafe { RawLock::from_ptr(self.w.ptr(offset::LOCK)) };
        let acquired = lock.lock(Wait::forever())?;
        let _unlock = Locked(lock);
        if matches!(acquired, crate::sync::lock::Acquired::OwnerDied(_)) {
            self.reap_locked();
        }
        Ok(f())
    }

    /// Publishes on a futex word: increments it, and wakes one sleeper (or
    /// `all`) if its waiter count says there are any.
    pub(super) fn bump(&self, futex: usize, waiters: usize, all: bool) {
        let word = self.w.u32(futex);
        word.fetch_add(1, SeqCst);
        if self.w.u32(waiters).load(SeqCst) > 0 {
            if all {
                sys::futex_wake_all(word);
            } else {
                sys::futex_wake(word, 1);
            }
        }
    }

    /// Publishes on both futex words: every waiter looks again.
    pub(super) fn bump_all(&self) {
        self.bump(offset::ITEMS, offset::GET_WAITERS, true);
        self.bump(offset::SPACE, offset::PUT_WAITERS, true);
    }

    /// Whether the process `me` holds anything in the ring: a producer
    /// entry, a subscriber, or a slot.
    pub(super) fn held_by(&self, me: ProcessStamp) -> bool {
        let names_me = |pid_at: usize, start_at: usize| {
            self.w.u32(pid_at).load(Relaxed) == me.pid
                && self.w.u64(start_at).load(Relaxed) == me.start_ticks
        };
        (0..PRODUCER_SLOTS).any(|i| {
            let e = offset::PRODUCERS + PRODUCER_LEN * i;
            names_me(e, e + 8)
        }) || (0..SUBSCRIBER_SLOTS).any(|i| {
            let e = offset::SUBSCRIBERS + SUBSCRIBER_LEN * i;
            self.w.u32(e).load(Relaxed) == 1 && names_me(e + 4, e + 8)
        }) || (0..self.capacity).any(|i| {
            let rec = self.record(i);
            let st = self.state(rec);
            (st == state::WRITING || st == state::READING)
                && names_me(rec + record::PID, rec + record::START)
        })
    }

    /// The repair, under the lock: a dead member leaves the member table; a
    /// record a dead producer was writing is abandoned (it keeps its buffer
    /// until consumers pass it); one a dead consumer held is freed, its
    /// buffer pushed and its item counted lost; a dead subscriber is
    /// removed, and what it alone still held given back; dead producers
    /// leave the table.
    pub(super) fn reap_locked(&self) {
        // First the members whose death watch ended: once each is gone, the
        // scans below find it dead.
        member::reap_members(self);
        let (mut items, mut space) = (false, false);
        for i in 0..self.capacity {
            let rec = self.record(i);
            let st = self.state(rec);
            if st != state::WRITING && st != state::READING {
                continue;
            }
            let (pid, start) = (
                self.w.u32(rec + record::PID).load(Relaxed),
                self.w.u64(rec + record::START).load(Relaxed),
            );
            if alive(pid, start) {
                continue;
            }
            if st == state::WRITING {
                self.w
                    .u32(rec + record::STATE)
                    .store(state::ABANDONED, Relaxed);
                self.w.u64(offset::ABANDONED).fetch_add(1, Relaxed);
                items = true;
            } else {
                // A corrupt buffer index stays where it is: the record is
                // freed all the same, and the next claim of the stack says
                // what is wrong.
                let _ = self.push_buffer(rec);
                self.w.u32(rec + record::STATE).store(state::FREE, Relaxed);
                self.w.u64(offset::LOST).fetch_add(1, Relaxed);
                space = true;
            }
        }
        for i in 0..SUBSCRIBER_SLOTS {
            let e = offset::SUBSCRIBERS + SUBSCRIBER_LEN * i;
            if self.w.u32(e).load(Relaxed) == 1
                && !alive(
                    self.w.u32(e + 4).load(Relaxed),
                    self.w.u64(e + 8).load(Relaxed),
                )
            {
                self.w.u32(e).store(0, Relaxed);
                space = true;
            }
        }
        for i in 0..PRODUCER_SLOTS {
            let e = offset::PRODUCERS + PRODUCER_LEN * i;
            let pid = self.w.u32(e).load(Relaxed);
            if pid != 0 && !alive(pid, self.w.u64(e + 8).load(Relaxed)) {
                self.w.u32(e).store(0, Relaxed);
                items = true;
            }
        }
        // Items that a dead subscriber held back, or that a dead producer's
        // abandoned record held back, give their buffers back.
        if self.reclaim_locked().unwrap_or(false) {
            space = true;
        }
        if items {
            self.bump(offset::ITEMS, offset::GET_WAITERS, true);
        }
        if space {
            self.bump(offset::SPACE, offset::PUT_WAITERS, true);
        }
    }
}

impl RawRing {
    /// Creates a ring of `capacity` slots, each an item of `shape` and dtype
    /// `descr` (numpy's `.npy` descriptor, `itemsize` bytes per element).
    /// Without `name` the ring is anonymous (a sealed memfd); with one, any
    /// process of the user can [`RawRing::attach`] it, once it is complete.
    ///
    /// # Errors
    /// [`Error::InvalidShape`] (capacity 0 or above 2^20, too many
    /// dimensions, overflow); [`Error::InvalidDtype`] for a descriptor a
    /// segment cannot hold or one that contradicts `itemsize`; the errors of
    /// [`Segment::create`].
    pub fn create(
        descr: &str,
        itemsize: u64,
        shape: &[u64],
        capacity: u32,
        delivery: Delivery,
        name: Option<&str>,
    ) -> Result<RawRing> {
        let geo = Geometry::new(descr, itemsize, shape, capacity, delivery)?;
        let layout = Layout::contiguous(&[geo.data_len()?], 1, Order::C)?;
        let seg =
            Segment::create_kind_unpublished(layout, "|u1", name, DEFAULT_MODE, true, KIND_RING)?;
        // SAFETY: the data is `data_len` bytes, writable, zero-filled, and
        // unreachable by any other process until `publish` below; no
        // reference into it exists.
        let data = unsafe { std::slice::from_raw_parts_mut(seg.data_ptr(), seg.data_len()) };
        geo.write(data);
        seg.publish()?;
        RawRing::from_segment(seg)
    }

    /// The ring in a mapped segment.
    ///
    /// # Errors
    /// [`Error::TypeMismatch`] if the segment holds an array;
    /// [`Error::ReadOnly`] if it is mapped read-only; [`Error::Corrupt`] if
    /// its control block is inconsistent.
    pub fn from_segment(seg: Segment) -> Result<RawRing> {
        if seg.header().kind != KIND_RING {
            return Err(Error::TypeMismatch {
                expected: "an ndshare ring".into(),
                found: seg.header().kind_label(),
            });
        }
        if !seg.is_writable() {
            return Err(Error::ReadOnly);
        }
        let geo = Geometry::read(&seg)?;
        // SAFETY: the data is page-aligned, writable and `geo` was checked
        // against its length; `seg` keeps it mapped as long as `self`, and
        // `member` (which keeps a copy of `ctl`) is dropped before `seg`.
        let w = unsafe { Words::new(seg.data_ptr()) };
        let ctl = Control {
            w,
            records: geo.records,
            capacity: geo.capacity,
            delivery: geo.delivery,
        };
        Ok(RawRing {
            member: Membership::new(ctl),
            seg,
            geo,
            w,
            ctl,
            registered: AtomicU64::new(0),
        })
    }

    /// Maps the named ring `name`.
    ///
    /// # Errors
    /// The errors of [`Segment::attach`] and [`RawRing::from_segment`].
    pub fn attach(name: &str) -> Result<RawRing> {
        RawRing::from_segment(Segment::attach(name, Access::ReadWrite)?)
    }

    /// Maps the ring a [`Handle`] names.
    ///
    /// # Errors
    /// The errors of [`Handle::open`] and [`RawRing::from_segment`].
    pub fn open(handle: &Handle) -> Result<RawRing> {
        RawRing::from_segment(handle.open(Access::ReadWrite)?)
    }

    /// A handle another process opens the ring with ([`RawRing::open`],
    /// `ndshare.attach_ring` in Python for a named one).
    #[must_use]
    pub fn handle(&self) -> Handle {
        Handle::of(&self.seg)
    }

    /// The segment behind the ring.
    #[must_use]
    pub fn segment(&self) -> &Segment {
        &self.seg
    }

    /// Gives back the segment.
    #[must_use]
    pub fn into_segment(self) -> Segment {
        let RawRing { member, seg, .. } = self;
        // The membership leaves the table while the mapping is still there.
        drop(member);
        seg
    }

    /// The item's dtype descriptor.
    #[must_use]
    pub fn dtype(&self) -> &str {
        &self.geo.dtype
    }

    /// The item's shape.
    #[must_use]
    pub fn shape(&self) -> &[u64] {
        &self.geo.shape
    }

    /// Bytes per element of an item.
    #[must_use]
    pub fn itemsize(&self) -> u64 {
        self.geo.itemsize
    }

    /// Bytes of one item.
    #[must_use]
    pub fn item_bytes(&self) -> usize {
        self.geo.item_bytes as usize
    }

    /// Number of slots: of records (items in the ring at most), and of
    /// slot buffers.
    #[must_use]
    pub fn capacity(&self) -> u32 {
        self.geo.capacity
    }

    /// How items reach consumers.
    #[must_use]
    pub fn delivery(&self) -> Delivery {
        self.geo.delivery
    }

    /// Byte offset of slot buffer `slot` ([`Claim::slot`],
    /// [`Taken::slot`]) in the segment's data.
    ///
    /// # Panics
    /// If `slot` is not below the capacity.
    #[must_use]
    pub fn slot_offset(&self, slot: u32) -> usize {
        assert!(
            slot < self.geo.capacity,
            "slot {slot} of {}",
            self.geo.capacity
        );
        (self.geo.slots + u64::from(slot) * self.geo.slot_stride) as usize
    }

    fn sub_entry(s: Subscriber) -> Result<usize> {
        if (s.0 as usize) < SUBSCRIBER_SLOTS {
            Ok(offset::SUBSCRIBERS + SUBSCRIBER_LEN * s.0 as usize)
        } else {
            Err(Error::IndexOutOfBounds(format!(
                "subscriber {} of {SUBSCRIBER_SLOTS}",
                s.0
            )))
        }
    }

    /// Offset of the record of the item of sequence number `seq`.
    fn record_of(&self, seq: u64) -> usize {
        self.ctl.record_of(seq)
    }

    /// Runs `f` under the ring's lock (see [`Control::locked`]).
    fn locked<R>(&self, f: impl FnOnce() -> R) -> Result<R> {
        self.ctl.locked(f)
    }

    fn bump(&self, futex: usize, waiters: usize, all: bool) {
        self.ctl.bump(futex, waiters, all);
    }

    /// Sleeps while `futex` holds `token`, spinning briefly first: until
    /// the word changes or another member of the ring dies, with no timeout
    /// but the caller's. `Slept::Polled` asks the caller to run the repair
    /// (a member died, or a polling slice ended).
    ///
    /// It sleeps on the ring's word and on every other member's wake word at
    /// once (`futex_waitv`); it polls in slices of [`RING_POLL_INTERVAL`]
    /// only while some member has no wake word (a process that registers
    /// none), the member table overflowed, or the kernel lacks
    /// `futex_waitv`.
    fn sleep(
        &self,
        wait: &mut Wait<'_>,
        futex: usize,
        waiters: usize,
        token: u32,
    ) -> Result<Slept> {
        let word: &AtomicU32 = self.w.u32(futex);
        if wait.expired() {
            return Err(Error::Timeout);
        }
        for _ in 0..SPINS {
            if word.load(Relaxed) != token {
                return Ok(Slept::Woken);
            }
            hint::spin_loop();
        }
        let words = if NO_WAITV.load(Relaxed) {
            None
        } else {
            match member::watch_list(&self.ctl, me(), word, token) {
                Watch::Died => return Ok(Slept::Polled),
                Watch::Poll => None,
                Watch::Words(words) => Some(words),
            }
        };
        self.w.u32(waiters).fetch_add(1, SeqCst);
        let slept = match words {
            None => wait.sleep_polling(word, token, RING_POLL_INTERVAL),
            Some(words) => match wait.sleep_on_any(&words) {
                // A member's wake word that the kernel marked: its process
                // died (the repair may have cleared the mark already).
                Ok(SleptOn::Word(i))
                    if i > 0 && words[i].0.load(SeqCst) & member_bits::OWNER_DIED != 0 =>
                {
                    Ok(Slept::Polled)
                }
                // The ring's word, a member that left (its watch cleared its
                // word), or some word that changed before the sleep: look
                // again.
                Ok(SleptOn::Word(_) | SleptOn::Changed) => Ok(Slept::Woken),
                Ok(SleptOn::Polled) => Ok(Slept::Polled),
                Ok(SleptOn::Unsupported) => {
                    NO_WAITV.store(true, Relaxed);
                    Ok(Slept::Woken)
                }
                Err(e) => Err(e),
            },
        };
        self.w.u32(waiters).fetch_sub(1, SeqCst);
        slept
    }

    /// Registers this process in the producer table (once per handle and
    /// process), so that consumers can tell when every producer has gone.
    fn register_producer(&self, me: ProcessStamp) {
        let generation = sys::fork_generation() + 1;
        if self.registered.load(Relaxed) == generation {
            return;
        }
        let entry = |i: usize| offset::PRODUCERS + PRODUCER_LEN * i;
        let mut free = None;
        for i in 0..PRODUCER_SLOTS {
            let pid = self.w.u32(entry(i)).load(Relaxed);
            if pid == me.pid && self.w.u64(entry(i) + 8).load(Relaxed) == me.start_ticks {
                self.registered.store(generation, Relaxed);
                return;
            }
            if pid == 0 && free.is_none() {
                free = Some(i);
            }
        }
        // A full table leaves this producer out of the count: consumers then
        // learn of the end of the stream from the others, or from `close`.
        if let Some(i) = free {
            self.w.u64(entry(i) + 8).store(me.start_ticks, Relaxed);
            self.w.u32(entry(i)).store(me.pid, Relaxed);
            let ever = self.w.u32(offset::PRODUCERS_EVER);
            ever.store(ever.load(Relaxed).saturating_add(1), Relaxed);
        }
        self.registered.store(generation, Relaxed);
    }

    /// Whether the claim of the next sequence number may take its record.
    fn claimable(&self, head: u64) -> bool {
        let rec = self.record_of(head);
        let st = self.ctl.state(rec);
        if st == state::FREE || st == state::DEAD {
            return true;
        }
        match self.geo.delivery {
            Delivery::Queue => false,
            Delivery::Broadcast | Delivery::Overwrite => {
                if st != state::READY && st != state::ABANDONED {
                    return false;
                }
                let old = self.ctl.seq(rec);
                (0..SUBSCRIBER_SLOTS).all(|i| {
                    let e = offset::SUBSCRIBERS + SUBSCRIBER_LEN * i;
                    if self.w.u32(e).load(Relaxed) != 1 {
                        return true;
                    }
                    let holding = self.w.u64(e + 24).load(Relaxed);
                    let cursor = self.w.u64(e + 16).load(Relaxed);
                    holding != old + 1 && (self.geo.delivery == Delivery::Overwrite || cursor > old)
                })
            }
        }
    }

    /// Claims the next slot for writing, waiting as `wait` says while the
    /// ring is full. Write the item, then [`RawRing::commit`] it (or
    /// [`RawRing::abort`]). Most callers use [`RawRing::put`].
    ///
    /// # Errors
    /// [`Error::RingClosed`], [`Error::Timeout`], [`Error::Interrupted`].
    pub fn claim(&self, mut wait: Wait<'_>) -> Result<Claim> {
        self.member.join()?;
        let me = me();
        loop {
            let token = self.w.u32(offset::SPACE).load(SeqCst);
            let claimed = self.locked(|| {
                if self.w.u32(offset::CLOSED).load(Relaxed) != 0 {
                    return Err(Error::RingClosed {
                        reason: "it was closed".into(),
                    });
                }
                self.register_producer(me);
                let head = self.w.u64(offset::HEAD).load(Relaxed);
                if !self.claimable(head) {
                    return Ok(None);
                }
                let rec = self.record_of(head);
                // An item that no subscriber reads any more (or one
                // overwritten) gives its buffer back first: the claim then
                // takes the buffer freed last, the one most likely cached.
                if state::holds_buffer(self.ctl.state(rec)) {
                    self.ctl.push_buffer(rec)?;
                }
                let slot = self.ctl.pop_buffer(rec)?;
                self.ctl.hand_to(rec, state::WRITING, me);
                self.w.u64(rec + record::SEQ).store(head, Relaxed);
                self.w.u64(offset::HEAD).store(head + 1, Relaxed);
                Ok(Some(Claim { slot, seq: head }))
            })??;
            if let Some(c) = claimed {
                return Ok(c);
            }
            if self.sleep(&mut wait, offset::SPACE, offset::PUT_WAITERS, token)? == Slept::Polled {
                self.reap()?;
            }
        }
    }

    /// The record of a claim, if this process still holds it.
    fn held_claim(&self, c: Claim) -> Result<usize> {
        if c.slot >= self.geo.capacity {
            return Err(Error::IndexOutOfBounds(format!("slot {}", c.slot)));
        }
        let rec = self.record_of(c.seq);
        if self.ctl.state(rec) != state::WRITING
            || self.ctl.seq(rec) != c.seq
            || self.w.u32(rec + record::BUFFER).load(Relaxed) != c.slot
            || self.w.u32(rec + record::PID).load(Relaxed) != me().pid
        {
            return Err(Error::NotOwner("this process does not hold that slot"));
        }
        Ok(rec)
    }

    /// Publishes a claimed slot's item to consumers.
    ///
    /// # Errors
    /// [`Error::NotOwner`] if the claim is not held (committed already).
    pub fn commit(&self, c: Claim) -> Result<()> {
        self.locked(|| -> Result<()> {
            let rec = self.held_claim(c)?;
            self.w.u32(rec + record::STATE).store(state::READY, Relaxed);
            self.w.u64(offset::PUT).fetch_add(1, Relaxed);
            // With no subscriber, nobody reads the item: its buffer goes
            // back at once.
            self.ctl.reclaim_locked()?;
            Ok(())
        })??;
        self.bump(
            offset::ITEMS,
            offset::GET_WAITERS,
            self.geo.delivery.is_broadcast(),
        );
        Ok(())
    }

    /// Gives a claimed slot up: consumers skip it.
    ///
    /// # Errors
    /// [`Error::NotOwner`] if the claim is not held.
    pub fn abort(&self, c: Claim) -> Result<()> {
        self.locked(|| -> Result<()> {
            let rec = self.held_claim(c)?;
            self.w
                .u32(rec + record::STATE)
                .store(state::ABANDONED, Relaxed);
            self.w.u64(offset::ABANDONED).fetch_add(1, Relaxed);
            self.ctl.reclaim_locked()?;
            Ok(())
        })??;
        self.bump(offset::ITEMS, offset::GET_WAITERS, true);
        Ok(())
    }

    /// Adds a subscriber (broadcast rings): it gets every item put from now
    /// on. Hand its index to the process that reads, which
    /// [`adopt`](RawRing::adopt)s it; until then this process owns it.
    ///
    /// # Errors
    /// [`Error::InvalidShape`] for a queue ring, or when all 64 subscriber
    /// entries are taken.
    pub fn subscribe(&self) -> Result<Subscriber> {
        if !self.geo.delivery.is_broadcast() {
            return Err(Error::InvalidShape(
                "a queue ring has no subscribers: every consumer takes from it".into(),
            ));
        }
        self.member.join()?;
        let me = me();
        self.locked(|| {
            let head = self.w.u64(offset::HEAD).load(Relaxed);
            for i in 0..SUBSCRIBER_SLOTS {
                let e = offset::SUBSCRIBERS + SUBSCRIBER_LEN * i;
                if self.w.u32(e).load(Relaxed) == 0 {
                    self.w.u32(e + 4).store(me.pid, Relaxed);
                    self.w.u64(e + 8).store(me.start_ticks, Relaxed);
                    self.w.u64(e + 16).store(head, Relaxed);
                    self.w.u64(e + 24).store(0, Relaxed);
                    self.w.u64(e + 32).store(0, Relaxed);
                    self.w.u32(e).store(1, Relaxed);
                    return Ok(Subscriber(i as u32));
                }
            }
            Err(Error::InvalidShape(format!(
                "all {SUBSCRIBER_SLOTS} subscriber entries of the ring are taken"
            )))
        })?
    }

    /// Makes this process the owner of subscriber `s`: when it dies, the
    /// subscriber goes (and no longer holds producers back).
    ///
    /// # Errors
    /// [`Error::NotFound`]-like [`Error::RingClosed`] if the subscriber was
    /// removed (its owner died, or it unsubscribed).
    pub fn adopt(&self, s: Subscriber) -> Result<()> {
        let e = Self::sub_entry(s)?;
        self.member.join()?;
        let me = me();
        self.locked(|| {
            if self.w.u32(e).load(Relaxed) != 1 {
                return Err(Error::RingClosed {
                    reason: format!("subscriber {} was removed", s.0),
                });
            }
            self.w.u32(e + 4).store(me.pid, Relaxed);
            self.w.u64(e + 8).store(me.start_ticks, Relaxed);
            Ok(())
        })?
    }

    /// Removes subscriber `s`: it no longer holds producers back.
    ///
    /// # Errors
    /// [`Error::IndexOutOfBounds`] for an index beyond the table.
    pub fn unsubscribe(&self, s: Subscriber) -> Result<()> {
        let e = Self::sub_entry(s)?;
        self.locked(|| {
            self.w.u32(e).store(0, Relaxed);
            self.ctl.reclaim_locked()
        })??;
        self.bump(offset::SPACE, offset::PUT_WAITERS, true);
        Ok(())
    }

    /// Takes the next item for `subscriber` (broadcast) or the next item of
    /// the queue (`None`), waiting as `wait` says while there is none.
    /// `Ok(None)`: the stream has ended — the ring is closed, or every
    /// producer has exited without closing it — and everything put was
    /// delivered. Read the slot, then [`RawRing::release`] it.
    ///
    /// # Errors
    /// [`Error::Timeout`], [`Error::Interrupted`]; [`Error::InvalidShape`]
    /// for a broadcast ring without a subscriber; [`Error::RingClosed`] if
    /// the subscriber was removed.
    pub fn take(
        &self,
        subscriber: Option<Subscriber>,
        mut wait: Wait<'_>,
    ) -> Result<Option<Taken>> {
        let entry = match (self.geo.delivery.is_broadcast(), subscriber) {
            (false, _) => None,
            (true, Some(s)) => Some((s, Self::sub_entry(s)?)),
            (true, None) => {
                return Err(Error::InvalidShape(
                    "a broadcast ring is read through a subscriber".into(),
                ))
            }
        };
        self.member.join()?;
        let me = me();
        loop {
            let token = self.w.u32(offset::ITEMS).load(SeqCst);
            let (item, freed, ended) = self.locked(|| -> Result<_> {
                let (item, freed, empty) = match entry {
                    None => self.take_queue(me)?,
                    Some((s, e)) => self.take_broadcast(s, e, me)?,
                };
                Ok((item, freed, item.is_none() && empty && self.ended_locked()))
            })??;
            if freed {
                self.bump(offset::SPACE, offset::PUT_WAITERS, false);
            }
            match item {
                Some(t) => return Ok(Some(t)),
                None if ended => return Ok(None),
                None => {}
            }
            if self.sleep(&mut wait, offset::ITEMS, offset::GET_WAITERS, token)? == Slept::Polled {
                self.reap()?;
            }
        }
    }

    /// Under the lock: the queue's next item, whether a record was freed,
    /// and whether the ring is empty (not only waiting for an item being
    /// written).
    fn take_queue(&self, me: ProcessStamp) -> Result<(Option<Taken>, bool, bool)> {
        let mut freed = false;
        loop {
            let tail = self.w.u64(offset::TAIL).load(Relaxed);
            if tail >= self.w.u64(offset::HEAD).load(Relaxed) {
                return Ok((None, freed, true));
            }
            let rec = self.record_of(tail);
            if self.ctl.seq(rec) != tail {
                return Err(Error::Corrupt(format!(
                    "ring: the record of item {tail} holds item {}",
                    self.ctl.seq(rec)
                )));
            }
            match self.ctl.state(rec) {
                state::READY => {
                    let slot = self.ctl.buffer(rec)?;
                    self.ctl.hand_to(rec, state::READING, me);
                    self.w.u64(offset::TAIL).store(tail + 1, Relaxed);
                    self.w.u64(offset::GOT).fetch_add(1, Relaxed);
                    let t = Taken {
                        slot,
                        seq: tail,
                        missed: 0,
                        subscriber: None,
                    };
                    return Ok((Some(t), freed, false));
                }
                state::ABANDONED => {
                    self.ctl.push_buffer(rec)?;
                    self.w.u32(rec + record::STATE).store(state::FREE, Relaxed);
                    self.w.u64(offset::TAIL).store(tail + 1, Relaxed);
                    freed = true;
                }
                // Never in a queue; skipped as the broadcast modes do.
                state::DEAD => self.w.u64(offset::TAIL).store(tail + 1, Relaxed),
                // Being written: items are delivered in order.
                _ => return Ok((None, freed, false)),
            }
        }
    }

    /// Under the lock: subscriber `s`'s next item, whether the subscriber
    /// moved on (a record may have become claimable), and whether the ring
    /// is empty for it. Taking an item releases the subscriber's previous
    /// one; the buffers of the items no subscriber reads any more go back
    /// to the stack.
    fn take_broadcast(
        &self,
        s: Subscriber,
        e: usize,
        me: ProcessStamp,
    ) -> Result<(Option<Taken>, bool, bool)> {
        if self.w.u32(e).load(Relaxed) != 1 {
            return Err(Error::RingClosed {
                reason: format!("subscriber {} was removed", s.0),
            });
        }
        if self.w.u32(e + 4).load(Relaxed) != me.pid {
            // The process that reads owns the subscriber.
            self.w.u32(e + 4).store(me.pid, Relaxed);
            self.w.u64(e + 8).store(me.start_ticks, Relaxed);
        }
        let before = (
            self.w.u64(e + 16).load(Relaxed),
            self.w.u64(e + 24).load(Relaxed),
        );
        let (item, empty) = self.next_for_subscriber(s, e)?;
        let moved = before
            != (
                self.w.u64(e + 16).load(Relaxed),
                self.w.u64(e + 24).load(Relaxed),
            );
        if moved {
            self.ctl.reclaim_locked()?;
        }
        Ok((item, moved, empty))
    }

    /// Under the lock: moves subscriber `s` (entry `e`) on to its next
    /// readable item and takes it; whether the ring is empty for it.
    fn next_for_subscriber(&self, s: Subscriber, e: usize) -> Result<(Option<Taken>, bool)> {
        let head = self.w.u64(offset::HEAD).load(Relaxed);
        let cap = u64::from(self.geo.capacity);
        loop {
            let cursor = self.w.u64(e + 16).load(Relaxed).min(head);
            if cursor == head {
                return Ok((None, true));
            }
            let next = cursor.max(head.saturating_sub(cap));
            if next > cursor {
                self.w.u64(e + 32).fetch_add(next - cursor, Relaxed);
                self.w
                    .u64(offset::DROPPED)
                    .fetch_add(next - cursor, Relaxed);
                self.w.u64(e + 16).store(next, Relaxed);
            }
            let rec = self.record_of(next);
            let st = self.ctl.state(rec);
            if self.ctl.seq(rec) != next || st == state::FREE {
                return Err(Error::Corrupt(format!(
                    "ring: the record of item {next} holds item {} in state {st}",
                    self.ctl.seq(rec)
                )));
            }
            match st {
                state::READY => {
                    let slot = self.ctl.buffer(rec)?;
                    let missed = self.w.u64(e + 32).swap(0, Relaxed);
                    self.w.u64(e + 24).store(next + 1, Relaxed);
                    self.w.u64(e + 16).store(next + 1, Relaxed);
                    self.w.u64(offset::GOT).fetch_add(1, Relaxed);
                    let t = Taken {
                        slot,
                        seq: next,
                        missed,
                        subscriber: Some(s),
                    };
                    return Ok((Some(t), false));
                }
                state::ABANDONED | state::DEAD => self.w.u64(e + 16).store(next + 1, Relaxed),
                _ => return Ok((None, false)),
            }
        }
    }

    /// Under the lock: whether an empty ring's stream has ended: closed, or
    /// producers registered and every one is gone (the repair removes dead
    /// ones from the table).
    fn ended_locked(&self) -> bool {
        self.w.u32(offset::CLOSED).load(SeqCst) != 0
            || (self.w.u32(offset::PRODUCERS_EVER).load(Relaxed) != 0
                && (0..PRODUCER_SLOTS).all(|i| {
                    self.w
                        .u32(offset::PRODUCERS + PRODUCER_LEN * i)
                        .load(Relaxed)
                        == 0
                }))
    }

    /// Why the stream ended (or would end now): closed, or every producer
    /// gone; `None` while it goes on.
    #[must_use]
    pub fn end_reason(&self) -> Option<String> {
        if self.w.u32(offset::CLOSED).load(SeqCst) != 0 {
            return Some("the ring was closed".into());
        }
        let ever = self.w.u32(offset::PRODUCERS_EVER).load(Relaxed);
        let none_left = (0..PRODUCER_SLOTS).all(|i| {
            self.w
                .u32(offset::PRODUCERS + PRODUCER_LEN * i)
                .load(Relaxed)
                == 0
        });
        (ever > 0 && none_left).then(|| {
            format!(
                "every process that put items into the ring has exited without closing it \
                 ({} claimed item(s) were abandoned)",
                self.w.u64(offset::ABANDONED).load(Relaxed)
            )
        })
    }

    /// Gives a taken item back: in a queue, its slot buffer goes back to
    /// the free-buffer stack; in broadcast, once no subscriber reads it any
    /// more.
    ///
    /// # Errors
    /// [`Error::IndexOutOfBounds`] for a slot or subscriber beyond the
    /// ring's; [`Error::Corrupt`] if the ring's free-buffer stack is. The
    /// item is left alone if it is no longer held (this process was taken
    /// for dead).
    pub fn release(&self, t: Taken) -> Result<()> {
        if t.slot >= self.geo.capacity {
            return Err(Error::IndexOutOfBounds(format!("slot {}", t.slot)));
        }
        let rec = self.record_of(t.seq);
        let entry = t.subscriber.map(Self::sub_entry).transpose()?;
        self.locked(|| -> Result<()> {
            match entry {
                None => {
                    if self.ctl.state(rec) == state::READING
                        && self.ctl.seq(rec) == t.seq
                        && self.w.u32(rec + record::BUFFER).load(Relaxed) == t.slot
                    {
                        self.ctl.push_buffer(rec)?;
                        self.w.u32(rec + record::STATE).store(state::FREE, Relaxed);
                    }
                }
                Some(e) => {
                    if self.w.u64(e + 24).load(Relaxed) == t.seq + 1 {
                        self.w.u64(e + 24).store(0, Relaxed);
                        self.ctl.reclaim_locked()?;
                    }
                }
            }
            Ok(())
        })??;
        self.bump(
            offset::SPACE,
            offset::PUT_WAITERS,
            self.geo.delivery.is_broadcast(),
        );
        Ok(())
    }

    /// Closes the ring: no item can be put any more; consumers get what is
    /// in it, then the end of the stream.
    pub fn close(&self) {
        self.w.u32(offset::CLOSED).store(1, SeqCst);
        self.bump(offset::ITEMS, offset::GET_WAITERS, true);
        self.bump(offset::SPACE, offset::PUT_WAITERS, true);
    }

    /// Whether the ring was closed.
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.w.u32(offset::CLOSED).load(SeqCst) != 0
    }

    /// Looks for processes that died holding a slot or a subscription, and
    /// takes back what they held.
    ///
    /// # Errors
    /// The errors of taking the lock.
    pub fn reap(&self) -> Result<()> {
        self.locked(|| self.ctl.reap_locked())
    }

    /// Checks, under the lock, that every slot buffer is in exactly one
    /// place — on the free-buffer stack, or named by exactly one record that
    /// holds an item (being written, ready, held or abandoned) — that
    /// records without an item name none, and in broadcast that no item
    /// before `reclaimed` still holds one. For tests: a ring in use by
    /// well-behaved processes always passes.
    ///
    /// # Errors
    /// [`Error::Corrupt`] describing the first violation found; the errors
    /// of taking the lock.
    #[doc(hidden)]
    pub fn check_buffers(&self) -> Result<()> {
        self.locked(|| self.check_buffers_locked())?
    }

    fn check_buffers_locked(&self) -> Result<()> {
        let cap = self.geo.capacity;
        let bad = |what: String| Err(Error::Corrupt(format!("ring: {what}")));
        // Where each buffer was found first.
        let mut place: Vec<Option<String>> = vec![None; cap as usize];
        let mut found = |b: u32, here: String| -> Result<()> {
            let Some(seen) = place.get_mut(b as usize) else {
                return bad(format!("{here} names buffer {b} of {cap}"));
            };
            if let Some(first) = seen {
                return bad(format!("buffer {b} is in two places: {first} and {here}"));
            }
            *seen = Some(here);
            Ok(())
        };
        let top = self.w.u32(offset::FREE_TOP).load(Relaxed);
        if top > cap {
            return bad(format!(
                "the free-buffer stack holds {top} of {cap} buffers"
            ));
        }
        for i in 0..top {
            let b = self
                .w
                .u32(self.ctl.record(i) + record::FREE_ENTRY)
                .load(Relaxed);
            found(b, format!("entry {i} of the free-buffer stack"))?;
        }
        let reclaimed = self.w.u64(offset::RECLAIMED).load(Relaxed);
        for i in 0..cap {
            let rec = self.ctl.record(i);
            let (st, seq) = (self.ctl.state(rec), self.ctl.seq(rec));
            let b = self.w.u32(rec + record::BUFFER).load(Relaxed);
            if state::holds_buffer(st) {
                found(b, format!("record {i} (item {seq}, state {st})"))?;
                if self.geo.delivery.is_broadcast()
                    && seq < reclaimed
                    && (st == state::READY || st == state::ABANDONED)
                {
                    return bad(format!(
                        "item {seq} holds buffer {b} though every item before {reclaimed} was reclaimed"
                    ));
                }
            } else if b != record::NO_BUFFER {
                return bad(format!(
                    "record {i} (item {seq}, state {st}) holds no item but names buffer {b}"
                ));
            }
        }
        match place.iter().position(Option::is_none) {
            Some(b) => bad(format!(
                "buffer {b} is nowhere: neither on the free-buffer stack nor in a record"
            )),
            None => Ok(()),
        }
    }

    /// The counters.
    #[must_use]
    pub fn stats(&self) -> RingStats {
        let u64_at = |at| self.w.u64(at).load(SeqCst);
        RingStats {
            delivery: self.geo.delivery,
            capacity: self.geo.capacity,
            put: u64_at(offset::PUT),
            got: u64_at(offset::GOT),
            dropped: u64_at(offset::DROPPED),
            abandoned: u64_at(offset::ABANDONED),
            lost: u64_at(offset::LOST),
            subscribers: (0..SUBSCRIBER_SLOTS)
                .filter(|i| {
                    self.w
                        .u32(offset::SUBSCRIBERS + SUBSCRIBER_LEN * i)
                        .load(Relaxed)
                        == 1
                })
                .count() as u32,
            producers: (0..PRODUCER_SLOTS)
                .filter(|i| {
                    self.w
                        .u32(offset::PRODUCERS + PRODUCER_LEN * i)
                        .load(Relaxed)
                        != 0
                })
                .count() as u32,
            closed: self.is_closed(),
        }
    }

    /// The value of the futex a getter (`for_items`) or a putter waits on:
    /// read it, try without waiting, and if that found nothing,
    /// [`RawRing::wait_changed`] from it. For callers that wait elsewhere
    /// than in [`RawRing::take`] / [`RawRing::claim`] (an event loop).
    #[must_use]
    pub fn wait_token(&self, for_items: bool) -> u32 {
        self.w
            .u32(if for_items {
                offset::ITEMS
            } else {
                offset::SPACE
            })
            .load(SeqCst)
    }

    /// Sleeps until the futex of [`RawRing::wait_token`] no longer holds
    /// `token`, as long as `wait` allows; runs the repair when another
    /// member of the ring dies meanwhile (and returns if that ended the
    /// stream). [`RawRing::wake_waiters`] ends it early.
    ///
    /// # Errors
    /// [`Error::Timeout`], [`Error::Interrupted`].
    pub fn wait_changed(&self, for_items: bool, token: u32, mut wait: Wait<'_>) -> Result<()> {
        let (futex, waiters) = if for_items {
            (offset::ITEMS, offset::GET_WAITERS)
        } else {
            (offset::SPACE, offset::PUT_WAITERS)
        };
        self.member.join()?;
        loop {
            if self.w.u32(futex).load(SeqCst) != token {
                return Ok(());
            }
            if self.sleep(&mut wait, futex, waiters, token)? == Slept::Polled {
                self.reap()?;
                if for_items && self.locked(|| self.ended_locked())? {
                    return Ok(());
                }
            }
        }
    }

    /// Wakes every process waiting for an item (`for_items`) or for a free
    /// slot, so that each looks again: a spurious wake for all but the one
    /// meant. For a caller that waits in [`RawRing::wait_changed`] on
    /// another thread and no longer wants to (an event loop whose waiting
    /// task was cancelled): that wait returns.
    pub fn wake_waiters(&self, for_items: bool) {
        if for_items {
            self.bump(offset::ITEMS, offset::GET_WAITERS, true);
        } else {
            self.bump(offset::SPACE, offset::PUT_WAITERS, true);
        }
    }

    /// Claims the next slot, waiting as long as the ring is full.
    ///
    /// # Errors
    /// [`Error::RingClosed`].
    pub fn put(&self) -> Result<WriteSlot<'_>> {
        self.put_with(Wait::forever())
    }

    /// Claims the next slot, waiting as `wait` says.
    ///
    /// # Errors
    /// [`Error::RingClosed`], [`Error::Timeout`], [`Error::Interrupted`].
    pub fn put_with(&self, wait: Wait<'_>) -> Result<WriteSlot<'_>> {
        let claim = self.claim(wait)?;
        Ok(WriteSlot {
            ring: self,
            claim: Some(claim),
        })
    }

    /// Copies `item` (exactly [`RawRing::item_bytes`] bytes) into the next
    /// slot and commits it.
    ///
    /// # Errors
    /// [`Error::InvalidShape`] for a wrong length; those of [`RawRing::put_with`].
    pub fn push(&self, item: &[u8], wait: Wait<'_>) -> Result<()> {
        if item.len() != self.item_bytes() {
            return Err(Error::InvalidShape(format!(
                "an item of this ring is {} bytes, not {}",
                self.item_bytes(),
                item.len()
            )));
        }
        let mut slot = self.put_with(wait)?;
        slot.bytes_mut().copy_from_slice(item);
        slot.commit()
    }

    /// Takes the next queue item, waiting as long as it takes; `None` once
    /// the stream has ended.
    ///
    /// # Errors
    /// [`Error::InvalidShape`] for a broadcast ring (use
    /// [`RawRing::get_with`] with a subscriber).
    pub fn get(&self) -> Result<Option<ReadSlot<'_>>> {
        self.get_with(None, Wait::forever())
    }

    /// Takes the next item as [`RawRing::take`] does, as a guard that
    /// releases it when dropped.
    ///
    /// # Errors
    /// The errors of [`RawRing::take`].
    pub fn get_with(
        &self,
        subscriber: Option<Subscriber>,
        wait: Wait<'_>,
    ) -> Result<Option<ReadSlot<'_>>> {
        Ok(self
            .take(subscriber, wait)?
            .map(|taken| ReadSlot { ring: self, taken }))
    }

    fn slot_ptr(&self, slot: u32) -> *mut u8 {
        self.w.ptr(self.slot_offset(slot))
    }
}

/// A claimed slot: write the item, then [`WriteSlot::commit`]. Dropped
/// without a commit, the slot is abandoned (consumers skip it).
#[derive(Debug)]
#[must_use = "an uncommitted slot is abandoned when dropped"]
pub struct WriteSlot<'a> {
    ring: &'a RawRing,
    claim: Option<Claim>,
}

impl WriteSlot<'_> {
    /// The item's bytes.
    ///
    /// # Panics
    /// Never: the claim is held until `commit` consumes the slot.
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        let c = self.claim.expect("held until commit");
        // SAFETY: the slot lies inside the checked data, mapped writable for
        // the ring's lifetime; between claim and commit no other process
        // reads or writes it (the protocol), and `&mut self` makes this the
        // only reference to it in this process.
        unsafe {
            std::slice::from_raw_parts_mut(self.ring.slot_ptr(c.slot), self.ring.item_bytes())
        }
    }

    /// The item as an n-d array of `T`.
    ///
    /// # Errors
    /// [`Error::TypeMismatch`] if the ring's dtype is not `T`.
    pub fn view_mut<T: Element>(&mut self) -> Result<ndarray::ArrayViewMutD<'_, T>> {
        let shape = item_shape::<T>(self.ring)?;
        let bytes = self.bytes_mut();
        let n = bytes.len() / size_of::<T>();
        #[allow(clippy::cast_ptr_alignment, reason = "slots are 64-byte aligned")]
        // SAFETY: the slot is 64-byte aligned (page-aligned data, strides of
        // 64 or 4096) and `n * size_of::<T>()` bytes long; `T` is valid for
        // every bit pattern (`Element`); the borrow of `self` bounds it.
        let elems = unsafe { std::slice::from_raw_parts_mut(bytes.as_mut_ptr().cast::<T>(), n) };
        ndarray::ArrayViewMutD::from_shape(shape, elems)
            .map_err(|e| Error::InvalidShape(e.to_string()))
    }

    /// Sequence number of the item.
    #[must_use]
    pub fn seq(&self) -> u64 {
        self.claim.map_or(0, |c| c.seq)
    }

    /// Publishes the item.
    ///
    /// # Errors
    /// The errors of [`RawRing::commit`].
    pub fn commit(mut self) -> Result<()> {
        match self.claim.take() {
            Some(c) => self.ring.commit(c),
            None => Ok(()),
        }
    }
}

impl Drop for WriteSlot<'_> {
    fn drop(&mut self) {
        if let Some(c) = self.claim.take() {
            let _ = self.ring.abort(c);
        }
    }
}

fn item_shape<T: Element>(ring: &RawRing) -> Result<ndarray::IxDyn> {
    if !dtype::matches::<T>(ring.dtype()) || ring.itemsize() != size_of::<T>() as u64 {
        return Err(Error::TypeMismatch {
            expected: T::DESCR.to_owned(),
            found: ring.dtype().to_owned(),
        });
    }
    let dims: Vec<usize> = ring.shape().iter().map(|&d| d as usize).collect();
    Ok(ndarray::IxDyn(&dims))
}

/// A taken item: valid until dropped, which releases its slot.
#[derive(Debug)]
pub struct ReadSlot<'a> {
    ring: &'a RawRing,
    taken: Taken,
}

impl ReadSlot<'_> {
    /// The item's bytes.
    #[must_use]
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: the slot lies in the checked data, mapped while the ring
        // lives; no producer claims it until this guard releases it.
        unsafe {
            std::slice::from_raw_parts(self.ring.slot_ptr(self.taken.slot), self.ring.item_bytes())
        }
    }

    /// The item as an n-d array of `T`.
    ///
    /// # Errors
    /// [`Error::TypeMismatch`] if the ring's dtype is not `T`.
    pub fn view<T: Element>(&self) -> Result<ndarray::ArrayViewD<'_, T>> {
        let shape = item_shape::<T>(self.ring)?;
        let bytes = self.bytes();
        #[allow(clippy::cast_ptr_alignment, reason = "slots are 64-byte aligned")]
        // SAFETY: as in `WriteSlot::view_mut`, shared.
        let elems = unsafe {
            std::slice::from_raw_parts(bytes.as_ptr().cast::<T>(), bytes.len() / size_of::<T>())
        };
        ndarray::ArrayViewD::from_shape(shape, elems)
            .map_err(|e| Error::InvalidShape(e.to_string()))
    }

    /// Sequence number of the item.
    #[must_use]
    pub fn seq(&self) -> u64 {
        self.taken.seq
    }

    /// Items this subscriber missed just before this one.
    #[must_use]
    pub fn missed(&self) -> u64 {
        self.taken.missed
    }
}

impl Drop for ReadSlot<'_> {
    fn drop(&mut self) {
        let _ = self.ring.release(self.taken);
    }
}
