//! Bindings of the atomics: `ndshare.atomic` calls these with the shared
//! array itself.
//!
//! The array's geometry comes from numpy's `__array_struct__` capsule (the
//! array interface protocol, version 2: a C struct numpy documents as
//! stable), one attribute read instead of the dict `__array_interface__`
//! builds; the core then checks that the view lies inside the segment, so a
//! lying struct can reach nothing else.

use std::ffi::{c_char, c_int, c_void};
use std::ptr::NonNull;

use ndshare::{AtomicElement, AtomicOp as Op};
use ndshare::{Error, Segment};
use pyo3::exceptions::{PyIndexError, PyTypeError, PyValueError};
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

fn parse_op(op: &str) -> PyResult<Op> {
    Ok(match op {
        "add" => Op::Add,
        "sub" => Op::Sub,
        "max" => Op::Max,
        "min" => Op::Min,
        "exchange" => Op::Exchange,
        "store" => Op::Store,
        "load" => Op::Load,
        other => {
            return Err(PyValueError::new_err(format!(
                "unknown atomic operation {other:?}"
            )))
        }
    })
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

/// One atomic operation on element `index` of the shared array `a`;
/// returns its previous value (`None` for "store"). `op` "cas" stores
/// `new` where the element equals `value`. Returns `NotImplemented` when
/// `index` names many elements: the caller prepares the arrays for
/// [`atomic_many`].
#[pyfunction]
#[pyo3(signature = (op, a, index, value, new=None))]
pub(crate) fn atomic_one<'py>(
    op: &str,
    a: &Bound<'py, PyAny>,
    index: &Bound<'py, PyAny>,
    value: &Bound<'py, PyAny>,
    new: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let py = a.py();
    let t = target(a)?;
    let Some(index) = one_index(index)? else {
        return Ok(py.NotImplemented().into_bound(py));
    };
    if index.len() != t.shape.len() {
        return Err(PyIndexError::new_err(format!(
            "an array of {} dimensions needs {} indices per element, not {}",
            t.shape.len(),
            t.shape.len(),
            index.len()
        )));
    }
    with_element!(t.typestr, T => {
        let view = t.segment().atomic_view::<T>(t.offset, &t.shape, &t.strides).map_err(atomic_error)?;
        let cell = view.at(&index).map_err(to_py)?;
        if op == "cas" {
            let new = new.ok_or_else(|| PyValueError::new_err("compare_exchange needs a new value"))?;
            let previous = T::compare_exchange(cell, value.extract::<T>()?, new.extract::<T>()?);
            return Ok(previous.into_pyobject(py)?.into_any());
        }
        let op = parse_op(op)?;
        let v = if op == Op::Load { 0 } else { value.extract::<T>()? };
        let previous = T::apply(cell, op, v);
        if op == Op::Store {
            Ok(py.None().into_bound(py))
        } else {
            Ok(previous.into_pyobject(py)?.into_any())
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
) -> PyResult<(NonNull<u8>, usize)> {
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
    if n == 0 {
        return Ok((NonNull::dangling(), 0));
    }
    let ptr = NonNull::new(addr as *mut u8).ok_or_else(|| bad("null data"))?;
    if addr % itemsize != 0 {
        return Err(bad("misaligned"));
    }
    Ok((ptr, n))
}

/// Whether `a` (`n` elements of `size` bytes) and `b` overlap.
fn overlaps((a, n): (NonNull<u8>, usize), size: usize, (b0, b1): (usize, usize)) -> bool {
    let (a0, a1) = (a.as_ptr() as usize, a.as_ptr() as usize + n * size);
    n > 0 && b0 < b1 && a0 < b1 && b0 < a1
}

/// Many atomic operations (the `np.add.at` form) on the shared array `a`:
/// element `k` is at `(indices[0][k], ...)`; `values` holds one value or
/// one per element; previous values go to `out` if given. `op` "cas"
/// stores `new[k]` where the element equals `values[k]`, and needs `out`.
///
/// `indices` are contiguous int64 arrays; `values`, `new` and `out`
/// contiguous arrays of the element type; none may share memory with the
/// segment, nor `out` with the others (checked). The GIL is held
/// throughout: no Python code can free or resize them meanwhile.
#[pyfunction]
#[pyo3(signature = (op, a, indices, values, new=None, out=None))]
#[allow(
    clippy::needless_pass_by_value,
    clippy::cast_ptr_alignment,
    reason = "pyo3 extracts an owned vector; buffer alignment is checked by array_memory"
)]
pub(crate) fn atomic_many(
    op: &str,
    a: &Bound<'_, PyAny>,
    indices: Vec<Bound<'_, PyAny>>,
    values: &Bound<'_, PyAny>,
    new: Option<&Bound<'_, PyAny>>,
    out: Option<&Bound<'_, PyAny>>,
) -> PyResult<()> {
    let t = target(a)?;
    let seg = t.segment();
    let segment_range = (
        seg.base_ptr() as usize,
        seg.data_ptr() as usize + seg.data_len(),
    );
    let apart = |m: (NonNull<u8>, usize), size: usize| {
        if overlaps(m, size, segment_range) {
            Err(PyValueError::new_err(
                "index, value and output arrays must not share memory with the array",
            ))
        } else {
            Ok(m)
        }
    };
    let index_mem = indices
        .iter()
        .map(|ix| apart(array_memory(ix, "<i8", 8, false)?, 8))
        .collect::<PyResult<Vec<_>>>()?;
    // SAFETY: each (ptr, n) is the live, aligned, contiguous buffer of an
    // int64 numpy array that `indices` keeps referenced while the GIL is
    // held for the whole call, outside the segment (checked).
    let index_slices: Vec<&[i64]> = index_mem
        .iter()
        .map(|&(p, n)| unsafe {
            std::slice::from_raw_parts(p.as_ptr().cast::<i64>().cast_const(), n)
        })
        .collect();
    with_element!(t.typestr, T => {
        let size = size_of::<T>();
        let view = seg.atomic_view::<T>(t.offset, &t.shape, &t.strides).map_err(atomic_error)?;
        let inputs = [Some(values), new]
            .into_iter()
            .flatten()
            .map(|obj| apart(array_memory(obj, t.typestr, size, false)?, size))
            .collect::<PyResult<Vec<_>>>()?;
        // SAFETY: as for the indices: live, aligned buffers of `T` kept by
        // the caller's references under the GIL, outside the segment.
        let slices: Vec<&[T]> = inputs
            .iter()
            .map(|&(p, n)| unsafe { std::slice::from_raw_parts(p.as_ptr().cast::<T>().cast_const(), n) })
            .collect();
        let out: Option<&mut [T]> = match out {
            None => None,
            Some(o) => {
                let m = apart(array_memory(o, t.typestr, size, true)?, size)?;
                let span = |&(p, n): &(NonNull<u8>, usize), sz: usize| (p.as_ptr() as usize, p.as_ptr() as usize + n * sz);
                if inputs.iter().any(|i| overlaps(m, size, span(i, size)))
                    || index_mem.iter().any(|i| overlaps(m, size, span(i, 8)))
                {
                    return Err(PyValueError::new_err("the output array must not share memory with the inputs"));
                }
                // SAFETY: a live, aligned, writable buffer of `T` kept by
                // the caller's reference under the GIL, apart from the
                // segment and every input (checked): the only reference to
                // that memory.
                Some(unsafe { std::slice::from_raw_parts_mut(m.0.as_ptr().cast::<T>(), m.1) })
            }
        };
        if op == "cas" {
            let (Some(new), Some(out)) = (slices.get(1), out) else {
                return Err(PyValueError::new_err("compare_exchange needs new values and an output array"));
            };
            return view.compare_exchange_at(&index_slices, slices[0], new, out).map_err(to_py);
        }
        view.apply(parse_op(op)?, &index_slices, slices[0], out).map_err(to_py)
    })
}
