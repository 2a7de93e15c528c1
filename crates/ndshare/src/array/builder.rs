//! [`Builder`]: the options of a new shared array.

use ndarray::{ArrayBase, Data, Dimension};

use crate::array::raw::RawArray;
use crate::array::typed::SharedArray;
use crate::error::{Error, Result};
use crate::format::dtype::{self, Element};
use crate::format::layout::{Layout, Order};
use crate::segment::{Segment, DEFAULT_MODE};

/// How to make a new shared array: name, memory order, permission bits.
///
/// Without a name the array is anonymous (a memfd that the kernel frees when
/// the last process holding it goes); with one, any process of the user can
/// [`attach`](SharedArray::attach) it until it is
/// [unlinked](SharedArray::unlink). A named array is visible under its name
/// only once its header and data are final ([`Builder::from_slice`] and
/// [`Builder::from_array`] copy the data first); a failed or killed
/// creation leaves no name.
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
    huge_pages: bool,
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
            huge_pages: true,
        }
    }

    /// Makes a named array (see [`crate::named::name::path_for`] for the names
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

    /// Whether a large anonymous array may live on huge pages (default
    /// `true`): see [`crate::Backing`]. `false` gives a memfd, as does the
    /// environment variable `NDSHARE_HUGE_PAGES=0` for every array of the
    /// process.
    ///
    /// # Example
    /// ```
    /// use ndshare::{Backing, Builder};
    /// let a = Builder::new().huge_pages(false).zeros::<f64>(&[1 << 20])?;
    /// assert_eq!(a.as_raw().segment().backing(), Backing::Memfd);
    /// # Ok::<(), ndshare::Error>(())
    /// ```
    #[must_use]
    pub fn huge_pages(mut self, huge_pages: bool) -> Builder {
        self.huge_pages = huge_pages;
        self
    }

    /// The array, with its name (if any) not yet linked: see
    /// [`Segment::create_unpublished`].
    fn create_unpublished(
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
        Segment::create_unpublished_with(
            layout,
            descr,
            self.name.as_deref(),
            self.mode,
            self.huge_pages,
        )
        .map(RawArray::from_segment)
    }

    /// A new array of `T` that `fill` writes before its name is linked: no
    /// process finds the name before the data is final, and a failure (or
    /// the death of this process) before then leaves no name.
    fn filled<T: Element>(
        &self,
        shape: &[usize],
        order: Order,
        fill: impl FnOnce(&mut SharedArray<T>) -> Result<()>,
    ) -> Result<SharedArray<T>> {
        let raw = self.create_unpublished(T::DESCR, size_of::<T>(), shape, order)?;
        let mut a = SharedArray::from_raw(raw)?;
        fill(&mut a)?;
        a.as_raw().segment().publish()?;
        Ok(a)
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
        self.filled(shape, self.order.unwrap_or_default(), |_| Ok(()))
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
        self.filled(shape, self.order.unwrap_or_default(), |a| {
            a.as_slice_mut()?.copy_from_slice(data);
            Ok(())
        })
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
        self.filled(src.shape(), order, |a| {
            a.view_mut()?.assign(&src.view().into_dyn());
            Ok(())
        })
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
            _ if itemsize == 0 => Err(Error::InvalidDtype("item size 0".into())),
            _ => {
                let raw = self.create_unpublished(
                    descr,
                    itemsize,
                    shape,
                    self.order.unwrap_or_default(),
                )?;
                raw.segment().publish()?;
                Ok(raw)
            }
        }
    }
}

impl<T: Element> SharedArray<T> {
    /// A new zero-filled anonymous array. [`Builder`] gives it a name.
    ///
    /// # Errors
    /// The errors of [`Builder::zeros`].
    ///
    /// # Example
    /// ```
    /// use ndshare::{Order, SharedArray};
    /// let a = SharedArray::<u8>::zeros(&[480, 640, 3], Order::C)?;
    /// assert_eq!(a.len(), 921_600);
    /// # Ok::<(), ndshare::Error>(())
    /// ```
    pub fn zeros(shape: &[usize], order: Order) -> Result<SharedArray<T>> {
        Builder::new().order(order).zeros(shape)
    }

    /// A new anonymous array holding a copy of `data`, given in the array's
    /// memory order.
    ///
    /// # Errors
    /// The errors of [`Builder::from_slice`].
    ///
    /// # Example
    /// ```
    /// use ndshare::{Order, SharedArray};
    /// let a = SharedArray::from_slice(&[1u64, 2, 3, 4, 5, 6], &[2, 3], Order::C)?;
    /// assert_eq!(a.view()[[1, 0]], 4);
    /// # Ok::<(), ndshare::Error>(())
    /// ```
    pub fn from_slice(data: &[T], shape: &[usize], order: Order) -> Result<SharedArray<T>> {
        Builder::new().order(order).from_slice(data, shape)
    }

    /// A new anonymous array holding a copy of an `ndarray` array.
    ///
    /// # Errors
    /// The errors of [`Builder::from_array`].
    ///
    /// # Example
    /// ```
    /// use ndshare::SharedArray;
    /// let src = ndarray::Array::linspace(0.0f64, 1.0, 5);
    /// let a = SharedArray::from_array(&src)?;
    /// assert_eq!(a.view(), src.into_dyn());
    /// # Ok::<(), ndshare::Error>(())
    /// ```
    pub fn from_array<S, D>(src: &ArrayBase<S, D>) -> Result<SharedArray<T>>
    where
        S: Data<Elem = T>,
        D: Dimension,
    {
        Builder::new().from_array(src)
    }
}

impl RawArray {
    /// A new zero-filled anonymous array of `shape` elements of `itemsize`
    /// bytes, with dtype descriptor `descr`. See [`Builder`]
    /// for a name, an order or permission bits.
    ///
    /// # Errors
    /// [`Error::InvalidDtype`] if `descr` is not a shareable dtype or names
    /// another item size; the errors of [`Segment::create`].
    ///
    /// # Example
    /// ```
    /// use ndshare::{Order, RawArray};
    /// let raw = RawArray::zeros("|S5", 5, &[2, 2], Order::F)?;
    /// assert_eq!(raw.layout().strides(), &[5, 10]);
    /// # Ok::<(), ndshare::Error>(())
    /// ```
    pub fn zeros(descr: &str, itemsize: usize, shape: &[usize], order: Order) -> Result<RawArray> {
        Builder::new()
            .order(order)
            .raw_zeros(descr, itemsize, shape)
    }
}
