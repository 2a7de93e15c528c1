//! The Rust API across real processes.
//!
//! Each test re-runs this test binary as a child process, filtered to the
//! same test, with `NDSHARE_TEST_CHILD` set: the test function then plays the
//! child's part. Children are separate processes with their own mappings;
//! nothing is shared with the parent but what the test passes on purpose.

// Test values are small integers, exact in every float type.
#![allow(clippy::cast_precision_loss, clippy::float_cmp)]

use std::os::unix::net::{UnixListener, UnixStream};
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;

use ndshare::{Access, Builder, Error, Handle, Order, RawArray, SharedArray};

mod common;
use common::{assert_success, child_arg, run_child, run_child_under, Name};

fn socket_path(tag: &str) -> PathBuf {
    std::env::temp_dir().join(format!("ndshare-test-{tag}-{}.sock", std::process::id()))
}

#[test]
fn named_array_between_processes() {
    if let Some(name) = child_arg() {
        let mut a = SharedArray::<f32>::attach(&name).unwrap();
        assert_eq!(a.shape(), &[3, 4]);
        for ((i, j), v) in a
            .view()
            .into_dimensionality::<ndarray::Ix2>()
            .unwrap()
            .indexed_iter()
        {
            assert_eq!(*v, (i * 4 + j) as f32);
        }
        a.view_mut().unwrap().mapv_inplace(|v| -v);
        return;
    }
    let name = Name::new("named");
    let mut a = Builder::new().name(&name.0).zeros::<f32>(&[3, 4]).unwrap();
    for (k, v) in a.as_slice_mut().unwrap().iter_mut().enumerate() {
        *v = k as f32;
    }
    assert_success(&run_child("named_array_between_processes", &name.0));
    let expected: Vec<f32> = (0..12).map(|k| -(k as f32)).collect();
    assert_eq!(a.as_slice(), &expected[..]);
}

#[test]
fn anonymous_array_through_fd_passing_both_ways() {
    if let Some(path) = child_arg() {
        let sock = UnixStream::connect(path).unwrap();
        let mut b = SharedArray::<i64>::recv(&sock, Access::ReadWrite).unwrap();
        assert_eq!(b.name(), None);
        let expected: Vec<i64> = (0..1000).collect();
        assert_eq!(b.as_slice(), &expected[..]);
        for v in b.as_slice_mut().unwrap() {
            *v *= *v;
        }
        b.send(&sock).unwrap();
        return;
    }
    let path = socket_path("fdpass");
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path).unwrap();
    let child = std::thread::spawn({
        let p = path.to_str().unwrap().to_owned();
        move || run_child("anonymous_array_through_fd_passing_both_ways", &p)
    });
    let (sock, _) = listener.accept().unwrap();
    std::fs::remove_file(&path).unwrap();
    let data: Vec<i64> = (0..1000).collect();
    let a = SharedArray::from_slice(&data, &[10, 100], Order::C).unwrap();
    let file_id = a.as_raw().file_id();
    a.send(&sock).unwrap();
    // Nothing of it is left in this process: the memory lives on only
    // through the descriptor in flight.
    drop(a);
    let back = SharedArray::<i64>::recv(&sock, Access::ReadOnly).unwrap();
    assert_success(&child.join().unwrap());
    assert_eq!(back.as_raw().file_id(), file_id);
    assert_eq!(back.shape(), &[10, 100]);
    assert_eq!(back.view()[[9, 99]], 999 * 999);
    let squares: Vec<i64> = (0..1000).map(|v| v * v).collect();
    assert_eq!(back.as_slice(), &squares[..]);
}

#[test]
fn anonymous_array_through_process_handle() {
    if let Some(handle) = child_arg() {
        let handle: Handle = handle.parse().unwrap();
        let mut a = SharedArray::<u16>::open(&handle, Access::ReadWrite).unwrap();
        for (k, v) in a.as_slice_mut().unwrap().iter_mut().enumerate() {
            *v = (k * 3) as u16;
        }
        // The same holder, another dtype: refused, not reinterpreted.
        assert!(matches!(
            SharedArray::<i16>::open(&handle, Access::ReadOnly),
            Err(Error::TypeMismatch { .. })
        ));
        return;
    }
    let a = SharedArray::<u16>::zeros(&[64], Order::C).unwrap();
    let handle = a.handle();
    assert!(matches!(handle, Handle::Process { .. }));
    assert_success(&run_child(
        "anonymous_array_through_process_handle",
        &handle.to_string(),
    ));
    let expected: Vec<u16> = (0..64).map(|k| k * 3).collect();
    assert_eq!(a.as_slice(), &expected[..]);
}

#[test]
fn process_handle_of_an_exited_holder_is_unreachable() {
    if child_arg().is_some() {
        let a = SharedArray::<u8>::zeros(&[16], Order::C).unwrap();
        println!("HANDLE={}", a.handle());
        return;
    }
    let out = run_child("process_handle_of_an_exited_holder_is_unreachable", "");
    assert_success(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    // libtest prints "test <name> ... " on the same line before the output.
    let handle: Handle = stdout
        .split_once("HANDLE=")
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("the child printed no handle: {stdout}"))
        .parse()
        .unwrap();
    let Handle::Process { pid, .. } = handle else {
        panic!("an anonymous array's handle is a process handle")
    };
    match RawArray::open(&handle, Access::ReadOnly) {
        Err(Error::Unreachable { what, reason }) => {
            assert!(what.contains(&format!("process {pid}")), "{what}");
            assert!(
                reason.contains(&format!("process {pid} has exited")),
                "{reason}"
            );
        }
        other => panic!("expected Unreachable, got {other:?}"),
    }
}

#[test]
fn named_handle_never_opens_the_array_that_took_over_its_name() {
    if let Some(arg) = child_arg() {
        let (exact, bare) = arg.split_once(' ').unwrap();
        match RawArray::open(&exact.parse().unwrap(), Access::ReadOnly) {
            Err(Error::Unreachable { reason, .. }) => {
                assert!(
                    reason.contains("the name now names another array"),
                    "{reason}"
                );
            }
            other => panic!("expected Unreachable, got {other:?}"),
        }
        // The name alone opens what the name holds now.
        let now = SharedArray::<u8>::open(&bare.parse().unwrap(), Access::ReadOnly).unwrap();
        assert_eq!(now.as_slice(), &[2, 2][..]);
        return;
    }
    let name = Name::new("handle-reused");
    let mut first = Builder::new().name(&name.0).zeros::<u8>(&[3]).unwrap();
    first.as_slice_mut().unwrap().fill(1);
    let exact = first.handle().to_string();
    let f = first.segment().file_info();
    let again = SharedArray::<u8>::open(&exact.parse().unwrap(), Access::ReadOnly).unwrap();
    assert_eq!(again.as_slice(), &[1, 1, 1][..]);
    first.unlink().unwrap();
    let mut second = Builder::new().name(&name.0).zeros::<u8>(&[2]).unwrap();
    second.as_slice_mut().unwrap().fill(2);
    assert!(matches!(
        RawArray::open(&exact.parse().unwrap(), Access::ReadWrite),
        Err(Error::Unreachable { .. })
    ));
    let bare = format!("ndshare:name:{}", name.0);
    assert_success(&run_child(
        "named_handle_never_opens_the_array_that_took_over_its_name",
        &format!("{exact} {bare}"),
    ));
    assert_eq!(
        exact,
        format!("ndshare:named:{}:{}:{}", f.dev, f.ino, name.0)
    );
}

#[test]
fn wrong_type_in_another_process_is_an_error() {
    if let Some(name) = child_arg() {
        match SharedArray::<f32>::attach(&name) {
            Err(Error::TypeMismatch { expected, found }) => {
                assert_eq!((expected.as_str(), found.as_str()), ("<f4", "<f8"));
            }
            other => panic!("expected TypeMismatch, got {other:?}"),
        }
        // Same size, other kind.
        assert!(matches!(
            SharedArray::<i64>::attach(&name),
            Err(Error::TypeMismatch { .. })
        ));
        assert!(matches!(
            SharedArray::<u64>::attach_readonly(&name),
            Err(Error::TypeMismatch { .. })
        ));
        let raw = RawArray::attach(&name, Access::ReadOnly).unwrap();
        assert_eq!(raw.dtype(), "<f8");
        assert_eq!(raw.as_bytes()[..8], 1.5f64.to_le_bytes());
        assert_eq!(raw.typed::<f64>().unwrap().as_slice(), &[1.5; 5]);
        return;
    }
    let name = Name::new("mismatch");
    let _a = Builder::new()
        .name(&name.0)
        .from_slice(&[1.5f64; 5], &[5])
        .unwrap();
    assert_success(&run_child(
        "wrong_type_in_another_process_is_an_error",
        &name.0,
    ));
}

#[test]
fn readonly_attach_refuses_writes() {
    if let Some(name) = child_arg() {
        let mut a = SharedArray::<u32>::attach_readonly(&name).unwrap();
        assert!(!a.is_writable());
        assert!(matches!(a.view_mut(), Err(Error::ReadOnly)));
        assert!(matches!(a.as_slice_mut(), Err(Error::ReadOnly)));
        assert_eq!(a.view().sum(), 7 * 1024);
        let mut raw = RawArray::attach(&name, Access::ReadOnly).unwrap();
        assert!(matches!(raw.as_bytes_mut(), Err(Error::ReadOnly)));
        return;
    }
    let name = Name::new("readonly");
    let a = Builder::new()
        .name(&name.0)
        .from_slice(&[7u32; 1024], &[1024])
        .unwrap();
    assert_success(&run_child("readonly_attach_refuses_writes", &name.0));
    assert_eq!(a.as_slice(), &[7u32; 1024]);
}

#[test]
fn readonly_mapping_faults_on_a_raw_write() {
    if let Some(name) = child_arg() {
        let a = SharedArray::<u32>::attach_readonly(&name).unwrap();
        #[allow(clippy::cast_ptr_alignment)] // the data is page-aligned
        let p = a.segment().data_ptr().cast::<u32>();
        // SAFETY: not safe on purpose: the page is mapped without write
        // permission and this write must kill the process with SIGSEGV.
        unsafe { p.write_volatile(99) };
        println!("the write went through");
        return;
    }
    let name = Name::new("fault");
    let a = Builder::new()
        .name(&name.0)
        .from_slice(&[7u32; 1024], &[1024])
        .unwrap();
    let out = run_child("readonly_mapping_faults_on_a_raw_write", &name.0);
    assert_eq!(
        out.status.signal(),
        Some(11),
        "child should die of SIGSEGV: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(a.as_slice(), &[7u32; 1024]);
}

#[test]
fn named_array_outlives_its_creator_until_unlinked() {
    if let Some(name) = child_arg() {
        let mut a = Builder::new()
            .name(&name)
            .order(Order::F)
            .zeros::<i32>(&[2, 3])
            .unwrap();
        a.view_mut()
            .unwrap()
            .indexed_iter_mut()
            .for_each(|(ix, v)| *v = (ix[0] * 10 + ix[1]) as i32);
        return;
    }
    let name = Name::new("outlives");
    assert_success(&run_child(
        "named_array_outlives_its_creator_until_unlinked",
        &name.0,
    ));
    let a = SharedArray::<i32>::attach(&name.0).unwrap();
    assert_eq!(a.order(), Some(Order::F));
    assert_eq!(a.view().strides(), &[1, 2]);
    assert_eq!(a.view()[[1, 2]], 12);
    assert_eq!(a.as_slice(), &[0, 10, 1, 11, 2, 12]);
    a.unlink().unwrap();
    assert!(matches!(
        SharedArray::<i32>::attach(&name.0),
        Err(Error::NotFound { .. })
    ));
    assert_eq!(a.view()[[0, 1]], 1); // the mapping stays
}

#[test]
fn creation_beyond_a_limit_is_out_of_memory_not_a_crash() {
    const BYTES: usize = 4 << 20;
    if let Some(name) = child_arg() {
        // RLIMIT_FSIZE is below BYTES: fallocate fails with EFBIG, up front.
        match SharedArray::<u8>::zeros(&[BYTES], Order::C) {
            Err(e @ Error::OutOfMemory { bytes, .. }) => {
                assert_eq!(bytes, BYTES as u64 + 4096);
                assert_eq!(e.raw_os_error(), Some(27)); // EFBIG
            }
            other => panic!("expected OutOfMemory, got {other:?}"),
        }
        match Builder::new().name(&name).zeros::<u8>(&[BYTES]) {
            Err(Error::OutOfMemory { hint, .. }) => assert!(hint.contains("/dev/shm"), "{hint}"),
            other => panic!("expected OutOfMemory, got {other:?}"),
        }
        // Nothing was published under the name.
        assert!(matches!(
            RawArray::attach(&name, Access::ReadOnly),
            Err(Error::NotFound { .. })
        ));
        // A smaller array still fits.
        assert_eq!(
            SharedArray::<u8>::zeros(&[4096], Order::C).unwrap().len(),
            4096
        );
        return;
    }
    let name = Name::new("oom");
    // `ulimit -f` counts 512-byte blocks in dash, 1024-byte ones in bash:
    // 1 MiB at most either way. SIGXFSZ ignored, so the call fails instead.
    let out = run_child_under(
        "creation_beyond_a_limit_is_out_of_memory_not_a_crash",
        &name.0,
        "ulimit -f 1024; trap '' XFSZ;",
    );
    assert_success(&out);
}

/// A structured dtype whose field names are not ASCII, as Python writes its
/// descriptor: another process reads the descriptor back intact, with the
/// item size, and the bytes.
#[test]
fn non_ascii_field_names_reach_another_process() {
    const DESCR: &str =
        "[('temp\u{e9}rature', '<f4'), ('\u{df}', '<i2'), ('\u{6e29}\u{5ea6}', '|u1')]";
    if let Some(name) = child_arg() {
        let a = RawArray::attach(&name, Access::ReadOnly).unwrap();
        assert_eq!(a.dtype(), DESCR);
        assert_eq!(a.itemsize(), 7);
        assert_eq!(a.layout().shape(), &[3]);
        assert_eq!(a.as_bytes(), (0..21).collect::<Vec<u8>>());
        return;
    }
    let name = Name::new("fields");
    let mut a = Builder::new()
        .name(&name.0)
        .raw_zeros(DESCR, 7, &[3])
        .unwrap();
    for (i, b) in a.as_bytes_mut().unwrap().iter_mut().enumerate() {
        *b = i as u8;
    }
    assert_success(&run_child(
        "non_ascii_field_names_reach_another_process",
        &name.0,
    ));
}
