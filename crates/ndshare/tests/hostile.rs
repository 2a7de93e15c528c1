//! Segments that lie, shrink, change or are not segments at all: each is an
//! error or harmless, never a crash or a hang.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::FileExt;
use std::sync::{mpsc, Mutex};
use std::time::Duration;

use ndshare::format as header;
use ndshare::{Access, Error, Header, Layout, Order, ProcessStamp, Segment};

mod common;
use common::{unique_name as unique, Name};

/// Held by each test that cuts a file under a live mapping. The SIGBUS
/// handler's page count is per process, and a mapping dropped after its file
/// was cut (its detach writes the header page) adds to it, so a test that
/// counts replaced pages must not run beside one that cuts.
static CUTTING: Mutex<()> = Mutex::new(());

fn cutting() -> std::sync::MutexGuard<'static, ()> {
    CUTTING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn path(name: &str) -> String {
    format!("{}/ndshare.{name}", ndshare::named::SHM_DIR)
}

/// A complete anonymous segment (header ready, data zero) in `file`.
fn write_segment(file: &mut File, shape: &[u64]) -> Header {
    let layout = Layout::contiguous(shape, 8, Order::C).unwrap();
    let h = Header::new(
        layout,
        "<f8",
        0,
        ProcessStamp {
            pid: 1,
            start_ticks: 1,
        },
        1,
    )
    .unwrap();
    let mut b = h.encode();
    b[header::offset::STATE..][..4].copy_from_slice(&header::STATE_READY.to_le_bytes());
    file.write_all(&b).unwrap();
    file.set_len(h.segment_len()).unwrap();
    h
}

fn data_bytes(seg: &Segment) -> &[u8] {
    // SAFETY: the data lies in the mapping, which lives as long as `seg`.
    unsafe { std::slice::from_raw_parts(seg.data_ptr(), seg.data_len()) }
}

#[test]
fn a_named_file_truncated_under_its_mappings_reads_as_zeros() {
    let _cutting = cutting();
    let name = unique("trunc");
    let _guard = Name(name.clone());
    let creator = Segment::create(
        Layout::contiguous(&[4, 4096], 1, Order::C).unwrap(),
        "|u1",
        Some(&name),
        0o600,
    )
    .unwrap();
    let reader = Segment::attach(&name, Access::ReadOnly).unwrap();
    // SAFETY: the data region is 16 KiB, writable in `creator`.
    unsafe { std::ptr::write_bytes(creator.data_ptr(), 0xab, creator.data_len()) };
    assert!(data_bytes(&reader).iter().all(|&b| b == 0xab));
    assert!(!creator.is_size_sealed(), "a named file cannot be sealed");

    // Another opener cuts the file to its header and one data page.
    let header_len = creator.header().header_len;
    OpenOptions::new()
        .write(true)
        .open(path(&name))
        .unwrap()
        .set_len(header_len + 4096)
        .unwrap();

    let before = ndshare::truncated_pages_replaced();
    let seen = data_bytes(&reader).to_vec();
    assert_eq!(
        &seen[..4096],
        &[0xab; 4096][..],
        "the page still in the file reads as it was"
    );
    assert_eq!(
        &seen[4096..],
        &[0u8; 3 * 4096][..],
        "pages cut off read as zeros"
    );
    assert_eq!(ndshare::truncated_pages_replaced() - before, 3);

    // The writer keeps writing past the end: harmless, and private.
    // SAFETY: in the mapping, which is writable in `creator`.
    unsafe { creator.data_ptr().add(3 * 4096 + 5).write_volatile(7) };
    // SAFETY: same address, read back.
    let back = unsafe { creator.data_ptr().add(3 * 4096 + 5).read_volatile() };
    assert_eq!(back, 7);
    assert_eq!(
        data_bytes(&reader)[3 * 4096 + 5],
        0,
        "the write did not reach the file"
    );

    // Cut to nothing: even the header page goes; the lock words read as zero.
    File::options()
        .write(true)
        .open(path(&name))
        .unwrap()
        .set_len(0)
        .unwrap();
    // SAFETY: offset LOCK is inside the first page of the mapping.
    let lock_word = unsafe { reader.base_ptr().add(header::offset::LOCK).read_volatile() };
    assert_eq!(lock_word, 0);
    // A new attacher is told, without mapping anything.
    assert!(matches!(
        Segment::attach(&name, Access::ReadOnly),
        Err(Error::Corrupt(_))
    ));
}

#[test]
fn an_unsealed_anonymous_segment_is_sealed_on_arrival() {
    let mut file = File::from(common::memfd("elsewhere"));
    let h = write_segment(&mut file, &[10]);
    let fd = OwnedFd::from(file);
    assert!(!common::size_is_sealed(fd.as_fd()));
    let dup = fd.try_clone().unwrap();
    let seg = Segment::from_fd(fd, Access::ReadWrite).unwrap();
    assert_eq!(seg.data_len() as u64, h.data_len);
    assert!(seg.is_size_sealed());
    // The sender's copy of the descriptor cannot shrink it any more.
    let err = File::from(dup).set_len(100).unwrap_err();
    assert_eq!(
        err.raw_os_error(),
        Some(rustix::io::Errno::PERM.raw_os_error())
    );
}

#[test]
fn an_anonymous_segment_that_cannot_be_sealed_is_refused() {
    // Made without MFD_ALLOW_SEALING: F_SEAL_SEAL is set from the start.
    let fd = rustix::fs::memfd_create("no-sealing", rustix::fs::MemfdFlags::CLOEXEC).unwrap();
    let mut file = File::from(fd);
    write_segment(&mut file, &[10]);
    let err = Segment::from_fd(OwnedFd::from(file), Access::ReadWrite).unwrap_err();
    assert!(
        matches!(&err, Error::Corrupt(m) if m.contains("F_SEAL_SHRINK")),
        "{err}"
    );

    // Sealable, but reached through a read-only descriptor.
    let mut file = File::from(common::memfd("read-only"));
    write_segment(&mut file, &[10]);
    let ro = File::open(format!(
        "/proc/self/fd/{}",
        std::os::fd::AsRawFd::as_raw_fd(&file)
    ))
    .unwrap();
    let err = Segment::from_fd(OwnedFd::from(ro), Access::ReadOnly).unwrap_err();
    assert!(
        matches!(&err, Error::Corrupt(m) if m.contains("F_SEAL_SHRINK")),
        "{err}"
    );
}

#[test]
fn a_fifo_under_an_ndshare_name_hangs_nobody() {
    let name = unique("fifo");
    let _guard = Name(name.clone());
    rustix::fs::mknodat(
        rustix::fs::CWD,
        path(&name).as_str(),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o444),
        0,
    )
    .unwrap();
    let (tx, rx) = mpsc::channel();
    let n = name.clone();
    std::thread::spawn(move || {
        let attach = Segment::attach(&n, Access::ReadOnly).map(|_| ());
        let listed = ndshare::named::list()
            .unwrap()
            .into_iter()
            .find(|e| e.name == n)
            .map(|e| e.header.is_ok());
        tx.send((attach, listed)).unwrap();
    });
    let (attach, listed) = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("opening a FIFO hung");
    assert!(matches!(attach, Err(Error::Corrupt(m)) if m.contains("not a regular file")));
    assert_eq!(listed, Some(false), "listed, with an error");
}

#[test]
fn a_header_rewritten_while_attached_changes_no_view() {
    let name = unique("rewrite");
    let _guard = Name(name.clone());
    let seg = Segment::create(
        Layout::contiguous(&[2, 3], 8, Order::C).unwrap(),
        "<f8",
        Some(&name),
        0o600,
    )
    .unwrap();
    let attached = Segment::attach(&name, Access::ReadWrite).unwrap();
    let file = OpenOptions::new().write(true).open(path(&name)).unwrap();
    // Claim a shape 1000 times larger and a bigger item, in place.
    file.write_all_at(&1000u64.to_le_bytes(), header::offset::SHAPE as u64)
        .unwrap();
    file.write_all_at(&64u64.to_le_bytes(), header::offset::ITEMSIZE as u64)
        .unwrap();
    for s in [&seg, &attached] {
        assert_eq!(
            s.layout().shape(),
            &[2, 3],
            "parsed once, from a private copy"
        );
        assert_eq!(s.layout().itemsize(), 8);
        assert_eq!(s.data_len(), 48);
    }
    // A new attacher reads the new header, and refuses it.
    assert!(matches!(
        Segment::attach(&name, Access::ReadWrite),
        Err(Error::Corrupt(_))
    ));
    // Put a consistent but different header: 3 x 2 instead of 2 x 3.
    file.write_all_at(&8u64.to_le_bytes(), header::offset::ITEMSIZE as u64)
        .unwrap();
    for (i, v) in [3u64, 2, 16, 8].iter().enumerate() {
        file.write_all_at(&v.to_le_bytes(), (header::offset::SHAPE + 8 * i) as u64)
            .unwrap();
    }
    assert_eq!(
        Segment::attach(&name, Access::ReadWrite)
            .unwrap()
            .layout()
            .shape(),
        &[3, 2]
    );
    assert_eq!(attached.layout().shape(), &[2, 3]);
}

#[test]
fn a_segment_larger_than_the_machine_is_refused_before_any_allocation() {
    let pib = Layout::contiguous(&[1 << 47], 8, Order::C).unwrap();
    assert!(1u64 << 50 > common::memory_total());
    let err = Segment::create(pib, "<f8", None, 0o600).unwrap_err();
    assert!(
        matches!(&err, Error::OutOfMemory { hint, .. } if hint.contains("RAM and swap")),
        "{err}"
    );
}

#[test]
fn a_segment_smaller_than_its_header_claims_is_refused_without_mapping() {
    let _cutting = cutting();
    let name = unique("short");
    let _guard = Name(name.clone());
    let seg = Segment::create(
        Layout::contiguous(&[1024], 8, Order::C).unwrap(),
        "<f8",
        Some(&name),
        0o600,
    )
    .unwrap();
    let full = seg.header().segment_len();
    for len in [full - 1, full - 4096, 4096, 100, 0] {
        OpenOptions::new()
            .write(true)
            .open(path(&name))
            .unwrap()
            .set_len(len)
            .unwrap();
        assert!(
            matches!(
                Segment::attach(&name, Access::ReadOnly),
                Err(Error::Corrupt(_))
            ),
            "{len}"
        );
    }
}
