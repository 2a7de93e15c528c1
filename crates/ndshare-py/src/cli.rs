//! The `ndshare` command, run inside Python (the console script and
//! `python -m ndshare`).

use pyo3::prelude::*;

/// Runs the `ndshare` command with `argv` (program name first); returns its
/// exit code. Output goes to this process's stdout and stderr.
#[pyfunction]
pub(crate) fn cli_main(py: Python<'_>, argv: Vec<std::ffi::OsString>) -> i32 {
    py.detach(|| ndshare_cli::run(argv))
}
