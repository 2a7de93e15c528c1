//! numpy's `.npy` file format: the header `ndshare dump` writes and
//! `ndshare load` reads.
//!
//! From numpy's `numpy.lib.format`: the magic `\x93NUMPY`, a major and a
//! minor version byte, the header's length (`u16` little-endian in version
//! 1.0, `u32` in 2.0 and 3.0), then the header: the `repr` of a dict with
//! the keys `descr`, `fortran_order` and `shape`, padded with spaces and a
//! final newline so that the data starts at a multiple of 64 bytes. Version
//! 1.0 and 2.0 headers are latin-1, 3.0 headers UTF-8 (for field names
//! outside latin-1). The data follows in C or Fortran order.

use std::io::Read;

use ndshare::format::itemsize_of;

use crate::literal::{self, Literal};

const MAGIC: &[u8; 6] = b"\x93NUMPY";
/// The data starts at a multiple of this (numpy's `ARRAY_ALIGN`).
const ALIGN: usize = 64;
/// Spare spaces numpy leaves after the header so that a writer can grow the
/// first axis in place (numpy's `GROWTH_AXIS_MAX_DIGITS`).
const GROWTH_DIGITS: usize = 21;
/// The longest header read: numpy's own default bound (`max_header_size`)
/// on the work of parsing an untrusted file.
pub(crate) const MAX_HEADER: usize = 10_000;

/// What a `.npy` header says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Header {
    /// The dtype descriptor as a segment stores it: a type string, or the
    /// `repr` of a structured dtype's field list.
    pub descr: String,
    pub itemsize: u64,
    pub fortran_order: bool,
    pub shape: Vec<u64>,
}

/// The header of a file holding an array of dtype `descr` (as a segment
/// stores it), in the version numpy picks: 1.0 if the header fits, 2.0 if
/// not, 3.0 if it is not latin-1.
pub(crate) fn write_header(descr: &str, fortran_order: bool, shape: &[u64]) -> Vec<u8> {
    let descr_repr = if descr.starts_with('[') {
        descr.to_owned()
    } else {
        literal::repr_str(descr)
    };
    let shape_repr = Literal::Tuple(shape.iter().map(|&d| Literal::Int(d)).collect()).repr();
    let mut text = format!(
        "{{'descr': {descr_repr}, 'fortran_order': {}, 'shape': {shape_repr}, }}",
        if fortran_order { "True" } else { "False" }
    );
    let growing = if fortran_order {
        shape.last()
    } else {
        shape.first()
    };
    if let Some(d) = growing {
        let digits = d.to_string().len();
        text.extend(std::iter::repeat_n(
            ' ',
            GROWTH_DIGITS.saturating_sub(digits),
        ));
    }
    let latin1: Option<Vec<u8>> = text.chars().map(|c| u8::try_from(c).ok()).collect();
    // (major version, bytes of the length field, header length with its
    // padding and newline).
    let sized = |len_bytes: usize, encoded: &[u8]| {
        let unpadded = MAGIC.len() + 2 + len_bytes + encoded.len() + 1;
        encoded.len() + 1 + (ALIGN - unpadded % ALIGN)
    };
    let (major, encoded) = match latin1 {
        Some(bytes) if u16::try_from(sized(2, &bytes)).is_ok() => (1u8, bytes),
        Some(bytes) => (2, bytes),
        None => (3, text.into_bytes()),
    };
    let len_bytes = if major == 1 { 2 } else { 4 };
    let header_len = sized(len_bytes, &encoded);
    let mut out = Vec::with_capacity(MAGIC.len() + 2 + len_bytes + header_len);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[major, 0]);
    if major == 1 {
        // Fits: checked above.
        out.extend_from_slice(&u16::try_from(header_len).unwrap_or(u16::MAX).to_le_bytes());
    } else {
        // A segment's descriptor is far shorter than 4 GiB.
        out.extend_from_slice(&u32::try_from(header_len).unwrap_or(u32::MAX).to_le_bytes());
    }
    let pad = header_len - encoded.len() - 1;
    out.extend_from_slice(&encoded);
    out.extend(std::iter::repeat_n(b' ', pad));
    out.push(b'\n');
    out
}

/// Why a file is not a `.npy` file ndshare can load.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// Reading the file failed.
    Io(std::io::Error),
    /// The file is not a `.npy` file, or not one of a shareable dtype.
    Format(String),
}

impl From<std::io::Error> for ReadError {
    fn from(e: std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            ReadError::Format("the file ends inside its .npy header".into())
        } else {
            ReadError::Io(e)
        }
    }
}

fn bad<T>(why: impl Into<String>) -> Result<T, ReadError> {
    Err(ReadError::Format(why.into()))
}

/// Reads the magic, version and header of a `.npy` file, leaving `r` at
/// the first byte of the data.
pub(crate) fn read_header(r: &mut dyn Read) -> Result<Header, ReadError> {
    let mut start = [0u8; 8];
    r.read_exact(&mut start)?;
    if start.starts_with(b"PK\x03\x04") {
        return bad(
            "this is an .npz archive, not an .npy file: it holds several arrays; \
             extract one with numpy and save it with numpy.save",
        );
    }
    if &start[..6] != MAGIC {
        return bad("not an .npy file (no \\x93NUMPY magic)");
    }
    let (major, minor) = (start[6], start[7]);
    let len = match (major, minor) {
        (1, 0) => {
            let mut b = [0u8; 2];
            r.read_exact(&mut b)?;
            usize::from(u16::from_le_bytes(b))
        }
        (2 | 3, 0) => {
            let mut b = [0u8; 4];
            r.read_exact(&mut b)?;
            usize::try_from(u32::from_le_bytes(b)).unwrap_or(usize::MAX)
        }
        _ => {
            return bad(format!(
                ".npy format version {major}.{minor} is not one numpy writes (1.0, 2.0, 3.0)"
            ))
        }
    };
    if len > MAX_HEADER {
        return bad(format!(
            "the .npy header is {len} bytes, more than the {MAX_HEADER} numpy reads by default"
        ));
    }
    let mut raw = vec![0u8; len];
    r.read_exact(&mut raw)?;
    let text = if major == 3 {
        String::from_utf8(raw).or_else(|_| bad("the .npy header is not UTF-8"))?
    } else {
        raw.iter().map(|&b| char::from(b)).collect()
    };
    parse_header(&text)
}

fn parse_header(text: &str) -> Result<Header, ReadError> {
    let invalid = |why: &str| bad(format!("invalid .npy header ({why}): {}", text.trim_end()));
    let Ok(Literal::Dict(pairs)) = literal::parse(text) else {
        return invalid("not a Python dict literal");
    };
    let (mut descr, mut fortran, mut shape) = (None, None, None);
    for (k, v) in pairs {
        let slot = match &k {
            Literal::Str(k) if k == "descr" => &mut descr,
            Literal::Str(k) if k == "fortran_order" => &mut fortran,
            Literal::Str(k) if k == "shape" => &mut shape,
            _ => return invalid(&format!("unexpected key {}", k.repr())),
        };
        *slot = Some(v);
    }
    let (Some(descr), Some(fortran), Some(shape)) = (descr, fortran, shape) else {
        return invalid("it needs the keys 'descr', 'fortran_order' and 'shape'");
    };
    let Literal::Bool(fortran_order) = fortran else {
        return invalid("'fortran_order' is not True or False");
    };
    let Literal::Tuple(dims) = shape else {
        return invalid("'shape' is not a tuple");
    };
    let shape = dims
        .iter()
        .map(|d| match d {
            Literal::Int(n) => Some(*n),
            _ => None,
        })
        .collect::<Option<Vec<u64>>>();
    let Some(shape) = shape else {
        return invalid("'shape' holds something other than whole numbers");
    };
    let itemsize = itemsize_of_descr(&descr, 0).map_err(ReadError::Format)?;
    let descr = match descr {
        Literal::Str(s) => s,
        list => list.repr(),
    };
    Ok(Header {
        descr,
        itemsize,
        fortran_order,
        shape,
    })
}

/// The item size of a `descr`: a type string, or a list of fields `(name,
/// type)` or `(name, type, shape)` whose type is itself a `descr`. Python
/// objects (`O`) anywhere are refused.
fn itemsize_of_descr(d: &Literal, depth: usize) -> Result<u64, String> {
    let too_big = || "the dtype is too large".to_owned();
    match d {
        Literal::Str(s) if s.trim_start_matches(['<', '>', '|', '=']).starts_with('O') => {
            Err(format!(
                "the array holds Python objects (dtype {s:?}), which cannot be shared \
                 between processes: load it with numpy.load(..., allow_pickle=True) if you trust it"
            ))
        }
        Literal::Str(s) if !s.starts_with('[') => itemsize_of(s)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("invalid dtype descriptor {s:?}")),
        Literal::List(fields) if depth < 16 => fields.iter().try_fold(0u64, |total, f| {
            let (name, ty, count) = match f {
                Literal::Tuple(t) if t.len() == 2 => (&t[0], &t[1], 1),
                Literal::Tuple(t) if t.len() == 3 => {
                    let dims: &[Literal] = match &t[2] {
                        Literal::Tuple(dims) => dims,
                        one => std::slice::from_ref(one),
                    };
                    let count = dims.iter().try_fold(1u64, |n, d| match d {
                        Literal::Int(d) => n.checked_mul(*d).ok_or_else(too_big),
                        _ => Err(format!("invalid field shape {}", t[2].repr())),
                    })?;
                    (&t[0], &t[1], count)
                }
                other => return Err(format!("invalid field {}", other.repr())),
            };
            let named = match name {
                Literal::Str(_) => true,
                Literal::Tuple(t) => t.len() == 2 && t.iter().all(|x| matches!(x, Literal::Str(_))),
                _ => false,
            };
            if !named {
                return Err(format!("invalid field name {}", name.repr()));
            }
            let size = itemsize_of_descr(ty, depth + 1)?
                .checked_mul(count)
                .ok_or_else(too_big)?;
            total.checked_add(size).ok_or_else(too_big)
        }),
        other => Err(format!("invalid dtype descriptor {}", other.repr())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(bytes: &[u8]) -> Result<Header, ReadError> {
        read_header(&mut &bytes[..])
    }

    #[test]
    fn writes_what_numpy_writes() {
        let h = write_header("<f8", false, &[3, 4]);
        assert_eq!(h.len() % 64, 0);
        let text = "{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }";
        assert_eq!(&h[..8], b"\x93NUMPY\x01\x00");
        assert_eq!(usize::from(u16::from_le_bytes([h[8], h[9]])), h.len() - 10);
        assert!(h[10..].starts_with(text.as_bytes()));
        assert_eq!(
            h[10 + text.len()..h.len() - 1],
            vec![b' '; h.len() - 11 - text.len()]
        );
        assert_eq!(h.last(), Some(&b'\n'));
        let back = read(&h).unwrap();
        assert_eq!(
            (back.descr.as_str(), back.itemsize, back.shape),
            ("<f8", 8, vec![3, 4])
        );
        let utf8 = write_header("[('名前', '<i4')]", true, &[]);
        assert_eq!(&utf8[6..8], &[3, 0]);
        assert_eq!(utf8.len() % 64, 0);
        assert_eq!(read(&utf8).unwrap().descr, "[('名前', '<i4')]");
        let latin1 = write_header("[('é', '<i4')]", false, &[2]);
        assert_eq!(&latin1[6..8], &[1, 0]);
        assert_eq!(read(&latin1).unwrap().itemsize, 4);
    }

    #[test]
    fn item_sizes_of_structured_dtypes() {
        let size = |d: &str| itemsize_of_descr(&literal::parse(d).unwrap(), 0);
        assert_eq!(
            size("[('x', '<f8'), ('n', '<i4', (2, 3)), ('', '|V4')]"),
            Ok(8 + 24 + 4)
        );
        assert_eq!(size("[('a', [('b', '<u2'), ('c', '|S3')], 2)]"), Ok(10));
        assert!(size("[('o', '|O')]")
            .unwrap_err()
            .contains("Python objects"));
        assert!(size("'|O'").is_err());
        assert!(size("[('x', '<f8', (99999999999, 99999999999, 99999999999))]").is_err());
    }

    #[test]
    fn refuses_what_is_not_an_npy_header() {
        let with = |text: &str| {
            let mut b = b"\x93NUMPY\x01\x00".to_vec();
            b.extend_from_slice(&u16::try_from(text.len()).unwrap().to_le_bytes());
            b.extend_from_slice(text.as_bytes());
            read(&b)
        };
        for text in [
            "{'descr': '<f8', 'fortran_order': False}",
            "{'descr': '<f8', 'fortran_order': 0, 'shape': ()}",
            "{'descr': '<f8', 'fortran_order': False, 'shape': [3]}",
            "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), 'x': 1}",
            "{'descr': '|O', 'fortran_order': False, 'shape': (3,)}",
            "__import__('os').system('true')",
        ] {
            assert!(matches!(with(text), Err(ReadError::Format(_))), "{text}");
        }
        assert!(with("{'descr': '<f8', 'fortran_order': False, 'shape': (3,)}").is_ok());
        assert!(matches!(read(b"PK\x03\x04rest"), Err(ReadError::Format(m)) if m.contains(".npz")));
        assert!(matches!(read(b"\x93NUMPY\x01"), Err(ReadError::Format(m)) if m.contains("ends")));
        assert!(matches!(
            read(b"\x93NUMPY\x04\x00\x00\x00"),
            Err(ReadError::Format(_))
        ));
    }
}
