//! [`SharedArray<T>`]: a typed shared array with `ndarray` views.

use std::marker::PhantomData;

use ndarray::{ArrayView, ArrayViewD, ArrayViewMut, ArrayViewMutD, Dimension, IxDyn, ShapeBuilder};

use crate::array::raw::RawArray;
use crate::error::{Error, Result};
use crate::format::dtype::{self, Element};
use crate::format::layout::Order;
use crate::segment::{Access, Segment};
use crate::transport::handle::Handle;

/// An n-dimensional array of `T` in shared memory, seen by every process
/// that maps it: Rust through this type, Python as an `ndshare.SharedArray`
/// (a `numpy.ndarray`), C through docs/format.md.
///
/// The dtype in the segment's header is checked against `T` whenever an
/// array is mapped: a wrong `T` is [`Error::TypeMismatch`], never a
/// reinterpretation of the bytes.
///
/// Within this process the borrow rules hold as for a `Vec<T>`: [`view`]
/// borrows `&self`, [`view_mut`] borrows `&mut self`, so no `&mut` element
/// ever aliases another reference made through this value. What other
/// processes (or other mappings of the same segment) do is outside Rust's
/// view: see the crate documentation's "Sharing and soundness".
///
/// `SharedArray` is `Send` and `Sync`; dropping it unmaps the memory in this
/// process.
///
/// # Example
/// ```
/// use ndshare::{Order, SharedArray};
/// let mut a = SharedArray::<f32>::zeros(&[2, 3], Order::C)?;
/// a.view_mut()?.fill(1.5);
/// a.view_mut()?[[1, 2]] = 4.0;
/// assert_eq!(a.view().sum(), 11.5);
/// # Ok::<(), ndshare::Error>(())
/// ```
///
/// [`view`]: SharedArray::view
/// [`view_mut`]: SharedArray::view_mut
#[derive(Debug)]
pub struct SharedArray<T: Element> {
    raw: RawArray,
    dim: IxDyn,
    /// Strides in elements, non-negative (see `from_raw`).
    strides: IxDyn,
    elem: PhantomData<T>,
}

impl<T: Element> SharedArray<T> {
    /// Maps the named array `name` for reading and writing.
    ///
    /// # Errors
    /// [`Error::TypeMismatch`] if it does not hold `T`; the errors of
    /// [`RawArray::attach`].
    ///
    /// # Example
    /// ```
    /// use ndshare::{Builder, Error, SharedArray};
    /// # let name = format!("doc-attach-{}", std::process::id());
    /// let mut made = Builder::new().name(&name).zeros::<f64>(&[4])?;
    /// made.as_slice_mut()?[0] = 2.5;
    ///
    /// let seen = SharedArray::<f64>::attach(&name)?;   // e.g. in another process
    /// assert_eq!(seen.view()[0], 2.5);
    /// assert!(matches!(SharedArray::<f32>::attach(&name), Err(Error::TypeMismatch { .. })));
    /// made.unlink()?;
    /// # Ok::<(), ndshare::Error>(())
    /// ```
    pub fn attach(name: &str) -> Result<SharedArray<T>> {
        RawArray::attach(name, Access::ReadWrite)?.typed()
    }

    /// Maps the named array `name` read-only: the data is mapped without
    /// write permission, and [`view_mut`](SharedArray::view_mut) is
    /// [`Error::ReadOnly`]. Works on arrays whose file this user may only
    /// read.
    ///
    /// # Errors
    /// As [`SharedArray::attach`].
    ///
    /// # Example
    /// ```
    /// use ndshare::{Builder, Error, SharedArray};
    /// # let name = format!("doc-attach-ro-{}", std::process::id());
    /// let made = Builder::new().name(&name).zeros::<i16>(&[4])?;
    /// let mut seen = SharedArray::<i16>::attach_readonly(&name)?;
    /// assert!(!seen.is_writable());
    /// assert!(matches!(seen.view_mut(), Err(Error::ReadOnly)));
    /// made.unlink()?;
    /// # Ok::<(), ndshare::Error>(())
    /// ```
    pub fn attach_readonly(name: &str) -> Result<SharedArray<T>> {
        RawArray::attach(name, Access::ReadOnly)?.typed()
    }

    /// Maps the array a [`Handle`] refers to.
    ///
    /// # Errors
    /// [`Error::TypeMismatch`] if it does not hold `T`; the errors of
    /// [`Handle::open`].
    pub fn open(handle: &Handle, access: Access) -> Result<SharedArray<T>> {
        RawArray::open(handle, access)?.typed()
    }

    /// A typed array over a [`RawArray`], checking the dtype.
    ///
    /// # Errors
    /// [`Error::TypeMismatch`] if the descriptor or the item size is not
    /// `T`'s; [`Error::InvalidShape`] if the strides are not whole elements
    /// or the data is not aligned for `T` (neither happens for segments
    /// ndshare writes).
    pub fn from_raw(raw: RawArray) -> Result<SharedArray<T>> {
        if !raw.segment().header().is_array() {
            return Err(Error::TypeMismatch {
                expected: T::DESCR.to_owned(),
                found: raw.segment().header().kind_label(),
            });
        }
        let layout = raw.layout();
        let size = size_of::<T>();
        if !dtype::matches::<T>(raw.dtype()) || layout.itemsize() != size as u64 {
            return Err(Error::TypeMismatch {
                expected: T::DESCR.to_owned(),
                found: raw.dtype().to_owned(),
            });
        }
        if size == 0 || raw.segment().data_ptr().align_offset(align_of::<T>()) != 0 {
            return Err(Error::InvalidShape(format!(
                "data not aligned for {}",
                T::DESCR
            )));
        }
        let mut dim = Vec::with_capacity(layout.ndim());
        let mut strides = Vec::with_capacity(layout.ndim());
        for (&d, &s) in layout.shape().iter().zip(layout.strides()) {
            let d = usize::try_from(d)
                .map_err(|_| Error::InvalidShape("dimension too large".into()))?;
            if s % size as i64 != 0 {
                return Err(Error::InvalidShape(format!(
                    "stride {s} is not a multiple of {size}"
                )));
            }
            // The data's first element is element 0 (the header check,
            // `Layout::check_fits` from offset 0, allows nothing else), so a
            // negative stride can only be one that reaches no other element:
            // on an axis of length 1, or in an empty array. 0 means the same.
            let step = match usize::try_from(s / size as i64) {
                Ok(step) => step,
                Err(_) if d <= 1 || layout.is_empty() => 0,
                Err(_) => {
                    return Err(Error::InvalidShape(format!(
                        "negative stride {s} on an axis of length {d}: the data would start before element 0"
                    )))
                }
            };
            strides.push(step);
            dim.push(d);
        }
        if dim.contains(&0) {
            // ndarray's own strides for an empty array: all 0 (it checks that
            // the last element along each axis fits, and there is none).
            strides.fill(0);
        }
        let a = SharedArray {
            raw,
            dim: IxDyn(&dim),
            strides: IxDyn(&strides),
            elem: PhantomData,
        };
        // ndarray checks that every element lies inside the data; a header
        // that fails is refused here, so `view` cannot fail later.
        ArrayView::from_shape(a.dim.clone().strides(a.strides.clone()), a.as_slice()).map_err(
            |e| {
                Error::InvalidShape(format!(
                    "the header's shape and strides do not fit the data: {e}"
                ))
            },
        )?;
        Ok(a)
    }

    /// The array as an `ndarray` view: shape and strides as in the header.
    ///
    /// # Panics
    /// Never: the shape and strides were checked against the data when this
    /// value was made.
    ///
    /// # Example
    /// ```
    /// use ndshare::{Order, SharedArray};
    /// let a = SharedArray::from_slice(&[1i32, 2, 3, 4], &[2, 2], Order::F)?;
    /// assert_eq!(a.view().t().iter().copied().collect::<Vec<_>>(), [1, 2, 3, 4]);
    /// # Ok::<(), ndshare::Error>(())
    /// ```
    #[must_use]
    pub fn view(&self) -> ArrayViewD<'_, T> {
        ArrayView::from_shape(
            self.dim.clone().strides(self.strides.clone()),
            self.as_slice(),
        )
        .expect("shape and strides were checked against the data in from_raw")
    }

    /// The array as a mutable `ndarray` view.
    ///
    /// It borrows the array exclusively: no other view of it can be alive at
    /// the same time in this process, which the compiler checks:
    ///
    /// ```compile_fail,E0502
    /// use ndshare::{Order, SharedArray};
    /// let mut a = SharedArray::<f32>::zeros(&[2], Order::C)?;
    /// let seen = a.view();
    /// a.view_mut()?[0] = 1.0; // error: `a` is still borrowed by `seen`
    /// assert_eq!(seen[0], 1.0);
    /// # Ok::<(), ndshare::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::ReadOnly`] if mapped read-only; [`Error::InvalidShape`] if
    /// the header's strides make elements overlap (ndarray refuses a
    /// mutable view where two indices reach one element; ndshare never
    /// writes such a header).
    pub fn view_mut(&mut self) -> Result<ArrayViewMutD<'_, T>> {
        let shape = self.dim.clone().strides(self.strides.clone());
        ArrayViewMut::from_shape(shape, self.as_slice_mut()?).map_err(|e| {
            Error::InvalidShape(format!("no mutable view of overlapping elements: {e}"))
        })
    }

    /// Every element, in memory order.
    ///
    /// # Example
    /// ```
    /// use ndshare::{Order, SharedArray};
    /// let a = SharedArray::from_slice(&[1u8, 2, 3, 4, 5, 6], &[2, 3], Order::F)?;
    /// assert_eq!(a.as_slice(), &[1, 2, 3, 4, 5, 6]);
    /// assert_eq!(a.view()[[0, 1]], 3);
    /// # Ok::<(), ndshare::Error>(())
    /// ```
    #[must_use]
    pub fn as_slice(&self) -> &[T] {
        let seg = self.raw.segment();
        // SAFETY: the data lies inside the live mapping (see
        // `RawArray::as_bytes`) and is aligned for `T` (checked in
        // `from_raw`); `data_len / size_of::<T>()` elements fit in it; every
        // bit pattern is a valid `T` (the `Element` contract); no `&mut` into
        // it exists while `&self` is borrowed. Writes by other processes: see
        // the crate docs.
        unsafe {
            std::slice::from_raw_parts(seg.data_ptr().cast::<T>(), seg.data_len() / size_of::<T>())
        }
    }

    /// Every element, in memory order, writable.
    ///
    /// # Errors
    /// [`Error::ReadOnly`] if mapped read-only.
    pub fn as_slice_mut(&mut self) -> Result<&mut [T]> {
        if !self.raw.is_writable() {
            return Err(Error::ReadOnly);
        }
        let seg = self.raw.segment();
        // SAFETY: as in `as_slice`, the mapping is writable (checked above),
        // and `&mut self` excludes every other reference made through this
        // value for the lifetime of the result.
        Ok(unsafe {
            std::slice::from_raw_parts_mut(
                seg.data_ptr().cast::<T>(),
                seg.data_len() / size_of::<T>(),
            )
        })
    }

    /// The shape.
    #[must_use]
    pub fn shape(&self) -> &[usize] {
        self.dim.slice()
    }

    /// Number of elements.
    #[must_use]
    pub fn len(&self) -> usize {
        self.dim.size()
    }

    /// Whether the array has no elements.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The memory order, if the array is contiguous (arrays made by ndshare
    /// are; with one dimension, C).
    #[must_use]
    pub fn order(&self) -> Option<Order> {
        self.raw.layout().order()
    }

    /// The dtype descriptor in the header (equivalent to `T::DESCR`).
    #[must_use]
    pub fn dtype(&self) -> &str {
        self.raw.dtype()
    }

    /// The name of a named array; `None` for an anonymous one.
    #[must_use]
    pub fn name(&self) -> Option<&str> {
        self.raw.name()
    }

    /// Whether the data is mapped writable.
    #[must_use]
    pub fn is_writable(&self) -> bool {
        self.raw.is_writable()
    }

    /// A handle for another process: see [`Handle`].
    #[must_use]
    pub fn handle(&self) -> Handle {
        self.raw.handle()
    }

    /// Removes the array's name if it still names this array: see
    /// [`RawArray::unlink`]. Mappings stay valid.
    ///
    /// # Errors
    /// As [`RawArray::unlink`].
    pub fn unlink(&self) -> Result<()> {
        self.raw.unlink()
    }

    /// The untyped array.
    #[must_use]
    pub fn as_raw(&self) -> &RawArray {
        &self.raw
    }

    /// Gives back the untyped array.
    #[must_use]
    pub fn into_raw(self) -> RawArray {
        self.raw
    }

    /// The segment behind the array (header, descriptor, addresses).
    #[must_use]
    pub fn segment(&self) -> &Segment {
        self.raw.segment()
    }
}

impl RawArray {
    /// Turns this into a typed array, checking that `T` is the dtype.
    ///
    /// # Errors
    /// [`Error::TypeMismatch`] if the descriptor or item size is not `T`'s;
    /// [`Error::InvalidShape`] if the strides are not whole elements.
    ///
    /// # Example
    /// ```
    /// use ndshare::{Error, Order, RawArray};
    /// let raw = RawArray::zeros("<f8", 8, &[2], Order::C)?;
    /// assert!(matches!(raw.typed::<i64>(), Err(Error::TypeMismatch { .. })));
    /// let raw = RawArray::zeros("<f8", 8, &[2], Order::C)?;
    /// assert_eq!(raw.typed::<f64>()?.view().sum(), 0.0);
    /// # Ok::<(), ndshare::Error>(())
    /// ```
    pub fn typed<T: Element>(self) -> Result<SharedArray<T>> {
        SharedArray::from_raw(self)
    }
}
