//! [`RawArray`]: a shared array of any dtype, seen as bytes.

use crate::error::{Error, Result};
use crate::format::layout::Layout;
use crate::segment::{Access, Segment};
use crate::transport::handle::Handle;

/// A shared array of any dtype: its descriptor, its layout and its bytes.
///
/// This is the dynamic form of [`SharedArray`](crate::SharedArray): it works
/// for every dtype a segment can hold (structured, strings, datetimes,
/// complex, bool), and hands out the data as `&[u8]` / `&mut [u8]` under the
/// usual borrow rules. [`RawArray::typed`] turns it into a typed array after
/// checking the descriptor.
///
/// # Example
/// ```
/// use ndshare::{Builder, RawArray};
/// // A numpy complex64 array of 3 elements, made from Rust.
/// let mut raw = Builder::new().raw_zeros("<c8", 8, &[3])?;
/// raw.as_bytes_mut()?[..4].copy_from_slice(&1.5f32.to_le_bytes());
/// assert_eq!(raw.dtype(), "<c8");
/// assert_eq!(raw.as_bytes().len(), 24);
/// # Ok::<(), ndshare::Error>(())
/// ```
#[derive(Debug)]
pub struct RawArray {
    seg: Segment,
}

impl RawArray {
    /// Wraps a mapped segment.
    ///
    /// # Example
    /// ```
    /// use ndshare::{Layout, Order, RawArray, Segment};
    /// let seg = Segment::create(Layout::contiguous(&[4], 2, Order::C)?, "<f2", None, 0o600)?;
    /// assert_eq!(RawArray::from_segment(seg).itemsize(), 2);
    /// # Ok::<(), ndshare::Error>(())
    /// ```
    #[must_use]
    pub fn from_segment(seg: Segment) -> RawArray {
        RawArray { seg }
    }

    /// Maps the named array `name`, whatever its dtype.
    ///
    /// # Errors
    /// [`Error::TypeMismatch`] if the name holds a ring;
    /// the errors of [`Segment::attach`]: [`Error::NotFound`],
    /// [`Error::PermissionDenied`], [`Error::Corrupt`],
    /// [`Error::VersionMismatch`], [`Error::InvalidName`].
    ///
    /// # Example
    /// ```
    /// use ndshare::{Access, Builder, RawArray};
    /// # let name = format!("doc-raw-attach-{}", std::process::id());
    /// let made = Builder::new().name(&name).raw_zeros("<u2", 2, &[8])?;
    /// let seen = RawArray::attach(&name, Access::ReadOnly)?;
    /// assert_eq!((seen.dtype(), seen.layout().shape()), ("<u2", &[8u64][..]));
    /// made.unlink()?;
    /// # Ok::<(), ndshare::Error>(())
    /// ```
    pub fn attach(name: &str, access: Access) -> Result<RawArray> {
        Segment::attach(name, access).and_then(RawArray::from_array_segment)
    }

    /// Wraps a mapped segment, provided that it holds an array (not a ring).
    ///
    /// # Errors
    /// [`Error::TypeMismatch`] for a segment of another kind.
    pub fn from_array_segment(seg: Segment) -> Result<RawArray> {
        if !seg.header().is_array() {
            return Err(Error::TypeMismatch {
                expected: "an array".into(),
                found: seg.header().kind_label(),
            });
        }
        Ok(RawArray { seg })
    }

    /// Maps the array a [`Handle`] refers to.
    ///
    /// # Errors
    /// The errors of [`Handle::open`].
    ///
    /// # Example
    /// ```
    /// use ndshare::{Access, RawArray, SharedArray, Order};
    /// let a = SharedArray::<i32>::zeros(&[5], Order::C)?;
    /// let b = RawArray::open(&a.handle(), Access::ReadOnly)?;
    /// assert_eq!(b.dtype(), "<i4");
    /// # Ok::<(), ndshare::Error>(())
    /// ```
    pub fn open(handle: &Handle, access: Access) -> Result<RawArray> {
        handle.open(access).and_then(RawArray::from_array_segment)
    }

    /// A handle by which another process can map this array: its name, or,
    /// for an anonymous array, this process's descriptor of it (valid while
    /// this process keeps the array).
    #[must_use]
    pub fn handle(&self) -> Handle {
        Handle::of(&self.seg)
    }

    /// The segment behind the array.
    #[must_use]
    pub fn segment(&self) -> &Segment {
        &self.seg
    }

    /// Gives back the segment.
    #[must_use]
    pub fn into_segment(self) -> Segment {
        self.seg
    }

    /// The dtype descriptor (numpy's `.npy` `descr`).
    #[must_use]
    pub fn dtype(&self) -> &str {
        self.seg.dtype()
    }

    /// Bytes per element.
    #[must_use]
    pub fn itemsize(&self) -> usize {
        self.seg.layout().itemsize() as usize
    }

    /// Shape, strides (bytes) and item size, as the header gives them.
    #[must_use]
    pub fn layout(&self) -> &Layout {
        self.seg.layout()
    }

    /// The name of a named array; `None` for an anonymous one.
    #[must_use]
    pub fn name(&self) -> Option<&str> {
        self.seg.name()
    }

    /// Whether the data is mapped writable.
    #[must_use]
    pub fn is_writable(&self) -> bool {
        self.seg.is_writable()
    }

    /// `(dev, ino)`: names the memory itself, whatever handle reached it.
    /// Two arrays with the same `file_id` share their data.
    #[must_use]
    pub fn file_id(&self) -> (u64, u64) {
        let f = self.seg.file_info();
        (f.dev, f.ino)
    }

    /// The data, all of it, in memory order.
    ///
    /// Another process may write these bytes at any moment: see the crate
    /// documentation's "Sharing and soundness".
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        // SAFETY: the data region [data_ptr, data_ptr + data_len) lies inside
        // the mapping (Header::new / Header::decode check header_len +
        // data_len == mapping length), which lives as long as `self`; u8 is
        // valid for every bit pattern and alignment 1; within this process no
        // `&mut` to it exists while `&self` is borrowed (`as_bytes_mut` takes
        // `&mut self`). Writes by other processes: see the crate docs.
        unsafe { std::slice::from_raw_parts(self.seg.data_ptr(), self.seg.data_len()) }
    }

    /// The data, writable.
    ///
    /// # Errors
    /// [`Error::ReadOnly`] if the array was mapped read-only.
    pub fn as_bytes_mut(&mut self) -> Result<&mut [u8]> {
        if !self.seg.is_writable() {
            return Err(Error::ReadOnly);
        }
        // SAFETY: as in `as_bytes`, and the mapping is writable (checked
        // above); `&mut self` makes this the only reference into the data
        // from this `RawArray`.
        Ok(unsafe { std::slice::from_raw_parts_mut(self.seg.data_ptr(), self.seg.data_len()) })
    }

    /// Removes this array's name, as [`crate::unlink`] does, provided that
    /// the name still refers to this very array (a name can be unlinked and
    /// reused by another array meanwhile). This process and every other that
    /// maps the array keep it; its memory goes when the last one drops it.
    ///
    /// # Errors
    /// [`Error::NotFound`] if the name is gone or now names another array;
    /// [`Error::InvalidName`] for an anonymous array;
    /// [`Error::PermissionDenied`].
    pub fn unlink(&self) -> Result<()> {
        let Some(n) = self.name() else {
            return Err(Error::InvalidName {
                name: String::new(),
                reason: "an anonymous array has no name to unlink",
            });
        };
        if crate::named::lifetime::unlink_if_same(n, self.file_id())? {
            Ok(())
        } else {
            Err(Error::NotFound { name: n.to_owned() })
        }
    }
}
