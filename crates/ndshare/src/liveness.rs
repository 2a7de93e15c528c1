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

    /// Whether this very process is still running (a zombie counts as gone
    /// once its last thread has ended: it holds no mappings any more).
    #[must_use]
    ///
    /// A process that `/proc` hides from this one (`hidepid`, another
    /// user's process) but that exists counts as alive: it may be this one,
    /// and every doubt keeps an array.
    pub fn is_alive(&self) -> bool {
        if self.pid == 0 {
            return false;
        }
        match sys::task_stat(self.pid) {
            Ok(st) => st.start_ticks == self.start_ticks && running(st),
            Err(_) => pid_is_hidden(self.pid),
        }
    }
}

/// Whether some process has `pid` (a zombie counts as gone), or may have
/// it: one that `/proc` hides counts.
#[must_use]
pub fn pid_exists(pid: u32) -> bool {
    pid != 0
        && match sys::task_stat(pid) {
            Ok(st) => running(st),
            Err(_) => pid_is_hidden(pid),
        }
}

/// Whether a process whose leader `/proc` shows as `st` still runs code: a
/// zombie leader counts as gone only once no other thread of its process is
/// left (a process whose main thread ended first runs on in the others, and
/// still has its mappings).
fn running(st: sys::TaskStat) -> bool {
    !st.exited || st.threads > 1
}

/// Whether a process `/proc` would not show exists: `kill(pid, 0)` says it
/// exists but belongs to another user (`EPERM`). One this process may
/// signal is visible to it, so a missing `/proc` entry means it just ended.
fn pid_is_hidden(pid: u32) -> bool {
    sys::task_exists(pid) == Some(false)
}
