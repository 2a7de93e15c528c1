//! Lock owners: who the calling thread is, as a lock word records it, and
//! whether a recorded owner still lives.
//!
//! A lock word (docs/format.md, "Lock word protocol") holds its owner's
//! thread id in bits 0..30 and the low 32 bits of the owner's start time in
//! bits 32..64. The thread id finds the owner; the start time tells it from
//! a later thread that was given the same id after the owner ended. Both are
//! written by one compare-and-swap, so a waiter never sees one without the
//! other.

use std::cell::Cell;

use crate::sys;

/// Bits 0..30 of a lock word: the owner's thread id. Linux thread ids are at
/// most `PID_MAX_LIMIT` = 2^22.
pub const TID_MASK: u64 = 0x3fff_ffff;
/// Bit 31 of a lock word: some thread may sleep on the word (or has slept on
/// it since it was last free), so whoever frees it must wake a sleeper.
pub const WAITERS: u64 = 1 << 31;
/// Bits 32..64 of a lock word: the owner's start time modulo 2^32.
pub const START_SHIFT: u32 = 32;

/// The start time an owner records when it cannot read its own: waiters
/// then tell it from a later thread by its id alone.
pub const UNKNOWN_START: u32 = 0;

/// An owner as a lock word records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Owner {
    /// Thread id (`gettid(2)`), in the PID namespace of the processes that
    /// share the lock.
    pub tid: u32,
    /// The thread's start time (clock ticks since boot, field 22 of
    /// `/proc/<tid>/stat`) modulo 2^32; 0 if the owner could
    /// not read it.
    pub start: u32,
}

thread_local! {
    /// The calling thread's word bits, and the fork generation they were
    /// read in: a forked child's thread inherits them with a new thread id.
    static CURRENT: Cell<(u64, u64)> = const { Cell::new((u64::MAX, 0)) };
}

impl Owner {
    /// The calling thread. Cached per thread: the `/proc` read happens once
    /// per thread (and once more after a `fork`), whether it succeeds or not.
    #[must_use]
    pub fn current() -> Owner {
        let generation = sys::fork_generation();
        let (cached_gen, word) = CURRENT.get();
        if cached_gen == generation {
            return Owner {
                tid: (word & TID_MASK) as u32,
                start: (word >> START_SHIFT) as u32,
            };
        }
        let me = Owner {
            tid: sys::current_tid(),
            // Unknown start time (no /proc, or no descriptor left to read
            // it): record 0, which waiters read as "compare by id only".
            // Cached like a known one: a thread must name itself the same
            // way for as long as it may hold a lock, or it could not release
            // (nor recognise) a lock it took while its start was unknown.
            start: sys::current_thread_start_ticks().map_or(UNKNOWN_START, |t| t as u32),
        };
        CURRENT.set((generation, me.word()));
        me
    }

    /// The owner a lock word names, `None` for a word with no owner.
    #[must_use]
    pub fn from_word(word: u64) -> Option<Owner> {
        let tid = (word & TID_MASK) as u32;
        (tid != 0).then_some(Owner {
            tid,
            start: (word >> START_SHIFT) as u32,
        })
    }

    /// The word bits naming this owner (no flag bits).
    #[must_use]
    pub fn word(self) -> u64 {
        (u64::from(self.start) << START_SHIFT) | (u64::from(self.tid) & TID_MASK)
    }

    /// Whether this owner is certainly gone: no task has its id, or the task
    /// with its id started at another time (the id was reused), or it has
    /// exited and waits to be reaped. Anything that cannot be told (another
    /// user's process behind `hidepid`, no `/proc`) counts as alive: a lock
    /// is never taken from a holder that might live.
    #[must_use]
    pub fn is_dead(self) -> bool {
        let Some(may_signal) = sys::task_exists(self.tid) else {
            return true;
        };
        match sys::task_stat(self.tid) {
            Ok(st) => {
                st.exited || (self.start != UNKNOWN_START && st.start_ticks as u32 != self.start)
            }
            // It existed a moment ago and is gone now: it ended.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => may_signal,
            Err(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_round_trip() {
        let o = Owner {
            tid: 4_194_303,
            start: 0xdead_beef,
        };
        assert_eq!(Owner::from_word(o.word() | WAITERS), Some(o));
        assert_eq!(Owner::from_word(WAITERS), None);
        assert_eq!(Owner::from_word(0), None);
    }

    #[test]
    fn current_thread_is_alive_and_cached() {
        let me = Owner::current();
        assert_eq!(me.tid, sys::current_tid());
        assert_eq!(me, Owner::current());
        assert!(!me.is_dead());
        let other = std::thread::spawn(Owner::current).join().unwrap();
        assert_ne!(other.tid, me.tid);
        // The thread has ended: its id soon names no task (or a later one).
        // `join` returns when the thread clears its id, a moment before the
        // kernel has released the task.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !other.is_dead() {
            assert!(
                std::time::Instant::now() < deadline,
                "ended thread still looks alive"
            );
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }

    #[test]
    fn reused_id_with_another_start_is_dead() {
        let me = Owner::current();
        let impostor = Owner {
            tid: me.tid,
            start: me.start.wrapping_add(1),
        };
        assert!(impostor.is_dead());
    }
}
