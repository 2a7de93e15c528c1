//! The attacher table: which processes map a named array, kept in its header.
//!
//! Every process that maps a named segment with a writable header claims one
//! of the [`ATTACH_SLOTS`] slots and writes its [`ProcessStamp`] there; it
//! frees the slot when it drops the segment. A process that ends without
//! dropping it (`os._exit`, `SIGKILL`, a crash) leaves its stamp behind, and
//! the stamp then names a process that is no longer alive: readers skip such
//! slots and the next claimer reuses them. So the table is right however its
//! users end, without anyone cleaning up after them.
//!
//! A slot is 16 bytes, little-endian (docs/format.md, "Attacher table"):
//!
//! | bytes | field | meaning |
//! |-------|-------|---------|
//! | 0..4  | `pid` | 0: the slot is free |
//! | 4..8  | `seq` | bits 0..31: odd while its claimer is writing `start`, even otherwise; bit 31 (`KEPT`, since 1.3): the holder keeps its mapping after its last use |
//! | 8..16 | `start` | start time of `pid` in clock ticks since boot |
//!
//! Bytes 0..8 form one 64-bit word that is only changed by compare-exchange:
//! a claim takes `(pid, seq)` from a free or dead slot to `(me, odd)`, writes
//! `start`, then stores `(me, odd + 1)`. `seq` grows with every claim, so a
//! claimer that decided a slot was dead cannot overwrite a newer holder that
//! happens to have the same pid (no ABA). A slot seen with an odd `seq` is
//! being claimed: it counts as held while a process with its pid exists.
//!
//! When every slot is held by a live process, or the process cannot read its
//! own start time (a slot would then name no live process), it adds one to
//! the `ATTACH_OVERFLOW` counter instead and subtracts it when it drops the
//! segment. A non-zero counter means "mapped by processes the table does not
//! name": `ndshare gc` then never removes the array. A process that overflowed
//! and was killed leaves the counter raised for good; only `ndshare rm` removes
//! such an array. That errs on the side of keeping memory, never of removing
//! it under a live user.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::error::Result;
use crate::format::file::read_prefix;
use crate::format::header::{offset, ATTACH_SLOTS, ATTACH_SLOT_LEN};
use crate::liveness::ProcessStamp;
use crate::sys::{self, FdRef, Mapping};

/// Every access to the table is sequentially consistent: it happens once per
/// attach and detach, never on a hot path, and the reasoning stays simple.
const ORD: Ordering = Ordering::SeqCst;

/// One slot as laid out in the header.
#[repr(C)]
struct Slot {
    /// `pid` in the low 32 bits, `seq` in the high 32 bits (little-endian).
    word: AtomicU64,
    /// `start`, the holder's start time.
    start: AtomicU64,
}

const _: () = assert!(std::mem::size_of::<Slot>() == ATTACH_SLOT_LEN);

fn split(word: u64) -> (u32, u32) {
    (word as u32, (word >> 32) as u32)
}

fn join(pid: u32, seq: u32) -> u64 {
    u64::from(pid) | (u64::from(seq) << 32)
}

/// The top bit of `seq` (since format 1.3): the holder keeps its mapping
/// after its last use of the array, for a bounded time. The claim counter is
/// the other 31 bits; readers of older versions look only at bit 0.
const KEPT: u32 = 1 << 31;

/// The `seq` of a claim in progress that follows `seq`: odd, new, and not
/// kept (the counter wraps within its 31 bits).
fn next_busy(seq: u32) -> u32 {
    let count = seq & !KEPT;
    let next = if count % 2 == 0 { count + 1 } else { count + 2 };
    next & !KEPT
}

impl Slot {
    fn load(&self) -> u64 {
        u64::from_le(self.word.load(ORD))
    }

    fn compare_exchange(&self, current: u64, new: u64) -> bool {
        self.word
            .compare_exchange(current.to_le(), new.to_le(), ORD, ORD)
            .is_ok()
    }

    /// A consistent reading of the slot: the word did not change while
    /// `start` was read.
    fn read(&self) -> (u64, u64) {
        loop {
            let before = self.load();
            let start = u64::from_le(self.start.load(ORD));
            if self.load() == before {
                return (before, start);
            }
        }
    }
}

/// The attacher table of a mapped header.
pub(crate) struct Table<'a> {
    slots: &'a [Slot; ATTACH_SLOTS],
    overflow: &'a AtomicU32,
}

impl<'a> Table<'a> {
    /// The table of a mapped segment, if the mapping's header is writable.
    pub(crate) fn of(map: &'a Mapping, header_writable: bool) -> Option<Table<'a>> {
        if !header_writable || map.len() < offset::ATTACHERS_END {
            return None;
        }
        let base = map.as_ptr();
        // The casts are to 8- and 4-aligned offsets of a page-aligned mapping.
        #[allow(clippy::cast_ptr_alignment)]
        // SAFETY: the mapping is at least ATTACHERS_END bytes (checked above),
        // page-aligned, so both offsets are 8-aligned and in bounds, and it is
        // readable and writable (header_writable). It lives as long as `map`,
        // which `'a` borrows. The words are shared with other processes, so
        // they are only ever touched through atomics: as `AtomicU64` and
        // `AtomicU32` here, and by pread-based readers that never write.
        unsafe {
            Some(Table {
                slots: &*base.add(offset::ATTACHERS).cast::<[Slot; ATTACH_SLOTS]>(),
                overflow: &*base.add(offset::ATTACH_OVERFLOW).cast::<AtomicU32>(),
            })
        }
    }

    /// Claims a free slot, or failing that the slot of a process that is gone,
    /// for `me`.
    fn claim(&self, me: ProcessStamp) -> Option<usize> {
        // First pass: free slots only, which costs no /proc look-up.
        for reclaim in [false, true] {
            for (i, slot) in self.slots.iter().enumerate() {
                loop {
                    let (word, start) = slot.read();
                    let (pid, seq) = split(word);
                    if pid != 0 && (!reclaim || holder_lives(pid, seq, start)) {
                        break;
                    }
                    let busy = next_busy(seq);
                    if slot.compare_exchange(word, join(me.pid, busy)) {
                        slot.start.store(me.start_ticks.to_le(), ORD);
                        slot.word
                            .store(join(me.pid, busy.wrapping_add(1)).to_le(), ORD);
                        return Some(i);
                    }
                    // Another process changed the slot first: look again.
                }
            }
        }
        None
    }

    fn free(&self, index: usize, pid: u32) {
        let slot = &self.slots[index];
        let word = slot.load();
        let (holder, seq) = split(word);
        // Only our own completed claim is freed: a slot that now names another
        // process (someone judged us dead, or the header was overwritten) is
        // left alone. A free slot is never marked kept.
        if holder == pid && seq % 2 == 0 {
            slot.compare_exchange(word, join(0, seq & !KEPT));
        }
    }

    /// Marks our own completed claim in slot `index` as kept (or in use).
    fn set_kept(&self, index: usize, pid: u32, kept: bool) {
        let slot = &self.slots[index];
        loop {
            let word = slot.load();
            let (holder, seq) = split(word);
            if holder != pid || seq % 2 == 1 {
                return;
            }
            let new = if kept { seq | KEPT } else { seq & !KEPT };
            if new == seq || slot.compare_exchange(word, join(pid, new)) {
                return;
            }
        }
    }

    fn add_overflow(&self, delta: i32) {
        let _ = self.overflow.fetch_update(ORD, ORD, |v| {
            u32::from_le(v).checked_add_signed(delta).map(u32::to_le)
        });
    }
}

/// Whether the holder of a slot is alive. A claim in progress (odd `seq`)
/// has no `start` yet: it counts while any process has its pid.
fn holder_lives(pid: u32, seq: u32, start: u64) -> bool {
    if seq % 2 == 1 {
        process_exists(pid)
    } else {
        ProcessStamp {
            pid,
            start_ticks: start,
        }
        .is_alive()
    }
}

fn process_exists(pid: u32) -> bool {
    crate::liveness::pid_exists(pid)
}

/// Where this process is registered in a segment's table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registered {
    /// Not registered: an anonymous segment, or a header this process may
    /// not write.
    No,
    /// In this slot.
    Slot(usize),
    /// Counted in `ATTACH_OVERFLOW`: every slot was held by a live process.
    Overflow,
}

const CODE_OVERFLOW: u32 = u32::MAX;

/// The start time a [`ProcessStamp`] holds when it could not be read.
const UNKNOWN_START: u64 = 0;

/// A process's registration in one mapped segment: who registered (a forked
/// child inherits the value but is not its owner) and where.
#[derive(Debug, Default)]
pub(crate) struct Registration(AtomicU64);

impl Registration {
    /// Registers `me` in `table` (if any).
    /// `me` is only computed when there is a table: reading the stamp costs
    /// a look at /proc, which anonymous segments should not pay.
    pub(crate) fn new(
        table: Option<&Table<'_>>,
        me: impl FnOnce() -> ProcessStamp,
    ) -> Registration {
        let r = Registration::default();
        if let Some(t) = table {
            r.register(t, me());
        }
        r
    }

    /// Registers `me`, replacing what this value held without freeing it:
    /// after `fork`, what it held is the parent's.
    ///
    /// A process that could not read its own start time (`start_ticks` 0,
    /// e.g. no descriptor left to open `/proc`) would name no live process
    /// in a slot, and readers would take it for dead at once: it counts
    /// itself in the overflow count instead.
    pub(crate) fn register(&self, table: &Table<'_>, me: ProcessStamp) {
        let slot = if me.start_ticks == UNKNOWN_START {
            None
        } else {
            table.claim(me)
        };
        let code = if let Some(i) = slot {
            i as u32
        } else {
            table.add_overflow(1);
            CODE_OVERFLOW
        };
        self.0.store(join(code, me.pid), ORD);
    }

    /// Frees the slot (or the overflow count) if this process registered it.
    pub(crate) fn release(&self, table: &Table<'_>) {
        let (code, pid) = split(self.0.swap(0, ORD));
        if pid == 0 || pid != sys::current_pid() {
            return;
        }
        if code == CODE_OVERFLOW {
            table.add_overflow(-1);
        } else {
            table.free(code as usize, pid);
        }
    }

    /// Marks this process's slot as kept after use (`true`) or in use
    /// again (`false`). Nothing happens if it holds no slot.
    pub(crate) fn set_kept(&self, table: &Table<'_>, kept: bool) {
        if let Registered::Slot(i) = self.get() {
            table.set_kept(i, sys::current_pid(), kept);
        }
    }

    /// Where this process is registered.
    pub(crate) fn get(&self) -> Registered {
        let (code, pid) = split(self.0.load(ORD));
        match (pid, code) {
            (0, _) => Registered::No,
            (p, _) if p != sys::current_pid() => Registered::No,
            (_, CODE_OVERFLOW) => Registered::Overflow,
            (_, i) => Registered::Slot(i as usize),
        }
    }
}

/// A process named in an attacher slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Attacher {
    /// The slot's index.
    pub slot: usize,
    /// The process.
    pub process: ProcessStamp,
    /// Its claim was still being written (no start time yet).
    pub claiming: bool,
    /// Whether the process was alive when the table was read.
    pub alive: bool,
    /// The process no longer uses the array but keeps it mapped for a
    /// bounded time after its last use (since format 1.3).
    pub kept: bool,
}

/// What an attacher table said when it was read.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct Snapshot {
    /// Every slot not free, live or not, by slot index.
    pub attachers: Vec<Attacher>,
    /// Live mappers that found no free slot (`ATTACH_OVERFLOW`).
    pub overflow: u32,
}

impl Snapshot {
    /// Parses the table from the first [`offset::ATTACHERS_END`] bytes of a
    /// header and looks up whether each process named there is alive.
    /// Shorter input gives an empty table.
    #[must_use]
    pub fn parse(header: &[u8]) -> Snapshot {
        if header.len() < offset::ATTACHERS_END {
            return Snapshot::default();
        }
        let u32_at = |at: usize| {
            let mut b = [0u8; 4];
            b.copy_from_slice(&header[at..at + 4]);
            u32::from_le_bytes(b)
        };
        let u64_at = |at: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&header[at..at + 8]);
            u64::from_le_bytes(b)
        };
        let attachers = (0..ATTACH_SLOTS)
            .filter_map(|slot| {
                let at = offset::ATTACHERS + slot * ATTACH_SLOT_LEN;
                let (pid, seq) = (u32_at(at), u32_at(at + 4));
                let start_ticks = u64_at(at + 8);
                (pid != 0).then(|| Attacher {
                    slot,
                    process: ProcessStamp { pid, start_ticks },
                    claiming: seq % 2 == 1,
                    alive: holder_lives(pid, seq, start_ticks),
                    kept: seq % 2 == 0 && seq & KEPT != 0,
                })
            })
            .collect();
        Snapshot {
            attachers,
            overflow: u32_at(offset::ATTACH_OVERFLOW),
        }
    }

    /// The live processes the table names.
    pub fn live(&self) -> impl Iterator<Item = &Attacher> {
        self.attachers.iter().filter(|a| a.alive)
    }

    /// How many distinct live processes the table names (a process that
    /// maps an array twice holds two slots).
    #[must_use]
    pub fn live_processes(&self) -> usize {
        // Two live processes never share a pid.
        self.live()
            .map(|a| a.process.pid)
            .collect::<std::collections::HashSet<_>>()
            .len()
    }

    /// How many of the [`Snapshot::live_processes`] only keep the array
    /// mapped after their last use: every live slot of theirs is kept.
    #[must_use]
    pub fn kept_processes(&self) -> usize {
        kept_processes(&self.attachers)
    }

    /// How many live processes map the array: those the table names, plus
    /// the overflow count.
    #[must_use]
    pub fn live_count(&self) -> usize {
        self.live_processes() + self.overflow as usize
    }

    /// Whether some live process is known to map the array.
    #[must_use]
    pub fn in_use(&self) -> bool {
        self.live_count() > 0
    }
}

/// How many distinct live processes of `attachers` only keep the array
/// mapped after their last use: every live slot of theirs is kept.
#[must_use]
pub fn kept_processes(attachers: &[Attacher]) -> usize {
    let live = attachers.iter().filter(|a| a.alive);
    let using: std::collections::HashSet<_> = live
        .clone()
        .filter(|a| !a.kept)
        .map(|a| a.process.pid)
        .collect();
    live.filter(|a| a.kept && !using.contains(&a.process.pid))
        .map(|a| a.process.pid)
        .collect::<std::collections::HashSet<_>>()
        .len()
}

/// Reads the attacher table of the segment behind `fd` with `pread`, without
/// mapping it (a reader needs no write access, and a file truncated under it
/// is an error rather than a `SIGBUS`).
///
/// `pread` does not copy atomically, so the table is read until two readings
/// agree: a slot changing while it is read cannot be misread.
///
/// # Errors
/// [`crate::Error::Io`] if the file cannot be read.
pub fn read(fd: FdRef<'_>) -> Result<Snapshot> {
    let mut last = read_prefix(fd, offset::ATTACHERS_END)?;
    for _ in 0..100 {
        let now = read_prefix(fd, offset::ATTACHERS_END)?;
        if now == last {
            break;
        }
        last = now;
    }
    Ok(Snapshot::parse(&last))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_sequence_is_odd_and_new() {
        assert_eq!(next_busy(0), 1);
        assert_eq!(next_busy(2), 3);
        assert_eq!(next_busy(3), 5);
        assert_eq!(next_busy(u32::MAX), 1);
        assert_eq!(next_busy(u32::MAX - 1), 0x7fff_ffff);
        // A kept holder's slot, claimed again: not kept.
        assert_eq!(next_busy(KEPT | 4), 5);
    }

    #[test]
    fn word_layout_is_pid_then_seq() {
        let w = join(0x1122_3344, 0x5566_7788);
        assert_eq!(
            w.to_le_bytes(),
            [0x44, 0x33, 0x22, 0x11, 0x88, 0x77, 0x66, 0x55]
        );
        assert_eq!(split(w), (0x1122_3344, 0x5566_7788));
    }

    #[test]
    fn parse_reads_slots_and_liveness() {
        let me = ProcessStamp::current();
        let mut b = vec![0u8; offset::ATTACHERS_END];
        let put = |b: &mut [u8], slot: usize, pid: u32, seq: u32, start: u64| {
            let at = offset::ATTACHERS + slot * ATTACH_SLOT_LEN;
            b[at..at + 4].copy_from_slice(&pid.to_le_bytes());
            b[at + 4..at + 8].copy_from_slice(&seq.to_le_bytes());
            b[at + 8..at + 16].copy_from_slice(&start.to_le_bytes());
        };
        put(&mut b, 3, me.pid, 2, me.start_ticks);
        // The same pid with another start time: a reused pid, not us.
        put(&mut b, 7, me.pid, 4, me.start_ticks + 1);
        // Our pid, claim in progress: counts while the pid exists.
        put(&mut b, 9, me.pid, 5, 0);
        b[offset::ATTACH_OVERFLOW..offset::ATTACH_OVERFLOW + 4]
            .copy_from_slice(&2u32.to_le_bytes());
        let s = Snapshot::parse(&b);
        let slots: Vec<_> = s
            .attachers
            .iter()
            .map(|a| (a.slot, a.alive, a.claiming))
            .collect();
        assert_eq!(
            slots,
            vec![(3, true, false), (7, false, false), (9, true, true)]
        );
        assert_eq!(s.overflow, 2);
        // Slots 3 and 9 name the same live process.
        assert_eq!(s.live().count(), 2);
        assert_eq!(s.live_processes(), 1);
        assert_eq!(s.live_count(), 3);
        assert!(Snapshot::parse(&b[..100]).attachers.is_empty());
    }
}
