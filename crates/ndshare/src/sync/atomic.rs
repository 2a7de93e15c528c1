//! Lock-free atomics on the integer elements of a segment: one element at a
//! time, or many at once (`np.add.at` style) for histograms and counters.
//!
//! Every operation is one hardware atomic instruction (or a compare-and-swap
//! loop for max and min) on the element in shared memory, sequentially
//! consistent, and works between processes as between threads: an atomic on
//! a shared mapping is the same instruction on the same physical memory.
//! Addition and subtraction wrap around, as numpy's integer arithmetic does.
//!
//! Mixing atomics with plain writes to the same element (numpy's `a[i] += 1`)
//! at the same time is a race, as it would be between threads.

use std::marker::PhantomData;
use std::sync::atomic::{AtomicI32, AtomicI64, AtomicU32, AtomicU64, Ordering::SeqCst};

use crate::error::{Error, Result};
use crate::format::dtype::{self, Element};
use crate::format::layout::Layout;
use crate::segment::Segment;

mod sealed {
    pub trait Sealed {}
}

/// What an operation does to each element. Each returns the element's
/// previous value (for [`Op::Load`], its value).
///
/// Bindings pass an operation as its number ([`Op::code`], the position in
/// [`Op::ALL`]); [`Op::name`] is the name the Python API gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Op {
    /// `element += value` (wrapping).
    Add,
    /// `element -= value` (wrapping).
    Sub,
    /// `element = max(element, value)`.
    Max,
    /// `element = min(element, value)`.
    Min,
    /// `element = value`, returning the previous value.
    Exchange,
    /// `element = value`; the "previous" value reported is `value`.
    Store,
    /// Reads the element; `value` is not used.
    Load,
    /// `element = new` where `element == value` (the expected value).
    /// Takes two values: [`AtomicView::update_one`] and
    /// [`AtomicView::update`] take both, [`AtomicElement::compare_exchange`]
    /// too; given one value, as [`AtomicElement::apply`] is, it expects and
    /// stores the same value, which reads the element and changes nothing.
    CompareExchange,
}

impl Op {
    /// Every operation, in the order of their codes.
    pub const ALL: [Op; 8] = [
        Op::Add,
        Op::Sub,
        Op::Max,
        Op::Min,
        Op::Exchange,
        Op::Store,
        Op::Load,
        Op::CompareExchange,
    ];

    /// The operation's number: its position in [`Op::ALL`].
    #[must_use]
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The operation numbered `code`.
    ///
    /// # Errors
    /// [`Error::InvalidShape`] if no operation has that number.
    pub fn from_code(code: u8) -> Result<Op> {
        Op::ALL
            .get(usize::from(code))
            .copied()
            .ok_or_else(|| Error::InvalidShape(format!("no atomic operation is numbered {code}")))
    }

    /// The operation's name in the Python API (`ndshare.atomic.<name>`).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Op::Add => "add",
            Op::Sub => "sub",
            Op::Max => "max",
            Op::Min => "min",
            Op::Exchange => "exchange",
            Op::Store => "store",
            Op::Load => "load",
            Op::CompareExchange => "compare_exchange",
        }
    }

    /// Whether the caller is told the element's previous value: every
    /// operation but [`Op::Store`].
    #[must_use]
    pub fn reports_previous(self) -> bool {
        self != Op::Store
    }

    /// Whether the operation takes a second value, the new one:
    /// [`Op::CompareExchange`].
    #[must_use]
    pub fn takes_new(self) -> bool {
        self == Op::CompareExchange
    }
}

/// A caller's buffer of `len` elements at `ptr`, not yet trusted: what a
/// binding holds of another language's array (see
/// [`AtomicView::update_raw`]).
#[derive(Debug, Clone, Copy)]
pub struct RawBuffer<E> {
    /// First element.
    pub ptr: *mut E,
    /// Number of elements.
    pub len: usize,
}

impl<E> RawBuffer<E> {
    /// Byte addresses `[start, end)`.
    fn span(&self) -> (usize, usize) {
        let start = self.ptr as usize;
        (
            start,
            start.saturating_add(self.len.saturating_mul(size_of::<E>())),
        )
    }

    /// Whether the two buffers share a byte.
    fn overlaps(&self, (b0, b1): (usize, usize)) -> bool {
        let (a0, a1) = self.span();
        a0 < a1 && b0 < b1 && a0 < b1 && b0 < a1
    }

    /// Checks the buffer is aligned (an empty one may be anywhere) and
    /// outside `segment`.
    fn check(&self, segment: (usize, usize), what: &str) -> Result<()> {
        if self.len > 0 && (self.ptr.is_null() || self.ptr as usize % align_of::<E>() != 0) {
            return Err(Error::Misaligned(format!(
                "the {what} are not aligned to their {}-byte elements",
                size_of::<E>()
            )));
        }
        if self.overlaps(segment) {
            return Err(Error::InvalidShape(
                "index, value and output arrays must not share memory with the array".into(),
            ));
        }
        Ok(())
    }

    /// The buffer as a slice.
    ///
    /// # Safety
    /// As [`AtomicView::update_raw`] requires of its buffers.
    unsafe fn slice<'b>(&self) -> &'b [E] {
        if self.len == 0 {
            return &[];
        }
        // SAFETY: the caller's promise: live, readable, aligned (checked),
        // not written while the slice lives.
        unsafe { std::slice::from_raw_parts(self.ptr.cast_const(), self.len) }
    }
}

/// Integer element types with lock-free atomics of their own size:
/// `i32`, `i64`, `u32`, `u64`.
pub trait AtomicElement: Element + Ord + sealed::Sealed {
    /// The `std::sync::atomic` type of the same size.
    type Atomic: Send + Sync;

    /// The atomic at `ptr`.
    ///
    /// # Safety
    /// `ptr` must be aligned for `Self`, point to a live, writable element
    /// for `'a`, and every concurrent access to it must be atomic.
    ///
    /// # Errors
    /// None: the pointer's validity is the caller's promise.
    ///
    /// # Example
    /// ```
    /// use std::sync::atomic::Ordering;
    /// use ndshare::AtomicElement;
    /// let mut x = 5i64;
    /// // SAFETY: a live, aligned, exclusively borrowed element.
    /// let a = unsafe { i64::atomic_at(&mut x) };
    /// assert_eq!(a.fetch_add(1, Ordering::SeqCst), 5);
    /// ```
    unsafe fn atomic_at<'a>(ptr: *mut Self) -> &'a Self::Atomic;

    /// Applies `op` with `value`; returns the previous value.
    fn apply(a: &Self::Atomic, op: Op, value: Self) -> Self;

    /// Stores `new` if the element is `expected`; returns the previous value
    /// (equal to `expected` when it stored).
    fn compare_exchange(a: &Self::Atomic, expected: Self, new: Self) -> Self;
}

macro_rules! atomic_element {
    ($($t:ty => $a:ty),* $(,)?) => {$(
        impl sealed::Sealed for $t {}
        impl AtomicElement for $t {
            type Atomic = $a;

            unsafe fn atomic_at<'a>(ptr: *mut Self) -> &'a $a {
                // SAFETY: the caller promises an aligned, live element that
                // is only accessed atomically.
                unsafe { <$a>::from_ptr(ptr) }
            }

            fn apply(a: &$a, op: Op, value: $t) -> $t {
                match op {
                    Op::Add => a.fetch_add(value, SeqCst),
                    Op::Sub => a.fetch_sub(value, SeqCst),
                    Op::Max => a.fetch_max(value, SeqCst),
                    Op::Min => a.fetch_min(value, SeqCst),
                    Op::Exchange => a.swap(value, SeqCst),
                    Op::Store => {
                        a.store(value, SeqCst);
                        value
                    }
                    Op::Load => a.load(SeqCst),
                    Op::CompareExchange => Self::compare_exchange(a, value, value),
                }
            }

            fn compare_exchange(a: &$a, expected: $t, new: $t) -> $t {
                a.compare_exchange(expected, new, SeqCst, SeqCst).unwrap_or_else(|v| v)
            }
        }
    )*};
}

atomic_element! { i32 => AtomicI32, i64 => AtomicI64, u32 => AtomicU32, u64 => AtomicU64 }

/// Elements of a segment seen as atomics of type `T`: the whole array
/// ([`Segment::atomics`]) or any strided view of it ([`Segment::atomic_view`]).
#[derive(Debug)]
pub struct AtomicView<'a, T: AtomicElement> {
    /// Address of the element at index (0, ..., 0).
    origin: *mut u8,
    /// The segment's mapping, `[start, end)`: what no caller's buffer may
    /// overlap.
    segment: (usize, usize),
    shape: Vec<u64>,
    strides: Vec<i64>,
    _segment: PhantomData<&'a Segment>,
    _element: PhantomData<T>,
}

// SAFETY: the view only hands out shared references to atomics (which are
// `Sync`) inside a mapping that outlives it; the raw pointer is an address.
unsafe impl<T: AtomicElement> Send for AtomicView<'_, T> {}
// SAFETY: as above.
unsafe impl<T: AtomicElement> Sync for AtomicView<'_, T> {}

impl Segment {
    /// The whole array as atomics of type `T`, which must be the array's
    /// dtype.
    ///
    /// # Errors
    /// [`Error::TypeMismatch`] if the dtype is not `T`; [`Error::ReadOnly`]
    /// if the data is mapped read-only.
    ///
    /// # Example
    /// ```
    /// use std::sync::atomic::Ordering;
    /// use ndshare::{Layout, Order, Segment};
    /// let seg = Segment::create(Layout::contiguous(&[2, 3], 8, Order::C)?, "<u8", None, 0o600)?;
    /// let counts = seg.atomics::<u64>()?;
    /// counts.at(&[1, -1])?.fetch_add(5, Ordering::SeqCst);
    /// counts.apply(ndshare::AtomicOp::Add, &[&[1, 1, 0], &[2, 2, 0]], &[1], None)?;
    /// assert_eq!(counts.at(&[1, 2])?.load(Ordering::SeqCst), 7);
    /// assert_eq!(counts.at(&[0, 0])?.load(Ordering::SeqCst), 1);
    /// # Ok::<(), ndshare::Error>(())
    /// ```
    pub fn atomics<T: AtomicElement>(&self) -> Result<AtomicView<'_, T>> {
        if !dtype::matches::<T>(self.dtype()) {
            return Err(Error::TypeMismatch {
                expected: T::DESCR.to_owned(),
                found: self.dtype().to_owned(),
            });
        }
        let l = self.layout();
        self.atomic_view(0, l.shape(), l.strides())
    }

    /// Elements of type `T` at byte `offset` of the data with `shape` and
    /// byte `strides` (a numpy view's geometry), as atomics. The dtype of
    /// the segment is not consulted: a view may reinterpret its bytes.
    ///
    /// # Errors
    /// [`Error::ReadOnly`] if the data is mapped read-only;
    /// [`Error::Misaligned`] if an element is not aligned to its size;
    /// [`Error::InvalidShape`] if the view reaches outside the data.
    pub fn atomic_view<T: AtomicElement>(
        &self,
        offset: u64,
        shape: &[u64],
        strides: &[i64],
    ) -> Result<AtomicView<'_, T>> {
        if !self.is_writable() {
            return Err(Error::ReadOnly);
        }
        let size = size_of::<T>();
        let layout = Layout::from_parts(shape.to_vec(), strides.to_vec(), size as u64)?;
        layout.check_fits(offset, self.data_len() as u64)?;
        // SAFETY: check_fits put `offset` within the data (or one past it
        // for an empty view), which lies in the mapping.
        let origin = unsafe { self.data_ptr().add(offset as usize) };
        let align = align_of::<T>();
        let stride_misfit = shape
            .iter()
            .zip(strides)
            .any(|(&d, &s)| d > 1 && s.unsigned_abs() % align as u64 != 0);
        if !layout.is_empty() && (origin as usize % align != 0 || stride_misfit) {
            return Err(Error::Misaligned(format!(
                "atomics on {size}-byte elements need every element at an address that is a multiple of {align} \
                 (byte offset {offset}, strides {strides:?})"
            )));
        }
        let start = self.base_ptr() as usize;
        Ok(AtomicView {
            origin,
            segment: (start, self.data_ptr() as usize + self.data_len()),
            shape: shape.to_vec(),
            strides: strides.to_vec(),
            _segment: PhantomData,
            _element: PhantomData,
        })
    }
}

impl<T: AtomicElement> AtomicView<'_, T> {
    /// Dimensions of the view.
    #[must_use]
    pub fn shape(&self) -> &[u64] {
        &self.shape
    }

    /// The element at `index` (one entry per dimension; negative entries
    /// count from the end, as in numpy).
    ///
    /// # Errors
    /// [`Error::IndexOutOfBounds`].
    pub fn at(&self, index: &[i64]) -> Result<&T::Atomic> {
        if index.len() != self.shape.len() {
            return Err(Error::IndexOutOfBounds(format!(
                "{} indices for an array of {} dimensions",
                index.len(),
                self.shape.len()
            )));
        }
        let mut offset = 0i64;
        for (axis, &i) in index.iter().enumerate() {
            offset += self.position(axis, i)? * self.strides[axis];
        }
        // SAFETY: every index is within its dimension, so the element lies
        // inside the view, which `atomic_view` checked lies inside the
        // mapping, aligned; the mapping lives for the view's lifetime.
        Ok(unsafe { T::atomic_at(self.origin.offset(offset as isize).cast::<T>()) })
    }

    /// Applies `op` to many elements: element `k` is the one at
    /// `(indices[0][k], indices[1][k], ...)`, combined with `values[k]` (or
    /// `values[0]` for every `k` when one value is given). Repeated indices
    /// apply repeatedly, as `np.add.at` does. Previous values go to
    /// `previous` when given.
    ///
    /// Every index is checked before any element changes: an out-of-bounds
    /// index changes nothing.
    ///
    /// # Errors
    /// [`Error::IndexOutOfBounds`]; [`Error::InvalidShape`] if the lengths
    /// disagree.
    pub fn apply(
        &self,
        op: Op,
        indices: &[&[i64]],
        values: &[T],
        previous: Option<&mut [T]>,
    ) -> Result<()> {
        let n = self.check_indices(indices)?;
        let value = broadcast(values, n, "values")?;
        match previous {
            None => self.for_each(indices, n, |k, a| {
                T::apply(a, op, value(k));
            }),
            Some(out) => {
                check_len(out.len(), n, "previous")?;
                self.for_each(indices, n, |k, a| out[k] = T::apply(a, op, value(k)));
            }
        }
        Ok(())
    }

    /// Compare-and-swap on many elements: element `k` becomes `new[k]` if it
    /// is `expected[k]`; `previous[k]` receives what it was (equal to
    /// `expected[k]` exactly where the swap happened). A one-element
    /// `expected` or `new` applies to every `k`.
    ///
    /// # Errors
    /// As [`AtomicView::apply`].
    pub fn compare_exchange_at(
        &self,
        indices: &[&[i64]],
        expected: &[T],
        new: &[T],
        previous: &mut [T],
    ) -> Result<()> {
        let n = self.check_indices(indices)?;
        let expected = broadcast(expected, n, "expected")?;
        let new = broadcast(new, n, "new")?;
        check_len(previous.len(), n, "previous")?;
        self.for_each(indices, n, |k, a| {
            previous[k] = T::compare_exchange(a, expected(k), new(k));
        });
        Ok(())
    }

    /// Applies `op` to the element at `index` with `value` (and `new`, the
    /// value [`Op::CompareExchange`] stores); returns the element's
    /// previous value.
    ///
    /// # Errors
    /// [`Error::IndexOutOfBounds`]; [`Error::InvalidShape`] if
    /// [`Op::CompareExchange`] has no `new` value.
    ///
    /// # Example
    /// ```
    /// use ndshare::{AtomicOp, SharedArray, Order};
    /// let a = SharedArray::<i64>::zeros(&[3], Order::C)?;
    /// let v = a.segment().atomics::<i64>()?;
    /// assert_eq!(v.update_one(AtomicOp::Add, &[1], 5, None)?, 0);
    /// assert_eq!(v.update_one(AtomicOp::CompareExchange, &[1], 5, Some(9))?, 5);
    /// assert_eq!(v.update_one(AtomicOp::Load, &[-2], 0, None)?, 9);
    /// # Ok::<(), ndshare::Error>(())
    /// ```
    pub fn update_one(&self, op: Op, index: &[i64], value: T, new: Option<T>) -> Result<T> {
        let cell = self.at(index)?;
        match (op, new) {
            (Op::CompareExchange, Some(new)) => Ok(T::compare_exchange(cell, value, new)),
            (Op::CompareExchange, None) => Err(needs_new()),
            _ => Ok(T::apply(cell, op, value)),
        }
    }

    /// Applies `op` to many elements, as [`AtomicView::apply`] does, and
    /// for [`Op::CompareExchange`] as [`AtomicView::compare_exchange_at`]
    /// does with `new`.
    ///
    /// # Errors
    /// As [`AtomicView::apply`]; [`Error::InvalidShape`] if
    /// [`Op::CompareExchange`] has no `new` values.
    pub fn update(
        &self,
        op: Op,
        indices: &[&[i64]],
        values: &[T],
        new: Option<&[T]>,
        previous: Option<&mut [T]>,
    ) -> Result<()> {
        if op != Op::CompareExchange {
            return self.apply(op, indices, values, previous);
        }
        let new = new.ok_or_else(needs_new)?;
        let n = self.check_indices(indices)?;
        let expected = broadcast(values, n, "expected values")?;
        let new = broadcast(new, n, "new values")?;
        match previous {
            None => self.for_each(indices, n, |k, a| {
                T::compare_exchange(a, expected(k), new(k));
            }),
            Some(out) => {
                check_len(out.len(), n, "previous")?;
                self.for_each(indices, n, |k, a| {
                    out[k] = T::compare_exchange(a, expected(k), new(k));
                });
            }
        }
        Ok(())
    }

    /// [`AtomicView::update`] on buffers a binding holds of another
    /// language's arrays, checked first: each must be aligned, none may
    /// share memory with the segment (a view of the array itself as its own
    /// indices would change under the operation), and `previous` none with
    /// the inputs.
    ///
    /// # Safety
    /// Every buffer must be live for the call and valid for reads of `len`
    /// elements (`previous` for writes too), and nothing else may write to
    /// the inputs or touch `previous` during the call (for Python: the GIL
    /// is held and the caller keeps the arrays referenced).
    ///
    /// # Errors
    /// [`Error::Misaligned`]; [`Error::InvalidShape`] for buffers that share
    /// memory; those of [`AtomicView::update`].
    ///
    /// # Example
    /// ```
    /// use ndshare::{AtomicOp, RawBuffer, SharedArray, Order};
    /// let a = SharedArray::<u32>::zeros(&[4], Order::C)?;
    /// let v = a.segment().atomics::<u32>()?;
    /// let mut index = [3i64, 3, 0];
    /// let mut one = [1u32];
    /// let buf = |p: &mut [i64]| RawBuffer { ptr: p.as_mut_ptr(), len: p.len() };
    /// // SAFETY: local arrays, alive and untouched for the call.
    /// unsafe {
    ///     v.update_raw(AtomicOp::Add, &[buf(&mut index)], RawBuffer { ptr: one.as_mut_ptr(), len: 1 }, None, None)?;
    /// }
    /// assert_eq!(a.as_slice(), &[1, 0, 0, 2]);
    /// # Ok::<(), ndshare::Error>(())
    /// ```
    pub unsafe fn update_raw(
        &self,
        op: Op,
        indices: &[RawBuffer<i64>],
        values: RawBuffer<T>,
        new: Option<RawBuffer<T>>,
        previous: Option<RawBuffer<T>>,
    ) -> Result<()> {
        for ix in indices {
            ix.check(self.segment, "indices")?;
        }
        values.check(self.segment, "values")?;
        if let Some(n) = &new {
            n.check(self.segment, "new values")?;
        }
        let previous = match previous {
            None => None,
            Some(out) => {
                out.check(self.segment, "previous values")?;
                let inputs = indices
                    .iter()
                    .map(RawBuffer::span)
                    .chain([values.span()])
                    .chain(new.iter().map(RawBuffer::span));
                if inputs.into_iter().any(|span| out.overlaps(span)) {
                    return Err(Error::InvalidShape(
                        "the output array must not share memory with the inputs".into(),
                    ));
                }
                Some(if out.len == 0 {
                    &mut [][..]
                } else {
                    // SAFETY: the caller's promise; aligned (checked), apart
                    // from the segment and every input (checked): the only
                    // reference to that memory.
                    unsafe { std::slice::from_raw_parts_mut(out.ptr, out.len) }
                })
            }
        };
        // SAFETY: the caller's promise; each checked aligned and apart from
        // the segment, so no atomic of the view aliases them.
        let index_slices: Vec<&[i64]> = indices.iter().map(|ix| unsafe { ix.slice() }).collect();
        // SAFETY: as above.
        let (values, new) = unsafe { (values.slice(), new.map(|n| n.slice())) };
        self.update(op, &index_slices, values, new, previous)
    }

    /// Index `i` along `axis`, negative counting from the end, checked.
    fn position(&self, axis: usize, i: i64) -> Result<i64> {
        let dim = self.shape[axis];
        let j = if i < 0 { i.wrapping_add(dim as i64) } else { i };
        if j < 0 || j as u64 >= dim {
            return Err(Error::IndexOutOfBounds(format!(
                "index {i} is out of bounds for axis {axis} with size {dim}"
            )));
        }
        Ok(j)
    }

    /// Checks the index arrays; returns how many elements they name.
    fn check_indices(&self, indices: &[&[i64]]) -> Result<usize> {
        if indices.len() != self.shape.len() {
            return Err(Error::InvalidShape(format!(
                "{} index arrays for an array of {} dimensions",
                indices.len(),
                self.shape.len()
            )));
        }
        let n = indices.first().map_or(0, |ix| ix.len());
        for (axis, ix) in indices.iter().enumerate() {
            check_len(ix.len(), n, "index arrays")?;
            for &i in *ix {
                self.position(axis, i)?;
            }
        }
        Ok(n)
    }

    /// Runs `f(k, element)` for every `k`; the indices are already checked.
    fn for_each(&self, indices: &[&[i64]], n: usize, mut f: impl FnMut(usize, &T::Atomic)) {
        let wrap = |i: i64, dim: u64| if i < 0 { i + dim as i64 } else { i };
        if let ([ix], [dim], [stride]) = (indices, self.shape.as_slice(), self.strides.as_slice()) {
            // One dimension, the common case (histograms, counters).
            for (k, &i) in ix.iter().enumerate() {
                // SAFETY: `check_indices` checked every index against its
                // dimension; see `at`.
                let a = unsafe {
                    T::atomic_at(
                        self.origin
                            .offset((wrap(i, *dim) * stride) as isize)
                            .cast::<T>(),
                    )
                };
                f(k, a);
            }
            return;
        }
        for k in 0..n {
            let mut offset = 0i64;
            for (axis, ix) in indices.iter().enumerate() {
                offset += wrap(ix[k], self.shape[axis]) * self.strides[axis];
            }
            // SAFETY: as above.
            let a = unsafe { T::atomic_at(self.origin.offset(offset as isize).cast::<T>()) };
            f(k, a);
        }
    }
}

fn needs_new() -> Error {
    Error::InvalidShape("compare_exchange needs new values".into())
}

fn check_len(got: usize, want: usize, what: &str) -> Result<()> {
    if got == want {
        Ok(())
    } else {
        Err(Error::InvalidShape(format!(
            "{what} have {got} elements where {want} are needed"
        )))
    }
}

/// `values[k]`, or `values[0]` for every `k` when there is one value.
fn broadcast<'v, T: Copy>(
    values: &'v [T],
    n: usize,
    what: &str,
) -> Result<impl Fn(usize) -> T + 'v> {
    if values.len() != 1 {
        check_len(values.len(), n, what)?;
    }
    let one = values.len() == 1;
    Ok(move |k: usize| if one { values[0] } else { values[k] })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::layout::Order;
    use std::sync::atomic::Ordering::Relaxed;

    fn segment(shape: &[u64], descr: &str, itemsize: u64) -> Segment {
        Segment::create(
            Layout::contiguous(shape, itemsize, Order::C).unwrap(),
            descr,
            None,
            0o600,
        )
        .unwrap()
    }

    #[test]
    fn every_op_on_every_type() {
        fn check<T: AtomicElement + From<u8> + std::fmt::Debug>(descr: &str) {
            let seg = segment(&[4], descr, size_of::<T>() as u64);
            let v = seg.atomics::<T>().unwrap();
            let t = |x: u8| T::from(x);
            let a = v.at(&[1]).unwrap();
            assert_eq!(T::apply(a, Op::Add, t(7)), t(0));
            assert_eq!(T::apply(a, Op::Sub, t(2)), t(7));
            assert_eq!(T::apply(a, Op::Max, t(9)), t(5));
            assert_eq!(T::apply(a, Op::Min, t(3)), t(9));
            assert_eq!(T::apply(a, Op::Exchange, t(4)), t(3));
            assert_eq!(T::apply(a, Op::Store, t(6)), t(6));
            assert_eq!(T::apply(a, Op::Load, t(0)), t(6));
            assert_eq!(T::compare_exchange(a, t(5), t(1)), t(6));
            assert_eq!(T::compare_exchange(a, t(6), t(1)), t(6));
            assert_eq!(T::apply(a, Op::Load, t(0)), t(1));
        }
        check::<i32>("<i4");
        check::<i64>("<i8");
        check::<u32>("<u4");
        check::<u64>("<u8");
    }

    #[test]
    fn add_wraps_like_numpy() {
        let seg = segment(&[1], "<u4", 4);
        let v = seg.atomics::<u32>().unwrap();
        v.at(&[0]).unwrap().store(u32::MAX, Relaxed);
        v.apply(Op::Add, &[&[0]], &[2], None).unwrap();
        assert_eq!(v.at(&[0]).unwrap().load(Relaxed), 1);
    }

    #[test]
    fn vectorized_matches_a_histogram_and_reports_previous_values() {
        let seg = segment(&[5], "<i8", 8);
        let v = seg.atomics::<i64>().unwrap();
        let idx = [0i64, 4, 4, -1, 2, 0];
        v.apply(Op::Add, &[&idx], &[1], None).unwrap();
        let counts: Vec<i64> = (0..5).map(|i| v.at(&[i]).unwrap().load(Relaxed)).collect();
        assert_eq!(counts, [2, 0, 1, 0, 3]);
        let mut prev = [0i64; 3];
        v.apply(Op::Exchange, &[&[4, 0, 4]], &[10, 20, 30], Some(&mut prev))
            .unwrap();
        assert_eq!(prev, [3, 2, 10]);
        let mut prev = [0i64; 2];
        v.compare_exchange_at(&[&[4, 0]], &[30, 99], &[-1], &mut prev)
            .unwrap();
        assert_eq!(prev, [30, 20]);
        assert_eq!(v.at(&[4]).unwrap().load(Relaxed), -1);
        assert_eq!(v.at(&[0]).unwrap().load(Relaxed), 20);
    }

    #[test]
    fn out_of_bounds_changes_nothing() {
        let seg = segment(&[3], "<u8", 8);
        let v = seg.atomics::<u64>().unwrap();
        let r = v.apply(Op::Add, &[&[0, 1, 3]], &[1], None);
        assert!(matches!(r, Err(Error::IndexOutOfBounds(_))));
        assert!(matches!(v.at(&[-4]), Err(Error::IndexOutOfBounds(_))));
        assert_eq!(v.at(&[0]).unwrap().load(Relaxed), 0);
        assert!(matches!(
            v.apply(Op::Add, &[&[0, 1]], &[1, 2, 3], None),
            Err(Error::InvalidShape(_))
        ));
    }

    #[test]
    fn strided_views_and_two_dimensions() {
        let seg = segment(&[3, 4], "<i4", 4);
        // The transpose of column 1..: shape (3, 3), strides (4, 16), offset 4.
        let v = seg.atomic_view::<i32>(4, &[3, 3], &[4, 16]).unwrap();
        v.apply(Op::Add, &[&[0, 2], &[1, 2]], &[5, 7], None)
            .unwrap();
        let whole = seg.atomics::<i32>().unwrap();
        assert_eq!(whole.at(&[1, 1]).unwrap().load(Relaxed), 5);
        assert_eq!(whole.at(&[2, 3]).unwrap().load(Relaxed), 7);
    }

    #[test]
    fn op_codes_name_every_operation_once() {
        for (code, op) in Op::ALL.into_iter().enumerate() {
            assert_eq!(usize::from(op.code()), code);
            assert_eq!(Op::from_code(op.code()).unwrap(), op);
        }
        assert!(matches!(Op::from_code(8), Err(Error::InvalidShape(_))));
        let names: std::collections::HashSet<_> = Op::ALL.iter().map(|o| o.name()).collect();
        assert_eq!(names.len(), Op::ALL.len());
        assert!(!Op::Store.reports_previous() && Op::Load.reports_previous());
        assert!(Op::CompareExchange.takes_new() && !Op::Exchange.takes_new());
    }

    #[test]
    fn compare_exchange_is_an_op_like_the_others() {
        let seg = segment(&[3], "<i8", 8);
        let v = seg.atomics::<i64>().unwrap();
        assert_eq!(v.update_one(Op::Add, &[0], 4, None).unwrap(), 0);
        assert_eq!(
            v.update_one(Op::CompareExchange, &[0], 3, Some(9)).unwrap(),
            4
        );
        assert_eq!(
            v.update_one(Op::CompareExchange, &[0], 4, Some(9)).unwrap(),
            4
        );
        assert!(matches!(
            v.update_one(Op::CompareExchange, &[0], 9, None),
            Err(Error::InvalidShape(_))
        ));
        // With one value it expects and stores that value: a read.
        assert_eq!(i64::apply(v.at(&[0]).unwrap(), Op::CompareExchange, 9), 9);
        assert_eq!(i64::apply(v.at(&[0]).unwrap(), Op::CompareExchange, 1), 9);
        let mut prev = [0i64; 3];
        v.update(
            Op::CompareExchange,
            &[&[0, 1, 2]],
            &[9, 1, 0],
            Some(&[7]),
            Some(&mut prev),
        )
        .unwrap();
        assert_eq!(prev, [9, 0, 0]);
        let now: Vec<i64> = (0..3).map(|i| v.at(&[i]).unwrap().load(Relaxed)).collect();
        assert_eq!(now, [7, 0, 7]);
        assert!(matches!(
            v.update(Op::CompareExchange, &[&[0]], &[7], None, None),
            Err(Error::InvalidShape(_))
        ));
        assert!(matches!(
            v.update_one(Op::Add, &[0, 0], 1, None),
            Err(Error::IndexOutOfBounds(_))
        ));
    }

    #[test]
    #[allow(
        clippy::cast_ptr_alignment,
        reason = "the data is page-aligned; the odd address is the point"
    )]
    fn raw_buffers_are_checked_before_anything_changes() {
        let seg = segment(&[4], "<u4", 4);
        let v = seg.atomics::<u32>().unwrap();
        let buf = |p: &mut [i64]| RawBuffer {
            ptr: p.as_mut_ptr(),
            len: p.len(),
        };
        let mut index = [0i64, 1];
        let mut ones = [1u32, 1];
        let values = RawBuffer {
            ptr: ones.as_mut_ptr(),
            len: 2,
        };
        // Values inside the segment itself.
        let inside = RawBuffer {
            ptr: seg.data_ptr().cast::<u32>(),
            len: 2,
        };
        // SAFETY: live local arrays and the segment's own data, untouched
        // by anything else during the calls.
        unsafe {
            assert!(matches!(
                v.update_raw(Op::Add, &[buf(&mut index)], inside, None, None),
                Err(Error::InvalidShape(_))
            ));
            let into_values = values;
            assert!(matches!(
                v.update_raw(
                    Op::Exchange,
                    &[buf(&mut index)],
                    values,
                    None,
                    Some(into_values)
                ),
                Err(Error::InvalidShape(_))
            ));
            let odd = RawBuffer {
                ptr: ones.as_mut_ptr().cast::<u8>().add(1).cast::<u32>(),
                len: 1,
            };
            assert!(matches!(
                v.update_raw(Op::Add, &[buf(&mut index)], odd, None, None),
                Err(Error::Misaligned(_))
            ));
            let mut out = [0u32; 2];
            let prev = RawBuffer {
                ptr: out.as_mut_ptr(),
                len: 2,
            };
            v.update_raw(Op::Add, &[buf(&mut index)], values, None, Some(prev))
                .unwrap();
            v.update_raw(Op::Add, &[buf(&mut index)], values, None, Some(prev))
                .unwrap();
            assert_eq!(out, [1, 1]);
        }
        let now: Vec<u32> = (0..4).map(|i| v.at(&[i]).unwrap().load(Relaxed)).collect();
        assert_eq!(now, [2, 2, 0, 0]);
    }

    #[test]
    fn refusals() {
        let seg = segment(&[4], "<f8", 8);
        assert!(matches!(
            seg.atomics::<i64>(),
            Err(Error::TypeMismatch { .. })
        ));
        assert!(matches!(
            seg.atomic_view::<i64>(4, &[3], &[8]),
            Err(Error::Misaligned(_))
        ));
        assert!(matches!(
            seg.atomic_view::<i32>(0, &[2], &[6]),
            Err(Error::Misaligned(_))
        ));
        assert!(matches!(
            seg.atomic_view::<i64>(8, &[4], &[8]),
            Err(Error::InvalidShape(_))
        ));
        assert!(seg.atomic_view::<i64>(8, &[3], &[8]).is_ok());
    }
}
