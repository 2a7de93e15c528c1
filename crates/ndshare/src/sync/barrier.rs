//! A barrier across processes: `parties` callers of [`Barrier::wait`] block
//! until the last of them arrives, then all go on; it is then ready for the
//! next round.
//!
//! It lives in a small segment of its own ([`crate::sync::primitive`]): word 1
//! holds `parties`, word 2 the round (bits 32..64, the futex that waiters
//! sleep on) and the number of callers that arrived in it (bits 0..32).

use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::segment::Segment;
use crate::sync::primitive::{self, Kind};
use crate::sync::wait::Wait;
use crate::sys;

/// A barrier over a primitive segment.
///
/// # Example
/// ```
/// use ndshare::Barrier;
/// let seg = Barrier::create(2)?;
/// let b = Barrier::open(&seg)?;
/// let other = std::thread::scope(|s| {
///     let t = s.spawn(|| Barrier::open(&seg).and_then(|b| b.wait()));
///     let mine = b.wait();
///     (mine, t.join().unwrap())
/// });
/// let (a, c) = (other.0?, other.1?);
/// assert_eq!(a + c, 1); // arrival indices 0 and 1
/// # Ok::<(), ndshare::Error>(())
/// ```
#[derive(Debug)]
pub struct Barrier<'a> {
    parties: u32,
    state: &'a AtomicU64,
}

impl<'a> Barrier<'a> {
    /// A new barrier segment for `parties` callers; share it as any segment
    /// (its descriptor), then [`Barrier::open`] it in each process.
    ///
    /// # Errors
    /// [`Error::InvalidShape`] if `parties` is 0; the errors of
    /// [`Segment::create`].
    pub fn create(parties: u32) -> Result<Segment> {
        if parties == 0 {
            return Err(Error::InvalidShape(
                "a barrier needs at least one party".into(),
            ));
        }
        primitive::create(Kind::Barrier, &[(1, u64::from(parties))])
    }

    /// The barrier in `seg`.
    ///
    /// # Errors
    /// [`Error::TypeMismatch`] if `seg` holds no barrier; [`Error::ReadOnly`];
    /// [`Error::Corrupt`] if its party count is 0 or too large.
    pub fn open(seg: &'a Segment) -> Result<Barrier<'a>> {
        let w = primitive::words(seg, Kind::Barrier)?;
        let parties = u32::try_from(w[1].load(SeqCst))
            .ok()
            .filter(|&p| p > 0)
            .ok_or_else(|| Error::Corrupt("a barrier's party count is 0 or beyond 2^32".into()))?;
        Ok(Barrier {
            parties,
            state: &w[2],
        })
    }

    /// How many callers each round waits for.
    #[must_use]
    pub fn parties(&self) -> u32 {
        self.parties
    }

    /// How many callers wait in the current round.
    #[must_use]
    pub fn n_waiting(&self) -> u32 {
        self.state.load(SeqCst) as u32
    }

    /// Waits for the round to fill; returns this caller's arrival index in
    /// it (0 for the first, `parties - 1` for the last, which releases the
    /// others).
    ///
    /// # Errors
    /// None without a deadline; see [`Barrier::wait_with`].
    pub fn wait(&self) -> Result<u32> {
        self.wait_with(Wait::forever())
    }

    /// As [`Barrier::wait`], at most `timeout`.
    ///
    /// # Errors
    /// [`Error::Timeout`]: this caller left the round, which still waits for
    /// `parties` arrivals.
    pub fn wait_timeout(&self, timeout: Duration) -> Result<u32> {
        self.wait_with(Wait::timeout(timeout))
    }

    /// As [`Barrier::wait`], waiting as `wait` says.
    ///
    /// # Errors
    /// [`Error::Timeout`] or [`Error::Interrupted`]: this caller left the
    /// round (unless the round completed meanwhile: then it returns its
    /// index). [`Error::Corrupt`] if the barrier's word counts more
    /// arrivals than it has parties.
    pub fn wait_with(&self, mut wait: Wait<'_>) -> Result<u32> {
        let mut v = self.state.load(SeqCst);
        let (round, index) = loop {
            let (round, arrived) = ((v >> 32) as u32, v as u32);
            if arrived >= self.parties {
                // The last arrival of a round resets the count: another
                // process wrote this one.
                return Err(Error::Corrupt(format!(
                    "a barrier of {} parties counts {arrived} arrivals",
                    self.parties
                )));
            }
            let next = if arrived + 1 >= self.parties {
                u64::from(round.wrapping_add(1)) << 32
            } else {
                v + 1
            };
            match self.state.compare_exchange(v, next, SeqCst, SeqCst) {
                Ok(_) if next as u32 == 0 => {
                    sys::futex_wake_all(sys::futex_half(self.state, true));
                    return Ok(arrived);
                }
                Ok(_) => break (round, arrived),
                Err(now) => v = now,
            }
        };
        let high = sys::futex_half(self.state, true);
        loop {
            if (self.state.load(SeqCst) >> 32) as u32 != round {
                return Ok(index);
            }
            if let Err(e) = wait.sleep(high, round) {
                return self.leave(round, index, e);
            }
        }
    }

    /// Takes a caller that gives up out of the round, unless the round
    /// completed meanwhile.
    fn leave(&self, round: u32, index: u32, e: Error) -> Result<u32> {
        let mut v = self.state.load(SeqCst);
        loop {
            if (v >> 32) as u32 != round {
                return Ok(index);
            }
            if v as u32 == 0 {
                // Another process zeroed the count: nothing to take back.
                return Err(e);
            }
            match self.state.compare_exchange(v, v - 1, SeqCst, SeqCst) {
                Ok(_) => return Err(e),
                Err(now) => v = now,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;

    #[test]
    fn rounds_release_everyone_and_repeat() {
        let seg = Barrier::create(3).unwrap();
        let passed = AtomicU32::new(0);
        std::thread::scope(|s| {
            for _ in 0..3 {
                s.spawn(|| {
                    let b = Barrier::open(&seg).unwrap();
                    for round in 0..50 {
                        // Nobody gets a round ahead of the others.
                        assert!(passed.load(SeqCst) >= round * 3);
                        b.wait().unwrap();
                        passed.fetch_add(1, SeqCst);
                        b.wait().unwrap();
                    }
                });
            }
        });
        assert_eq!(passed.load(SeqCst), 150);
        assert_eq!(Barrier::open(&seg).unwrap().n_waiting(), 0);
    }

    #[test]
    fn timeout_leaves_the_round() {
        let seg = Barrier::create(2).unwrap();
        let b = Barrier::open(&seg).unwrap();
        assert!(matches!(
            b.wait_timeout(Duration::from_millis(20)),
            Err(Error::Timeout)
        ));
        assert_eq!(b.n_waiting(), 0);
        assert_eq!(b.parties(), 2);
    }

    #[test]
    fn other_segments_are_refused() {
        assert!(matches!(Barrier::create(0), Err(Error::InvalidShape(_))));
        let ev = crate::sync::event::Event::create().unwrap();
        assert!(matches!(
            Barrier::open(&ev),
            Err(Error::TypeMismatch { .. })
        ));
        let arr = Segment::create(
            crate::Layout::contiguous(&[8], 8, crate::Order::C).unwrap(),
            "<u8",
            None,
            0o600,
        )
        .unwrap();
        assert!(matches!(
            Barrier::open(&arr),
            Err(Error::TypeMismatch { .. })
        ));
    }
}
