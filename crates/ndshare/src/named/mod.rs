//! The named arrays of this machine: their names, who maps them, which are
//! stale, and removing them (what `ndshare list`, `info` and `gc` show).
//!
//! A named array is a file [`FILE_PREFIX`]`<name>` in [`SHM_DIR`]; its header
//! holds a table of the processes that map it ([`Snapshot`]), from which
//! [`Status`] tells whether anyone may still need it.

pub(crate) mod attachers;
pub(crate) mod lifetime;
pub(crate) mod name;
pub(crate) mod registry;
pub(crate) mod report;
pub(crate) mod status;

pub use crate::format::ring::RingReport;
pub use crate::sys::SHM_DIR;
pub use attachers::{Attacher, Registered, Snapshot};
pub use lifetime::{collect, collect_where, unlink_if_same, Outcome, Verdict};
pub use name::{path_for, FILE_PREFIX};
pub use registry::{inspect, list, Entry};
pub use report::{report, reports, ArrayReport, HeaderReport};
pub use status::{readers_who_cannot_register, Status};
