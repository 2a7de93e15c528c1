//! Names of named arrays, and where they live.

use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::format::header::Header;
use crate::sys;

/// Every named array's file name starts with this, so that `ndshare list`
/// and `ndshare gc` never touch another program's files in /dev/shm.
pub use crate::sys::FILE_PREFIX;

/// Checks that the segment found under the name `name` is one: its header
/// carries the named flag. An anonymous segment's bytes copied under a name
/// are not (their memory was meant to be sealed and to go with its last
/// holder); [`Segment::attach`](crate::Segment::attach) refuses them, and
/// `ndshare list` flags them.
///
/// # Errors
/// [`Error::Corrupt`] saying so.
pub fn check_named(name: &str, header: &Header) -> Result<()> {
    if header.is_named() {
        Ok(())
    } else {
        Err(Error::Corrupt(format!(
            "{name:?} holds a segment not marked as named"
        )))
    }
}

/// Checks a user-given name and returns the path of its file.
///
/// A name is 1 to 247 bytes of letters, digits and `._-@+=,:` (no `/`, no
/// NUL, no leading `.`), so that it is one file name in the shared-memory
/// directory and prints unambiguously.
///
/// # Errors
/// [`Error::InvalidName`] saying what is wrong.
pub fn path_for(name: &str) -> Result<PathBuf> {
    let bad = |reason| {
        Err(Error::InvalidName {
            name: name.to_owned(),
            reason,
        })
    };
    if name.is_empty() {
        return bad("a name cannot be empty");
    }
    if name.len() + FILE_PREFIX.len() > sys::NAME_MAX {
        return bad("too long: at most 247 bytes");
    }
    if name.contains('/') {
        return bad("a name cannot contain '/'");
    }
    if name.starts_with('.') {
        return bad("a name cannot start with '.'");
    }
    if !name
        .bytes()
        .all(|c| c.is_ascii_alphanumeric() || b"._-@+=,:".contains(&c))
    {
        return bad("only letters, digits and . _ - @ + = , : are allowed");
    }
    Ok(PathBuf::from(sys::SHM_DIR).join(format!("{FILE_PREFIX}{name}")))
}

/// The array name for a file name in the shared-memory directory, if it is
/// one of ndshare's.
#[must_use]
pub fn name_of_file(file_name: &str) -> Option<&str> {
    file_name
        .strip_prefix(FILE_PREFIX)
        .filter(|n| path_for(n).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_and_bad_names() {
        assert!(path_for("results").unwrap().ends_with("ndshare.results"));
        assert!(path_for("a.b-c_d@1").is_ok());
        for bad in ["", "a/b", ".hidden", "sp ace", "nul\0", "é"] {
            assert!(path_for(bad).is_err(), "{bad:?}");
        }
        assert!(path_for(&"x".repeat(247)).is_ok());
        assert!(path_for(&"x".repeat(248)).is_err());
    }

    #[test]
    fn file_names_map_back() {
        assert_eq!(name_of_file("ndshare.results"), Some("results"));
        assert_eq!(name_of_file("other"), None);
        assert_eq!(name_of_file("ndshare."), None);
    }
}
