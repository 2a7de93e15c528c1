//! [`Builder`]: the options of a new shared array.

use ndarray::{ArrayBase, Data, Dimension};

use crate::array::SharedArray;
use crate::dtype::{self, Element};
use crate::error::{Error, Result};
use crate::layout::{Layout, Order};
use crate::raw::RawArray;
use crate::segment::{Segment, DEFAULT_MODE};

/// How to make a new shared array: name, memory order, permission bits.
///
/// Without a name the array is anonymous (a memfd that the kernel frees when
/// the last process holding it goes); with one, any process of the user can
/// [`attach`](SharedArray::attach) it until it is
/// [unlinked](SharedArray::unlink).
///
/// # Example
/// ```
/// use ndshare::{Builder, Order, SharedArray};
/// # let name = format!("doc-builder-{}", std::process::id());
/// let stack: SharedArray<f32> = Builder::new().name(&name).order(Order::F).zeros(&[2, 3])?;
/// assert_eq!(stack.view().strides(), &[1, 2]);
/// assert_eq!(stack.name(), Some(name.as_str()));
/// stack.unlink()?;
/// # Ok::<(), ndshare::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Builder {
    name: Option<String>,
    order: Option<Order>,
    mode: u32,
}

impl Default for Builder {
    fn default() -> Self {
        Builder::new()
    }
}

impl Builder {
    /// Anonymous, C order (or, for [`Builder::from_array`], the source's
    /// order), permission bits `0o600`.
    #[must_use]
    pub fn new() -> Builder {
        Builder {
            name: None,
            order: None,
            mode: DEFAULT_MODE,
        }
    }

    /// Makes a named array (see [`crate::name::path_for`] for the names
    /// allowed).
    #[must_use]
    pub fn name(mut self, name: impl Into<String>) -> Builder {
        self.name = Some(name.into());
        self
    }

    /// Memory order of the new array.
    #[must_use]
    pub fn order(mut self, order: Order) -> Builder {
        self.order = Some(order);
        self
    }

    /// Permission bits of a named array's file (`0o600`: this user only;
    /// `0o644`: others may attach read-only).
    #[must_use]
    pub fn mode(mut self, mode: u32) -> Builder {
        self.mode = mode;
        self
    }

    fn create(
        &self,
        descr: &str,
        itemsize: usize,
        shape: &[usize],
        order: Order,
    ) -> Result<RawArray> {
        let shape: Vec<u64> = shape.iter().map(|&d| d as u64).collect();
        let layout = Layout::contiguous(&shape, itemsize as u64, order)?;
        if self.mode > 0o777 {
            return Err(Error::InvalidShape(format!(
                "mode {:#o} is not permission bits",
                self.mode
            )));
        }
        Segment::create(layout, descr, self.name.as_deref(), self.mode).map(RawArray::from_segment)
    }

    /// A new zero-filled array of `T`.
    ///
    /// # Errors
    /// [`Error::InvalidShape`] if the size overflows or the mode is more
    /// than permission bits (`0o777`); [`Error::AlreadyExists`]
    /// and [`Error::InvalidName`] for a name; [`Error::OutOfMemory`] if the
    /// memory cannot be reserved; [`Error::PermissionDenied`], [`Error::Io`].
    ///
    /// # Example
    /// ```
    /// use ndshare::Builder;
    /// let a = Builder::new().zeros::<u16>(&[3, 0])?;
    /// assert_eq!((a.shape(), a.len()), (&[3, 0][..], 0));
    /// # Ok::<(), ndshare::Error>(())
    /// ```
    pub fn zeros<T: Element>(&self, shape: &[usize]) -> Result<SharedArray<T>> {
        let raw = self.create(
            T::DESCR,
            size_of::<T>(),
            shape,
            self.order.unwrap_or_default(),
        )?;
        SharedArray::from_raw(raw)
    }

    /// A new array holding a copy of `data`, which lists the elements in the
    /// array's memory order (row-major for [`Order::C`], column-major for
    /// [`Order::F`]).
    ///
    /// # Errors
    /// [`Error::InvalidShape`] if `data.len()` is not the number of elements
    /// of `shape`; the errors of [`Builder::zeros`].
    ///
    /// # Example
    /// ```
    /// use ndshare::{Builder, Order};
    /// let a = Builder::new().order(Order::F).from_slice(&[1i32, 2, 3, 4, 5, 6], &[2, 3])?;
    /// assert_eq!(a.view()[[1, 0]], 2);
    /// assert_eq!(a.view()[[0, 1]], 3);
    /// # Ok::<(), ndshare::Error>(())
    /// ```
    pub fn from_slice<T: Element>(&self, data: &[T], shape: &[usize]) -> Result<SharedArray<T>> {
        let n = shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
        if n != Some(data.len()) {
            return Err(Error::InvalidShape(format!(
                "{} elements given for shape {shape:?}",
                data.len()
            )));
        }
        let mut a = self.zeros(shape)?;
        a.as_slice_mut()?.copy_from_slice(data);
        Ok(a)
    }

    /// A new array holding a copy of an `ndarray` array of any layout.
    ///
    /// Without an explicit [`order`](Builder::order), an F-contiguous source
    /// gives an F-ordered array and anything else a C-ordered one (numpy's
    /// `order="K"` for these two cases).
    ///
    /// # Errors
    /// The errors of [`Builder::zeros`].
    ///
    /// # Example
    /// ```
    /// use ndarray::{array, ShapeBuilder};
    /// use ndshare::Builder;
    /// let src = array![[1.0f64, 2.0], [3.0, 4.0]];
    /// let a = Builder::new().from_array(&src.t())?;
    /// assert_eq!(a.view(), src.t().into_dyn());
    /// assert_eq!(a.view().strides(), &[1, 2]); // the transpose is F-contiguous
    /// # Ok::<(), ndshare::Error>(())
    /// ```
    pub fn from_array<T, S, D>(&self, src: &ArrayBase<S, D>) -> Result<SharedArray<T>>
    where
        T: Element,
        S: Data<Elem = T>,
        D: Dimension,
    {
        let order = self.order.unwrap_or_else(|| {
            let fortran =
                src.ndim() > 1 && !src.is_standard_layout() && src.t().is_standard_layout();
            if fortran {
                Order::F
            } else {
                Order::C
            }
        });
        let mut a = self.clone().order(order).zeros::<T>(src.shape())?;
        a.view_mut()?.assign(&src.view().into_dyn());
        Ok(a)
    }

    /// A new zero-filled array of any dtype: `descr` is numpy's `.npy`
    /// descriptor (`"<c8"`, `"|S16"`, `"<M8[ns]"`, or the repr of a field
    /// list for a structured dtype), `itemsize` its size in bytes.
    ///
    /// # Errors
    /// [`Error::InvalidDtype`] if `descr` is not a shareable type string or
    /// names another item size (a structured descriptor is not parsed: numpy
    /// checks it when Python maps the array); the errors of
    /// [`Builder::zeros`].
    ///
    /// # Example
    /// ```
    /// use ndshare::{Builder, Error};
    /// let pts = Builder::new().raw_zeros("[('x', '<f4'), ('y', '<f4')]", 8, &[100])?;
    /// assert_eq!(pts.as_bytes().len(), 800);
    /// assert!(matches!(Builder::new().raw_zeros("<f8", 4, &[1]), Err(Error::InvalidDtype(_))));
    /// # Ok::<(), ndshare::Error>(())
    /// ```
    pub fn raw_zeros(&self, descr: &str, itemsize: usize, shape: &[usize]) -> Result<RawArray> {
        match dtype::itemsize_of(descr)? {
            Some(n) if n != itemsize as u64 => Err(Error::InvalidDtype(format!(
                "dtype {descr:?} has item size {n}, not {itemsize}"
            ))),
            _ if itemsize == 0 => Err(Error::InvalidShape("item size 0".into())),
            _ => self.create(descr, itemsize, shape, self.order.unwrap_or_default()),
        }
    }
}
