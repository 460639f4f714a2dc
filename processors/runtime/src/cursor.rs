//! Opaque pagination cursors, the same on every view backend: lower-case hex
//! of a tag byte, an optional big-endian number (an instant) and the last id
//! a page returned. Anything that does not decode, or was issued by another
//! listing, is [`ViewError::BadCursor`].

use crate::views::ViewError;

/// Which listing issued a cursor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Listing {
    /// `bookings_by_user`: after (an instant derived from `created_at`, id).
    User,
    /// `bookings_by_resource`: after (start, id).
    Resource,
    /// `bookings_by_vendor`: after (start, id).
    Vendor,
}

impl Listing {
    fn tag(self) -> u8 {
        match self {
            Self::User => b'u',
            Self::Resource => b'r',
            Self::Vendor => b'v',
        }
    }
}

const CATALOG: u8 = b'c';

/// A cursor after (`at`, `id`) in `listing`.
pub fn encode(listing: Listing, at: i64, id: &str) -> String {
    let mut bytes = Vec::with_capacity(9 + id.len());
    bytes.push(listing.tag());
    bytes.extend_from_slice(&at.to_be_bytes());
    bytes.extend_from_slice(id.as_bytes());
    hex(&bytes)
}

/// Reads a cursor of `listing`.
pub fn decode(listing: Listing, cursor: &str) -> Result<(i64, String), ViewError> {
    let bytes = unhex(cursor)?;
    match bytes.split_first() {
        Some((&tag, rest)) if tag == listing.tag() && rest.len() >= 8 => {
            let (at, id) = rest.split_at(8);
            let mut n = [0u8; 8];
            n.copy_from_slice(at);
            let id = String::from_utf8(id.to_vec()).map_err(|_| ViewError::BadCursor)?;
            Ok((i64::from_be_bytes(n), id))
        }
        _ => Err(ViewError::BadCursor),
    }
}

/// A `resources` cursor: after this resource id.
pub fn encode_catalog(id: &str) -> String {
    let mut bytes = vec![CATALOG];
    bytes.extend_from_slice(id.as_bytes());
    hex(&bytes)
}

/// Reads a `resources` cursor.
pub fn decode_catalog(cursor: &str) -> Result<String, ViewError> {
    match unhex(cursor)?.split_first() {
        Some((&CATALOG, id)) => String::from_utf8(id.to_vec()).map_err(|_| ViewError::BadCursor),
        _ => Err(ViewError::BadCursor),
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    bytes
        .iter()
        .flat_map(|b| [DIGITS[usize::from(b >> 4)], DIGITS[usize::from(b & 0xf)]])
        .map(char::from)
        .collect()
}

fn unhex(s: &str) -> Result<Vec<u8>, ViewError> {
    fn nibble(c: u8) -> Result<u8, ViewError> {
        match c {
            b'0'..=b'9' => Ok(c - b'0'),
            b'a'..=b'f' => Ok(c - b'a' + 10),
            _ => Err(ViewError::BadCursor),
        }
    }
    let raw = s.as_bytes();
    if raw.is_empty() || !raw.len().is_multiple_of(2) {
        return Err(ViewError::BadCursor);
    }
    raw.chunks_exact(2)
        .map(|p| Ok((nibble(p[0])? << 4) | nibble(p[1])?))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_reads_back_as_the_position_it_was_made_from() {
        let c = encode(Listing::User, -7, "bk-é");
        assert_eq!(
            decode(Listing::User, &c).expect("valid"),
            (-7, "bk-é".into())
        );
        let c = encode_catalog("res-1");
        assert_eq!(decode_catalog(&c).expect("valid"), "res-1");
    }

    #[test]
    fn garbage_and_cursors_of_other_listings_are_refused() {
        for bad in ["", "z", "zz", "ABCD", "75", "not a cursor!"] {
            assert!(matches!(
                decode(Listing::User, bad),
                Err(ViewError::BadCursor)
            ));
            assert!(matches!(decode_catalog(bad), Err(ViewError::BadCursor)));
        }
        let resource = encode(Listing::Resource, 1, "b");
        assert!(matches!(
            decode(Listing::Vendor, &resource),
            Err(ViewError::BadCursor)
        ));
        assert!(matches!(
            decode_catalog(&resource),
            Err(ViewError::BadCursor)
        ));
        let catalog = encode_catalog("r");
        assert!(matches!(
            decode(Listing::User, &catalog),
            Err(ViewError::BadCursor)
        ));
    }
}
