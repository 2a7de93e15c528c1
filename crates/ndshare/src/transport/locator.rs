//! [`Locator`]: every way a receiver may reach an array another process
//! sent by reference, tried in turn.

use crate::error::{Error, Result};
use crate::segment::{Access, Segment};

/// Where an array sent by reference (Python's plain-pickle route) may be
/// reached: by its name, if it has one, and through the sender's descriptor
/// of it (`/proc/<pid>/fd/<fd>`), each checked to lead to the very file
/// `(dev, ino)` that was sent.
///
/// Unlike a [`Handle`](crate::Handle), which names one route, a locator
/// keeps both: a named array whose name was removed (or given to another
/// array) after it was sent is still reached through its sender while the
/// sender holds it.
///
/// # Example
/// ```
/// use ndshare::{Access, Builder, Locator};
/// # let name = format!("doc-locator-{}", std::process::id());
/// let a = Builder::new().name(&name).zeros::<u8>(&[4])?;
/// let at = Locator::of(a.segment());
/// assert_eq!((at.name.as_deref(), at.pid), (Some(name.as_str()), std::process::id()));
/// a.unlink()?; // the name goes: the sender's descriptor still reaches the memory
/// assert_eq!(at.open(Access::ReadOnly)?.file_info().ino, a.segment().file_info().ino);
/// # Ok::<(), ndshare::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Locator {
    /// The array's name when it was sent; `None` for an anonymous array.
    pub name: Option<String>,
    /// Device of the array's file.
    pub dev: u64,
    /// Inode of the array's file.
    pub ino: u64,
    /// The sending process.
    pub pid: u32,
    /// The sender's descriptor of the array.
    pub fd: i32,
}

impl Locator {
    /// The locator of a segment this process holds: its name, its file, and
    /// this process's descriptor of it.
    #[must_use]
    pub fn of(segment: &Segment) -> Locator {
        let file = segment.file_info();
        Locator {
            name: segment.name().map(str::to_owned),
            dev: file.dev,
            ino: file.ino,
            pid: std::process::id(),
            fd: segment.fd_ref().number(),
        }
    }

    /// Maps the array: by name if the name still leads to the file sent,
    /// else through the sender's descriptor.
    ///
    /// # Errors
    /// As [`Locator::open_described`], describing the array by its name.
    pub fn open(&self, access: Access) -> Result<Segment> {
        let what = match &self.name {
            Some(n) => format!("shared array {n:?}"),
            None => "anonymous shared array".to_owned(),
        };
        self.open_described(access, &what)
    }

    /// [`Locator::open`], with `what` describing the array in the error
    /// (e.g. `"anonymous shared array (float64, shape (3, 4))"`).
    ///
    /// # Errors
    /// [`Error::Unreachable`] naming the array and the sender, with why each
    /// route failed (the name is gone or names another array; the sender has
    /// exited, closed the descriptor, or is another user's) and what to do.
    /// Errors that no other route could mend are returned as they are:
    /// [`Error::Corrupt`] or [`Error::VersionMismatch`] for the file reached
    /// through the sender, [`Error::InvalidName`], [`Error::OutOfMemory`].
    pub fn open_described(&self, access: Access, what: &str) -> Result<Segment> {
        let mut reasons = Vec::new();
        if let Some(name) = &self.name {
            match Segment::attach_file(name, (self.dev, self.ino), access) {
                Ok(seg) => return Ok(seg),
                Err(e @ (Error::InvalidName { .. } | Error::OutOfMemory { .. })) => return Err(e),
                // Whatever the name holds now (no file, another array, a
                // foreign or damaged file), the sender's descriptor may
                // still reach the memory.
                Err(Error::Unreachable { reason, .. }) => {
                    reasons.push(format!("by name: {reason}"));
                }
                Err(e) => reasons.push(format!("by name: {e}")),
            }
        }
        match Segment::from_process_fd(self.pid, self.fd, (self.dev, self.ino), access) {
            Ok(seg) => return Ok(seg),
            Err(
                e @ (Error::Unreachable { .. }
                | Error::NotFound { .. }
                | Error::PermissionDenied { .. }
                | Error::Io { .. }),
            ) => reasons.push(e.to_string()),
            Err(e) => return Err(e),
        }
        let hint = if self.name.is_none() {
            "An anonymous array is reached through a process that holds it: send it while \
             the sender still holds it, to a process of the same user on the same machine; \
             or pass it through multiprocessing (which sends the descriptor itself), or give \
             it a name="
        } else {
            "A named array is reached by its name (here unlinked or reused) or, failing that, \
             through a process that still holds it"
        };
        Err(Error::Unreachable {
            what: format!("the {what} sent by process {}", self.pid),
            reason: format!("{}. {hint}", reasons.join("; ")),
        })
    }
}
