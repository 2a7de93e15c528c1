//! `Segment`: one mapped segment, the numpy base of every array over it.
//!
//! The data reaches numpy through `__array_interface__` rather than the
//! buffer protocol or numpy's C API: it is part of the stable ABI
//! (`abi3-py39`) and independent of the numpy version, so one wheel serves
//! every `CPython` >= 3.9 and numpy 1.x and 2.x. The `Segment` object is the
//! numpy `base` of every array made from it, so the mapping lives exactly as
//! long as the last view (rust-numpy's `PySliceContainer` pattern).

use std::os::fd::{AsRawFd, BorrowedFd};

use ndshare::{Access, Handle, Layout, Locator, Order, Segment};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

use crate::errors::to_py;
use crate::registry::report_dict;

fn access(readonly: bool) -> Access {
    if readonly {
        Access::ReadOnly
    } else {
        Access::ReadWrite
    }
}

/// One mapped segment; the numpy base of every array over it.
#[pyclass(frozen, weakref, module = "ndshare._ndshare", name = "Segment")]
pub(crate) struct PySegment {
    pub(crate) inner: Segment,
}

#[pymethods]
impl PySegment {
    /// Creates a zero-filled segment for an array. With `publish=False` a
    /// named segment gets its name only from `publish()`, once filled.
    #[staticmethod]
    #[allow(clippy::needless_pass_by_value)] // extracted from a Python sequence
    #[allow(clippy::too_many_arguments)] // the keyword arguments of one call
    #[pyo3(signature = (dtype, itemsize, shape, order="C", name=None, mode=0o600, publish=true, huge_pages=true))]
    fn create(
        py: Python<'_>,
        dtype: &str,
        itemsize: u64,
        shape: Vec<u64>,
        order: &str,
        name: Option<&str>,
        mode: u32,
        publish: bool,
        huge_pages: bool,
    ) -> PyResult<Self> {
        let order = match order {
            "C" => Order::C,
            "F" => Order::F,
            other => {
                return Err(PyValueError::new_err(format!(
                    "order must be 'C' or 'F', not {other:?}"
                )))
            }
        };
        let layout = Layout::contiguous(&shape, itemsize, order).map_err(to_py)?;
        let inner = py
            .detach(|| {
                let seg = Segment::create_unpublished_with(layout, dtype, name, mode, huge_pages)?;
                if publish {
                    seg.publish()?;
                }
                Ok(seg)
            })
            .map_err(to_py)?;
        Ok(PySegment { inner })
    }

    /// Links the name of a segment created with `publish=False`; nothing to
    /// do for an anonymous or published one.
    fn publish(&self, py: Python<'_>) -> PyResult<()> {
        py.detach(|| self.inner.publish()).map_err(to_py)
    }

    /// Maps the named array `name`.
    #[staticmethod]
    #[pyo3(signature = (name, readonly=false))]
    fn attach(py: Python<'_>, name: &str, readonly: bool) -> PyResult<Self> {
        let inner = py
            .detach(|| Segment::attach(name, access(readonly)))
            .map_err(to_py)?;
        Ok(PySegment { inner })
    }

    /// Maps the segment behind descriptor `fd` (which the caller keeps and
    /// closes: the segment holds a duplicate).
    #[staticmethod]
    #[pyo3(signature = (fd, readonly=false))]
    fn from_fd(fd: i32, readonly: bool) -> PyResult<Self> {
        if fd < 0 {
            return Err(PyValueError::new_err("negative file descriptor"));
        }
        // SAFETY: the descriptor is only duplicated, never closed or used
        // for I/O through this borrow; an invalid number makes dup fail with
        // EBADF, which is reported.
        let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
        Segment::from_borrowed_fd(borrowed, access(readonly))
            .map(|inner| PySegment { inner })
            .map_err(to_py)
    }

    /// Maps the segment that live process `pid` holds as descriptor `fd`,
    /// if that is still the file `(dev, ino)`.
    #[staticmethod]
    #[pyo3(signature = (pid, fd, dev, ino, readonly=false))]
    fn from_process_fd(pid: u32, fd: i32, dev: u64, ino: u64, readonly: bool) -> PyResult<Self> {
        Segment::from_process_fd(pid, fd, (dev, ino), access(readonly))
            .map(|inner| PySegment { inner })
            .map_err(to_py)
    }

    /// Maps the segment a handle string names
    /// (`ndshare:named:<dev>:<ino>:<name>`, `ndshare:name:<name>` or
    /// `ndshare:proc:<pid>:<fd>:<dev>:<ino>`, as the Rust API prints them).
    #[staticmethod]
    #[pyo3(signature = (handle, readonly=false))]
    fn from_handle(py: Python<'_>, handle: &str, readonly: bool) -> PyResult<Self> {
        let handle: Handle = handle.parse().map_err(to_py)?;
        let inner = py.detach(|| handle.open(access(readonly))).map_err(to_py)?;
        Ok(PySegment { inner })
    }

    /// Maps the segment a reference pickled by another process locates:
    /// by `name` if it still names the file `(dev, ino)`, else through
    /// descriptor `fd` of process `pid`. `what` describes the array in the
    /// `UnreachableError` that says why neither route reached it.
    #[staticmethod]
    #[allow(clippy::too_many_arguments)] // the fields of one locator
    #[pyo3(signature = (name, dev, ino, pid, fd, what, readonly=false))]
    fn from_locator(
        py: Python<'_>,
        name: Option<String>,
        dev: u64,
        ino: u64,
        pid: u32,
        fd: i32,
        what: &str,
        readonly: bool,
    ) -> PyResult<Self> {
        let locator = Locator {
            name,
            dev,
            ino,
            pid,
            fd,
        };
        let inner = py
            .detach(|| locator.open_described(access(readonly), what))
            .map_err(to_py)?;
        Ok(PySegment { inner })
    }

    /// The handle string another process (Python, Rust or C) opens this
    /// segment with: its name and file, else this process's descriptor of it.
    #[getter]
    fn handle(&self) -> String {
        Handle::of(&self.inner).to_string()
    }

    /// Copies `nbytes` bytes from address `address` into the data at
    /// `offset`, through the file, with the GIL released.
    ///
    /// For `ndshare.array`: the caller passes the address of a contiguous
    /// numpy array that it keeps alive (and so unresizable) during the call.
    #[pyo3(signature = (address, nbytes, offset=0))]
    fn _write_from_address(
        &self,
        py: Python<'_>,
        address: usize,
        nbytes: usize,
        offset: usize,
    ) -> PyResult<()> {
        if nbytes == 0 {
            return Ok(());
        }
        if address == 0 {
            return Err(PyValueError::new_err("null source address"));
        }
        // SAFETY: the private caller (`ndshare._array`) passes the data
        // pointer and byte length of a contiguous numpy array it holds a
        // reference to for the whole call: the bytes stay allocated, and the
        // array cannot be resized while referenced. Another Python thread
        // may write to those bytes while the GIL is released; the slice is
        // only handed to pwrite(2), whose copy the kernel does, so no Rust
        // code reads the bytes and a concurrent write tears only the copy.
        let src = unsafe { std::slice::from_raw_parts(address as *const u8, nbytes) };
        py.detach(|| self.inner.write_data(offset, src))
            .map_err(to_py)
    }

    /// The data as numpy sees it: one flat run of bytes.
    #[getter]
    fn __array_interface__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("version", 3)?;
        d.set_item("shape", (self.inner.data_len(),))?;
        d.set_item("typestr", "|u1")?;
        d.set_item(
            "data",
            (self.inner.data_ptr() as usize, !self.inner.is_writable()),
        )?;
        Ok(d)
    }

    /// Address of the first data byte.
    #[getter]
    fn data_address(&self) -> usize {
        self.inner.data_ptr() as usize
    }

    /// Bytes of data.
    #[getter]
    fn nbytes(&self) -> usize {
        self.inner.data_len()
    }

    /// The dtype descriptor (numpy's `.npy` `descr` string).
    #[getter]
    fn dtype(&self) -> &str {
        self.inner.dtype()
    }

    #[getter]
    fn itemsize(&self) -> u64 {
        self.inner.layout().itemsize()
    }

    #[getter]
    fn shape<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(py, self.inner.layout().shape())
    }

    #[getter]
    fn strides<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(py, self.inner.layout().strides())
    }

    #[getter]
    fn name(&self) -> Option<&str> {
        self.inner.name()
    }

    /// Whether the data is mapped writable.
    #[getter]
    fn writable(&self) -> bool {
        self.inner.is_writable()
    }

    /// The segment's descriptor in this process (valid while this object lives).
    #[getter]
    fn fd(&self) -> i32 {
        self.inner.fd().as_raw_fd()
    }

    /// `(dev, ino)`: names the memory, whatever descriptor or name reaches it.
    #[getter]
    fn file_id(&self) -> (u64, u64) {
        let f = self.inner.file_info();
        (f.dev, f.ino)
    }

    /// The kind of memory behind the segment: "memfd", "huge-tmpfs",
    /// "tmpfs", "hugetlb", "shm" or "other".
    #[getter]
    fn backing(&self) -> &'static str {
        self.inner.backing().as_str()
    }

    /// The page size of this process's mapping of the segment, in bytes.
    #[getter]
    fn page_size(&self) -> u64 {
        self.inner.page_size()
    }

    /// Whether the segment is a named array (also when it arrived by
    /// descriptor and does not know its name).
    #[getter]
    fn named(&self) -> bool {
        self.inner.header().is_named()
    }

    /// What `ndshare info` would say of this array (header, attacher
    /// table, status), as the report dict of `ndshare._registry`; read now.
    fn describe<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        report_dict(py, &self.inner.report().map_err(to_py)?)
    }

    /// Marks this process in the array's attacher table as keeping it mapped
    /// after its last use (`True`), or as using it again (`False`).
    fn set_kept(&self, kept: bool) {
        self.inner.set_kept(kept);
    }

    /// Registers this process as an attacher of a named segment inherited
    /// through fork (call in the child).
    fn register_after_fork(&self) {
        self.inner.register_after_fork();
    }

    /// Removes the array's name if it still names this array; returns whether
    /// it did.
    fn unlink_name(&self) -> PyResult<bool> {
        self.inner.unlink_name().map_err(to_py)
    }

    fn __repr__(&self) -> String {
        let h = self.inner.header();
        format!(
            "<ndshare Segment {} dtype={} shape={:?} {} bytes>",
            self.inner
                .name()
                .map_or_else(|| "anonymous".to_owned(), |n| format!("{n:?}")),
            h.dtype,
            h.layout.shape(),
            h.data_len
        )
    }
}
