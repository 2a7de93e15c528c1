//! Large anonymous arrays on huge pages: a private `huge=` tmpfs made by a
//! forked helper, its fallbacks, and what `Segment::backing` reads back.

mod common;

use std::os::fd::AsRawFd;
use std::process::Command;

use common::{assert_success, child_arg, run_child, run_child_under};
use ndshare::{Access, Backing, Builder, Layout, Order, Segment};

const BIG: usize = 64 << 20;

fn big(huge: bool) -> Segment {
    let layout = Layout::contiguous(&[BIG as u64], 1, Order::C).unwrap();
    Segment::create_unpublished_with(layout, "|u1", None, 0o600, huge).unwrap()
}

/// Huge pages are expected where this process may make a user namespace
/// (or has `CAP_SYS_ADMIN`), as on the machines the tests run on. Where not,
/// say so rather than fail: the fallback tests below cover that case.
fn huge_pages_expected() -> bool {
    Command::new("unshare")
        .args(["--user", "--mount", "true"])
        .status()
        .is_ok_and(|s| s.success())
}

/// The children this process has now, whichever thread made them.
fn children() -> Vec<String> {
    let mut out = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").unwrap() {
        let path = task.unwrap().path().join("children");
        let text = std::fs::read_to_string(path).unwrap_or_default();
        out.extend(text.split_whitespace().map(str::to_owned));
    }
    out
}

#[test]
fn a_large_anonymous_array_is_on_huge_pages() {
    if !huge_pages_expected() {
        eprintln!("user namespaces are not allowed here: skipped");
        return;
    }
    let seg = big(true);
    assert_eq!(seg.backing(), Backing::HugeTmpfs);
    assert_eq!(seg.page_size(), 2 << 20);
    // An O_TMPFILE file: no name, ever, and not a memfd (cannot be sealed).
    assert!(!seg.is_size_sealed());
    assert_eq!(
        rustix::fs::fstat(seg.fd()).unwrap().st_nlink,
        0,
        "the file must have no name"
    );
    // Reserved at creation, as memfds are: every block is there already.
    let blocks = rustix::fs::fstat(seg.fd()).unwrap().st_blocks as u64 * 512;
    assert!(blocks >= (BIG as u64), "only {blocks} bytes reserved");
}

#[test]
fn the_helper_is_reaped() {
    if child_arg().is_some() {
        // A fresh process: its first large array forks the helper.
        let seg = big(true);
        assert_eq!(seg.backing(), Backing::HugeTmpfs);
        assert_eq!(children(), Vec::<String>::new());
        return;
    }
    if !huge_pages_expected() {
        return;
    }
    assert_success(&run_child("the_helper_is_reaped", "child"));
}

#[test]
fn small_arrays_and_opting_out_give_memfds() {
    let small = Builder::new().zeros::<u8>(&[1 << 20]).unwrap();
    assert_eq!(small.as_raw().segment().backing(), Backing::Memfd);
    assert_eq!(big(false).backing(), Backing::Memfd);
    let off = Builder::new()
        .huge_pages(false)
        .zeros::<u8>(&[BIG])
        .unwrap();
    assert_eq!(off.as_raw().segment().backing(), Backing::Memfd);
    assert_eq!(off.as_raw().segment().page_size(), 4096);
}

#[test]
fn the_environment_turns_huge_pages_off() {
    if child_arg().is_some() {
        assert_eq!(big(true).backing(), Backing::Memfd);
        return;
    }
    let out = run_child_under(
        "the_environment_turns_huge_pages_off",
        "child",
        "NDSHARE_HUGE_PAGES=0; export NDSHARE_HUGE_PAGES;",
    );
    assert_success(&out);
}

#[test]
fn named_arrays_report_shm() {
    let name = common::Name::new("huge-named");
    let layout = Layout::contiguous(&[BIG as u64], 1, Order::C).unwrap();
    let seg = Segment::create(layout, "|u1", Some(&name.0), 0o600).unwrap();
    assert_eq!(seg.backing(), Backing::Shm);
}

/// Where user namespaces are not allowed (here: a user namespace whose own
/// `user.max_user_namespaces` is 0, entered without capabilities), creation
/// falls back to a memfd, silently.
#[test]
fn without_user_namespaces_a_memfd() {
    if child_arg().is_some() {
        let seg = big(true);
        assert_eq!(seg.backing(), Backing::Memfd);
        assert!(seg.is_size_sealed());
        // Tried once, then remembered: the next array does not fork again.
        assert_eq!(big(true).backing(), Backing::Memfd);
        assert_eq!(children(), Vec::<String>::new());
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let script = "echo 0 > /proc/sys/user/max_user_namespaces || exit 99; \
                  exec setpriv --bounding-set=-all --inh-caps=-all \"$0\" \"$@\"";
    let out = Command::new("unshare")
        .args(["--user", "--map-root-user", "sh", "-c", script])
        .arg(exe)
        .args([
            "without_user_namespaces_a_memfd",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(common::CHILD, "child")
        .output();
    match out {
        Ok(out)
            if out.status.code() == Some(99)
                || out.status.code() == Some(1) && out.stdout.is_empty() =>
        {
            eprintln!("cannot make an environment without user namespaces here: skipped");
        }
        Ok(out) => assert_success(&out),
        Err(e) => eprintln!("no unshare(1) here ({e}): skipped"),
    }
}

/// Another process reaches the array through `/proc/<pid>/fd/<n>`, the
/// route of plain pickle and handles, and sees the same memory.
#[test]
fn another_process_opens_it_through_proc() {
    if let Some(arg) = child_arg() {
        let v: Vec<u64> = arg.split(':').map(|s| s.parse().unwrap()).collect();
        let seg =
            Segment::from_process_fd(v[0] as u32, v[1] as i32, (v[2], v[3]), Access::ReadWrite)
                .unwrap();
        assert_eq!(seg.backing(), Backing::HugeTmpfs);
        // SAFETY: the data is BIG bytes long; the parent waits for this
        // process before it reads.
        unsafe {
            assert_eq!(seg.data_ptr().add(BIG - 1).read(), 7);
            seg.data_ptr().add(BIG / 2).write(42);
        }
        return;
    }
    if !huge_pages_expected() {
        return;
    }
    let seg = big(true);
    assert_eq!(seg.backing(), Backing::HugeTmpfs);
    seg.write_data(BIG - 1, &[7]).unwrap();
    let f = seg.file_info();
    let arg = format!(
        "{}:{}:{}:{}",
        std::process::id(),
        seg.fd().as_raw_fd(),
        f.dev,
        f.ino
    );
    assert_success(&run_child("another_process_opens_it_through_proc", &arg));
    // SAFETY: as in the child.
    assert_eq!(unsafe { seg.data_ptr().add(BIG / 2).read() }, 42);
}

/// A descriptor of such a file is accepted unsealed (only memfds can be
/// sealed), and its mapping is guarded: a truncation by another holder
/// reads as zeros here instead of a `SIGBUS`.
#[test]
fn an_unsealed_huge_file_is_guarded() {
    if !huge_pages_expected() {
        return;
    }
    let seg = big(true);
    seg.write_data(BIG - 1, &[9]).unwrap();
    let other = Segment::from_borrowed_fd(seg.fd(), Access::ReadWrite).unwrap();
    let before = ndshare::truncated_pages_replaced();
    rustix::fs::ftruncate(seg.fd(), 4096).unwrap();
    // SAFETY: the range was mapped; the guard replaces the lost page.
    let last = unsafe { std::ptr::read_volatile(other.data_ptr().add(BIG - 1)) };
    assert_eq!(last, 0);
    assert!(ndshare::truncated_pages_replaced() > before);
}
