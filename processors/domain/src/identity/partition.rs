//! All identity state of one task partition: accounts by normalized email.

use super::messages::*;
use super::model::{Account, ApiKey, IdentityConfig, LoginLock, Webhook};
use crate::ledger::Ledger;
use crate::state::{Answer, StateKey, StateRecord};
use crate::time::Millis;
use std::collections::{BTreeSet, HashMap};

/// The identity state of one partition.
#[derive(Clone, Debug)]
pub struct IdentityPartition {
    pub(super) cfg: IdentityConfig,
    pub(super) accounts: HashMap<String, Account>,
    /// Login locks by normalized email, registered or not.
    pub(super) locks: HashMap<String, LoginLock>,
    /// `(locked_until, email)` of every lock: what [`Self::prune_locks`] pops.
    pub(super) lock_ends: BTreeSet<(Millis, String)>,
    /// API keys of the owners in this partition, by key id.
    pub(super) keys: HashMap<String, ApiKey>,
    /// Webhook subscriptions of the owners in this partition, by id.
    pub(super) webhooks: HashMap<String, Webhook>,
    pub(super) ledger: Ledger<Box<IdentityEvent>>,
}

impl IdentityPartition {
    /// An empty partition.
    pub fn new(cfg: IdentityConfig) -> Self {
        Self {
            cfg,
            accounts: HashMap::new(),
            locks: HashMap::new(),
            lock_ends: BTreeSet::new(),
            keys: HashMap::new(),
            webhooks: HashMap::new(),
            ledger: Ledger::default(),
        }
    }

    /// The account of a normalized email.
    pub fn account(&self, email: &str) -> Option<&Account> {
        self.accounts.get(email)
    }

    /// The login lock of a normalized email, if one is stored (it may have
    /// run out: see [`LoginLock`]).
    pub fn lock(&self, email: &str) -> Option<&LoginLock> {
        self.locks.get(email)
    }

    /// An API key by id (revoked ones included).
    pub fn api_key(&self, key_id: &str) -> Option<&ApiKey> {
        self.keys.get(key_id)
    }

    /// A webhook subscription by id (deleted ones included).
    pub fn webhook(&self, webhook_id: &str) -> Option<&Webhook> {
        self.webhooks.get(webhook_id)
    }

    /// The lock of `email` that still holds at `now`.
    pub(super) fn live_lock(&self, email: &str, now: Millis) -> Option<&LoginLock> {
        self.locks
            .get(email)
            .filter(|l| now < l.locked.locked_until)
    }

    /// The stored record under `key`; `None` means "delete it".
    pub fn record(&self, key: &StateKey) -> Option<StateRecord> {
        match key {
            StateKey::Account(email) => self.accounts.get(email).cloned().map(StateRecord::Account),
            StateKey::Lock(email) => self.locks.get(email).cloned().map(StateRecord::Lock),
            StateKey::ApiKey(id) => self.keys.get(id).cloned().map(StateRecord::ApiKey),
            StateKey::Webhook(id) => self.webhooks.get(id).cloned().map(StateRecord::Webhook),
            StateKey::Command(id) => {
                let e = self.ledger.get(id)?;
                Some(StateRecord::Command(e.record(
                    id,
                    Answer::Identity(IdentityEvent::clone(&e.answer)),
                )))
            }
            _ => None,
        }
    }

    /// Restores one stored record; records of other aggregates are ignored.
    pub fn load(&mut self, rec: StateRecord) {
        match rec {
            StateRecord::Account(a) => {
                self.accounts.insert(a.email.clone(), a);
            }
            StateRecord::Lock(l) => self.put_lock(l),
            StateRecord::ApiKey(k) => {
                self.keys.insert(k.created.key_id.clone(), k);
            }
            StateRecord::Webhook(w) => {
                self.webhooks.insert(w.created.webhook_id.clone(), w);
            }
            StateRecord::Command(c) => self.ledger.load(c, |answer| match answer {
                Answer::Identity(ev) => Some(Box::new(ev)),
                _ => None,
            }),
            _ => {}
        }
    }

    /// Drops idempotency records answered before `older_than`; returns the
    /// keys to delete.
    pub fn prune_commands(&mut self, older_than: Millis) -> Vec<StateKey> {
        self.ledger.prune(older_than)
    }

    /// Forgets the locks that ran out by `now` (they decide nothing any
    /// more: an unlock finds `NotLocked`, a new lock request starts a new
    /// lock, with or without the record); returns the keys to delete.
    pub fn prune_locks(&mut self, now: Millis) -> Vec<StateKey> {
        let mut keys = Vec::new();
        while let Some((until, email)) = self.lock_ends.first().cloned() {
            if until > now {
                break;
            }
            self.lock_ends.pop_first();
            self.locks.remove(&email);
            keys.push(StateKey::Lock(email));
        }
        keys
    }
}
