//! The fuzz targets' checks on stable Rust, within `cargo test`: every input
//! of the checked-in corpus (fuzz/corpus), then generated headers, valid and
//! mutated. `make fuzz` runs the same checks under libFuzzer.

#[path = "../../../fuzz/oracle.rs"]
mod oracle;

use std::path::PathBuf;

use ndshare::format as header;
use ndshare::Header;
use ndshare::{Layout, Order, ProcessStamp};
use proptest::prelude::*;

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut out: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            let p = e.unwrap().path();
            let b = std::fs::read(&p).unwrap();
            (p, b)
        })
        .collect();
    out.sort();
    out
}

#[test]
fn corpus_header_decode() {
    let inputs = corpus("header_decode");
    assert!(
        inputs.len() >= 8,
        "the corpus is missing: {} inputs",
        inputs.len()
    );
    for (path, data) in inputs {
        let accepted = oracle::decode(&data);
        assert_seed_verdict(&path, accepted);
    }
}

#[test]
fn corpus_segment_open() {
    let inputs = corpus("segment_open");
    assert!(
        inputs.len() >= 8,
        "the corpus is missing: {} inputs",
        inputs.len()
    );
    for (path, data) in inputs {
        let accepted = oracle::open(&data);
        assert_seed_verdict(&path, accepted);
    }
}

/// Seeds say what they are: `seed-bad_*` must be refused, other `seed-*`
/// accepted; what the fuzzer found may go either way.
fn assert_seed_verdict(path: &std::path::Path, accepted: bool) {
    let name = path.file_name().unwrap().to_string_lossy();
    if let Some(seed) = name.strip_prefix("seed-") {
        assert_eq!(accepted, !seed.starts_with("bad_"), "{}", path.display());
    }
}

/// A valid header for a random contiguous layout, C or F order.
fn valid_header() -> impl Strategy<Value = Header> {
    (
        prop::collection::vec(0u64..6, 0..5),
        prop::sample::select(vec![1u64, 2, 4, 8, 16, 3, 10]),
        any::<bool>(),
        prop::sample::select(vec![
            "<f8",
            "|u1",
            "<i4",
            "|S10",
            "<M8[ns]",
            "[('a', '<i4'), ('b', '|u1')]",
        ]),
        any::<bool>(),
    )
        .prop_map(|(shape, itemsize, f_order, dtype, named)| {
            let order = if f_order { Order::F } else { Order::C };
            let layout = Layout::contiguous(&shape, itemsize, order).unwrap();
            let stamp = ProcessStamp {
                pid: 1,
                start_ticks: 2,
            };
            Header::new(
                layout,
                dtype,
                u64::from(named) * header::FLAG_NAMED,
                stamp,
                3,
            )
            .unwrap()
        })
}

fn ready_bytes(h: &Header) -> Vec<u8> {
    let mut b = h.encode();
    b[header::offset::STATE..][..4].copy_from_slice(&header::STATE_READY.to_le_bytes());
    b
}

/// `NDSHARE_FUZZ_CASES` overrides the number of cases (e.g. for a long run).
fn cases(default: u32) -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("NDSHARE_FUZZ_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Values that break arithmetic on lengths, shapes and strides.
fn nasty_word() -> impl Strategy<Value = u64> {
    prop::sample::select(vec![
        0u64,
        1,
        4095,
        4096,
        u64::MAX,
        i64::MAX as u64,
        i64::MIN as u64,
        1 << 40,
        u64::MAX - 4095,
    ])
}

proptest! {
    #![proptest_config(cases(20_000))]

    #[test]
    fn valid_headers_round_trip(h in valid_header()) {
        let b = ready_bytes(&h);
        prop_assert_eq!(Header::decode(&b, h.segment_len()).unwrap(), h.clone());
        let mut input = h.segment_len().to_le_bytes().to_vec();
        input.extend_from_slice(&b);
        prop_assert!(oracle::decode(&input));
        let mut file = vec![0u8];
        file.extend_from_slice(&b);
        file.resize(file.len() + h.data_len as usize, 7);
        prop_assert!(oracle::open(&file));
    }

    #[test]
    fn mutated_headers_never_panic(
        h in valid_header(),
        edits in prop::collection::vec((0usize..1500, any::<u8>()), 1..8),
        words in prop::collection::vec((0usize..190, nasty_word()), 0..3),
        size_delta in prop::sample::select(vec![0i64, 0, 0, 1, -1, 4096, -4096]),
    ) {
        let mut b = ready_bytes(&h);
        for (at, v) in edits {
            let at = at % b.len();
            b[at] = v;
        }
        // Whole 8-byte words, at 8-byte steps: lengths, shape and strides.
        for (slot, v) in words {
            let at = slot * 8;
            if at + 8 <= b.len() {
                b[at..at + 8].copy_from_slice(&v.to_le_bytes());
            }
        }
        let size = h.segment_len().wrapping_add_signed(size_delta);
        let mut input = size.to_le_bytes().to_vec();
        input.extend_from_slice(&b);
        let _ = oracle::decode(&input);
    }
}

proptest! {
    #![proptest_config(cases(2_000))]

    #[test]
    fn mutated_segments_open_or_refuse(
        h in valid_header(),
        edits in prop::collection::vec((0usize..1500, any::<u8>()), 0..4),
        readonly in any::<bool>(),
    ) {
        let mut b = ready_bytes(&h);
        for (at, v) in edits {
            let at = at % b.len();
            b[at] = v;
        }
        let mut input = vec![u8::from(readonly)];
        input.extend_from_slice(&b);
        input.resize(input.len() + h.data_len as usize, 0xa5);
        let _ = oracle::open(&input);
    }
}
