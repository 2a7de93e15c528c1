//! Shapes, strides and the bytes they reach, every product overflow-checked.

use crate::error::{Error, Result};

/// Memory order of a new array.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum Order {
    /// Row-major: the last index varies fastest (numpy's `order="C"`).
    #[default]
    C,
    /// Column-major: the first index varies fastest (numpy's `order="F"`).
    F,
}

/// The element layout of an array: shape, strides in bytes, item size.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Layout {
    shape: Vec<u64>,
    strides: Vec<i64>,
    itemsize: u64,
}

fn too_big() -> Error {
    Error::InvalidShape("array is too big: its size in bytes overflows".into())
}

impl Layout {
    /// A contiguous layout in `order`.
    ///
    /// # Errors
    /// [`Error::InvalidShape`] if the size in bytes does not fit in an `i64`.
    ///
    /// # Example
    /// ```
    /// use ndshare::{Layout, Order};
    /// let l = Layout::contiguous(&[2, 3], 4, Order::F)?;
    /// assert_eq!(l.strides(), &[4, 8]);
    /// # Ok::<(), ndshare::Error>(())
    /// ```
    pub fn contiguous(shape: &[u64], itemsize: u64, order: Order) -> Result<Layout> {
        let mut strides = vec![0i64; shape.len()];
        let mut step: u64 = itemsize;
        let idx: Vec<usize> = match order {
            Order::C => (0..shape.len()).rev().collect(),
            Order::F => (0..shape.len()).collect(),
        };
        let mut total: u64 = itemsize;
        for &i in &idx {
            total = total.checked_mul(shape[i]).ok_or_else(too_big)?;
        }
        if total > i64::MAX as u64 {
            return Err(too_big());
        }
        for &i in &idx {
            strides[i] = i64::try_from(step).map_err(|_| too_big())?;
            // A zero-length axis makes the array empty; numpy keeps computing
            // strides as if it were 1 long so they stay meaningful.
            step = step.checked_mul(shape[i].max(1)).ok_or_else(too_big)?;
        }
        Ok(Layout {
            shape: shape.to_vec(),
            strides,
            itemsize,
        })
    }

    /// A layout from its parts, as read from a header or a handle.
    ///
    /// # Errors
    /// [`Error::InvalidShape`] if the lengths differ or the element count
    /// overflows.
    pub fn from_parts(shape: Vec<u64>, strides: Vec<i64>, itemsize: u64) -> Result<Layout> {
        if shape.len() != strides.len() {
            return Err(Error::InvalidShape(format!(
                "{} dimensions but {} strides",
                shape.len(),
                strides.len()
            )));
        }
        let l = Layout {
            shape,
            strides,
            itemsize,
        };
        l.len_checked()?;
        Ok(l)
    }

    /// Dimensions.
    #[must_use]
    pub fn shape(&self) -> &[u64] {
        &self.shape
    }

    /// Strides in bytes (may be negative for views).
    #[must_use]
    pub fn strides(&self) -> &[i64] {
        &self.strides
    }

    /// Bytes per element.
    #[must_use]
    pub fn itemsize(&self) -> u64 {
        self.itemsize
    }

    /// Number of dimensions.
    #[must_use]
    pub fn ndim(&self) -> usize {
        self.shape.len()
    }

    fn len_checked(&self) -> Result<u64> {
        self.shape
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(d))
            .ok_or_else(too_big)
    }

    /// Number of elements.
    ///
    /// # Panics
    /// Never: the count is checked when the layout is made.
    #[must_use]
    pub fn len(&self) -> u64 {
        self.len_checked().expect("checked at construction")
    }

    /// Whether the array has no elements.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes a contiguous array of this shape occupies.
    ///
    /// # Errors
    /// [`Error::InvalidShape`] on overflow.
    pub fn required_bytes(&self) -> Result<u64> {
        self.len_checked()?
            .checked_mul(self.itemsize)
            .ok_or_else(too_big)
    }

    /// Whether the strides are those of a C- or F-contiguous array.
    #[must_use]
    pub fn order(&self) -> Option<Order> {
        [Order::C, Order::F].into_iter().find(|&o| {
            Layout::contiguous(&self.shape, self.itemsize, o)
                .is_ok_and(|c| c.strides == self.strides)
        })
    }

    /// Checks that every element, starting at byte `offset`, lies within
    /// `[0, len)`.
    ///
    /// # Errors
    /// [`Error::InvalidShape`] naming what reaches outside.
    pub fn check_fits(&self, offset: u64, len: u64) -> Result<()> {
        if self.is_empty() {
            return if offset <= len {
                Ok(())
            } else {
                Err(Error::InvalidShape(format!(
                    "offset {offset} is past the {len}-byte data"
                )))
            };
        }
        // Lowest and highest byte reached, as i128 so no stride can overflow.
        let mut lo: i128 = i128::from(offset);
        let mut hi: i128 = i128::from(offset) + i128::from(self.itemsize);
        for (&d, &s) in self.shape.iter().zip(&self.strides) {
            let reach = i128::from(s) * (i128::from(d) - 1);
            if reach < 0 {
                lo += reach;
            } else {
                hi += reach;
            }
        }
        if lo < 0 || hi > i128::from(len) {
            return Err(Error::InvalidShape(format!(
                "elements reach bytes {lo}..{hi} of a {len}-byte data region"
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c_and_f_strides() {
        let c = Layout::contiguous(&[2, 3, 4], 8, Order::C).unwrap();
        assert_eq!(c.strides(), &[96, 32, 8]);
        let f = Layout::contiguous(&[2, 3, 4], 8, Order::F).unwrap();
        assert_eq!(f.strides(), &[8, 16, 48]);
        assert_eq!(c.required_bytes().unwrap(), 192);
        assert_eq!(c.order(), Some(Order::C));
        assert_eq!(f.order(), Some(Order::F));
    }

    #[test]
    fn zero_d_and_zero_size() {
        let s = Layout::contiguous(&[], 4, Order::C).unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(s.required_bytes().unwrap(), 4);
        let z = Layout::contiguous(&[3, 0, 5], 8, Order::C).unwrap();
        assert_eq!(z.required_bytes().unwrap(), 0);
        assert!(z.check_fits(0, 0).is_ok());
    }

    #[test]
    fn overflow_is_an_error() {
        assert!(Layout::contiguous(&[u64::MAX, 2], 1, Order::C).is_err());
        assert!(Layout::contiguous(&[1 << 62], 8, Order::C).is_err());
    }

    #[test]
    fn negative_strides_fit_check() {
        let l = Layout::from_parts(vec![4], vec![-8], 8).unwrap();
        assert!(l.check_fits(24, 32).is_ok());
        assert!(l.check_fits(16, 32).is_err());
        assert!(l.check_fits(32, 32).is_err());
    }
}
