//! docs/format.md against the code: every documented offset, size and
//! constant is the one `header.rs` uses, and a real segment read with nothing
//! but the documented table gives the header the crate decodes.

use std::collections::BTreeMap;
use std::os::unix::fs::FileExt;

use ndshare::format::{self as header, offset};
use ndshare::{Builder, Order};

mod common;

fn doc() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/format.md");
    std::fs::read_to_string(path).expect("docs/format.md")
}

/// The rows of the first Markdown table after `heading`, as cells.
fn table(doc: &str, heading: &str) -> Vec<Vec<String>> {
    let start = doc
        .find(heading)
        .unwrap_or_else(|| panic!("no {heading:?} in docs/format.md"));
    doc[start..]
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2) // header row and the |---| row
        .map(|l| {
            l.trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_owned())
                .collect()
        })
        .collect()
}

/// Evaluates the offset and size expressions of the field table for a given
/// `ndim` and `dtype_len`: integers, `ndim`, `dtype_len`, `+`, `×`.
fn eval(expr: &str, ndim: usize, dtype_len: usize) -> usize {
    expr.split('+')
        .map(|term| {
            term.split('×')
                .map(|f| match f.trim() {
                    "ndim" => ndim,
                    "dtype_len" => dtype_len,
                    n => n
                        .parse()
                        .unwrap_or_else(|_| panic!("cannot read {n:?} in {expr:?}")),
                })
                .product::<usize>()
        })
        .sum()
}

/// (offset, size) of each field of the code, for fixed-size fields.
fn code_fields() -> BTreeMap<&'static str, (usize, usize)> {
    BTreeMap::from([
        ("magic", (offset::MAGIC, 8)),
        ("version_major", (offset::VERSION_MAJOR, 2)),
        ("version_minor", (offset::VERSION_MINOR, 2)),
        ("state", (offset::STATE, 4)),
        ("header_len", (offset::HEADER_LEN, 8)),
        ("data_len", (offset::DATA_LEN, 8)),
        ("flags", (offset::FLAGS, 8)),
        ("ndim", (offset::NDIM, 4)),
        ("dtype_len", (offset::DTYPE_LEN, 4)),
        ("itemsize", (offset::ITEMSIZE, 8)),
        ("created_ns", (offset::CREATED_NS, 8)),
        ("creator_pid", (offset::CREATOR_PID, 4)),
        ("creator_start", (offset::CREATOR_START, 8)),
        ("attach_overflow", (offset::ATTACH_OVERFLOW, 4)),
        ("kind", (offset::KIND, 4)),
        ("lock", (offset::LOCK, offset::RWLOCK - offset::LOCK)),
        (
            "rwlock",
            (offset::RWLOCK, offset::ATTACHERS - offset::RWLOCK),
        ),
        (
            "attachers",
            (
                offset::ATTACHERS,
                header::ATTACH_SLOTS * header::ATTACH_SLOT_LEN,
            ),
        ),
    ])
}

#[test]
fn documented_fields_are_the_code_s() {
    let rows = table(&doc(), "## Header fields");
    let mut seen = BTreeMap::new();
    let mut end = 0;
    for (ndim, dlen) in [(0, 3), (2, 36), (64, 1)] {
        end = 0;
        for row in &rows {
            let (off, size, field) = (
                eval(&row[0], ndim, dlen),
                eval(&row[1], ndim, dlen),
                row[2].as_str(),
            );
            assert_eq!(
                off, end,
                "field {field} does not start where the previous one ends"
            );
            end = off + size;
            if field == "(reserved)" {
                continue;
            }
            seen.insert(field.to_owned(), (off, size));
        }
        assert_eq!(
            end,
            offset::SHAPE + 16 * ndim + dlen,
            "the table covers the whole header"
        );
        assert_eq!(seen["shape"], (offset::SHAPE, 8 * ndim));
        assert_eq!(seen["strides"], (offset::SHAPE + 8 * ndim, 8 * ndim));
        assert_eq!(seen["dtype"], (offset::SHAPE + 16 * ndim, dlen));
    }
    assert!(end > 0);
    for (field, at) in code_fields() {
        assert_eq!(
            seen.get(field),
            Some(&at),
            "field {field}: docs vs header.rs"
        );
    }
    let documented: Vec<&str> = seen.keys().map(String::as_str).collect();
    let mut known: Vec<&str> = code_fields().keys().copied().collect();
    known.extend(["shape", "strides", "dtype"]);
    known.sort_unstable();
    assert_eq!(
        documented, known,
        "every documented field is in the code and the other way round"
    );
}

#[test]
fn documented_constants_are_the_code_s() {
    let rows = table(&doc(), "Constants:");
    let consts: BTreeMap<String, String> = rows
        .into_iter()
        .map(|r| (r[0].clone(), r[1].clone()))
        .collect();
    let num = |k: &str| -> u64 {
        let v = consts
            .get(k)
            .unwrap_or_else(|| panic!("constant {k} not documented"));
        match v.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16).unwrap(),
            None => v.parse().unwrap(),
        }
    };
    assert_eq!(consts["MAGIC"], "`NDSHARE\\0`");
    assert_eq!(header::MAGIC, *b"NDSHARE\0");
    assert_eq!(num("VERSION_MAJOR"), u64::from(header::VERSION_MAJOR));
    assert_eq!(num("VERSION_MINOR"), u64::from(header::VERSION_MINOR));
    assert_eq!(num("STATE_INIT"), u64::from(header::STATE_INIT));
    assert_eq!(num("STATE_READY"), u64::from(header::STATE_READY));
    assert_eq!(num("FLAG_NAMED"), header::FLAG_NAMED);
    assert_eq!(num("MAX_NDIM"), header::MAX_NDIM as u64);
    assert_eq!(num("MAX_DTYPE_LEN"), header::MAX_DTYPE_LEN as u64);
    assert_eq!(num("HEADER_ALIGN"), header::HEADER_ALIGN as u64);
    assert_eq!(num("ATTACH_SLOTS"), header::ATTACH_SLOTS as u64);
    assert_eq!(num("ATTACH_SLOT_LEN"), header::ATTACH_SLOT_LEN as u64);
    assert_eq!(num("KIND_ARRAY"), u64::from(header::KIND_ARRAY));
    assert_eq!(num("KIND_RING"), u64::from(header::KIND_RING));
    assert_eq!(
        consts.len(),
        13,
        "a documented constant is not checked here: {consts:?}"
    );
}

/// Reads a little-endian unsigned integer of `size` bytes.
fn le(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .rev()
        .fold(0, |acc, &b| (acc << 8) | u64::from(b))
}

#[test]
fn a_segment_read_by_the_documented_table_matches_the_decoder() {
    let name = common::unique_name("format-doc");
    let a = Builder::new()
        .name(&name)
        .order(Order::F)
        .zeros::<i16>(&[3, 5, 7])
        .unwrap();
    a.unlink().unwrap();
    // The file as any other program sees it, read by offsets from the doc.
    let fd = a.segment().fd();
    let len = a.segment().file_info().size as usize;
    let mut file = vec![0u8; len];
    std::fs::File::from(fd.try_clone_to_owned().unwrap())
        .read_exact_at(&mut file, 0)
        .unwrap();
    let rows = table(&doc(), "## Header fields");
    let ndim = 3;
    let dtype_len = a.dtype().len();
    let field = |name: &str| -> &[u8] {
        let row = rows
            .iter()
            .find(|r| r[2] == name)
            .unwrap_or_else(|| panic!("{name} not documented"));
        let off = eval(&row[0], ndim, dtype_len);
        &file[off..off + eval(&row[1], ndim, dtype_len)]
    };
    let h = a.segment().header();
    assert_eq!(field("magic"), b"NDSHARE\0");
    assert_eq!(le(field("version_major")), 1);
    assert_eq!(le(field("state")), 0x5245_4459);
    assert_eq!(le(field("header_len")), h.header_len);
    assert_eq!(le(field("header_len")), 4096);
    assert_eq!(le(field("data_len")), 3 * 5 * 7 * 2);
    assert_eq!(le(field("header_len")) + le(field("data_len")), len as u64);
    assert_eq!(le(field("flags")), 1);
    assert_eq!(le(field("ndim")), 3);
    assert_eq!(le(field("dtype_len")), 3);
    assert_eq!(le(field("itemsize")), 2);
    assert_eq!(le(field("creator_pid")), u64::from(std::process::id()));
    assert_eq!(le(field("creator_start")), h.creator.start_ticks);
    assert_eq!(le(field("created_ns")), h.created_ns);
    let shape: Vec<u64> = field("shape").chunks(8).map(le).collect();
    let strides: Vec<u64> = field("strides").chunks(8).map(le).collect();
    assert_eq!(shape, [3, 5, 7]);
    assert_eq!(strides, [2, 6, 30]); // F order, in bytes
    assert_eq!(field("dtype"), b"<i2");
    for r in rows.iter().filter(|r| r[2] == "(reserved)") {
        let off = eval(&r[0], ndim, dtype_len);
        assert!(file[off..off + eval(&r[1], ndim, dtype_len)]
            .iter()
            .all(|&b| b == 0));
    }
    let end_of_descr = offset::SHAPE + 16 * ndim + dtype_len;
    assert!(
        file[end_of_descr..4096].iter().all(|&b| b == 0),
        "zero padding up to header_len"
    );
}
