//! When a named array is stale, and what `ndshare gc` removes.
//!
//! A named array stays until its name is unlinked, like any file in
//! /dev/shm. [`collect`] removes the names that nobody can miss: no live
//! process maps the array (the attacher table, [`crate::named::attachers`]) and its
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

use crate::error::{Error, Result};
use crate::limits::classify;
use crate::named::name;
use crate::named::registry::{self, Entry};
use crate::named::status::Status;
use crate::sys;

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
        let again = Entry::of_fd(&name, fd.borrow());
        let status = again.status();
        let removed = if status.is_stale() {
            let file = sys::file_info(fd.borrow()).map_err(|e| Error::io("fstat", e))?;
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
        Err(e) => Err(classify(e, &format!("cannot look up {name:?}"), Some(name))),
    };
    // Most often the name is gone or names another file: leave it in place.
    if look_up(&path)? != Some(true) {
        return Ok(false);
    }
    let Some(aside) = move_aside(name, &path)? else {
        return Ok(false);
    };
    if look_up(&aside)? == Some(true) {
        sys::unlink(&aside)
            .map_err(|e| classify(e, &format!("cannot unlink {}", aside.display()), None))?;
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
            Err(e) => return Err(classify(e, &format!("cannot unlink {name:?}"), Some(name))),
        }
    }
}
