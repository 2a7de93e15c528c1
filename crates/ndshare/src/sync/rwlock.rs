//! The read/write lock in every segment's header: many readers or one
//! writer, robust to a holder dying.
//!
//! The protocol is in docs/format.md, "Lock word protocol": 64 bytes at
//! [`offset::RWLOCK`], all zero when free. A writer takes the writer word
//! exactly as the plain lock's word is taken (and is robust the same way),
//! then waits for the readers to leave; while the writer word names anyone,
//! new readers wait, so a stream of readers cannot starve a writer. A reader
//! records itself in one of six reader slots (its thread id and start time,
//! so that a writer can tell a reader that died from one that reads), or,
//! when all six are taken, only counts itself in the overflow count. A
//! reader that dies is cleared from its slot by the next writer that waits
//! for it; a reader that dies counted only in the overflow count cannot be
//! told from a live one, and writers wait for it until their timeout.
//!
//! Which lock a thread holds is not recorded per lock object but per thread
//! in the slots, so a read lock is released by the thread that took it.
//! A thread that reads already (in a slot) may read again while a writer
//! waits; one counted only in the overflow count cannot be told from other
//! readers, and a second read of it waits behind a waiting writer, which
//! waits for it: give such nested reads a timeout.

use std::cell::Cell;
use std::fmt;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::SeqCst};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::format::header::offset;
use crate::segment::Segment;
use crate::sync::lock::{
    acquire_owner_word, guard_result, release_owner_word, Acquired, LockError, LockResult,
};
use crate::sync::owner::{Owner, TID_MASK, WAITERS};
use crate::sync::wait::{Slept, Wait};
use crate::sys;

/// Readers recorded by identity; more are counted only.
pub const READER_SLOTS: usize = 6;

thread_local! {
    /// How many read locks the calling thread holds counted only in an
    /// overflow count (of any read/write lock), and the fork generation it
    /// took them in: a forked child's thread inherits the value but holds
    /// none of them. Without it, any thread could take a count that belongs
    /// to another reader, and a writer would enter while that reader reads.
    static OVERFLOW_HELD: Cell<(u64, u32)> = const { Cell::new((0, 0)) };
}

/// The calling thread's count of overflow read locks, in this process.
fn overflow_held() -> u32 {
    let (generation, n) = OVERFLOW_HELD.get();
    if generation == sys::fork_generation() {
        n
    } else {
        0
    }
}

fn set_overflow_held(n: u32) {
    OVERFLOW_HELD.set((sys::fork_generation(), n));
}

/// The read/write lock area of a segment.
///
/// Get it with [`Segment::raw_rwlock`]; most Rust code uses the guards of
/// [`Segment::read_lock`] and [`Segment::write_lock`].
#[repr(C)]
#[derive(Debug)]
pub struct RawRwLock {
    /// Owner word of the writer (pending or holding): as the plain lock's.
    writer: AtomicU64,
    /// Readers not in a slot.
    overflow: AtomicU32,
    /// Counts reader releases: a pending writer sleeps on it.
    released: AtomicU32,
    /// Readers by identity: 0, or a reader's owner word (no flags).
    slots: [AtomicU64; READER_SLOTS],
}

const _: () = assert!(size_of::<RawRwLock>() == 64);

impl RawRwLock {
    /// How many readers the lock tracks by owner, to recover their share
    /// when they die; more readers still share the lock, uncounted by name.
    pub const READER_SLOTS: usize = READER_SLOTS;

    /// The read/write lock whose 64-byte area is at `ptr`.
    ///
    /// # Safety
    /// `ptr` must be 8-aligned, point to 64 bytes that stay mapped readable
    /// and writable for `'a`, and be accessed by every thread and process
    /// only atomically, following the lock word protocol.
    ///
    /// # Errors
    /// None: the pointer's validity is the caller's promise.
    ///
    /// # Example
    /// ```
    /// use std::sync::atomic::AtomicU64;
    /// use ndshare::RawRwLock;
    /// let area: [AtomicU64; 8] = Default::default();
    /// // SAFETY: 64 live, aligned bytes, used only as a read/write lock.
    /// let rw = unsafe { RawRwLock::from_ptr(area.as_ptr().cast_mut().cast()) };
    /// assert_eq!(rw.readers(), 0);
    /// ```
    #[must_use]
    #[allow(
        clippy::cast_ptr_alignment,
        reason = "alignment is the caller's promise"
    )]
    pub unsafe fn from_ptr<'a>(ptr: *mut u8) -> &'a RawRwLock {
        debug_assert_eq!(ptr as usize % 8, 0);
        // SAFETY: the caller promises 64 aligned, live bytes used only
        // atomically; `RawRwLock` is `repr(C)` atomics, 64 bytes, no padding.
        unsafe { &*ptr.cast::<RawRwLock>() }
    }

    /// Takes a read lock, waiting as `wait` says. Reports
    /// [`Acquired::OwnerDied`] if it found the writer dead (and took the
    /// lock over from it).
    /// A thread that holds a read lock in one of the slots takes another
    /// without waiting for a writer that waits (for it).
    ///
    /// # Errors
    /// [`Error::Timeout`], [`Error::Interrupted`], [`Error::Deadlock`] if
    /// the calling thread holds the write lock.
    pub fn read(&self, mut wait: Wait<'_>) -> Result<Acquired> {
        let me = Owner::current();
        let mine = me.word();
        let half = sys::futex_half(&self.writer, false);
        if self.slots.iter().any(|s| s.load(SeqCst) == mine) {
            // This thread reads already, so no writer holds the lock, and
            // one that waits, waits for this thread: waiting for it in turn
            // would deadlock both. Read again at once.
            if self.claim(mine).is_none() {
                set_overflow_held(overflow_held() + 1);
            }
            return Ok(Acquired::Clean);
        }
        loop {
            let w = self.writer.load(SeqCst);
            if let Some(holder) = Owner::from_word(w) {
                if holder == me {
                    return Err(Error::Deadlock("the calling thread holds the write lock"));
                }
                let flagged = w | WAITERS;
                if w != flagged
                    && self
                        .writer
                        .compare_exchange(w, flagged, SeqCst, SeqCst)
                        .is_err()
                {
                    continue;
                }
                if wait.sleep(half, flagged as u32)? == Slept::Polled
                    && holder.is_dead()
                    && self
                        .writer
                        .compare_exchange(flagged, mine | WAITERS, SeqCst, SeqCst)
                        .is_ok()
                {
                    // Took the dead writer's word over, as a writer would:
                    // record this reader before giving the word up, so that
                    // it holds the lock before anyone else can (a writer
                    // waiting too must not write over half-written data
                    // untold). Giving it up wakes whoever waits on it.
                    if self.claim(mine).is_none() {
                        set_overflow_held(overflow_held() + 1);
                    }
                    let _ = release_owner_word(&self.writer, u32::MAX);
                    return Ok(Acquired::OwnerDied(holder));
                }
                continue;
            }
            let slot = self.claim(mine);
            // Announce first, then look for a writer; a writer sets its
            // word first, then looks for readers (all sequentially
            // consistent): at least one of the two sees the other.
            if self.writer.load(SeqCst) & TID_MASK == 0 {
                if slot.is_none() {
                    set_overflow_held(overflow_held() + 1);
                }
                return Ok(Acquired::Clean);
            }
            self.leave(slot);
        }
    }

    /// Takes a read lock if no writer holds or waits for it, without
    /// waiting.
    ///
    /// # Errors
    /// [`Error::Timeout`] if a writer holds or waits.
    pub fn try_read(&self) -> Result<()> {
        self.read(Wait::timeout(Duration::ZERO)).map(drop)
    }

    /// Releases a read lock of the calling thread.
    ///
    /// # Errors
    /// [`Error::NotOwner`] if the calling thread holds no read lock: no slot
    /// names it, and it counted itself in no overflow count (a thread
    /// forked while holding a read lock holds none in the child).
    pub fn read_unlock(&self) -> Result<()> {
        let mine = Owner::current().word();
        if let Some(i) = self.slots.iter().position(|s| s.load(SeqCst) == mine) {
            self.leave(Some(i));
            return Ok(());
        }
        let not_owner = || Error::NotOwner("the calling thread holds no read lock");
        let held = overflow_held();
        if held == 0 {
            return Err(not_owner());
        }
        self.overflow
            .fetch_update(SeqCst, SeqCst, |n| n.checked_sub(1))
            .map_err(|_| not_owner())?;
        set_overflow_held(held - 1);
        self.announce_leave();
        Ok(())
    }

    /// Takes the write lock, waiting as `wait` says: first the writer word
    /// (robust as the plain lock), then for the readers to leave.
    ///
    /// # Errors
    /// [`Error::Timeout`], [`Error::Interrupted`], [`Error::Deadlock`] if
    /// the calling thread holds the write lock or a read lock of this lock.
    pub fn write(&self, mut wait: Wait<'_>) -> Result<Acquired> {
        let news = acquire_owner_word(&self.writer, &mut wait)?;
        let mine = Owner::current().word();
        loop {
            let seen = self.released.load(SeqCst);
            let mut busy = self.overflow.load(SeqCst) != 0;
            for s in &self.slots {
                match s.load(SeqCst) {
                    0 => {}
                    v if v == mine => {
                        let _ = release_owner_word(&self.writer, u32::MAX);
                        return Err(Error::Deadlock("the calling thread holds a read lock"));
                    }
                    _ => busy = true,
                }
            }
            if !busy {
                return Ok(news);
            }
            match wait.sleep(&self.released, seen) {
                Ok(Slept::Woken) => {}
                Ok(Slept::Polled) => self.clear_dead_readers(),
                Err(e) => {
                    // Give up the writer word: readers waiting behind it go on.
                    let _ = release_owner_word(&self.writer, u32::MAX);
                    return Err(e);
                }
            }
        }
    }

    /// Takes the write lock if it and every read lock are free, without
    /// waiting.
    ///
    /// # Errors
    /// [`Error::Timeout`] if it is held or read.
    pub fn try_write(&self) -> Result<()> {
        self.write(Wait::timeout(Duration::ZERO)).map(drop)
    }

    /// Releases the write lock.
    ///
    /// # Errors
    /// [`Error::NotOwner`] if the calling thread does not hold it.
    pub fn write_unlock(&self) -> Result<()> {
        release_owner_word(&self.writer, u32::MAX)
    }

    /// Readers holding the lock now.
    #[must_use]
    pub fn readers(&self) -> u32 {
        let slotted = self.slots.iter().filter(|s| s.load(SeqCst) != 0).count() as u32;
        slotted + self.overflow.load(SeqCst)
    }

    /// The writer holding (or waiting for) the write lock, if any.
    #[must_use]
    pub fn writer(&self) -> Option<Owner> {
        Owner::from_word(self.writer.load(SeqCst))
    }

    /// Records a reader: in a free slot, else in the overflow count.
    fn claim(&self, mine: u64) -> Option<usize> {
        for (i, s) in self.slots.iter().enumerate() {
            if s.load(SeqCst) == 0 && s.compare_exchange(0, mine, SeqCst, SeqCst).is_ok() {
                return Some(i);
            }
        }
        self.overflow.fetch_add(1, SeqCst);
        None
    }

    /// Removes a reader's record (as [`RawRwLock::claim`] made it) and
    /// wakes a writer that waits for readers.
    fn leave(&self, slot: Option<usize>) {
        match slot {
            Some(i) => self.slots[i].store(0, SeqCst),
            None => {
                self.overflow.fetch_sub(1, SeqCst);
            }
        }
        self.announce_leave();
    }

    /// Wakes a writer that waits for readers, after a reader's record went.
    fn announce_leave(&self) {
        self.released.fetch_add(1, SeqCst);
        if self.writer.load(SeqCst) & TID_MASK != 0 {
            sys::futex_wake_all(&self.released);
        }
    }

    /// Clears the slots of readers that died reading.
    fn clear_dead_readers(&self) {
        for s in &self.slots {
            let v = s.load(SeqCst);
            if let Some(reader) = Owner::from_word(v) {
                if reader.is_dead() {
                    let _ = s.compare_exchange(v, 0, SeqCst, SeqCst);
                }
            }
        }
    }
}

/// A held read lock; released when dropped. Not `Send`.
#[must_use = "the lock is released when the guard is dropped"]
pub struct ReadGuard<'a> {
    lock: &'a RawRwLock,
    _thread_bound: PhantomData<*const ()>,
}

/// The held write lock; released when dropped. Not `Send`.
#[must_use = "the lock is released when the guard is dropped"]
pub struct WriteGuard<'a> {
    lock: &'a RawRwLock,
    _thread_bound: PhantomData<*const ()>,
}

impl fmt::Debug for ReadGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadGuard")
            .field("readers", &self.lock.readers())
            .finish()
    }
}

impl fmt::Debug for WriteGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WriteGuard")
            .field("writer", &self.lock.writer())
            .finish()
    }
}

impl Drop for ReadGuard<'_> {
    fn drop(&mut self) {
        let _ = self.lock.read_unlock();
    }
}

impl Drop for WriteGuard<'_> {
    fn drop(&mut self) {
        let _ = self.lock.write_unlock();
    }
}

/// The read/write lock of every segment: `a.read_lock()` and
/// `a.write_lock()` in Python. Independent of [`Segment::lock`].
impl Segment {
    /// The segment's read/write lock area.
    ///
    /// # Errors
    /// [`Error::ReadOnly`] if this process mapped the header read-only.
    pub fn raw_rwlock(&self) -> Result<&RawRwLock> {
        self.sync_area(offset::RWLOCK)?;
        // SAFETY: `sync_area` checked that the header is mapped writable;
        // offset::RWLOCK is 64-aligned inside the page-aligned mapping,
        // which lives as long as `self`; every user of the area follows the
        // protocol with atomic operations.
        Ok(unsafe { RawRwLock::from_ptr(self.base_ptr().add(offset::RWLOCK)) })
    }

    /// Takes a read lock: any number of readers at once, no writer.
    ///
    /// # Errors
    /// [`LockError::OwnerDied`] (with the read lock held) if a writer died
    /// holding the lock; [`LockError::Failed`] with [`Error::ReadOnly`] or
    /// [`Error::Deadlock`].
    ///
    /// # Example
    /// ```
    /// use ndshare::{Layout, Order, Segment};
    /// let seg = Segment::create(Layout::contiguous(&[4], 8, Order::C)?, "<f8", None, 0o600)?;
    /// let r1 = seg.read_lock().expect("free");
    /// let r2 = seg.read_lock().expect("readers share");
    /// assert_eq!(seg.raw_rwlock()?.readers(), 2);
    /// assert!(seg.try_write_lock().is_err());
    /// drop((r1, r2));
    /// assert!(seg.try_write_lock().is_ok());
    /// # Ok::<(), ndshare::Error>(())
    /// ```
    pub fn read_lock(&self) -> LockResult<ReadGuard<'_>> {
        self.read_lock_with(Wait::forever())
    }

    /// Takes a read lock, waiting at most `timeout`.
    ///
    /// # Errors
    /// As [`Segment::read_lock`], and [`Error::Timeout`].
    pub fn read_lock_timeout(&self, timeout: Duration) -> LockResult<ReadGuard<'_>> {
        self.read_lock_with(Wait::timeout(timeout))
    }

    /// Takes a read lock without waiting.
    ///
    /// # Errors
    /// As [`Segment::read_lock`], and [`Error::Timeout`].
    pub fn try_read_lock(&self) -> LockResult<ReadGuard<'_>> {
        self.read_lock_with(Wait::timeout(Duration::ZERO))
    }

    /// Takes a read lock, waiting as `wait` says.
    ///
    /// # Errors
    /// As [`Segment::read_lock`], and [`Error::Timeout`], [`Error::Interrupted`].
    pub fn read_lock_with(&self, wait: Wait<'_>) -> LockResult<ReadGuard<'_>> {
        let lock = self.raw_rwlock().map_err(LockError::Failed)?;
        guard_result(lock.read(wait), || ReadGuard {
            lock,
            _thread_bound: PhantomData,
        })
    }

    /// Takes the write lock: no other writer, no reader.
    ///
    /// # Errors
    /// [`LockError::OwnerDied`] (with the write lock held) if the previous
    /// writer died holding it; [`LockError::Failed`] with
    /// [`Error::ReadOnly`] or [`Error::Deadlock`].
    ///
    /// # Example
    /// ```
    /// use ndshare::{Layout, Order, Segment};
    /// let seg = Segment::create(Layout::contiguous(&[4], 8, Order::C)?, "<f8", None, 0o600)?;
    /// let w = seg.write_lock().expect("free");
    /// assert!(seg.try_read_lock().is_err());
    /// drop(w);
    /// assert!(seg.try_read_lock().is_ok());
    /// # Ok::<(), ndshare::Error>(())
    /// ```
    pub fn write_lock(&self) -> LockResult<WriteGuard<'_>> {
        self.write_lock_with(Wait::forever())
    }

    /// Takes the write lock, waiting at most `timeout`.
    ///
    /// # Errors
    /// As [`Segment::write_lock`], and [`Error::Timeout`].
    pub fn write_lock_timeout(&self, timeout: Duration) -> LockResult<WriteGuard<'_>> {
        self.write_lock_with(Wait::timeout(timeout))
    }

    /// Takes the write lock without waiting.
    ///
    /// # Errors
    /// As [`Segment::write_lock`], and [`Error::Timeout`].
    pub fn try_write_lock(&self) -> LockResult<WriteGuard<'_>> {
        self.write_lock_with(Wait::timeout(Duration::ZERO))
    }

    /// Takes the write lock, waiting as `wait` says.
    ///
    /// # Errors
    /// As [`Segment::write_lock`], and [`Error::Timeout`], [`Error::Interrupted`].
    pub fn write_lock_with(&self, wait: Wait<'_>) -> LockResult<WriteGuard<'_>> {
        let lock = self.raw_rwlock().map_err(LockError::Failed)?;
        guard_result(lock.write(wait), || WriteGuard {
            lock,
            _thread_bound: PhantomData,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::segment;
    use std::sync::atomic::Ordering::Relaxed;
    use std::sync::{Arc, Barrier};

    #[test]
    #[allow(
        clippy::cast_ptr_alignment,
        reason = "the lock areas are 64-aligned in a page"
    )]
    fn area_is_zero_when_free() {
        let seg = segment();
        let rw = seg.raw_rwlock().unwrap();
        // SAFETY: the 64 bytes of a live segment's area, read atomically.
        let words = unsafe { &*seg.base_ptr().add(offset::RWLOCK).cast::<[AtomicU64; 8]>() };
        let all_zero = || words.iter().all(|w| w.load(Relaxed) == 0);
        assert!(all_zero());
        drop(seg.read_lock().unwrap());
        drop(seg.write_lock().unwrap());
        // Free again: all zero but the release counter (bytes 12..16).
        assert_eq!(rw.released.load(Relaxed), 1);
        rw.released.store(0, Relaxed);
        assert!(all_zero());
        assert_eq!((rw.readers(), rw.writer()), (0, None));
    }

    #[test]
    fn more_readers_than_slots_overflow_and_return() {
        let seg = Arc::new(segment());
        let n = READER_SLOTS + 3;
        let all_in = Arc::new(Barrier::new(n + 1));
        let go_out = Arc::new(Barrier::new(n + 1));
        let threads: Vec<_> = (0..n)
            .map(|_| {
                let (seg, all_in, go_out) = (seg.clone(), all_in.clone(), go_out.clone());
                std::thread::spawn(move || {
                    let g = seg.read_lock().unwrap();
                    all_in.wait();
                    go_out.wait();
                    drop(g);
                })
            })
            .collect();
        all_in.wait();
        let rw = seg.raw_rwlock().unwrap();
        assert_eq!(rw.readers(), n as u32);
        assert_eq!(rw.overflow.load(Relaxed), 3);
        assert!(matches!(
            seg.try_write_lock(),
            Err(LockError::Failed(Error::Timeout))
        ));
        go_out.wait();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(rw.readers(), 0);
        assert!(seg.try_write_lock().is_ok());
    }

    #[test]
    fn writer_excludes_and_waits_for_readers() {
        let seg = Arc::new(segment());
        let value = Arc::new(AtomicU64::new(0));
        let threads: Vec<_> = (0..4)
            .map(|i| {
                let (seg, value) = (seg.clone(), value.clone());
                std::thread::spawn(move || {
                    for _ in 0..500 {
                        if i % 2 == 0 {
                            let _w = seg.write_lock().unwrap();
                            // Not atomic as a pair: only exclusion keeps it even.
                            value.fetch_add(1, Relaxed);
                            value.fetch_add(1, Relaxed);
                        } else {
                            let _r = seg.read_lock().unwrap();
                            assert_eq!(value.load(Relaxed) % 2, 0);
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(value.load(Relaxed), 2000);
    }

    #[test]
    fn own_locks_are_deadlocks_not_hangs() {
        let seg = segment();
        let r = seg.read_lock().unwrap();
        assert!(matches!(
            seg.write_lock(),
            Err(LockError::Failed(Error::Deadlock(_)))
        ));
        drop(r);
        let w = seg.write_lock().unwrap();
        assert!(matches!(
            seg.read_lock(),
            Err(LockError::Failed(Error::Deadlock(_)))
        ));
        drop(w);
        assert!(matches!(
            seg.raw_rwlock().unwrap().read_unlock(),
            Err(Error::NotOwner(_))
        ));
    }

    #[test]
    fn dead_reader_is_cleared_and_dead_writer_reported() {
        let seg = Arc::new(segment());
        let s2 = seg.clone();
        std::thread::spawn(move || std::mem::forget(s2.read_lock().unwrap()))
            .join()
            .unwrap();
        assert_eq!(seg.raw_rwlock().unwrap().readers(), 1);
        // The writer clears the dead reader and gets the lock, cleanly.
        drop(seg.write_lock().unwrap());
        assert_eq!(seg.raw_rwlock().unwrap().readers(), 0);

        let s3 = seg.clone();
        let dead = std::thread::spawn(move || {
            std::mem::forget(s3.write_lock().unwrap());
            Owner::current()
        })
        .join()
        .unwrap();
        match seg.read_lock() {
            Err(LockError::OwnerDied { previous, guard }) => {
                assert_eq!(previous, dead);
                drop(guard);
            }
            other => panic!("expected OwnerDied, got {other:?}"),
        }
        assert!(seg.write_lock().is_ok());
    }
}
