//! The API-key records <-> Avro: `CreateApiKey`, `RevokeApiKey`,
//! `ApiKeyCreated`, `ApiKeyRevoked`; and the webhook subscriptions',
//! `CreateWebhook`, `DeleteWebhook`, `WebhookCreated`, `WebhookDeleted`. Their union branches are declared with
//! the other identity records in `map_identity.rs`. Declarations: see
//! `declare.rs`.

use crate::declare::avro_record;
use slotstream_domain::identity::{
    ApiKeyCreated, ApiKeyRevoked, CreateApiKey, CreateWebhook, DeleteWebhook, RevokeApiKey,
    WebhookCreated, WebhookDeleted,
};

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

avro_record!(CreateWebhook {
    command_id: Str,
    webhook_id: Str,
    owner_id: Str,
    owner_email: Str,
    url: Str,
    events: Array<Str>,
    description: Nullable<Str>,
    requested_at: TimestampMillis,
});

avro_record!(DeleteWebhook {
    command_id: Str,
    webhook_id: Str,
    owner_email: Str,
    requested_by: Str,
    requested_at: TimestampMillis,
});

avro_record!(WebhookCreated {
    command_id: Str,
    webhook_id: Str,
    owner_id: Str,
    owner_email: Str,
    url: Str,
    events: Array<Str>,
    description: Nullable<Str>,
    created_at: TimestampMillis,
});

avro_record!(WebhookDeleted {
    command_id: Str,
    webhook_id: Str,
    owner_id: Str,
    owner_email: Str,
    deleted_by: Str,
    deleted_at: TimestampMillis,
});
