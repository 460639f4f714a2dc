//! Record headers between the log port and librdkafka.

use bytes::Bytes;
use rdkafka::message::{BorrowedMessage, Header, Headers as _, Message, OwnedHeaders};
use slotstream_runtime::Headers;

/// librdkafka's headers of an outgoing record; `None` when there are none,
/// so a record without headers costs no extra allocation.
pub(crate) fn to_kafka(headers: &Headers) -> Option<OwnedHeaders> {
    if headers.is_empty() {
        return None;
    }
    let mut out = OwnedHeaders::new_with_capacity(headers.len());
    for h in headers {
        out = out.insert(Header {
            key: &h.name,
            value: Some(&h.value[..]),
        });
    }
    Some(out)
}

/// The headers of a consumed message. A header with a null value (which
/// Kafka allows and the platform never writes) reads as empty bytes.
pub(crate) fn from_kafka(m: &BorrowedMessage<'_>) -> Headers {
    let Some(hs) = m.headers() else {
        return Headers::new();
    };
    hs.iter()
        .map(|h| slotstream_runtime::Header {
            name: h.key.to_owned().into(),
            value: h.value.map_or_else(Bytes::new, Bytes::copy_from_slice),
        })
        .collect()
}
