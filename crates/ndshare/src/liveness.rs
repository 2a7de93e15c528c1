//! Who is alive: a process named by its pid *and* its start time.

use crate::sys;

/// One process for the life of the machine: a pid alone can be reused by a
/// later process, a pid with the process's start time cannot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct ProcessStamp {
    /// Process id.
    pub pid: u32,
    /// Start time in clock ticks since boot (`/proc/<pid>/stat`, field 22).
    pub start_ticks: u64,
}

impl ProcessStamp {
    /// The calling process; `start_ticks` is 0 if it cannot be read (no
    /// `/proc`, or no descriptor left to open it).
    #[must_use]
    pub fn current() -> ProcessStamp {
        let pid = sys::current_pid();
        ProcessStamp {
            pid,
            start_ticks: sys::process_start_ticks(pid).unwrap_or(0),
        }
    }

    /// Whether this very process is still running (a zombie counts as gone:
    /// it holds no mappings any more).
    #[must_use]
    pub fn is_alive(&self) -> bool {
        if self.pid == 0 {
            return false;
        }
        sys::process_start_ticks(self.pid).is_ok_and(|t| t == self.start_ticks)
            && !sys::is_zombie(self.pid)
    }
}
