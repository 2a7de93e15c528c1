//! A barrier across processes, as Python's `threading.Barrier`: `parties`
//! callers of [`Barrier::wait`] block until the last of them arrives, then
//! all go on and it is ready for the next round. A waiter that times out,
//! or [`Barrier::abort`], breaks it: every waiter of the round gets
//! [`Error::BrokenBarrier`], and so does every later wait until
//! [`Barrier::reset`].
//!
//! It lives in a small segment of its own ([`crate::sync::primitive`]): word 1
//! holds `parties`, word 2 the whole state, so that one compare-and-swap
//! moves it (docs/format.md, "Barrier and event segments"):
//!
//! | bits   | field |
//! |--------|-------|
//! | 0–23   | callers that arrived in the current round |
//! | 24–30  | history: bit `24 + i` is 1 if round `round − 1 − i` ended broken |
//! | 31     | broken: waits fail until a reset |
//! | 32–63  | round, the futex waiters sleep on |
//!
//! Every way a round ends (its last arrival, a break, a reset) moves the
//! round on, so a sleeper is always woken; the history tells a waiter that
//! wakes late how its own round ended.

use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::segment::Segment;
use crate::sync::primitive::{self, Kind};
use crate::sync::wait::Wait;
use crate::sys;

/// Most parties a barrier may have (the arrival count has 24 bits).
pub const MAX_PARTIES: u32 = (1 << 24) - 1;

const ARRIVED: u64 = (1 << 24) - 1;
const HISTORY_SHIFT: u32 = 24;
const HISTORY_ROUNDS: u32 = 7;
const HISTORY: u64 = ((1 << HISTORY_ROUNDS) - 1) << HISTORY_SHIFT;
const BROKEN: u64 = 1 << 31;

fn round_of(v: u64) -> u32 {
    (v >> 32) as u32
}

/// The state after the current round of `v` ends, broken or not, with the
/// barrier left broken or not.
fn next_round(v: u64, round_broken: bool, stay_broken: bool) -> u64 {
    let history = (((v & HISTORY) << 1) | (u64::from(round_broken) << HISTORY_SHIFT)) & HISTORY;
    (u64::from(round_of(v).wrapping_add(1)) << 32) | history | if stay_broken { BROKEN } else { 0 }
}

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
    /// [`Error::InvalidShape`] if `parties` is 0 or more than
    /// 2^24 - 1 (16,777,215); the errors of [`Segment::create`].
    pub fn create(parties: u32) -> Result<Segment> {
        if parties == 0 || parties > MAX_PARTIES {
            return Err(Error::InvalidShape(format!(
                "a barrier has 1 to {MAX_PARTIES} parties, not {parties}"
            )));
        }
        primitive::create(Kind::Barrier, &[(1, u64::from(parties))])
    }

    /// The barrier in `seg`.
    ///
    /// # Errors
    /// [`Error::TypeMismatch`] if `seg` holds no barrier (or one of an older
    /// layout); [`Error::ReadOnly`]; [`Error::Corrupt`] if its party count
    /// is 0 or too large.
    pub fn open(seg: &'a Segment) -> Result<Barrier<'a>> {
        let w = primitive::words(seg, Kind::Barrier)?;
        let parties = u32::try_from(w[1].load(SeqCst))
            .ok()
            .filter(|&p| (1..=MAX_PARTIES).contains(&p))
            .ok_or_else(|| {
                Error::Corrupt(format!(
                    "a barrier's party count is 0 or beyond {MAX_PARTIES}"
                ))
            })?;
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

    /// How many callers wait in the current round (0 while broken).
    #[must_use]
    pub fn n_waiting(&self) -> u32 {
        let v = self.state.load(SeqCst);
        if v & BROKEN == 0 {
            (v & ARRIVED) as u32
        } else {
            0
        }
    }

    /// Whether the barrier is broken: waits fail until [`Barrier::reset`].
    #[must_use]
    pub fn is_broken(&self) -> bool {
        self.state.load(SeqCst) & BROKEN != 0
    }

    /// Waits for the round to fill; returns this caller's arrival index in
    /// it (0 for the first, `parties - 1` for the last, which releases the
    /// others).
    ///
    /// A party that dies while it waits stays counted as arrived; one that
    /// dies before arriving never arrives. Either way the others wait for
    /// ever: give them a timeout ([`Barrier::wait_timeout`]) where a party
    /// may die, and the first to time out breaks the barrier for all.
    ///
    /// # Errors
    /// [`Error::BrokenBarrier`] if the barrier is broken, or is broken or
    /// reset while this caller waits.
    pub fn wait(&self) -> Result<u32> {
        self.wait_with(Wait::forever())
    }

    /// As [`Barrier::wait`], at most `timeout`.
    ///
    /// # Errors
    /// [`Error::BrokenBarrier`] as [`Barrier::wait`], and when `timeout`
    /// elapses: the caller breaks the barrier, for every waiter of the round
    /// and every later wait until [`Barrier::reset`].
    pub fn wait_timeout(&self, timeout: Duration) -> Result<u32> {
        self.wait_with(Wait::timeout(timeout))
    }

    /// As [`Barrier::wait`], waiting as `wait` says.
    ///
    /// # Errors
    /// [`Error::BrokenBarrier`] as [`Barrier::wait_timeout`] (at the
    /// deadline the caller breaks the barrier, unless the round completed
    /// meanwhile: then it returns its index). [`Error::Interrupted`]: the
    /// caller left the round, which still waits for `parties` arrivals.
    /// [`Error::Corrupt`] if the barrier's word counts more arrivals than it
    /// has parties.
    pub fn wait_with(&self, mut wait: Wait<'_>) -> Result<u32> {
        let mut v = self.state.load(SeqCst);
        let (round, index) = loop {
            let arrived = (v & ARRIVED) as u32;
            if arrived >= self.parties {
                // The last arrival of a round resets the count: another
                // process wrote this one.
                return Err(Error::Corrupt(format!(
                    "a barrier of {} parties counts {arrived} arrivals",
                    self.parties
                )));
            }
            if v & BROKEN != 0 {
                return Err(self.broken(
                    "it is broken (a waiter timed out, or abort() was called); reset() makes it usable again",
                ));
            }
            let last = arrived + 1 == self.parties;
            let next = if last {
                next_round(v, false, false)
            } else {
                v + 1
            };
            match self.state.compare_exchange(v, next, SeqCst, SeqCst) {
                Ok(_) if last => {
                    self.wake();
                    return Ok(arrived);
                }
                Ok(_) => break (round_of(v), arrived),
                Err(now) => v = now,
            }
        };
        let high = sys::futex_half(self.state, true);
        loop {
            let now = self.state.load(SeqCst);
            if round_of(now) != round {
                return self.outcome(now, round, index);
            }
            match wait.sleep(high, round) {
                Ok(_) => {}
                Err(Error::Timeout) => return self.break_at_timeout(round, index, wait.limit()),
                Err(e) => return self.leave(round, index, e),
            }
        }
    }

    /// Breaks the barrier: every waiter of the round gets
    /// [`Error::BrokenBarrier`], and so does every later wait until
    /// [`Barrier::reset`].
    pub fn abort(&self) {
        let mut v = self.state.load(SeqCst);
        while v & BROKEN == 0 {
            match self
                .state
                .compare_exchange(v, next_round(v, true, true), SeqCst, SeqCst)
            {
                Ok(_) => return self.wake(),
                Err(now) => v = now,
            }
        }
    }

    /// Returns the barrier to its initial state, empty and not broken; the
    /// callers waiting in it get [`Error::BrokenBarrier`].
    pub fn reset(&self) {
        let mut v = self.state.load(SeqCst);
        while v & (BROKEN | ARRIVED) != 0 {
            match self
                .state
                .compare_exchange(v, next_round(v, true, false), SeqCst, SeqCst)
            {
                Ok(_) => return self.wake(),
                Err(now) => v = now,
            }
        }
    }

    fn wake(&self) {
        sys::futex_wake_all(sys::futex_half(self.state, true));
    }

    fn broken(&self, why: impl Into<String>) -> Error {
        Error::BrokenBarrier {
            parties: self.parties,
            why: why.into(),
        }
    }

    /// How `round`, which this caller joined with `index`, ended, seen from
    /// the state `now` of a later round.
    fn outcome(&self, now: u64, round: u32, index: u32) -> Result<u32> {
        let later = round_of(now).wrapping_sub(round);
        // Rounds older than the history are unknown (other processes
        // aborted and reset it again and again while this one slept):
        // reported broken, the answer that never claims a synchronization
        // that may not have happened.
        let completed =
            (1..=HISTORY_ROUNDS).contains(&later) && now & (1 << (HISTORY_SHIFT + later - 1)) == 0;
        if completed {
            Ok(index)
        } else {
            Err(self.broken(
                "the round was broken while this caller waited (a waiter timed out, or abort() or reset() was called)",
            ))
        }
    }

    /// At the deadline: breaks the barrier, unless its round ended meanwhile.
    fn break_at_timeout(&self, round: u32, index: u32, limit: Option<Duration>) -> Result<u32> {
        let mut v = self.state.load(SeqCst);
        loop {
            if round_of(v) != round {
                return self.outcome(v, round, index);
            }
            match self
                .state
                .compare_exchange(v, next_round(v, true, true), SeqCst, SeqCst)
            {
                Ok(_) => {
                    self.wake();
                    let timeout = limit.map_or_else(
                        || "its deadline".to_owned(),
                        |t| format!("the timeout of {} s", t.as_secs_f64()),
                    );
                    return Err(self.broken(format!("{} arrived before {timeout}", v & ARRIVED)));
                }
                Err(now) => v = now,
            }
        }
    }

    /// Takes a caller that gives up (a signal, not a timeout) out of the
    /// round, unless the round ended meanwhile.
    fn leave(&self, round: u32, index: u32, e: Error) -> Result<u32> {
        let mut v = self.state.load(SeqCst);
        loop {
            if round_of(v) != round {
                return self.outcome(v, round, index);
            }
            if v & ARRIVED == 0 {
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
    fn timeout_breaks_the_barrier_until_reset() {
        let seg = Barrier::create(2).unwrap();
        let b = Barrier::open(&seg).unwrap();
        match b.wait_timeout(Duration::from_millis(20)) {
            Err(Error::BrokenBarrier { parties: 2, why }) => {
                assert_eq!(why, "1 arrived before the timeout of 0.02 s");
            }
            other => panic!("{other:?}"),
        }
        assert!(b.is_broken());
        assert_eq!(b.n_waiting(), 0);
        assert!(matches!(b.wait(), Err(Error::BrokenBarrier { .. })));
        b.reset();
        assert!(!b.is_broken());
        assert_eq!(b.parties(), 2);
    }

    #[test]
    fn abort_and_reset_break_the_waiters_of_the_round() {
        let seg = Barrier::create(3).unwrap();
        let b = Barrier::open(&seg).unwrap();
        for end in [Barrier::abort, Barrier::reset] {
            std::thread::scope(|s| {
                let waiters: Vec<_> = (0..2)
                    .map(|_| s.spawn(|| Barrier::open(&seg).unwrap().wait()))
                    .collect();
                while b.n_waiting() != 2 {
                    std::thread::yield_now();
                }
                end(&b);
                for w in waiters {
                    assert!(matches!(
                        w.join().unwrap(),
                        Err(Error::BrokenBarrier { .. })
                    ));
                }
            });
            b.reset();
            assert!(!b.is_broken() && b.n_waiting() == 0);
        }
    }

    #[test]
    fn a_late_waiter_learns_how_its_round_ended() {
        let seg = Barrier::create(2).unwrap();
        let b = Barrier::open(&seg).unwrap();
        // Round 0 completed, then round 1 was aborted and reset.
        let v = next_round(
            next_round(next_round(0, false, false), true, true),
            true,
            false,
        );
        assert_eq!(round_of(v), 3);
        assert_eq!(b.outcome(v, 0, 1).unwrap(), 1);
        assert!(b.outcome(v, 1, 1).is_err());
        // Broken, then reset.
        let v = next_round(next_round(0, true, true), true, false);
        assert!(b.outcome(v, 0, 1).is_err());
        // Beyond the history: reported broken.
        let mut v = 0;
        for _ in 0..=HISTORY_ROUNDS {
            v = next_round(v, false, false);
        }
        assert!(b.outcome(v, 0, 1).is_err());
        assert_eq!(b.outcome(v, 1, 1).unwrap(), 1);
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
