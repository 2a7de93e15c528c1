//! The `ndshare` command. Everything is in the library, which the Python
//! package also runs (`python -m ndshare`).

use std::process::ExitCode;

fn main() -> ExitCode {
    let code = ndshare_cli::run(std::env::args_os());
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
