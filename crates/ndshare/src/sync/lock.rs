//! The robust process-shared lock in every segment's header.
//!
//! The protocol is in docs/format.md, "Lock word protocol": one 64-bit word
//! at [`offset::LOCK`], zero when free, else the holder's thread id (bits
//! 0..30), a waiters flag (bit 31) and the holder's start time modulo 2^32
//! (bits 32..64). Taking the lock is one compare-and-swap from zero; a
//! contended waiter sets the waiters flag and sleeps on a futex on the low
//! half of the word.
//!
//! Robustness without the kernel's robust-futex list: that list is per
//! thread and belongs to the C library (glibc registers it for its own
//! mutexes), so a second user in the same thread would corrupt it (rings
//! use it from a thread that does nothing else: `ring/member.rs`). Instead a
//! waiter sleeps at most [`POLL_INTERVAL`] at a time and then looks at the
//! holder the word names ([`Owner::is_dead`]); if the holder is gone it
//! takes the lock over with one compare-and-swap and is told
//! ([`Acquired::OwnerDied`], [`LockError::OwnerDied`]). The lock then works
//! as before. The same holds between threads of one process: a thread that
//! ends holding the lock is a dead holder too.
//!
//! [`POLL_INTERVAL`]: crate::sync::wait::POLL_INTERVAL

use std::fmt;
use std::hint;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ndarray::ArrayViewMutD;

use crate::array::typed::SharedArray;
use crate::error::{Error, Result};
use crate::format::dtype::Element;
use crate::format::header::offset;
use crate::segment::Segment;
use crate::sync::owner::{Owner, WAITERS};
use crate::sync::wait::{Slept, Wait};
use crate::sys;

/// Times a contended locker looks at the word before it sleeps. A critical
/// section of a few hundred nanoseconds ends within them; a longer one is
/// waited for on the futex.
const SPINS: u32 = 64;

/// How a lock was acquired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acquired {
    /// From a holder that released it (or free).
    Clean,
    /// From a holder that died while holding it: what the lock protects may
    /// be half-updated.
    OwnerDied(Owner),
}

/// The lock word of a segment: a robust, process-shared mutex.
///
/// Get it with [`Segment::raw_lock`]; most Rust code uses the guards of
/// [`Segment::lock`] instead. The raw form is for callers that cannot keep a
/// guard (the Python bindings), and it keeps one rule: a lock is released by
/// the thread that holds it.
#[repr(transparent)]
#[derive(Debug)]
pub struct RawLock {
    word: AtomicU64,
}

impl RawLock {
    /// The lock whose word is at `ptr`.
    ///
    /// # Safety
    /// `ptr` must be 8-aligned, point to 8 bytes that stay mapped readable
    /// and writable for `'a`, and be accessed by every thread and process
    /// only atomically, following the lock word protocol.
    ///
    /// # Errors
    /// None: the pointer's validity is the caller's promise.
    ///
    /// # Example
    /// ```
    /// use std::sync::atomic::AtomicU64;
    /// use ndshare::RawLock;
    /// let word = AtomicU64::new(0);
    /// // SAFETY: a live, aligned atomic, used only as a lock word.
    /// let lock = unsafe { RawLock::from_ptr(word.as_ptr().cast()) };
    /// assert!(!lock.is_locked());
    /// ```
    #[must_use]
    #[allow(
        clippy::cast_ptr_alignment,
        reason = "alignment is the caller's promise"
    )]
    pub unsafe fn from_ptr<'a>(ptr: *mut u8) -> &'a RawLock {
        debug_assert_eq!(ptr as usize % 8, 0);
        // SAFETY: the caller promises an aligned, live word used only
        // atomically; `RawLock` is a transparent `AtomicU64`.
        unsafe { &*ptr.cast::<RawLock>() }
    }

    /// Takes the lock, waiting as `wait` says.
    ///
    /// # Errors
    /// [`Error::Timeout`], [`Error::Interrupted`], [`Error::Deadlock`] if the
    /// calling thread holds it already.
    pub fn lock(&self, mut wait: Wait<'_>) -> Result<Acquired> {
        acquire_owner_word(&self.word, &mut wait)
    }

    /// Takes the lock if it is free, without waiting. Never looks at a
    /// holder, so it does not take over from a dead one.
    ///
    /// # Errors
    /// [`Error::Timeout`] if the lock is held.
    pub fn try_lock(&self) -> Result<()> {
        let me = Owner::current().word();
        self.word
            .compare_exchange(0, me, Ordering::Acquire, Ordering::Relaxed)
            .map(drop)
            .map_err(|_| Error::Timeout)
    }

    /// Releases the lock.
    ///
    /// # Errors
    /// [`Error::NotOwner`] if the calling thread does not hold it.
    pub fn unlock(&self) -> Result<()> {
        release_owner_word(&self.word, 1)
    }

    /// Whether some thread holds the lock.
    #[must_use]
    pub fn is_locked(&self) -> bool {
        self.owner().is_some()
    }

    /// The holder, if any.
    #[must_use]
    pub fn owner(&self) -> Option<Owner> {
        Owner::from_word(self.word.load(Ordering::Relaxed))
    }

    /// Whether the calling thread holds the lock.
    #[must_use]
    pub fn is_held_by_me(&self) -> bool {
        self.owner() == Some(Owner::current())
    }
}

/// Takes an owner word (the lock word, or the writer word of the read/write
/// lock): the protocol of docs/format.md, "Taking a lock".
pub(crate) fn acquire_owner_word(word: &AtomicU64, wait: &mut Wait<'_>) -> Result<Acquired> {
    let me = Owner::current();
    let mine = me.word();
    if word
        .compare_exchange(0, mine, Ordering::Acquire, Ordering::Relaxed)
        .is_ok()
    {
        return Ok(Acquired::Clean);
    }
    if !wait.expired() {
        for _ in 0..SPINS {
            hint::spin_loop();
            if word.load(Ordering::Relaxed) == 0
                && word
                    .compare_exchange(0, mine, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
            {
                return Ok(Acquired::Clean);
            }
        }
    }
    let half = sys::futex_half(word, false);
    loop {
        let v = word.load(Ordering::Relaxed);
        let Some(holder) = Owner::from_word(v) else {
            // Free (or, against the protocol, flags without a holder: free
            // too). Once this thread has waited, take it with the waiters
            // flag: others may still sleep, and the next release must wake
            // one.
            if word
                .compare_exchange(v, mine | WAITERS, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                return Ok(Acquired::Clean);
            }
            continue;
        };
        if holder == me {
            return Err(Error::Deadlock(
                "the calling thread holds this lock already",
            ));
        }
        let flagged = v | WAITERS;
        if v != flagged
            && word
                .compare_exchange(v, flagged, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            continue;
        }
        if wait.sleep(half, flagged as u32)? == Slept::Polled && holder.is_dead() {
            // Take over only if the word still names the dead holder: a
            // compare-and-swap from exactly what was seen, flag included.
            if word
                .compare_exchange(
                    flagged,
                    mine | WAITERS,
                    Ordering::Acquire,
                    Ordering::Relaxed,
                )
                .is_ok()
            {
                return Ok(Acquired::OwnerDied(holder));
            }
        }
    }
}

/// Releases an owner word held by the calling thread, waking `wake`
/// sleepers if any sleep.
pub(crate) fn release_owner_word(word: &AtomicU64, wake: u32) -> Result<()> {
    let me = Owner::current();
    if Owner::from_word(word.load(Ordering::Relaxed)) != Some(me) {
        return Err(Error::NotOwner(
            "the calling thread does not hold this lock",
        ));
    }
    // Only the holder changes the owner bits; others may only add the
    // waiters flag, which the swap collects.
    if word.swap(0, Ordering::Release) & WAITERS != 0 {
        sys::futex_wake(sys::futex_half(word, false), wake);
    }
    Ok(())
}

/// A held segment lock; released when dropped. Not `Send`: a lock is
/// released by the thread that took it.
#[must_use = "the lock is released when the guard is dropped"]
pub struct LockGuard<'a> {
    lock: &'a RawLock,
    _thread_bound: PhantomData<*const ()>,
}

impl fmt::Debug for LockGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockGuard")
            .field("owner", &self.lock.owner())
            .finish()
    }
}

impl Drop for LockGuard<'_> {
    fn drop(&mut self) {
        // Cannot fail: this thread holds the lock for as long as the guard
        // lives (a guard carried into a forked child fails here and leaves
        // the parent's lock alone, as it must).
        let _ = self.lock.unlock();
    }
}

/// Why a lock call did not simply return its guard.
///
/// Like `std::sync::PoisonError`, the owner-died case carries the guard: the
/// lock *is* held, and the caller decides whether the protected data needs
/// repair. Dropping the guard releases the lock as usual, and the lock is
/// clean again for the next taker.
pub enum LockError<G> {
    /// Acquired, but the previous holder died while holding it.
    OwnerDied {
        /// The held lock.
        guard: G,
        /// Who died.
        previous: Owner,
    },
    /// Not acquired.
    Failed(Error),
}

impl<G> LockError<G> {
    /// The guard of an owner-died acquisition; the error otherwise. Handy as
    /// `seg.lock().or_else(LockError::into_guard)?` where a dead holder
    /// needs no repair.
    ///
    /// # Errors
    /// The [`Error`] of a failed acquisition.
    pub fn into_guard(self) -> Result<G> {
        match self {
            LockError::OwnerDied { guard, .. } => Ok(guard),
            LockError::Failed(e) => Err(e),
        }
    }
}

impl<G> fmt::Debug for LockError<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LockError::OwnerDied { previous, .. } => f
                .debug_struct("OwnerDied")
                .field("previous", previous)
                .finish_non_exhaustive(),
            LockError::Failed(e) => f.debug_tuple("Failed").field(e).finish(),
        }
    }
}

impl<G> fmt::Display for LockError<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LockError::OwnerDied { previous, .. } => write!(
                f,
                "lock acquired, but its previous holder (thread {}) died holding it",
                previous.tid
            ),
            LockError::Failed(e) => e.fmt(f),
        }
    }
}

impl<G> std::error::Error for LockError<G> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LockError::OwnerDied { .. } => None,
            LockError::Failed(e) => Some(e),
        }
    }
}

/// What the lock calls of [`Segment`] return.
pub type LockResult<G> = std::result::Result<G, LockError<G>>;

/// Turns an acquisition into a guard result.
pub(crate) fn guard_result<G>(
    acquired: Result<Acquired>,
    guard: impl FnOnce() -> G,
) -> LockResult<G> {
    match acquired {
        Ok(Acquired::Clean) => Ok(guard()),
        Ok(Acquired::OwnerDied(previous)) => Err(LockError::OwnerDied {
            guard: guard(),
            previous,
        }),
        Err(e) => Err(LockError::Failed(e)),
    }
}

/// The lock of every segment: `with a.lock():` in Python.
impl Segment {
    /// The segment's lock word.
    ///
    /// # Errors
    /// [`Error::ReadOnly`] if this process mapped the header read-only (a
    /// read-only attach of a file it may not write): the lock words are in
    /// the header.
    pub fn raw_lock(&self) -> Result<&RawLock> {
        self.sync_area(offset::LOCK)?;
        // SAFETY: `sync_area` checked that the header is mapped writable;
        // offset::LOCK is 64-aligned inside the page-aligned mapping, which
        // lives as long as `self`; every user of the word follows the
        // protocol with atomic operations.
        Ok(unsafe { RawLock::from_ptr(self.base_ptr().add(offset::LOCK)) })
    }

    /// Takes the segment's lock, waiting as long as it takes.
    ///
    /// # Errors
    /// [`LockError::OwnerDied`] (with the lock held) if the previous holder
    /// died holding it; [`LockError::Failed`] with [`Error::ReadOnly`] or
    /// [`Error::Deadlock`].
    ///
    /// # Example
    /// ```
    /// use ndshare::{Layout, Order, Segment};
    /// let seg = Segment::create(Layout::contiguous(&[4], 8, Order::C)?, "<i8", None, 0o600)?;
    /// {
    ///     let _guard = seg.lock().expect("a new lock is free");
    ///     assert!(seg.try_lock().is_err()); // held (by this very thread)
    /// }
    /// assert!(seg.try_lock().is_ok());
    /// # Ok::<(), ndshare::Error>(())
    /// ```
    pub fn lock(&self) -> LockResult<LockGuard<'_>> {
        self.lock_with(Wait::forever())
    }

    /// Takes the segment's lock, waiting at most `timeout`.
    ///
    /// # Errors
    /// As [`Segment::lock`], and [`Error::Timeout`].
    ///
    /// # Example
    /// ```
    /// use std::time::Duration;
    /// use ndshare::{Error, Layout, LockError, Order, Segment};
    /// let seg = Segment::create(Layout::contiguous(&[4], 8, Order::C)?, "<i8", None, 0o600)?;
    /// let _held = seg.lock().or_else(LockError::into_guard)?;
    /// let timed_out = std::thread::scope(|s| {
    ///     s.spawn(|| matches!(seg.lock_timeout(Duration::from_millis(20)), Err(LockError::Failed(Error::Timeout))))
    ///         .join()
    ///         .unwrap()
    /// });
    /// assert!(timed_out);
    /// # Ok::<(), ndshare::Error>(())
    /// ```
    pub fn lock_timeout(&self, timeout: Duration) -> LockResult<LockGuard<'_>> {
        self.lock_with(Wait::timeout(timeout))
    }

    /// Takes the segment's lock if it is free, without waiting.
    ///
    /// # Errors
    /// [`Error::Timeout`] if it is held; [`Error::ReadOnly`].
    pub fn try_lock(&self) -> LockResult<LockGuard<'_>> {
        let lock = self.raw_lock().map_err(LockError::Failed)?;
        guard_result(lock.try_lock().map(|()| Acquired::Clean), || LockGuard {
            lock,
            _thread_bound: PhantomData,
        })
    }

    /// Takes the segment's lock, waiting as `wait` says.
    ///
    /// # Errors
    /// As [`Segment::lock`], and [`Error::Timeout`], [`Error::Interrupted`].
    pub fn lock_with(&self, wait: Wait<'_>) -> LockResult<LockGuard<'_>> {
        let lock = self.raw_lock().map_err(LockError::Failed)?;
        guard_result(lock.lock(wait), || LockGuard {
            lock,
            _thread_bound: PhantomData,
        })
    }

    /// Checks that the header area at `at` can hold lock words.
    pub(crate) fn sync_area(&self, at: usize) -> Result<()> {
        debug_assert!(at % 64 == 0 && at + 64 <= offset::ATTACHERS);
        if self.header_writable() {
            Ok(())
        } else {
            Err(Error::ReadOnly)
        }
    }
}

/// A mutable view of a [`SharedArray`] with the array's lock held: the
/// lock is released when this is dropped, after the view.
pub struct LockedMut<'a, T: Element> {
    view: ArrayViewMutD<'a, T>,
    _guard: LockGuard<'a>,
}

impl<T: Element> fmt::Debug for LockedMut<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockedMut")
            .field("shape", &self.view.shape())
            .finish_non_exhaustive()
    }
}

impl<'a, T: Element> Deref for LockedMut<'a, T> {
    type Target = ArrayViewMutD<'a, T>;
    fn deref(&self) -> &Self::Target {
        &self.view
    }
}

impl<T: Element> DerefMut for LockedMut<'_, T> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.view
    }
}

/// The lock of a typed array: the lock of its segment, the same one
/// Python's `with a.lock():` takes.
impl<T: Element> SharedArray<T> {
    /// Takes the array's lock and returns a mutable view, valid while the
    /// lock is held. (A guard from `self.segment().lock()` would borrow the
    /// array and forbid [`SharedArray::view_mut`] while held.)
    ///
    /// # Errors
    /// As [`Segment::lock`]; [`LockError::Failed`] with [`Error::ReadOnly`]
    /// for an array mapped read-only (the lock is not taken).
    ///
    /// # Example
    /// ```
    /// use ndshare::{Order, SharedArray};
    /// let mut counts = SharedArray::<i64>::zeros(&[3], Order::C)?;
    /// {
    ///     let mut locked = counts.lock_mut().expect("a new lock is free");
    ///     locked[[0]] += 1; // no other process holding the lock meanwhile
    /// }
    /// assert_eq!(counts.view()[[0]], 1);
    /// # Ok::<(), ndshare::Error>(())
    /// ```
    pub fn lock_mut(&mut self) -> LockResult<LockedMut<'_, T>> {
        self.lock_mut_with(Wait::forever())
    }

    /// As [`SharedArray::lock_mut`], waiting as `wait` says.
    ///
    /// # Errors
    /// As [`SharedArray::lock_mut`], and [`Error::Timeout`],
    /// [`Error::Interrupted`].
    pub fn lock_mut_with(&mut self, wait: Wait<'_>) -> LockResult<LockedMut<'_, T>> {
        let lock: *const RawLock = self.segment().raw_lock().map_err(LockError::Failed)?;
        // SAFETY: the lock word lives in the segment's header, mapped for as
        // long as `self` lives, and a mutable view covers the data only,
        // never the header: the shared reference to the (atomic) word
        // aliases nothing the view can write.
        let lock: &RawLock = unsafe { &*lock };
        // The view first: one that cannot be made (a read-only mapping)
        // must leave the lock alone. Taken and given back, a lock taken over
        // from a dead holder would be clean again, and the next taker never
        // told.
        let view = self.view_mut().map_err(LockError::Failed)?;
        let acquired = match lock.lock(wait) {
            Ok(a) => a,
            Err(e) => return Err(LockError::Failed(e)),
        };
        let guard = LockGuard {
            lock,
            _thread_bound: PhantomData,
        };
        guard_result(Ok(acquired), || LockedMut {
            view,
            _guard: guard,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::segment;
    use std::sync::atomic::AtomicU32;
    use std::sync::Arc;

    #[test]
    #[allow(
        clippy::cast_ptr_alignment,
        reason = "the lock areas are 64-aligned in a page"
    )]
    fn word_is_zero_when_free_and_names_the_holder() {
        let seg = segment();
        let lock = seg.raw_lock().unwrap();
        // SAFETY: reading the lock word of a live segment, atomically.
        let word = unsafe { &*seg.base_ptr().add(offset::LOCK).cast::<AtomicU64>() };
        assert_eq!(word.load(Ordering::Relaxed), 0);
        let g = seg.lock().unwrap();
        assert_eq!(word.load(Ordering::Relaxed), Owner::current().word());
        assert_eq!(lock.owner(), Some(Owner::current()));
        drop(g);
        assert_eq!(word.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn relocking_from_the_holder_is_a_deadlock_error() {
        let seg = segment();
        let _g = seg.lock().unwrap();
        assert!(matches!(
            seg.lock(),
            Err(LockError::Failed(Error::Deadlock(_)))
        ));
    }

    #[test]
    fn only_the_holder_unlocks() {
        let seg = segment();
        let lock = seg.raw_lock().unwrap();
        assert!(matches!(lock.unlock(), Err(Error::NotOwner(_))));
        lock.lock(Wait::forever()).unwrap();
        std::thread::scope(|s| {
            s.spawn(|| assert!(matches!(lock.unlock(), Err(Error::NotOwner(_)))));
        });
        lock.unlock().unwrap();
    }

    #[test]
    fn threads_exclude_each_other() {
        let seg = Arc::new(segment());
        let counter = Arc::new(AtomicU32::new(0));
        let inside = Arc::new(AtomicU32::new(0));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (seg, counter, inside) = (seg.clone(), counter.clone(), inside.clone());
                std::thread::spawn(move || {
                    for _ in 0..2000 {
                        let _g = seg.lock().unwrap();
                        assert_eq!(inside.fetch_add(1, Ordering::Relaxed), 0);
                        counter.fetch_add(1, Ordering::Relaxed);
                        inside.fetch_sub(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(counter.load(Ordering::Relaxed), 8000);
        assert!(!seg.raw_lock().unwrap().is_locked());
    }

    #[test]
    fn a_thread_that_ends_holding_the_lock_is_a_dead_owner() {
        let seg = Arc::new(segment());
        let s2 = seg.clone();
        let dead = std::thread::spawn(move || {
            std::mem::forget(s2.lock().unwrap());
            Owner::current()
        })
        .join()
        .unwrap();
        match seg.lock() {
            Err(LockError::OwnerDied { guard, previous }) => {
                assert_eq!(previous, dead);
                drop(guard);
            }
            other => panic!("expected OwnerDied, got {other:?}"),
        }
        // The lock works again, and cleanly.
        assert!(seg.lock().is_ok());
    }

    #[test]
    fn timeout_ends_the_wait() {
        let seg = segment();
        let _g = seg.lock().unwrap();
        std::thread::scope(|s| {
            s.spawn(|| {
                assert!(matches!(
                    seg.lock_timeout(Duration::from_millis(30)),
                    Err(LockError::Failed(Error::Timeout))
                ));
                assert!(matches!(
                    seg.try_lock(),
                    Err(LockError::Failed(Error::Timeout))
                ));
            });
        });
    }

    #[test]
    fn a_check_that_says_stop_interrupts() {
        let seg = segment();
        let _g = seg.lock().unwrap();
        std::thread::scope(|s| {
            s.spawn(|| {
                let mut calls = 0;
                let mut stop_second_time = || {
                    calls += 1;
                    calls < 2
                };
                let r = seg.lock_with(Wait::forever().with_check(&mut stop_second_time));
                assert!(matches!(r, Err(LockError::Failed(Error::Interrupted))));
            });
        });
    }
}
