//! When a named array is stale, and what `ndshare gc` removes.
//!
//! A named array stays until its name is unlinked, like any file in
//! /dev/shm. [`collect`] removes the names that nobody can miss: no live
//! process maps the array (the attacher table, [`crate::attachers`]) and its
//! creator is dead (a creator may drop its mapping and attach again later;
//! while it lives, the name is its own).
//!
//! Every doubt keeps the array: an array whose header cannot be read (another
//! user's, corrupt, a future version), one written by format 1.0 (which kept
//! no attacher table), one that some user may map read-only without being
//! able to register (its mode lets them read but not write), or one whose
//! table overflowed. gc is never wrong in the direction that matters: it may
//! leave garbage, it never removes an array in use.
//!
//! What no bookkeeping can prevent: a process that opens the name in the
//! instant between gc's last check and its unlink keeps the memory it mapped,
//! but the name is gone (the same holds for `rm` of any file). Removing the
//! name never takes memory from a process that maps it: the kernel frees a
//! tmpfs file's pages only when its last name, descriptor and mapping go.

use std::fmt;
use std::os::fd::AsFd;

use crate::attachers::Snapshot;
use crate::error::{Error, Result};
use crate::header::{Header, ATTACHERS_SINCE_MINOR};
use crate::name;
use crate::registry::{self, Entry};
use crate::segment;
use crate::sys::{self, FileInfo};

/// What the bookkeeping says about a named array.
#[derive(Debug, Clone, PartialEq, Eq)]
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
    /// Said of a segment this process maps ([`status_of`]): the name it was
    /// mapped by no longer names it. Nobody can attach it any more; its
    /// memory goes when the last process that maps it drops it.
    Unlinked {
        /// Whether the name now names another array.
        name_reused: bool,
    },
}

impl Status {
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

/// What the bookkeeping says about a segment this process maps: `None` for
/// an anonymous one; [`Status::Unlinked`] if the name it was mapped by no
/// longer names it; else its [`status`]. A named segment that arrived by
/// descriptor does not know its name, and is not checked for one.
///
/// # Errors
/// [`Error::Io`] or [`Error::PermissionDenied`] if the name or the attacher
/// table cannot be read.
pub fn status_of(seg: &segment::Segment) -> Result<Option<Status>> {
    let (header, file) = (seg.header(), seg.file_info());
    if !header.is_named() {
        return Ok(None);
    }
    if let Some(n) = seg.name() {
        let path = name::path_for(n)?;
        match sys::path_info(&path) {
            Ok(found) if (found.dev, found.ino) == (file.dev, file.ino) => {}
            Ok(_) => return Ok(Some(Status::Unlinked { name_reused: true })),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Some(Status::Unlinked { name_reused: false }))
            }
            Err(e) => return Err(segment::classify(e, &format!("cannot look up {n:?}"), None)),
        }
    }
    Ok(Some(status(header, &file, &seg.attachers()?)))
}

/// What `gc` did with one named array.
#[derive(Debug)]
pub enum Outcome {
    /// Not stale: left alone.
    Kept,
    /// Stale; left alone because this was a dry run.
    WouldRemove,
    /// Stale, and its name was removed.
    Removed,
    /// Stale, but removing the name failed.
    Failed(Error),
}

/// One named array as `gc` saw it.
#[derive(Debug)]
pub struct Verdict {
    /// The array as read (for a removed one: as read just before removal).
    pub entry: Entry,
    /// Its status.
    pub status: Status,
    /// What was done.
    pub outcome: Outcome,
}

/// Removes the name of every stale named array (see [`Status::Stale`]);
/// with `dry_run`, only says which. Returns every named array, sorted by
/// name, with what was done.
///
/// Each array found stale is checked again, through a descriptor of its
/// file, just before its name is removed, and the name is removed only if it
/// still names that very file.
///
/// # Errors
/// Only if the shared-memory directory cannot be listed; a failure to remove
/// one array is reported in its [`Verdict`].
pub fn collect(dry_run: bool) -> Result<Vec<Verdict>> {
    collect_where(dry_run, |_| true)
}

/// [`collect`], restricted to the arrays whose name `select` accepts.
///
/// # Errors
/// As [`collect`].
pub fn collect_where(dry_run: bool, mut select: impl FnMut(&str) -> bool) -> Result<Vec<Verdict>> {
    let entries = registry::list()?;
    Ok(entries
        .into_iter()
        .filter(|e| select(&e.name))
        .map(|entry| {
            let status = entry.status();
            if !status.is_stale() {
                return Verdict {
                    entry,
                    status,
                    outcome: Outcome::Kept,
                };
            }
            if dry_run {
                return Verdict {
                    entry,
                    status,
                    outcome: Outcome::WouldRemove,
                };
            }
            remove_if_stale(entry)
        })
        .collect())
}

fn remove_if_stale(entry: Entry) -> Verdict {
    let name = entry.name.clone();
    let recheck = name::path_for(&name).and_then(|path| {
        let fd = registry::open(&name, &path)?;
        let again = Entry::of_fd(&name, fd.as_fd());
        let status = again.status();
        let removed = if status.is_stale() {
            let file = sys::file_info(fd.as_fd()).map_err(|e| Error::io("fstat", e))?;
            unlink_if_same(&name, (file.dev, file.ino))?
        } else {
            false
        };
        Ok((again, status, removed))
    });
    match recheck {
        Ok((entry, status, true)) => Verdict {
            entry,
            status,
            outcome: Outcome::Removed,
        },
        Ok((entry, status, false)) => Verdict {
            entry,
            status,
            outcome: Outcome::Kept,
        },
        // Gone meanwhile (another gc, an rm): nothing left to do.
        Err(Error::NotFound { .. }) => Verdict {
            entry,
            status: Status::Stale,
            outcome: Outcome::Kept,
        },
        Err(e) => Verdict {
            entry,
            status: Status::Stale,
            outcome: Outcome::Failed(e),
        },
    }
}

/// Removes the name `name` if it still names the file `(dev, ino)`; returns
/// whether it did. A name that is gone or names another file is left alone.
///
/// A name can be removed and given to another array at any instant, so the
/// file is not checked under the name and then removed by it (the name could
/// change in between): the name is first moved aside in one step
/// (`RENAME_NOREPLACE`) to a name of this process's own, the file moved is
/// checked there, and removed only if it is `(dev, ino)`; another file is
/// put back under its name. While it is aside (two system calls), the name
/// does not resolve.
///
/// # Errors
/// [`Error::InvalidName`], [`Error::PermissionDenied`], [`Error::Io`]
/// (also if another file, moved aside by mistake, cannot be put back because
/// its name was taken again meanwhile: the error says where it is).
pub fn unlink_if_same(name: &str, (dev, ino): (u64, u64)) -> Result<bool> {
    let path = name::path_for(name)?;
    let look_up = |p: &std::path::Path| match sys::path_info(p) {
        Ok(f) => Ok(Some((f.dev, f.ino) == (dev, ino))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(segment::classify(
            e,
            &format!("cannot look up {name:?}"),
            Some(name),
        )),
    };
    // Most often the name is gone or names another file: leave it in place.
    if look_up(&path)? != Some(true) {
        return Ok(false);
    }
    let Some(aside) = move_aside(name, &path)? else {
        return Ok(false);
    };
    if look_up(&aside)? == Some(true) {
        sys::unlink(&aside).map_err(|e| {
            segment::classify(e, &format!("cannot unlink {}", aside.display()), None)
        })?;
        return Ok(true);
    }
    sys::rename_noreplace(&aside, &path).map_err(|e| {
        Error::io(
            format!(
                "{name:?} was replaced while it was being removed, and the new array, \
                 moved aside to {}, cannot be put back",
                aside.display()
            ),
            e,
        )
    })?;
    Ok(false)
}

/// Moves the name `path` to a free name of this process's own; `None` if the
/// name is gone. The name aside is a valid array name, so that `gc` finds the
/// file again should this process die before removing it.
fn move_aside(name: &str, path: &std::path::Path) -> Result<Option<std::path::PathBuf>> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let aside = name::path_for(&format!("gc-removing-{}-{n}", sys::current_pid()))?;
        match sys::rename_noreplace(path, &aside) {
            Ok(()) => return Ok(Some(aside)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(segment::classify(
                    e,
                    &format!("cannot unlink {name:?}"),
                    Some(name),
                ))
            }
        }
    }
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
