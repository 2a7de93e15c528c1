//! How a blocked call waits: in bounded sleeps on a futex, so that between
//! them it can look after a holder that may have died, let its caller react
//! to a signal, and end at its deadline; or, where the kernel reports every
//! death it waits for (a ring's members), in one sleep on several futexes.

use std::fmt;
use std::sync::atomic::AtomicU32;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::sys::{self, FutexWake, WaitvWake};

/// Longest single sleep. A waiter looks at the holder of a lock after every
/// sleep that lasted this long, so a holder that died is noticed within
/// about this time.
pub const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Longest single sleep of a ring waiter (a put on a full ring, a get on an
/// empty one) when it must poll: while some member of the ring has no death
/// watch (a program that registers none), the member table has overflowed,
/// or the kernel lacks `futex_waitv` (before Linux 5.16). A process that
/// died holding a slot or a subscription is then noticed within about this
/// time. Otherwise a ring waiter sleeps until woken, and a death wakes it.
pub const RING_POLL_INTERVAL: Duration = Duration::from_secs(1);

/// How long a blocking call may wait, and what it runs between sleeps.
///
/// # Example
/// ```
/// use std::time::Duration;
/// use ndshare::Wait;
/// let mut polls = 0;
/// let mut count = || { polls += 1; true };
/// let _w = Wait::timeout(Duration::from_millis(1500)).with_check(&mut count);
/// ```
pub struct Wait<'a> {
    deadline: Deadline,
    /// The timeout as the caller gave it, for messages.
    limit: Option<Duration>,
    /// Longest single sleep as the caller chose it; `None`: the default of
    /// the kind of wait ([`POLL_INTERVAL`] for locks, none for a ring whose
    /// members all have a death watch).
    interval: Option<Duration>,
    check: Option<&'a mut dyn FnMut() -> bool>,
}

impl fmt::Debug for Wait<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wait")
            .field("deadline", &self.deadline)
            .field("interval", &self.interval)
            .field("check", &self.check.is_some())
            .finish()
    }
}

impl<'a> Wait<'a> {
    /// Waits as long as it takes.
    #[must_use]
    pub fn forever() -> Wait<'a> {
        Wait {
            deadline: Deadline::Never,
            limit: None,
            interval: None,
            check: None,
        }
    }

    /// Waits at most `timeout`; a timeout too large to represent is forever.
    /// A zero timeout does not sleep at all (and so does not look at the
    /// holder either: the `try_*` calls).
    #[must_use]
    pub fn timeout(timeout: Duration) -> Wait<'a> {
        let deadline = if timeout.is_zero() {
            Deadline::Now
        } else {
            Instant::now()
                .checked_add(timeout)
                .map_or(Deadline::Never, Deadline::At)
        };
        Wait {
            limit: (deadline != Deadline::Never).then_some(timeout),
            deadline,
            interval: None,
            check: None,
        }
    }

    /// Waits until `deadline`.
    #[must_use]
    pub fn until(deadline: Instant) -> Wait<'a> {
        Wait {
            deadline: Deadline::At(deadline),
            limit: Some(deadline.saturating_duration_since(Instant::now())),
            interval: None,
            check: None,
        }
    }

    /// Sleeps at most `interval` at a time (at least 1 ms). Between sleeps a
    /// waiter looks for processes that died and runs its check, so a longer
    /// interval costs less CPU while idle and notices a death later. Without
    /// it, lock waits sleep at most 50 ms; ring waits sleep until an event
    /// or a death wakes them (at most 1 s at a time while they must poll:
    /// while some process in the ring's member table has no death watch,
    /// the table is full, or the kernel lacks `futex_waitv`). A ring wait
    /// given an interval still wakes at once for an event or a death.
    ///
    /// # Example
    /// ```
    /// use std::time::Duration;
    /// use ndshare::Wait;
    /// let _w = Wait::forever().with_interval(Duration::from_millis(200));
    /// ```
    #[must_use]
    pub fn with_interval(mut self, interval: Duration) -> Wait<'a> {
        self.interval = Some(interval.max(Duration::from_millis(1)));
        self
    }

    /// Runs `check` after every sleep that a signal interrupted or that
    /// lasted the whole interval (see [`Wait::with_interval`]); when it
    /// returns `false` the wait ends with
    /// [`Error::Interrupted`]. The Python bindings check for signals there,
    /// so that Ctrl-C stops a blocked wait.
    #[must_use]
    pub fn with_check(mut self, check: &'a mut dyn FnMut() -> bool) -> Wait<'a> {
        self.check = Some(check);
        self
    }

    /// The timeout this wait was given (`None`: forever).
    pub(crate) fn limit(&self) -> Option<Duration> {
        self.limit
    }

    /// Whether the deadline has passed.
    pub(crate) fn expired(&self) -> bool {
        match self.deadline {
            Deadline::Never => false,
            Deadline::Now => true,
            Deadline::At(d) => Instant::now() >= d,
        }
    }

    /// Sleeps once while `word` holds `expected`: until woken, at most the
    /// interval ([`POLL_INTERVAL`] unless set), at most until the deadline.
    ///
    /// # Errors
    /// [`Error::Timeout`] if the deadline has passed (before sleeping),
    /// [`Error::Interrupted`] if the check says stop.
    pub(crate) fn sleep(&mut self, word: &AtomicU32, expected: u32) -> Result<Slept> {
        self.sleep_polling(word, expected, POLL_INTERVAL)
    }

    /// [`Wait::sleep`], at most `interval` at a time unless the caller
    /// chose another.
    ///
    /// # Errors
    /// As [`Wait::sleep`].
    pub(crate) fn sleep_polling(
        &mut self,
        word: &AtomicU32,
        expected: u32,
        interval: Duration,
    ) -> Result<Slept> {
        let nap = self.nap(Some(self.interval.unwrap_or(interval)))?;
        let woke = sys::futex_wait(word, expected, nap).map_err(|e| Error::io("futex wait", e))?;
        match woke {
            FutexWake::Woken | FutexWake::Changed => Ok(Slept::Woken),
            FutexWake::TimedOut | FutexWake::Interrupted => {
                self.run_check()?;
                Ok(if woke == FutexWake::TimedOut {
                    Slept::Polled
                } else {
                    Slept::Woken
                })
            }
        }
    }

    /// Sleeps once while every word of `words` holds its value: until one is
    /// woken, until the deadline, and at most the interval if the caller
    /// chose one — else with no bound at all.
    ///
    /// # Errors
    /// As [`Wait::sleep`]; an I/O error if the kernel refuses the words.
    pub(crate) fn sleep_on_any(&mut self, words: &[(&AtomicU32, u32)]) -> Result<SleptOn> {
        let nap = self.nap(self.interval)?;
        let woke = match sys::futex_waitv(words, nap) {
            Ok(woke) => woke,
            Err(e) if sys::error_kind(&e) == sys::ErrorKind::Unsupported => {
                return Ok(SleptOn::Unsupported)
            }
            Err(e) => return Err(Error::io("futex wait on several words", e)),
        };
        match woke {
            WaitvWake::Woken(i) => Ok(SleptOn::Word(i)),
            WaitvWake::Changed => Ok(SleptOn::Changed),
            WaitvWake::Interrupted => {
                self.run_check()?;
                Ok(SleptOn::Changed)
            }
            WaitvWake::TimedOut => {
                self.run_check()?;
                Ok(SleptOn::Polled)
            }
        }
    }

    /// How long the next sleep may last: until the deadline, at most
    /// `interval` (`None`: no bound).
    fn nap(&self, interval: Option<Duration>) -> Result<Option<Duration>> {
        match self.deadline {
            Deadline::Never => Ok(interval),
            Deadline::Now => Err(Error::Timeout),
            Deadline::At(d) => match d.checked_duration_since(Instant::now()) {
                Some(left) if !left.is_zero() => Ok(Some(interval.map_or(left, |i| left.min(i)))),
                _ => Err(Error::Timeout),
            },
        }
    }

    /// Runs the caller's check, if any.
    fn run_check(&mut self) -> Result<()> {
        if let Some(check) = self.check.as_mut() {
            if !check() {
                return Err(Error::Interrupted);
            }
        }
        Ok(())
    }
}

/// When a wait ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Deadline {
    Never,
    /// Do not sleep at all (a zero timeout: no clock reading needed).
    Now,
    At(Instant),
}

/// How a [`Wait::sleep`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Slept {
    /// Woken, or the word changed: look again.
    Woken,
    /// A whole nap passed: look again, and look at the holder.
    Polled,
}

/// How a [`Wait::sleep_on_any`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SleptOn {
    /// Woken on the word of this index (or spuriously): look again.
    Word(usize),
    /// A word had changed before the sleep, or a signal came: look again.
    Changed,
    /// The interval or the deadline passed: look again, and look at the
    /// holders.
    Polled,
    /// The kernel cannot wait on several words (`ENOSYS`): sleep on one.
    Unsupported,
}
