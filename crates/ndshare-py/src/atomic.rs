//! Bindings of the atomics: `ndshare.atomic` calls these with the shared
//! array itself.
//!
//! The array's geometry comes from numpy's `__array_struct__` capsule (the
//! array interface protocol, version 2: a C struct numpy documents as
//! stable), one attribute read instead of the dict `__array_interface__`
//! builds; the core then checks that the view lies inside the segment, so a
//! lying struct can reach nothing else.

use std::ffi::{c_char, c_int, c_void};

use ndshare::{AtomicOp as Op, RawBuffer};
use ndshare::{Error, Segment};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyCapsule, PyCapsuleMethods, PyDict, PyInt, PyTuple, PyType};
use pyo3::{ffi, intern};

use crate::{to_py, PySegment};

/// numpy's `PyArrayInterface` (`numpy/ndarrayobject.h`, "The array
/// interface protocol").
#[repr(C)]
struct ArrayInterface {
    two: c_int,
    nd: c_int,
    typekind: c_char,
    itemsize: c_int,
    flags: c_int,
    shape: *const isize,
    strides: *const isize,
    data: *mut c_void,
    /// Present in the layout; not used here.
    #[allow(dead_code, reason = "part of numpy's layout")]
    descr: *mut ffi::PyObject,
}

/// `flags` bits of [`ArrayInterface`].
const NOTSWAPPED: c_int = 0x200;
const WRITEABLE: c_int = 0x400;

/// A shared array as the core's atomics take it.
struct Target<'py> {
    seg: Bound<'py, PySegment>,
    typestr: &'static str,
    offset: u64,
    shape: Vec<u64>,
    strides: Vec<i64>,
}

impl Target<'_> {
    fn segment(&self) -> &Segment {
        &self.seg.get().inner
    }
}

fn ndarray_type(py: Python<'_>) -> PyResult<&Bound<'_, PyType>> {
    static NDARRAY: PyOnceLock<Py<PyType>> = PyOnceLock::new();
    NDARRAY.import(py, "numpy", "ndarray")
}

/// Reads and checks the array atomics are asked to work on.
fn target<'py>(a: &Bound<'py, PyAny>) -> PyResult<Target<'py>> {
    let py = a.py();
    if !a.is_instance(ndarray_type(py)?)? {
        return Err(PyTypeError::new_err(format!(
            "atomics work on shared numpy arrays, not {}",
            a.get_type().name()?
        )));
    }
    let seg = match a.getattr_opt(intern!(py, "_segment"))? {
        Some(s) if !s.is_none() => s.cast_into::<PySegment>()?,
        _ => {
            return Err(PyTypeError::new_err(
                "atomics work on arrays in shared memory (ndshare.SharedArray and its views); \
                 this array is not shared (a copy or a computed result)",
            ))
        }
    };
    let capsule = a
        .getattr(intern!(py, "__array_struct__"))?
        .cast_into::<PyCapsule>()?;
    let ptr = capsule.pointer_checked(None)?.cast::<ArrayInterface>();
    // SAFETY: `a` is a numpy array, whose `__array_struct__` capsule holds a
    // `PyArrayInterface` (numpy's documented layout) valid while the capsule
    // lives; it is read here, before any Python code runs.
    let st = unsafe { ptr.as_ref() };
    if st.two != 2 || st.nd < 0 {
        return Err(PyTypeError::new_err("not a numpy array interface"));
    }
    let typestr = match (st.typekind as u8, st.itemsize) {
        (b'i', 4) => "<i4",
        (b'i', 8) => "<i8",
        (b'u', 4) => "<u4",
        (b'u', 8) => "<u8",
        _ => {
            let dtype = a
                .getattr("dtype")
                .map_or_else(|_| "?".to_owned(), |d| d.to_string());
            return Err(PyTypeError::new_err(format!(
                "atomics work on int32, int64, uint32 and uint64 elements in native byte order, not {dtype}"
            )));
        }
    };
    if st.flags & NOTSWAPPED == 0 {
        return Err(PyTypeError::new_err(
            "atomics work on int32, int64, uint32 and uint64 elements in native byte order, not byte-swapped ones",
        ));
    }
    if st.flags & WRITEABLE == 0 {
        return Err(PyTypeError::new_err(
            "atomics write, and this array is read-only",
        ));
    }
    let nd = st.nd as usize;
    let (shape, strides) = if nd == 0 {
        (Vec::new(), Vec::new())
    } else {
        // SAFETY: numpy's struct holds `nd` dimensions and `nd` strides
        // (strides are never null in a struct numpy exports).
        unsafe {
            (
                std::slice::from_raw_parts(st.shape, nd)
                    .iter()
                    .map(|&d| d as u64)
                    .collect(),
                std::slice::from_raw_parts(st.strides, nd)
                    .iter()
                    .map(|&s| s as i64)
                    .collect(),
            )
        }
    };
    let base = seg.get().inner.data_ptr() as usize;
    let offset = (st.data as usize)
        .checked_sub(base)
        .ok_or_else(|| PyValueError::new_err("the array does not lie in its segment"))?;
    Ok(Target {
        seg,
        typestr,
        offset: offset as u64,
        shape,
        strides,
    })
}

/// Converts the core's refusals of an atomic view to what the Python API
/// promises: `TypeError` for an array atomics cannot work on.
fn atomic_error(e: Error) -> PyErr {
    match e {
        Error::ReadOnly | Error::Misaligned(_) | Error::TypeMismatch { .. } => {
            PyTypeError::new_err(e.to_string())
        }
        other => to_py(other),
    }
}

/// Runs `$body` with `$t` bound to the element type `$typestr` names.
macro_rules! with_element {
    ($typestr:expr, $t:ident => $body:expr) => {
        match $typestr {
            "<i4" => {
                type $t = i32;
                $body
            }
            "<i8" => {
                type $t = i64;
                $body
            }
            "<u4" => {
                type $t = u32;
                $body
            }
            _ => {
                type $t = u64;
                $body
            }
        }
    };
}

/// One index entry: `Some` for an integer (bools excepted: numpy reads them
/// as masks), `None` for anything else (an array of indices).
fn integer(x: &Bound<'_, PyAny>) -> PyResult<Option<i64>> {
    if x.is_instance_of::<PyBool>() {
        return Ok(None);
    }
    if !x.is_instance_of::<PyInt>()
        && (x.is_instance(ndarray_type(x.py())?)? || !x.hasattr(intern!(x.py(), "__index__"))?)
    {
        return Ok(None);
    }
    let i = x.call_method0(intern!(x.py(), "__index__"))?;
    // A Python int beyond i64 is beyond every array.
    Ok(Some(i.extract::<i64>().unwrap_or(i64::MAX)))
}

/// The index of one element, or `None` for the many-element form.
fn one_index(index: &Bound<'_, PyAny>) -> PyResult<Option<Vec<i64>>> {
    if let Ok(t) = index.cast::<PyTuple>() {
        let mut out = Vec::with_capacity(t.len());
        for item in t.iter() {
            match integer(&item)? {
                Some(i) => out.push(i),
                None => return Ok(None),
            }
        }
        return Ok(Some(out));
    }
    Ok(integer(index)?.map(|i| vec![i]))
}

/// One atomic operation, numbered `op` (the code of the core's `AtomicOp`), on
/// element `index` of the shared array `a`; returns its previous value
/// (`None` for an operation that reports none). `new` is the value
/// compare-exchange stores. Returns `NotImplemented` when `index` names
/// many elements: the caller prepares the arrays for [`atomic_many`].
#[pyfunction]
#[pyo3(signature = (op, a, index, value, new=None))]
pub(crate) fn atomic_one<'py>(
    op: u8,
    a: &Bound<'py, PyAny>,
    index: &Bound<'py, PyAny>,
    value: &Bound<'py, PyAny>,
    new: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let py = a.py();
    let op = Op::from_code(op).map_err(to_py)?;
    let t = target(a)?;
    let Some(index) = one_index(index)? else {
        return Ok(py.NotImplemented().into_bound(py));
    };
    with_element!(t.typestr, T => {
        let view = t.segment().atomic_view::<T>(t.offset, &t.shape, &t.strides).map_err(atomic_error)?;
        let new = new.map(PyAnyMethods::extract::<T>).transpose()?;
        let previous = view.update_one(op, &index, value.extract::<T>()?, new).map_err(to_py)?;
        if op.reports_previous() {
            Ok(previous.into_pyobject(py)?.into_any())
        } else {
            Ok(py.None().into_bound(py))
        }
    })
}

/// The memory of a one-dimensional, C-contiguous numpy array of `typestr`
/// elements, from its `__array_interface__`: address and length.
fn array_memory(
    obj: &Bound<'_, PyAny>,
    typestr: &str,
    itemsize: usize,
    writable: bool,
) -> PyResult<RawBuffer<u8>> {
    let bad = |why: &str| {
        PyTypeError::new_err(format!("expected a contiguous 1-D {typestr} array: {why}"))
    };
    let iface = obj.getattr("__array_interface__")?;
    let d = iface
        .cast::<PyDict>()
        .map_err(|_| bad("no array interface"))?;
    let get = |k: &str| d.get_item(k).ok().flatten();
    let ts: String = get("typestr").ok_or_else(|| bad("no typestr"))?.extract()?;
    if ts != typestr {
        return Err(bad(&format!("its elements are {ts}")));
    }
    let shape: Vec<usize> = get("shape").ok_or_else(|| bad("no shape"))?.extract()?;
    let [n] = shape[..] else {
        return Err(bad("not one-dimensional"));
    };
    if let Some(strides) = get("strides").filter(|s| !s.is_none()) {
        let strides: Vec<isize> = strides.extract()?;
        if n > 1 && strides != [itemsize as isize] {
            return Err(bad("not contiguous"));
        }
    }
    let (addr, readonly): (usize, bool) = get("data").ok_or_else(|| bad("no data"))?.extract()?;
    if writable && readonly {
        return Err(bad("read-only"));
    }
    Ok(RawBuffer {
        ptr: addr as *mut u8,
        len: n,
    })
}

/// [`array_memory`] as a buffer of `E`.
fn buffer<E>(obj: &Bound<'_, PyAny>, typestr: &str, writable: bool) -> PyResult<RawBuffer<E>> {
    let b = array_memory(obj, typestr, size_of::<E>(), writable)?;
    Ok(RawBuffer {
        ptr: b.ptr.cast::<E>(),
        len: b.len,
    })
}

/// Many atomic operations (the `np.add.at` form), numbered `op`, on the
/// shared array `a`: element `k` is at `(indices[0][k], ...)`; `values`
/// holds one value or one per element (for compare-exchange: the expected
/// ones, and `new` the ones stored); previous values go to `out` if given.
///
/// `indices` are contiguous int64 arrays; `values`, `new` and `out`
/// contiguous arrays of the element type. The core checks them (aligned,
/// apart from the segment, `out` apart from the others) before it touches
/// anything. The GIL is held throughout: no Python code can free or resize
/// them meanwhile.
#[pyfunction]
#[pyo3(signature = (op, a, indices, values, new=None, out=None))]
#[allow(
    clippy::needless_pass_by_value,
    reason = "pyo3 extracts an owned vector"
)]
pub(crate) fn atomic_many(
    op: u8,
    a: &Bound<'_, PyAny>,
    indices: Vec<Bound<'_, PyAny>>,
    values: &Bound<'_, PyAny>,
    new: Option<&Bound<'_, PyAny>>,
    out: Option<&Bound<'_, PyAny>>,
) -> PyResult<()> {
    let op = Op::from_code(op).map_err(to_py)?;
    let t = target(a)?;
    let index_buffers = indices
        .iter()
        .map(|ix| buffer::<i64>(ix, "<i8", false))
        .collect::<PyResult<Vec<_>>>()?;
    with_element!(t.typestr, T => {
        let view = t.segment().atomic_view::<T>(t.offset, &t.shape, &t.strides).map_err(atomic_error)?;
        let values = buffer::<T>(values, t.typestr, false)?;
        let new = new.map(|n| buffer::<T>(n, t.typestr, false)).transpose()?;
        let out = out.map(|o| buffer::<T>(o, t.typestr, true)).transpose()?;
        // SAFETY: each buffer is the live memory of a numpy array that the
        // caller's arguments keep referenced, with the GIL held for the
        // whole call: nothing frees, resizes or writes them meanwhile.
        unsafe { view.update_raw(op, &index_buffers, values, new, out) }.map_err(to_py)
    })
}

/// The names of the atomic operations, in the order of their codes.
#[pyfunction]
pub(crate) fn atomic_ops() -> Vec<&'static str> {
    Op::ALL.iter().map(|op| op.name()).collect()
}
