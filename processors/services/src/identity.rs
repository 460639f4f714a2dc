//! The identity processor: owns accounts, one-time codes and login locks,
//! keyed by the normalized email so one address has exactly one writer (two
//! concurrent registrations of one address are serialized, never both
//! accepted; two gateways locking one address make one lock). The loop is the
//! shared shell's ([`Partitioned`]); identity reacts to no other aggregate.

use crate::partitioned::{Partitioned, Wiring};
use slotstream_domain::identity::{IdentityConfig, IdentityEvent, IdentityPartition};
use slotstream_runtime::topics::{self, Group};
use slotstream_schemas::{Codec, ReplyPayload};

/// See the module docs.
pub type IdentityProcessor = Partitioned<Identity>;

/// The identity side's wiring: identity commands in, identity events out.
#[derive(Debug)]
pub struct Identity {
    cfg: IdentityConfig,
}

impl IdentityProcessor {
    /// A processor with no partitions yet.
    pub fn new(codec: Codec, cfg: IdentityConfig) -> Self {
        Partitioned::with(codec, Identity { cfg })
    }
}

impl Wiring for Identity {
    type Agg = IdentityPartition;
    const GROUP: &'static Group = &topics::groups::IDENTITY;
    const COMMANDS: &'static str = topics::IDENTITY_COMMANDS.name;
    const EVENTS: &'static str = topics::IDENTITY_EVENTS.name;

    fn partition(&self) -> IdentityPartition {
        IdentityPartition::new(self.cfg)
    }

    fn reply(answer: IdentityEvent) -> ReplyPayload {
        ReplyPayload::Identity(answer)
    }
}
