//! The API-key records <-> Avro: `CreateApiKey`, `RevokeApiKey`,
//! `ApiKeyCreated`, `ApiKeyRevoked`. Their union branches are declared with
//! the other identity records in `map_identity.rs`. Declarations: see
//! `declare.rs`.

use crate::declare::avro_record;
use slotstream_domain::identity::{ApiKeyCreated, ApiKeyRevoked, CreateApiKey, RevokeApiKey};

avro_record!(CreateApiKey {
    command_id: Str,
    key_id: Str,
    owner_id: Str,
    owner_email: Str,
    name: Str,
    prefix: Str,
    secret_hash: Str,
    scopes: Array<Str>,
    expires_at: Nullable<TimestampMillis>,
    rate_per_second: Nullable<Int>,
    burst: Nullable<Int>,
    requested_at: TimestampMillis,
});

avro_record!(RevokeApiKey {
    command_id: Str,
    key_id: Str,
    owner_email: Str,
    requested_by: Str,
    requested_at: TimestampMillis,
});

avro_record!(ApiKeyCreated {
    command_id: Str,
    key_id: Str,
    owner_id: Str,
    owner_email: Str,
    name: Str,
    prefix: Str,
    secret_hash: Str,
    scopes: Array<Str>,
    expires_at: Nullable<TimestampMillis>,
    rate_per_second: Nullable<Int>,
    burst: Nullable<Int>,
    created_at: TimestampMillis,
});

avro_record!(ApiKeyRevoked {
    command_id: Str,
    key_id: Str,
    owner_id: Str,
    owner_email: Str,
    revoked_by: Str,
    revoked_at: TimestampMillis,
});
