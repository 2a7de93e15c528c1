//! An event across processes: a flag that callers wait for until another
//! sets it (Python's `threading.Event`, between processes).
//!
//! It lives in a small segment of its own ([`crate::primitive`]): word 1
//! holds 0 (clear), 1 (set) or 2 (clear, and callers may sleep on it); the
//! futex is its low half.

use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::time::Duration;

use crate::error::Result;
use crate::primitive::{self, Kind};
use crate::segment::Segment;
use crate::sys;
use crate::wait::Wait;

const CLEAR: u64 = 0;
const SET: u64 = 1;
const CLEAR_WITH_SLEEPERS: u64 = 2;

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

    /// Sets the flag and wakes every waiter.
    pub fn set(&self) {
        if self.state.swap(SET, SeqCst) == CLEAR_WITH_SLEEPERS {
            sys::futex_wake_all(sys::futex_half(self.state, false));
        }
    }

    /// Clears the flag.
    pub fn clear(&self) {
        let _ = self.state.compare_exchange(SET, CLEAR, SeqCst, SeqCst);
    }

    /// Whether the flag is set.
    #[must_use]
    pub fn is_set(&self) -> bool {
        self.state.load(SeqCst) == SET
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

    /// Waits for the flag as `wait` says.
    ///
    /// # Errors
    /// [`crate::Error::Timeout`], [`crate::Error::Interrupted`].
    pub fn wait_with(&self, mut wait: Wait<'_>) -> Result<()> {
        let half = sys::futex_half(self.state, false);
        loop {
            match self.state.load(SeqCst) {
                SET => return Ok(()),
                CLEAR
                    if self
                        .state
                        .compare_exchange(CLEAR, CLEAR_WITH_SLEEPERS, SeqCst, SeqCst)
                        .is_err() =>
                {
                    continue;
                }
                _ => {}
            }
            wait.sleep(half, CLEAR_WITH_SLEEPERS as u32)?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Error;

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
