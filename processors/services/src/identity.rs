//! The identity processor: owns accounts, one-time codes and login locks,
//! keyed by the normalized email so one address has exactly one writer (two
//! concurrent registrations of one address are serialized, never both
//! accepted; two gateways locking one address make one lock).

use crate::support::{self, Dirty, PruneClock};
use slotstream_domain::identity::{
    IdentityCommand, IdentityConfig, IdentityEvent, IdentityPartition,
};
use slotstream_domain::{CommandId, Millis};
use slotstream_runtime::log::{ConsumedRecord, StateEntry};
use slotstream_runtime::{Output, Poison, Processor, TopicSpec, topics};
use slotstream_schemas::{Codec, Envelope, ReplyPayload};
use std::collections::HashMap;

/// See the module docs.
#[derive(Debug)]
pub struct IdentityProcessor {
    codec: Codec,
    cfg: IdentityConfig,
    parts: HashMap<u32, IdentityPartition>,
    dirty: Dirty,
    prune: PruneClock,
}

impl IdentityProcessor {
    /// A processor with no partitions yet.
    pub fn new(codec: Codec, cfg: IdentityConfig) -> Self {
        Self {
            codec,
            cfg,
            parts: HashMap::new(),
            dirty: Dirty::default(),
            prune: PruneClock::default(),
        }
    }
}

fn command_id(cmd: &IdentityCommand) -> &CommandId {
    match cmd {
        IdentityCommand::RegisterUser(c) => &c.command_id,
        IdentityCommand::VerifyEmail(c) => &c.command_id,
        IdentityCommand::ResendOtp(c) => &c.command_id,
        IdentityCommand::LockAccount(c) => &c.command_id,
        IdentityCommand::UnlockAccount(c) => &c.command_id,
    }
}

fn email_key(ev: &IdentityEvent) -> &str {
    match ev {
        IdentityEvent::UserRegistered(e) => &e.email,
        IdentityEvent::UserOTPGenerated(e) => &e.email,
        IdentityEvent::EmailVerified(e) => &e.email,
        IdentityEvent::RegistrationRejected(e) => &e.email,
        IdentityEvent::VerificationRejected(e) => &e.email,
        IdentityEvent::ResendRejected(e) => &e.email,
        IdentityEvent::AccountLocked(e) => &e.email,
        IdentityEvent::AccountUnlocked(e) => &e.email,
        IdentityEvent::UnlockRejected(e) => &e.email,
    }
}

impl Processor for IdentityProcessor {
    fn group(&self) -> &'static str {
        topics::groups::IDENTITY.name
    }

    fn inputs(&self) -> Vec<TopicSpec> {
        topics::groups::IDENTITY.inputs.to_vec()
    }

    fn restore(&mut self, partition: u32, state: Vec<StateEntry>) -> Result<(), Poison> {
        let mut part = IdentityPartition::new(self.cfg);
        for rec in support::restore_records(state)? {
            part.load(rec);
        }
        self.parts.insert(partition, part);
        Ok(())
    }

    fn revoke(&mut self, partition: u32) {
        self.parts.remove(&partition);
    }

    fn process(
        &mut self,
        record: &ConsumedRecord,
        now: Millis,
        out: &mut Output,
    ) -> Result<(), Poison> {
        let p = record.partition;
        let env: Envelope<IdentityCommand> = support::decode(&self.codec, record)?;
        let part = self
            .parts
            .get_mut(&p)
            .ok_or_else(|| Poison::new(format!("record for unassigned partition {p}")))?;
        let decision = part.decide(&env.payload, now);
        if let Some(answer) = decision.reply {
            out.records.extend(support::reply(
                &self.codec,
                env.reply_to.as_deref(),
                command_id(&env.payload),
                ReplyPayload::Identity(answer),
                now,
            ));
        }
        for ev in decision.events {
            self.dirty.mark(p, part.apply(&ev));
            let key = email_key(&ev).to_owned();
            out.records.push(support::record(
                &self.codec,
                topics::IDENTITY_EVENTS.name,
                &key,
                &support::envelope(ev, now),
                now,
            ));
        }
        if self.prune.due(p, now) {
            self.dirty
                .mark(p, part.prune_commands(now - support::COMMAND_RETENTION));
            self.dirty.mark(p, part.prune_locks(now));
        }
        Ok(())
    }

    fn before_commit(&mut self, out: &mut Output) {
        let parts = &self.parts;
        self.dirty.flush(out, |p, key| {
            parts.get(&p).and_then(|part| part.record(key))
        });
    }
}
