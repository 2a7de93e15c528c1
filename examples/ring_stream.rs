//! A stream of float32 frames between Rust and Python through a named ring.
//!
//! ```text
//! ring_stream produce NAME COUNT    attach the ring NAME, put COUNT frames (frame i is all i), close it
//! ring_stream consume NAME          attach the ring NAME, take frames until the stream ends,
//!                                   print "frames N sum S" (S: the sum of every frame's first element)
//! ring_stream create NAME H W CAP   create a named queue ring of H x W float32 frames with CAP slots,
//!                                   print "ready", then wait for a line on stdin and leave
//! ```
//!
//! `tests/test_rust_interop.py` drives it against Python's `ndshare.Ring`.
//! Build it with `cargo build --release --example ring_stream`.
//!
//! Exit status: 0 done, 2 the ring could not be used, 3 bad arguments.

// Frame indices are far below 2^23: exact in f32, and compared exactly.
#![allow(clippy::cast_precision_loss, clippy::float_cmp)]

use std::process::ExitCode;
use std::time::Duration;

use ndshare::{Delivery, Error, Ring, Wait};

fn produce(name: &str, count: usize) -> Result<(), Error> {
    let ring = Ring::<f32>::attach(name)?;
    for i in 0..count {
        let mut slot = ring.put_with(Wait::timeout(Duration::from_secs(60)))?;
        slot.view_mut::<f32>()?.fill(i as f32); // written in place, no copy
        slot.commit()?;
    }
    ring.close();
    println!("rust: put {count} frames");
    Ok(())
}

fn consume(name: &str) -> Result<(), Error> {
    let ring = Ring::<f32>::attach(name)?;
    let (mut frames, mut sum) = (0u64, 0f64);
    while let Some(item) = ring.get_with(None, Wait::timeout(Duration::from_secs(60)))? {
        let view = item.view::<f32>()?;
        assert!(view.iter().all(|&v| v == view.as_slice().unwrap()[0]));
        sum += f64::from(view.as_slice().unwrap()[0]);
        frames += 1;
    }
    println!("frames {frames} sum {sum}");
    Ok(())
}

fn create(name: &str, h: usize, w: usize, capacity: u32) -> Result<(), Error> {
    let ring = Ring::<f32>::create(&[h, w], capacity, Delivery::Queue, Some(name))?;
    println!("ready");
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    drop(ring);
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let num = |s: &str| s.parse::<usize>().ok();
    let done = match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["produce", name, count] if num(count).is_some() => produce(name, num(count).unwrap()),
        ["consume", name] => consume(name),
        ["create", name, h, w, cap] if num(h).is_some() && num(w).is_some() => {
            match cap.parse::<u32>() {
                Ok(c) => create(name, num(h).unwrap(), num(w).unwrap(), c),
                Err(_) => return ExitCode::from(3),
            }
        }
        _ => {
            eprintln!("usage: ring_stream produce NAME COUNT | consume NAME | create NAME H W CAP");
            return ExitCode::from(3);
        }
    };
    match done {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ring_stream: {e}");
            ExitCode::from(2)
        }
    }
}
