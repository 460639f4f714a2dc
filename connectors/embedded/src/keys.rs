//! Order-preserving byte encodings of composite keys.
//!
//! An LSM tree orders keys as bytes. The views and bookkeeping keyspaces are
//! keyed by tuples (`(user, !created_at, booking id)`, `(group, topic,
//! partition)`), and their range scans need the tuple order: component by
//! component, strings by their bytes, integers numerically. The encoding:
//!
//! * a string is its bytes with every `0x00` written as `0x00 0xFF`, then
//!   the terminator `0x00 0x01`: no encoding is a prefix of another, and the
//!   byte order of encodings is the order of the strings (a shorter string
//!   ends with `0x00 0x01`, below any byte a longer one continues with);
//! * an `i64` is its big-endian bytes with the sign bit flipped, so
//!   negatives sort first; `u32`/`u64` are big-endian.
//!
//! The concatenation of encoded components therefore sorts exactly as the
//! tuple does, and an encoded first component is a prefix that selects every
//! key starting with it.

/// Builds one key component by component.
#[derive(Clone, Debug, Default)]
pub(crate) struct Key(Vec<u8>);

impl Key {
    /// An empty key.
    pub(crate) fn new() -> Self {
        Self(Vec::with_capacity(48))
    }

    /// Appends a string component.
    pub(crate) fn str(mut self, s: &str) -> Self {
        for &b in s.as_bytes() {
            self.0.push(b);
            if b == 0 {
                self.0.push(0xFF);
            }
        }
        self.0.extend_from_slice(&[0x00, 0x01]);
        self
    }

    /// Appends a signed integer component.
    pub(crate) fn i64(mut self, v: i64) -> Self {
        self.0
            .extend_from_slice(&((v as u64) ^ (1 << 63)).to_be_bytes());
        self
    }

    /// Appends an unsigned 32-bit component.
    pub(crate) fn u32(mut self, v: u32) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }

    /// The encoded bytes.
    pub(crate) fn done(self) -> Vec<u8> {
        self.0
    }
}

/// Reads components back, in the order they were written.
#[derive(Debug)]
pub(crate) struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    /// Reads `bytes` from the start.
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self(bytes)
    }

    /// The next string component; `None` if the bytes are not one.
    pub(crate) fn str(&mut self) -> Option<String> {
        let mut out = Vec::new();
        let mut i = 0;
        loop {
            let b = *self.0.get(i)?;
            if b == 0 {
                match *self.0.get(i + 1)? {
                    0xFF => out.push(0),
                    0x01 => {
                        self.0 = &self.0[i + 2..];
                        return String::from_utf8(out).ok();
                    }
                    _ => return None,
                }
                i += 2;
            } else {
                out.push(b);
                i += 1;
            }
        }
    }

    /// The next signed integer component.
    pub(crate) fn i64(&mut self) -> Option<i64> {
        let (head, rest) = self.0.split_first_chunk::<8>()?;
        self.0 = rest;
        Some((u64::from_be_bytes(*head) ^ (1 << 63)) as i64)
    }

    /// The next unsigned 32-bit component.
    pub(crate) fn u32(&mut self) -> Option<u32> {
        let (head, rest) = self.0.split_first_chunk::<4>()?;
        self.0 = rest;
        Some(u32::from_be_bytes(*head))
    }
}

/// A log record's key in its partition's keyspace: the offset, big-endian.
pub(crate) fn offset_key(offset: u64) -> [u8; 8] {
    offset.to_be_bytes()
}

/// The offset of a log record's key; `None` if it is not 8 bytes.
pub(crate) fn offset_of(key: &[u8]) -> Option<u64> {
    key.try_into().ok().map(u64::from_be_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn enc(t: &(String, i64, String)) -> Vec<u8> {
        Key::new().str(&t.0).i64(t.1).str(&t.2).done()
    }

    proptest! {
        #[test]
        fn encoded_tuples_sort_as_the_tuples_do(
            a in ("[a\u{0}b]{0,4}", any::<i64>(), "[\u{0}xy]{0,3}"),
            b in ("[a\u{0}b]{0,4}", any::<i64>(), "[\u{0}xy]{0,3}"),
        ) {
            prop_assert_eq!(a.cmp(&b), enc(&a).cmp(&enc(&b)));
        }

        #[test]
        fn a_key_reads_back_to_its_components(
            s in ".{0,8}", n in any::<i64>(), p in any::<u32>(), t in "[\u{0}-\u{2}a]{0,4}",
        ) {
            let k = Key::new().str(&s).i64(n).u32(p).str(&t).done();
            let mut r = Reader::new(&k);
            prop_assert_eq!(r.str(), Some(s));
            prop_assert_eq!(r.i64(), Some(n));
            prop_assert_eq!(r.u32(), Some(p));
            prop_assert_eq!(r.str(), Some(t));
        }
    }

    #[test]
    fn a_string_prefix_selects_exactly_its_tuples() {
        let prefix = Key::new().str("ab").done();
        assert!(Key::new().str("ab").i64(1).done().starts_with(&prefix));
        assert!(!Key::new().str("abc").i64(1).done().starts_with(&prefix));
        assert!(!Key::new().str("a").i64(1).done().starts_with(&prefix));
    }

    #[test]
    fn offsets_round_trip_and_sort() {
        assert_eq!(offset_of(&offset_key(42)), Some(42));
        assert!(offset_key(255) < offset_key(256));
        assert_eq!(offset_of(b"short"), None);
    }
}
