//! The member table of a ring (docs/format.md, "Rings"): every process that
//! takes part in a ring has an entry there, whose wake word holds the thread
//! id of a death watch ([`sys::watch_death`]). When the process ends — in any
//! way, `SIGKILL` included — the kernel marks the word and wakes a process
//! sleeping on it. So a waiter sleeps on the ring's futex word and on every
//! other member's wake word at once, with no timeout, and runs the repair as
//! soon as a member dies: idle waiting costs no CPU, and a death is noticed
//! at once.
//!
//! An entry belongs to a ring handle ([`RawRing`](crate::RawRing)) in one
//! process: taken under the ring's lock at the handle's first put, get,
//! subscription or wait, given back when the handle goes. A handle that
//! goes while its process still holds something in the ring (a producer
//! registration, a subscriber, a slot) and has no other entry leaves its
//! entry behind without a wake word (the entry *lingers*): waiters poll until
//! that process is gone, and the next handle of the process takes the entry
//! back.

use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release, SeqCst};
use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64};
use std::time::{Duration, Instant};

use crate::error::Result;
use crate::liveness::ProcessStamp;
use crate::ring::control::{member, offset, MEMBER_LEN, MEMBER_SLOTS};
use crate::ring::raw::{alive, me, Control};
use crate::sys;

// The ring's word and every other member's wake word fit in one wait.
const _: () = assert!(MEMBER_SLOTS < sys::WAITV_MAX);
// The format's wake word is a word the death watch watches.
const _: () = assert!(
    member::TID_MASK == sys::watched::TID_MASK
        && member::OWNER_DIED == sys::watched::OWNER_DIED
        && member::WAITERS == sys::watched::WAITERS
);

/// How long a repair waits for a process whose watch has ended to be gone.
/// The kernel marks the wake word while the process exits, when its other
/// threads may not have stopped yet: what it held is taken back only once it
/// is gone, so that no thread of it still writes a slot handed to another.
const GONE_WITHIN: Duration = Duration::from_secs(1);

/// Between two looks at such a process.
const GONE_STEP: Duration = Duration::from_millis(1);

/// Offset of member entry `i`: `u32` wake word, `u32` pid, `u64` start ticks.
fn entry(i: usize) -> usize {
    offset::MEMBERS + MEMBER_LEN * i
}

/// A ring handle's place in the member table.
///
/// No mutex guards it: a `fork` while a thread holds one leaves it held for
/// ever in the child, which joins again there. Instead, one thread at a
/// time joins, marked by the fork generation it joins in (a mark of another
/// generation was left by a thread that is not in this process); what it
/// took is published through an atomic pointer.
#[derive(Debug)]
pub(super) struct Membership {
    ctl: Control,
    /// Fork generation + 1 in which this handle joined; 0: not yet.
    joined: AtomicU64,
    /// Fork generation + 1 in which a thread of this handle is joining or
    /// has joined; 0: none.
    joining: AtomicU64,
    /// What the handle took: a `Box<Joined>` from [`Box::into_raw`], or
    /// null.
    taken: AtomicPtr<Joined>,
}

/// What a handle took when it joined.
#[derive(Debug)]
struct Joined {
    /// The fork generation it joined in: in a forked child, the copy is the
    /// parent's.
    generation: u64,
    /// Its entry; `None` when the table was full (counted in
    /// `members_overflow` instead).
    entry: Option<usize>,
    /// The death watch on the entry's wake word; `None` if it could not
    /// start (the word stays 0, and waiters poll while the entry is there).
    watch: Option<sys::DeathWatch>,
}

impl Membership {
    /// A handle that has not joined yet.
    pub(super) fn new(ctl: Control) -> Membership {
        Membership {
            ctl,
            joined: AtomicU64::new(0),
            joining: AtomicU64::new(0),
            taken: AtomicPtr::new(std::ptr::null_mut()),
        }
    }

    /// Joins the member table, once per handle and process (a handle used
    /// in a forked child joins again, for the child): takes an entry —
    /// this process's lingering one, else a free one —, starts a death
    /// watch on its wake word, then publishes on both futex words so that
    /// every waiter sleeps on the new wake word too. A full table is
    /// counted in `members_overflow` (every waiter then polls).
    ///
    /// # Errors
    /// The errors of taking the ring's lock.
    pub(super) fn join(&self) -> Result<()> {
        let generation = sys::fork_generation();
        if self.joined.load(Acquire) == generation + 1 {
            return Ok(());
        }
        loop {
            let mark = self.joining.load(Acquire);
            if mark == generation + 1 {
                // Another thread joins: wait for it (it takes a thread's
                // start), or take over if it failed.
                if self.joined.load(Acquire) == generation + 1 {
                    return Ok(());
                }
                std::thread::sleep(Duration::from_micros(100));
            } else if self
                .joining
                .compare_exchange(mark, generation + 1, AcqRel, Acquire)
                .is_ok()
            {
                break;
            }
        }
        let joined = match self.take_entry(generation) {
            Ok(joined) => joined,
            Err(e) => {
                self.joining.store(0, Release);
                return Err(e);
            }
        };
        let old = self.taken.swap(Box::into_raw(Box::new(joined)), AcqRel);
        if !old.is_null() {
            // SAFETY: a non-null `taken` is a `Box::into_raw`, swapped out
            // once, here: the one of a handle that came through `fork`. Its
            // entry is the parent's; dropping its watch does nothing (the
            // watch's thread is not in this process).
            drop(unsafe { Box::from_raw(old) });
        }
        self.joined.store(generation + 1, Release);
        // Every waiter builds its list of wake words again, with this one.
        self.ctl.bump_all();
        Ok(())
    }

    /// Under the ring's lock, takes an entry and starts its watch.
    fn take_entry(&self, generation: u64) -> Result<Joined> {
        let me = me();
        let w = &self.ctl.w;
        self.ctl.locked(|| {
            let found = (0..MEMBER_SLOTS)
                .find(|&i| is_mine(&self.ctl, i, me) && !watched(&self.ctl, i))
                .or_else(|| (0..MEMBER_SLOTS).find(|&i| w.u32(entry(i) + 4).load(Relaxed) == 0));
            let Some(i) = found else {
                let overflow = w.u32(offset::MEMBERS_OVERFLOW);
                overflow.store(overflow.load(Relaxed).saturating_add(1), SeqCst);
                return Joined {
                    generation,
                    entry: None,
                    watch: None,
                };
            };
            let e = entry(i);
            w.u32(e).store(0, SeqCst);
            w.u64(e + 8).store(me.start_ticks, Relaxed);
            w.u32(e + 4).store(me.pid, SeqCst);
            // SAFETY: the wake word is a 4-aligned word of the checked
            // control block, inside the segment's mapping. The ring handle
            // keeps that mapping until after this membership is dropped (the
            // membership is its first field), and the drop ends the watch
            // first; a forked child has the same mapping at the same address
            // and no watch thread. Every process accesses the word atomically.
            let watch = unsafe { sys::watch_death(w.u32(e)) }.ok();
            Joined {
                generation,
                entry: Some(i),
                watch,
            }
        })
    }
}

impl Drop for Membership {
    /// Leaves the member table: ends the watch (which clears the wake word
    /// and wakes the processes sleeping on it), then, under the lock, frees
    /// the entry — or leaves it lingering, without a wake word, if this
    /// process still holds something in the ring and has no other entry —
    /// and publishes on both futex words so that waiters look again.
    fn drop(&mut self) {
        let joined = std::mem::replace(self.taken.get_mut(), std::ptr::null_mut());
        if joined.is_null() {
            return;
        }
        // SAFETY: a non-null `taken` is a `Box::into_raw` (see `join`),
        // taken once, here.
        let Joined {
            generation,
            entry: taken,
            watch,
        } = *unsafe { Box::from_raw(joined) };
        if generation != sys::fork_generation() {
            // A forked child's copy: the entry is the parent's.
            return;
        }
        drop(watch);
        let me = me();
        let ctl = &self.ctl;
        let w = &ctl.w;
        let _ = ctl.locked(|| {
            let elsewhere = (0..MEMBER_SLOTS)
                .any(|j| taken != Some(j) && is_mine(ctl, j, me) && watched(ctl, j));
            let linger = !elsewhere && ctl.held_by(me);
            if let Some(i) = taken {
                if !is_mine(ctl, i, me) || w.u32(entry(i)).load(SeqCst) != 0 {
                    return; // another handle of this process took it over
                }
                if !linger {
                    free(ctl, i);
                }
            } else {
                if linger {
                    let Some(i) =
                        (0..MEMBER_SLOTS).find(|&i| w.u32(entry(i) + 4).load(Relaxed) == 0)
                    else {
                        // Still full: this process stays counted, and
                        // waiters poll, until it is gone.
                        return;
                    };
                    w.u64(entry(i) + 8).store(me.start_ticks, Relaxed);
                    w.u32(entry(i) + 4).store(me.pid, SeqCst);
                }
                let overflow = w.u32(offset::MEMBERS_OVERFLOW);
                overflow.store(overflow.load(Relaxed).saturating_sub(1), SeqCst);
            }
        });
        ctl.bump_all();
    }
}

/// Whether entry `i` names the process `me`.
fn is_mine(ctl: &Control, i: usize, me: ProcessStamp) -> bool {
    ctl.w.u32(entry(i) + 4).load(SeqCst) == me.pid
        && ctl.w.u64(entry(i) + 8).load(SeqCst) == me.start_ticks
}

/// Whether entry `i`'s wake word names a live watch.
fn watched(ctl: &Control, i: usize) -> bool {
    ctl.w.u32(entry(i)).load(SeqCst) & member::TID_MASK != 0
}

/// Frees entry `i` (under the lock).
fn free(ctl: &Control, i: usize) {
    let e = entry(i);
    ctl.w.u32(e + 4).store(0, SeqCst);
    ctl.w.u64(e + 8).store(0, Relaxed);
    ctl.w.u32(e).store(0, SeqCst);
}

/// What a waiter sleeps on.
#[derive(Debug)]
pub(super) enum Watch<'a> {
    /// The ring's futex word and the wake word of every other member, each
    /// with the value it must hold for the sleep to go on.
    Words(Vec<(&'a AtomicU32, u32)>),
    /// Some member has no wake word (a process that registers none, one
    /// joining or leaving, one that lingers) or the table overflowed: sleep
    /// in slices, and run the repair after each.
    Poll,
    /// A member's watch has ended: run the repair now, before any sleep.
    Died,
}

/// The words a waiter on `word` (which held `token`) sleeps on: `word`, and
/// the wake word of every member but this process's own entries, each with
/// `FUTEX_WAITERS` set in it (so that the kernel, and the member's watch
/// when it ends, wake the sleepers). Read without the lock: a member that
/// joins or leaves meanwhile publishes on `word` after it, which makes the
/// sleep end at once.
pub(super) fn watch_list<'a>(
    ctl: &'a Control,
    me: ProcessStamp,
    word: &'a AtomicU32,
    token: u32,
) -> Watch<'a> {
    let w = &ctl.w;
    if w.u32(offset::MEMBERS_OVERFLOW).load(SeqCst) != 0 {
        return Watch::Poll;
    }
    let mut words = Vec::with_capacity(4);
    words.push((word, token));
    for i in 0..MEMBER_SLOTS {
        let e = entry(i);
        let pid = w.u32(e + 4).load(SeqCst);
        if pid == 0 || (pid == me.pid && w.u64(e + 8).load(SeqCst) == me.start_ticks) {
            continue;
        }
        let wake = w.u32(e);
        let mut v = wake.load(SeqCst);
        loop {
            if v & member::OWNER_DIED != 0 {
                return Watch::Died;
            }
            if v == 0 {
                if w.u32(e + 4).load(SeqCst) == 0 {
                    break; // the entry was freed meanwhile
                }
                return Watch::Poll;
            }
            if v & member::WAITERS != 0 {
                words.push((wake, v));
                break;
            }
            match wake.compare_exchange(v, v | member::WAITERS, SeqCst, SeqCst) {
                Ok(_) => {
                    words.push((wake, v | member::WAITERS));
                    break;
                }
                Err(now) => v = now,
            }
        }
    }
    Watch::Words(words)
}

/// Under the lock, the repair's first step: a member whose process is gone
/// leaves the table (its holdings are then taken back by the rest of the
/// repair, which finds the process dead).
///
/// A member whose watch has ended (the kernel marked its wake word) is
/// waited for until its process is gone, at most [`GONE_WITHIN`]. One that
/// lives on — it called `execve`: the kernel ends the watch's thread then,
/// with the process's old mapping of the ring; or it is this very process —
/// keeps its entry without a wake word: waiters poll until it is gone, and
/// what it holds stays its own meanwhile (its pid and start time are still
/// those of a live process).
pub(super) fn reap_members(ctl: &Control) {
    let w = &ctl.w;
    let me = me();
    for i in 0..MEMBER_SLOTS {
        let e = entry(i);
        let pid = w.u32(e + 4).load(SeqCst);
        if pid == 0 {
            continue;
        }
        let start = w.u64(e + 8).load(SeqCst);
        let wake = w.u32(e);
        if wake.load(SeqCst) & member::OWNER_DIED != 0 {
            if pid != me.pid {
                let until = Instant::now() + GONE_WITHIN;
                while alive(pid, start) && Instant::now() < until {
                    std::thread::sleep(GONE_STEP);
                }
            }
            if alive(pid, start) {
                wake.store(0, SeqCst);
                continue;
            }
        } else if alive(pid, start) {
            continue;
        }
        free(ctl, i);
    }
}
