//! What the bookkeeping says about a named array: in use, kept, stale,
//! unusable, or unlinked.

use std::fmt;

use crate::format::header::{Header, ATTACHERS_SINCE_MINOR};
use crate::named::attachers::Snapshot;
use crate::sys::FileInfo;

/// What the bookkeeping says about a named array.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Live processes map it: `attachers` distinct ones named in the table,
    /// `unregistered` more counted in its overflow counter.
    InUse {
        /// Live processes named in the attacher table.
        attachers: usize,
        /// Live processes that found the table full.
        unregistered: u32,
    },
    /// No live process maps it, but its creator is alive: kept.
    CreatorAlive,
    /// Its use cannot be verified, for the reason given: kept.
    Unverifiable(String),
    /// No live process maps it and its creator is dead: `gc` removes it.
    Stale,
    /// The file cannot be attached, for the reason given (the error
    /// [`Segment::attach`](crate::Segment::attach) gives): not a segment, a
    /// corrupt or truncated one, one of a format this build cannot read, or
    /// an anonymous segment's bytes under a name. Kept by `gc`, as every
    /// file it cannot vouch for; `ndshare rm` removes it.
    Unusable(String),
    /// Said of a segment this process maps
    /// ([`Segment::status`](crate::Segment::status)): the name it was
    /// mapped by no longer names it. Nobody can attach it any more; its
    /// memory goes when the last process that maps it drops it.
    Unlinked {
        /// Whether the name now names another array.
        name_reused: bool,
    },
}

impl Status {
    /// The status of an array from its header, file and attacher table.
    #[must_use]
    pub fn of(header: &Header, file: &FileInfo, attachers: &Snapshot) -> Status {
        status(header, file, attachers)
    }

    /// Whether `gc` removes an array in this state.
    #[must_use]
    pub fn is_stale(&self) -> bool {
        matches!(self, Status::Stale)
    }

    /// A short label: `in use`, `creator alive`, `unverifiable`, `stale`,
    /// `unusable`, `unlinked`.
    #[must_use]
    pub fn label(&self) -> &'static str {
        match self {
            Status::InUse { .. } => "in use",
            Status::CreatorAlive => "creator alive",
            Status::Unverifiable(_) => "unverifiable",
            Status::Stale => "stale",
            Status::Unusable(_) => "unusable",
            Status::Unlinked { .. } => "unlinked",
        }
    }

    /// Why the array cannot be attached, for [`Status::Unusable`].
    #[must_use]
    pub fn reason(&self) -> Option<&str> {
        match self {
            Status::Unusable(why) => Some(why),
            _ => None,
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Status::InUse {
                attachers,
                unregistered: 0,
            } => write!(f, "in use by {attachers} live process{}", plural(*attachers)),
            Status::InUse {
                attachers,
                unregistered,
            } => write!(
                f,
                "in use by {attachers} registered live process{} and {unregistered} that found the attacher table full",
                plural(*attachers)
            ),
            Status::CreatorAlive => f.write_str("not mapped by any live process, but its creator is alive"),
            Status::Unverifiable(why) => write!(f, "its use cannot be verified ({why})"),
            Status::Stale => f.write_str("stale: its creator is dead and no live process maps it"),
            Status::Unusable(why) => write!(f, "unusable: {why}"),
            Status::Unlinked { name_reused } => write!(
                f,
                "unlinked: its name was removed{}; no process can attach it any more, and its \
                 memory goes when the last process that maps it drops it",
                if *name_reused { " and now names another array" } else { "" }
            ),
        }
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "es"
    }
}

/// Permission classes that may read a file but not write it: such users can
/// map the array read-only, and a read-only mapping cannot register in the
/// attacher table.
#[must_use]
pub fn readers_who_cannot_register(mode: u32) -> Vec<&'static str> {
    [
        ("its owner", 0o400, 0o200),
        ("its group", 0o040, 0o020),
        ("other users", 0o004, 0o002),
    ]
    .into_iter()
    .filter(|&(_, r, w)| mode & r != 0 && mode & w == 0)
    .map(|(who, _, _)| who)
    .collect()
}

/// The status of an array from its header, file and attacher table.
#[must_use]
pub fn status(header: &Header, file: &FileInfo, attachers: &Snapshot) -> Status {
    if attachers.in_use() {
        return Status::InUse {
            attachers: attachers.live_processes(),
            unregistered: attachers.overflow,
        };
    }
    if header.creator.is_alive() {
        return Status::CreatorAlive;
    }
    if header.version_minor < ATTACHERS_SINCE_MINOR {
        return Status::Unverifiable(format!(
            "format 1.{} keeps no attacher table",
            header.version_minor
        ));
    }
    let blind = readers_who_cannot_register(file.mode);
    if !blind.is_empty() {
        return Status::Unverifiable(format!(
            "mode {:04o} lets {} map it read-only, unregistered",
            file.mode,
            blind.join(" and ")
        ));
    }
    Status::Stale
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_that_allow_unregistered_readers() {
        assert!(readers_who_cannot_register(0o600).is_empty());
        assert!(readers_who_cannot_register(0o666).is_empty());
        assert!(readers_who_cannot_register(0o200).is_empty());
        assert_eq!(
            readers_who_cannot_register(0o644),
            vec!["its group", "other users"]
        );
        assert_eq!(readers_who_cannot_register(0o400), vec!["its owner"]);
        assert_eq!(readers_who_cannot_register(0o604), vec!["other users"]);
    }
}
