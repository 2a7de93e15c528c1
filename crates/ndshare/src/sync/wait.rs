//! How a blocked call waits: in bounded sleeps on a futex, so that between
//! them it can look after a holder that may have died, let its caller react
//! to a signal, and end at its deadline.

use std::fmt;
use std::sync::atomic::AtomicU32;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::sys::{self, FutexWake};

/// Longest single sleep. A waiter looks at the holder of a lock after every
/// sleep that lasted this long, so a holder that died is noticed within
/// about this time.
pub const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Longest single sleep of a ring waiter (a put on a full ring, a get on an
/// empty one). An idle stream may wait for hours, so its waiters wake
/// rarely: a process that died holding a slot or a subscription is noticed
/// within about this time (sooner when another put or get runs the repair).
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
    /// Longest single sleep; `None`: the default of the caller's kind of
    /// wait ([`POLL_INTERVAL`] for locks).
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
    /// it, lock waits sleep at most 50 ms and ring waits at most 1 s.
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

    /// Uses `interval` unless the caller chose one with
    /// [`Wait::with_interval`].
    pub(crate) fn default_interval(&mut self, interval: Duration) {
        self.interval.get_or_insert(interval);
    }

    /// Runs `check` after every sleep that a signal interrupted or that
    /// lasted the whole interval (see [`Wait::with_interval`]); when it returns `false` the wait ends with
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
        let interval = self.interval.unwrap_or(POLL_INTERVAL);
        let nap = match self.deadline {
            Deadline::Never => interval,
            Deadline::Now => return Err(Error::Timeout),
            Deadline::At(d) => match d.checked_duration_since(Instant::now()) {
                Some(left) if !left.is_zero() => left.min(interval),
                _ => return Err(Error::Timeout),
            },
        };
        let woke =
            sys::futex_wait(word, expected, Some(nap)).map_err(|e| Error::io("futex wait", e))?;
        match woke {
            FutexWake::Woken | FutexWake::Changed => Ok(Slept::Woken),
            FutexWake::TimedOut | FutexWake::Interrupted => {
                if let Some(check) = self.check.as_mut() {
                    if !check() {
                        return Err(Error::Interrupted);
                    }
                }
                Ok(if woke == FutexWake::TimedOut {
                    Slept::Polled
                } else {
                    Slept::Woken
                })
            }
        }
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
