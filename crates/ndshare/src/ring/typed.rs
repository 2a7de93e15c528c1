//! [`Ring<T>`]: a ring whose items are n-d arrays of `T`.

use std::marker::PhantomData;
use std::ops::Deref;

use ndarray::{ArrayBase, Data, Dimension};

use crate::error::{Error, Result};
use crate::format::dtype::{self, Element};
use crate::ring::control::Delivery;
use crate::ring::raw::RawRing;
use crate::sync::wait::Wait;

/// A ring of `capacity` slots, each an n-d array of `T` of one shape,
/// shared by producers and consumers in any processes (Rust, Python's
/// `ndshare.Ring`, C). It derefs to [`RawRing`] for everything that does
/// not depend on `T`.
///
/// # Example
/// ```
/// use ndshare::{Delivery, Ring};
/// let ring = Ring::<f32>::create(&[2, 3], 8, Delivery::Queue, None)?;
/// {
///     let mut slot = ring.put()?;         // write in place, no copy
///     slot.view_mut::<f32>()?.fill(1.5);
///     slot.commit()?;
/// }
/// ring.close();
/// let item = ring.get()?.expect("an item");
/// assert_eq!(item.view::<f32>()?.sum(), 9.0);
/// # Ok::<(), ndshare::Error>(())
/// ```
#[derive(Debug)]
pub struct Ring<T: Element> {
    raw: RawRing,
    elem: PhantomData<T>,
}

impl<T: Element> Ring<T> {
    /// A new ring of `capacity` items of `shape`; named if `name` is given.
    ///
    /// # Errors
    /// The errors of [`RawRing::create`].
    pub fn create(
        shape: &[usize],
        capacity: u32,
        delivery: Delivery,
        name: Option<&str>,
    ) -> Result<Ring<T>> {
        let shape: Vec<u64> = shape.iter().map(|&d| d as u64).collect();
        let raw = RawRing::create(
            T::DESCR,
            size_of::<T>() as u64,
            &shape,
            capacity,
            delivery,
            name,
        )?;
        Ok(Ring {
            raw,
            elem: PhantomData,
        })
    }

    /// Maps the named ring `name`, checking that it holds `T`.
    ///
    /// # Errors
    /// [`Error::TypeMismatch`]; the errors of [`RawRing::attach`].
    pub fn attach(name: &str) -> Result<Ring<T>> {
        Ring::from_raw(RawRing::attach(name)?)
    }

    /// A typed ring over a [`RawRing`].
    ///
    /// # Errors
    /// [`Error::TypeMismatch`] if its items are not `T`.
    pub fn from_raw(raw: RawRing) -> Result<Ring<T>> {
        if !dtype::matches::<T>(raw.dtype()) || raw.itemsize() != size_of::<T>() as u64 {
            return Err(Error::TypeMismatch {
                expected: T::DESCR.to_owned(),
                found: raw.dtype().to_owned(),
            });
        }
        Ok(Ring {
            raw,
            elem: PhantomData,
        })
    }

    /// The untyped ring.
    #[must_use]
    pub fn into_raw(self) -> RawRing {
        self.raw
    }

    /// Copies `item` into the next slot and commits it, waiting as `wait`
    /// says while the ring is full.
    ///
    /// # Errors
    /// [`Error::InvalidShape`] if `item`'s shape is not the ring's; the
    /// errors of [`RawRing::put_with`].
    pub fn push_array<S, D>(&self, item: &ArrayBase<S, D>, wait: Wait<'_>) -> Result<()>
    where
        S: Data<Elem = T>,
        D: Dimension,
    {
        let shape: Vec<u64> = item.shape().iter().map(|&d| d as u64).collect();
        if shape != self.raw.shape() {
            return Err(Error::InvalidShape(format!(
                "an item of this ring has shape {:?}, not {:?}",
                self.raw.shape(),
                shape
            )));
        }
        let mut slot = self.raw.put_with(wait)?;
        slot.view_mut::<T>()?.assign(&item.view().into_dyn());
        slot.commit()
    }
}

impl<T: Element> Deref for Ring<T> {
    type Target = RawRing;

    fn deref(&self) -> &RawRing {
        &self.raw
    }
}
