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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
        Ok(AtomicView {
            origin,
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
