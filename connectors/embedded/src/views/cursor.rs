//! Opaque pagination cursors: the hex of a tag byte and the last key a page
//! returned. A cursor that does not decode, or was issued by another listing,
//! is refused with [`ViewError::BadCursor`].

use slotstream_runtime::ViewError;

const USER: u8 = b'u';
const RESOURCE: u8 = b'r';
const CATALOG: u8 = b'c';

/// Cursor of `bookings_by_user`: after (`!created_at`, booking id).
pub(crate) fn user(inv_created: i64, id: &str) -> String {
    encode(USER, Some(inv_created), id)
}

/// Reads a `bookings_by_user` cursor.
pub(crate) fn parse_user(cursor: &str) -> Result<(i64, String), ViewError> {
    decode_with_number(USER, cursor)
}

/// Cursor of `bookings_by_resource`: after (start, booking id).
pub(crate) fn resource(start: i64, id: &str) -> String {
    encode(RESOURCE, Some(start), id)
}

/// Reads a `bookings_by_resource` cursor.
pub(crate) fn parse_resource(cursor: &str) -> Result<(i64, String), ViewError> {
    decode_with_number(RESOURCE, cursor)
}

/// Cursor of `resources`: after this resource id.
pub(crate) fn catalog(id: &str) -> String {
    encode(CATALOG, None, id)
}

/// Reads a `resources` cursor.
pub(crate) fn parse_catalog(cursor: &str) -> Result<String, ViewError> {
    let bytes = unhex(cursor)?;
    match bytes.split_first() {
        Some((&CATALOG, id)) => String::from_utf8(id.to_vec()).map_err(|_| ViewError::BadCursor),
        _ => Err(ViewError::BadCursor),
    }
}

fn encode(tag: u8, number: Option<i64>, id: &str) -> String {
    let mut bytes = Vec::with_capacity(9 + id.len());
    bytes.push(tag);
    if let Some(n) = number {
        bytes.extend_from_slice(&n.to_be_bytes());
    }
    bytes.extend_from_slice(id.as_bytes());
    hex(&bytes)
}

fn decode_with_number(tag: u8, cursor: &str) -> Result<(i64, String), ViewError> {
    let bytes = unhex(cursor)?;
    let Some((&found, rest)) = bytes.split_first() else {
        return Err(ViewError::BadCursor);
    };
    if found != tag || rest.len() < 8 {
        return Err(ViewError::BadCursor);
    }
    let (number, id) = rest.split_at(8);
    let mut n = [0u8; 8];
    n.copy_from_slice(number);
    let id = String::from_utf8(id.to_vec()).map_err(|_| ViewError::BadCursor)?;
    Ok((i64::from_be_bytes(n), id))
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
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
        .map(|pair| Ok(nibble(pair[0])? << 4 | nibble(pair[1])?))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip() {
        assert_eq!(
            parse_user(&user(-5, "b1")).expect("valid"),
            (-5, "b1".to_owned())
        );
        assert_eq!(
            parse_resource(&resource(i64::MAX, "")).expect("valid"),
            (i64::MAX, String::new())
        );
        assert_eq!(parse_catalog(&catalog("res_é")).expect("valid"), "res_é");
    }

    #[test]
    fn garbage_and_foreign_cursors_are_refused() {
        for bad in ["", "zz", "abc", "75", "not a cursor"] {
            assert!(
                matches!(parse_user(bad), Err(ViewError::BadCursor)),
                "{bad:?}"
            );
        }
        assert!(matches!(
            parse_user(&catalog("x")),
            Err(ViewError::BadCursor)
        ));
        assert!(matches!(
            parse_catalog(&user(1, "x")),
            Err(ViewError::BadCursor)
        ));
        assert!(matches!(
            parse_resource(&user(1, "x")),
            Err(ViewError::BadCursor)
        ));
    }
}
