//! A float32 image stack shared between Rust and Python, in both directions.
//!
//! ```text
//! image_stack create NAME FRAMES HEIGHT WIDTH   make a named stack, fill it, leave it
//! image_stack check NAME                        check that Python normalized it
//! image_stack process STACK MEANS               per-frame mean into MEANS, subtracted from STACK;
//!                                               each a name or a handle string (`ndshare:...`)
//! image_stack hold FRAMES HEIGHT WIDTH          an anonymous stack: print its handle, wait for a
//!                                               line on stdin, then check as `check` does
//! ```
//!
//! `examples/rust_python.py` drives it: Rust creates a stack that Python
//! normalizes in place, and Python creates a stack that Rust reads, reduces
//! and writes back. No pixel is copied between the processes: both map the
//! same memory. Build it with `cargo build --release --example image_stack`.
//!
//! Exit status: 0 done, 1 a check failed, 2 the arrays could not be used
//! (missing, wrong dtype or shape), 3 bad arguments.

// Pixel indices and counts are far below 2^23: exact in f32 and f64.
#![allow(clippy::cast_precision_loss)]

use std::process::ExitCode;

use ndarray::{Axis, Ix1, Ix3};
use ndshare::{Access, Builder, Error, Handle, SharedArray};

/// The value `create` writes at frame `k`, row `y`, column `x`: a gradient
/// whose range differs per frame, so that normalizing is visible.
fn pattern(k: usize, y: usize, x: usize) -> f32 {
    ((k + 1) * (y * 3 + x)) as f32 + 10.0 * k as f32
}

fn create(name: &str, frames: usize, height: usize, width: usize) -> Result<(), Error> {
    let mut stack = Builder::new()
        .name(name)
        .zeros::<f32>(&[frames, height, width])?;
    fill(&mut stack)?;
    println!(
        "rust: created {name:?}: {frames} frames of {height}x{width} float32 ({:.1} MiB), handle {}",
        (stack.len() * 4) as f64 / f64::from(1 << 20),
        stack.handle()
    );
    Ok(())
}

fn fill(stack: &mut SharedArray<f32>) -> Result<(), Error> {
    let mut view = stack
        .view_mut()?
        .into_dimensionality::<Ix3>()
        .expect("3 dimensions");
    for ((k, y, x), v) in view.indexed_iter_mut() {
        *v = pattern(k, y, x);
    }
    Ok(())
}

/// An anonymous stack: no name, so another process reaches it through the
/// handle (this process's descriptor) while this process holds it.
fn hold(frames: usize, height: usize, width: usize) -> Result<bool, Error> {
    let mut stack = SharedArray::<f32>::zeros(&[frames, height, width], ndshare::Order::C)?;
    fill(&mut stack)?;
    println!("{}", stack.handle());
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| Error::Io {
            context: "stdin".into(),
            source: e,
        })?;
    Ok(check_normalized(&stack, "the anonymous stack"))
}

/// Checks that every frame is now `(v - min) / (max - min)` of the pattern.
fn check(name: &str) -> Result<bool, Error> {
    let stack = SharedArray::<f32>::attach_readonly(name)?;
    Ok(check_normalized(&stack, &format!("{name:?}")))
}

fn check_normalized(stack: &SharedArray<f32>, what: &str) -> bool {
    let Ok(view) = stack.view().into_dimensionality::<Ix3>() else {
        println!("rust: {what} is not 3-dimensional");
        return false;
    };
    let (_, height, width) = view.dim();
    let mut worst = 0f32;
    for (k, frame) in view.axis_iter(Axis(0)).enumerate() {
        let lo = pattern(k, 0, 0);
        let hi = pattern(k, height - 1, width - 1);
        for ((y, x), &v) in frame.indexed_iter() {
            let want = (pattern(k, y, x) - lo) / (hi - lo);
            worst = worst.max((v - want).abs());
        }
    }
    let ok = worst <= 1e-6;
    println!(
        "rust: {what} {} normalized by Python (largest error {worst:e})",
        if ok { "was" } else { "was NOT" }
    );
    ok
}

/// A writable array given by name, or by a handle string such as Python's
/// `a.handle()` prints (which also reaches an anonymous array).
fn open<T: ndshare::Element>(name_or_handle: &str) -> Result<SharedArray<T>, Error> {
    if name_or_handle.starts_with("ndshare:") {
        SharedArray::open(&name_or_handle.parse::<Handle>()?, Access::ReadWrite)
    } else {
        SharedArray::attach(name_or_handle)
    }
}

fn process(stack_name: &str, means_name: &str) -> Result<(), Error> {
    let mut stack = open::<f32>(stack_name)?;
    let mut means = open::<f64>(means_name)?;
    let mut frames = stack
        .view_mut()?
        .into_dimensionality::<Ix3>()
        .map_err(|e| Error::InvalidShape(e.to_string()))?;
    let mut out = means
        .view_mut()?
        .into_dimensionality::<Ix1>()
        .map_err(|e| Error::InvalidShape(e.to_string()))?;
    if out.len() != frames.len_of(Axis(0)) {
        return Err(Error::InvalidShape(format!(
            "{means_name:?} has {} entries for {} frames",
            out.len(),
            frames.len_of(Axis(0))
        )));
    }
    for (mut frame, mean) in frames.axis_iter_mut(Axis(0)).zip(out.iter_mut()) {
        let sum: f64 = frame.iter().map(|&v| f64::from(v)).sum();
        *mean = sum / frame.len() as f64;
        let m = *mean as f32;
        frame.mapv_inplace(|v| v - m);
    }
    println!(
        "rust: wrote {} frame means into {means_name:?} and subtracted them in {stack_name:?} ({} order)",
        out.len(),
        if stack.order() == Some(ndshare::Order::F) { "F" } else { "C" }
    );
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let num = |s: &str| s.parse::<usize>().ok();
    let result = match args[..] {
        ["create", name, f, h, w] => match (num(f), num(h), num(w)) {
            (Some(f), Some(h), Some(w)) if f > 0 && h > 0 && w > 0 => {
                create(name, f, h, w).map(|()| true)
            }
            _ => Err(Error::InvalidShape(
                "FRAMES, HEIGHT and WIDTH must be positive numbers".into(),
            )),
        },
        ["check", name] => check(name),
        ["hold", f, h, w] => match (num(f), num(h), num(w)) {
            (Some(f), Some(h), Some(w)) if f > 0 && h > 0 && w > 0 => hold(f, h, w),
            _ => Err(Error::InvalidShape(
                "FRAMES, HEIGHT and WIDTH must be positive numbers".into(),
            )),
        },
        ["process", stack, means] => process(stack, means).map(|()| true),
        _ => {
            eprintln!("usage: image_stack create NAME FRAMES HEIGHT WIDTH | check NAME | process STACK MEANS | hold FRAMES HEIGHT WIDTH");
            return ExitCode::from(3);
        }
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("image_stack: {e}");
            ExitCode::from(2)
        }
    }
}
