//! [`Handle`]: how another process finds an array, as data or as a string.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};
use crate::named::name;
use crate::segment::{Access, Segment};
use crate::sys;

/// Where an array can be mapped from, small enough to send anywhere: as
/// JSON or any other serde format, or as a plain string
/// ([`Display`](fmt::Display) / [`FromStr`]).
///
/// | form | string | reachable |
/// |------|--------|-----------|
/// | [`Handle::NamedFile`] | `ndshare:named:<dev>:<ino>:<name>` | until the name is unlinked |
/// | [`Handle::Named`] | `ndshare:name:<name>` | whatever array the name holds when opened |
/// | [`Handle::Process`] | `ndshare:proc:<pid>:<fd>:<dev>:<ino>` | while process `pid` holds the array |
///
/// Every number is decimal; `<dev>` and `<ino>` are the memory file's
/// `st_dev` and `st_ino`, which the opener checks, as it checks those of a
/// pickled reference. A name may contain `:`, so it comes last: everything
/// after the second number is the name.
///
/// A named array's handle ([`Handle::of`]) is its name and its file: once
/// the name is unlinked and given to another array, opening the handle is
/// [`Error::Unreachable`], never the other array. The name alone
/// (`ndshare:name:<name>`, written by hand or by an earlier ndshare) carries
/// no such check: it opens whatever the name holds, as
/// [`Segment::attach`] does.
///
/// An anonymous array has no name: its handle is the descriptor by which its
/// holder reaches it, opened through `/proc/<pid>/fd/<fd>` (same user, same
/// machine) and checked to still be the same memory `(dev, ino)`. To give an
/// anonymous array to a process that may outlive the sender, pass the
/// descriptor itself instead: [`SharedArray::send`](crate::SharedArray::send).
///
/// Python reaches the same arrays: a name with `ndshare.attach(name)`, a
/// process handle with `ndshare._ndshare.Segment.from_process_fd`.
///
/// # Example
/// ```
/// use ndshare::{Access, Handle, Order, SharedArray};
/// let mut a = SharedArray::<f64>::zeros(&[2, 2], Order::C)?;
/// a.as_slice_mut()?[3] = 7.0;
///
/// let text = a.handle().to_string();          // e.g. "ndshare:proc:4242:5:27:1033"
/// let json = serde_json::to_string(&a.handle()).unwrap();
/// assert_eq!(text.parse::<Handle>()?, a.handle());
/// assert_eq!(serde_json::from_str::<Handle>(&json).unwrap(), a.handle());
///
/// let b = SharedArray::<f64>::open(&text.parse()?, Access::ReadOnly)?;
/// assert_eq!(b.view()[[1, 1]], 7.0);
/// # Ok::<(), ndshare::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Handle {
    /// A named array, whatever array the name holds when the handle is
    /// opened.
    Named {
        /// Its name.
        name: String,
    },
    /// The named array that the name held when the handle was taken: opened
    /// only if the name still names that file.
    NamedFile {
        /// Its name.
        name: String,
        /// Device of the array's file.
        dev: u64,
        /// Inode of the array's file.
        ino: u64,
    },
    /// An anonymous array held open by a live process.
    Process {
        /// The process that holds it.
        pid: u32,
        /// Its descriptor number in that process.
        fd: i32,
        /// Device of the memory file, to check that `fd` still refers to it.
        dev: u64,
        /// Inode of the memory file.
        ino: u64,
    },
}

const PREFIX: &str = "ndshare:";

impl Handle {
    /// The handle of a mapped segment: its name and file
    /// ([`Handle::NamedFile`]), else this process's descriptor of it.
    #[must_use]
    pub fn of(seg: &Segment) -> Handle {
        let f = seg.file_info();
        if let Some(n) = seg.name() {
            return Handle::NamedFile {
                name: n.to_owned(),
                dev: f.dev,
                ino: f.ino,
            };
        }
        Handle::Process {
            pid: sys::current_pid(),
            fd: seg.fd_ref().number(),
            dev: f.dev,
            ino: f.ino,
        }
    }

    /// Maps the segment the handle refers to.
    ///
    /// # Errors
    /// [`Error::NotFound`] if the name is gone; [`Error::Unreachable`] if
    /// it now names another array, or if the process, its descriptor or the
    /// memory behind it is gone;
    /// [`Error::PermissionDenied`];
    /// [`Error::Corrupt`] or [`Error::VersionMismatch`] for a bad segment.
    pub fn open(&self, access: Access) -> Result<Segment> {
        match self {
            Handle::Named { name } => Segment::attach(name, access),
            Handle::NamedFile { name, dev, ino } => {
                Segment::attach_file(name, (*dev, *ino), access)
            }
            Handle::Process { pid, fd, dev, ino } => {
                Segment::from_process_fd(*pid, *fd, (*dev, *ino), access)
            }
        }
    }

    /// The name, for a named array's handle.
    #[must_use]
    pub fn name(&self) -> Option<&str> {
        match self {
            Handle::Named { name } | Handle::NamedFile { name, .. } => Some(name),
            Handle::Process { .. } => None,
        }
    }
}

impl fmt::Display for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Handle::Named { name } => write!(f, "{PREFIX}name:{name}"),
            Handle::NamedFile { name, dev, ino } => write!(f, "{PREFIX}named:{dev}:{ino}:{name}"),
            Handle::Process { pid, fd, dev, ino } => {
                write!(f, "{PREFIX}proc:{pid}:{fd}:{dev}:{ino}")
            }
        }
    }
}

impl FromStr for Handle {
    type Err = Error;

    /// Parses the string form.
    ///
    /// # Errors
    /// [`Error::InvalidHandle`] for anything else; [`Error::InvalidName`] for
    /// a name no array can have.
    fn from_str(s: &str) -> Result<Handle> {
        let bad = || {
            Error::InvalidHandle(format!(
                "{s:?} is not an ndshare handle (ndshare:named:<dev>:<ino>:<name>, \
                 ndshare:name:<name> or ndshare:proc:<pid>:<fd>:<dev>:<ino>)"
            ))
        };
        let rest = s.strip_prefix(PREFIX).ok_or_else(bad)?;
        if let Some(n) = rest.strip_prefix("name:") {
            name::path_for(n)?;
            return Ok(Handle::Named { name: n.to_owned() });
        }
        if let Some(fields) = rest.strip_prefix("named:") {
            // The name may hold ':', the numbers never: they are the first two fields.
            let mut parts = fields.splitn(3, ':');
            let (Some(dev), Some(ino), Some(n)) = (parts.next(), parts.next(), parts.next()) else {
                return Err(bad());
            };
            let number = |t: &str| -> Result<u64> {
                if t.bytes().all(|c| c.is_ascii_digit()) {
                    t.parse().map_err(|_| bad())
                } else {
                    Err(bad())
                }
            };
            let (dev, ino) = (number(dev)?, number(ino)?);
            name::path_for(n)?;
            return Ok(Handle::NamedFile {
                name: n.to_owned(),
                dev,
                ino,
            });
        }
        let fields: Vec<&str> = rest
            .strip_prefix("proc:")
            .ok_or_else(bad)?
            .split(':')
            .collect();
        let [pid, fd, dev, ino] = fields[..] else {
            return Err(bad());
        };
        let fd: i32 = fd.parse().map_err(|_| bad())?;
        if fd < 0 {
            return Err(bad());
        }
        Ok(Handle::Process {
            pid: pid.parse().map_err(|_| bad())?,
            fd,
            dev: dev.parse().map_err(|_| bad())?,
            ino: ino.parse().map_err(|_| bad())?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_forms() {
        let named = Handle::Named {
            name: "stack:1".into(),
        };
        assert_eq!(named.to_string(), "ndshare:name:stack:1");
        assert_eq!("ndshare:name:stack:1".parse::<Handle>().unwrap(), named);
        let exact = Handle::NamedFile {
            name: "stack:1:2".into(),
            dev: 27,
            ino: 1033,
        };
        assert_eq!(exact.to_string(), "ndshare:named:27:1033:stack:1:2");
        assert_eq!(
            "ndshare:named:27:1033:stack:1:2".parse::<Handle>().unwrap(),
            exact
        );
        // The name alone stays the name alone, colons and numbers included.
        assert_eq!(
            "ndshare:name:27:1033:x".parse::<Handle>().unwrap(),
            Handle::Named {
                name: "27:1033:x".into()
            }
        );
        let proc = Handle::Process {
            pid: 12,
            fd: 5,
            dev: 27,
            ino: 1033,
        };
        assert_eq!(proc.to_string(), "ndshare:proc:12:5:27:1033");
        assert_eq!("ndshare:proc:12:5:27:1033".parse::<Handle>().unwrap(), proc);
    }

    #[test]
    fn bad_strings() {
        for s in [
            "",
            "name:x",
            "ndshare:",
            "ndshare:name:",
            "ndshare:name:a/b",
            "ndshare:proc:1:2:3",
            "ndshare:proc:1:2:3:4:5",
            "ndshare:proc:1:-2:3:4",
            "ndshare:proc:x:2:3:4",
            "ndshare:file:/dev/shm/x",
            "ndshare:named:1:2:",
            "ndshare:named:1:2",
            "ndshare:named:1:x",
            "ndshare:named:1::x",
            "ndshare:named:+1:2:x",
            "ndshare:named:1:2:a/b",
            "ndshare:named:99999999999999999999:2:x",
        ] {
            assert!(
                matches!(
                    s.parse::<Handle>(),
                    Err(Error::InvalidHandle(_) | Error::InvalidName { .. })
                ),
                "{s:?}"
            );
        }
    }

    #[test]
    fn json_form() {
        let h = Handle::Process {
            pid: 1,
            fd: 2,
            dev: 3,
            ino: 4,
        };
        let j = serde_json::to_string(&h).unwrap();
        assert_eq!(j, r#"{"kind":"process","pid":1,"fd":2,"dev":3,"ino":4}"#);
        assert_eq!(serde_json::from_str::<Handle>(&j).unwrap(), h);
        let n = serde_json::to_string(&Handle::Named { name: "x".into() }).unwrap();
        assert_eq!(n, r#"{"kind":"named","name":"x"}"#);
        let exact = Handle::NamedFile {
            name: "x".into(),
            dev: 3,
            ino: 4,
        };
        let j = serde_json::to_string(&exact).unwrap();
        assert_eq!(j, r#"{"kind":"named_file","name":"x","dev":3,"ino":4}"#);
        assert_eq!(serde_json::from_str::<Handle>(&j).unwrap(), exact);
    }
}
