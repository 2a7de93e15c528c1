//! An event across processes: a flag that callers wait for until another
//! sets it (Python's `threading.Event`, between processes).
//!
//! It lives in a small segment of its own ([`crate::sync::primitive`]): the low
//! half of word 1 holds 0 (clear), 1 (set) or 2 (clear, and callers may
//! sleep on it) and is the futex; its high half counts the sets, so that a
//! waiter woken by a set returns even if the flag was cleared again before
//! it ran (`threading.Event` wakes every waiter of a set, too).

use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::time::Duration;

use crate::error::Result;
use crate::segment::Segment;
use crate::sync::primitive::{self, Kind};
use crate::sync::wait::Wait;
use crate::sys;

const CLEAR: u32 = 0;
const SET: u32 = 1;
const CLEAR_WITH_SLEEPERS: u32 = 2;

/// The flag: the low half of the word.
fn flag(word: u64) -> u32 {
    word as u32
}

/// How many times the event was set (wrapping): the high half.
fn sets(word: u64) -> u32 {
    (word >> 32) as u32
}

fn word(sets: u32, flag: u32) -> u64 {
    (u64::from(sets) << 32) | u64::from(flag)
}

/// An event over a primitive segment.
///
/// # Example
/// ```
/// use ndshare::Event;
/// let seg = Event::create()?;
/// let ev = Event::open(&seg)?;
/// std::thread::scope(|s| {
///     s.spawn(|| Event::open(&seg).unwrap().set());
///     ev.wait()
/// })?;
/// assert!(ev.is_set());
/// # Ok::<(), ndshare::Error>(())
/// ```
#[derive(Debug)]
pub struct Event<'a> {
    state: &'a AtomicU64,
}

impl<'a> Event<'a> {
    /// A new event segment, clear.
    ///
    /// # Errors
    /// The errors of [`Segment::create`].
    pub fn create() -> Result<Segment> {
        primitive::create(Kind::Event, &[])
    }

    /// The event in `seg`.
    ///
    /// # Errors
    /// [`crate::Error::TypeMismatch`] if `seg` holds no event;
    /// [`crate::Error::ReadOnly`].
    pub fn open(seg: &'a Segment) -> Result<Event<'a>> {
        Ok(Event {
            state: &primitive::words(seg, Kind::Event)?[1],
        })
    }

    /// Sets the flag and wakes every waiter: every caller waiting now
    /// returns, even if the flag is cleared again before it runs.
    pub fn set(&self) {
        let old = self
            .state
            .fetch_update(SeqCst, SeqCst, |v| Some(word(sets(v).wrapping_add(1), SET)))
            .unwrap_or_else(|v| v);
        if flag(old) == CLEAR_WITH_SLEEPERS {
            sys::futex_wake_all(sys::futex_half(self.state, false));
        }
    }

    /// Clears the flag.
    pub fn clear(&self) {
        let _ = self.state.fetch_update(SeqCst, SeqCst, |v| {
            (flag(v) == SET).then(|| word(sets(v), CLEAR))
        });
    }

    /// Whether the flag is set.
    #[must_use]
    pub fn is_set(&self) -> bool {
        flag(self.state.load(SeqCst)) == SET
    }

    /// Waits until the flag is set.
    ///
    /// # Errors
    /// None without a deadline; see [`Event::wait_with`].
    pub fn wait(&self) -> Result<()> {
        self.wait_with(Wait::forever())
    }

    /// Waits at most `timeout` for the flag.
    ///
    /// # Errors
    /// [`crate::Error::Timeout`].
    pub fn wait_timeout(&self, timeout: Duration) -> Result<()> {
        self.wait_with(Wait::timeout(timeout))
    }

    /// Waits for the flag as `wait` says: returns once it is set, or once
    /// it has been set since this call began (and maybe cleared again).
    ///
    /// # Errors
    /// [`crate::Error::Timeout`], [`crate::Error::Interrupted`].
    pub fn wait_with(&self, mut wait: Wait<'_>) -> Result<()> {
        let half = sys::futex_half(self.state, false);
        let began = sets(self.state.load(SeqCst));
        loop {
            let v = self.state.load(SeqCst);
            if flag(v) == SET || sets(v) != began {
                return Ok(());
            }
            if flag(v) != CLEAR_WITH_SLEEPERS
                && self
                    .state
                    .compare_exchange(v, word(began, CLEAR_WITH_SLEEPERS), SeqCst, SeqCst)
                    .is_err()
            {
                continue;
            }
            wait.sleep(half, CLEAR_WITH_SLEEPERS)?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    #[test]
    fn set_wakes_waiters_and_clear_rearms() {
        let seg = Event::create().unwrap();
        let ev = Event::open(&seg).unwrap();
        assert!(!ev.is_set());
        assert!(matches!(
            ev.wait_timeout(Duration::from_millis(10)),
            Err(Error::Timeout)
        ));
        std::thread::scope(|s| {
            let waiters: Vec<_> = (0..3)
                .map(|_| s.spawn(|| Event::open(&seg).unwrap().wait()))
                .collect();
            ev.set();
            for w in waiters {
                w.join().unwrap().unwrap();
            }
        });
        assert!(ev.is_set());
        ev.wait().unwrap();
        ev.clear();
        assert!(!ev.is_set());
        assert!(matches!(
            ev.wait_timeout(Duration::ZERO),
            Err(Error::Timeout)
        ));
    }
}
