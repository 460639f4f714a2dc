//! Crate-private plumbing shared by the aggregates: the idempotency ledger.

use crate::ids::CommandId;
use crate::state::{Answer, CommandRecord, StateKey};
use crate::time::Millis;
use std::collections::HashMap;

/// What the ledger knows about a command id.
#[derive(Debug)]
pub(crate) enum Seen<'a, A> {
    /// Never answered: decide it.
    Fresh,
    /// Answered before with the same request: give this answer again.
    Replay(&'a A),
    /// Answered before with another request body: the key was reused.
    Reused,
}

/// One first answer, in whatever compact form `A` the aggregate keeps it;
/// the aggregate turns it into a [`CommandRecord`] when asked for the record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Entry<A> {
    /// See [`CommandRecord::request_hash`].
    pub(crate) request_hash: String,
    /// The answer.
    pub(crate) answer: A,
    /// See [`CommandRecord::at`].
    pub(crate) at: Millis,
}

impl<A> Entry<A> {
    /// The stored record, with the answer as `answer` renders it.
    pub(crate) fn record(&self, id: &CommandId, answer: Answer) -> CommandRecord {
        CommandRecord {
            command_id: id.clone(),
            request_hash: self.request_hash.clone(),
            answer,
            at: self.at,
        }
    }
}

/// First answers by command id. Entries are only ever added by `apply` (and
/// `load`), and removed by `prune`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Ledger<A> {
    entries: HashMap<CommandId, Entry<A>>,
}

impl<A> Default for Ledger<A> {
    fn default() -> Self {
        Self {
            entries: HashMap::new(),
        }
    }
}

impl<A> Ledger<A> {
    /// Looks a command up. An entry with an empty hash (rebuilt from the
    /// events topic alone) matches any request.
    pub(crate) fn check(&self, id: &CommandId, request_hash: &str) -> Seen<'_, A> {
        match self.entries.get(id) {
            None => Seen::Fresh,
            Some(e) if e.request_hash.is_empty() || e.request_hash == request_hash => {
                Seen::Replay(&e.answer)
            }
            Some(_) => Seen::Reused,
        }
    }

    /// Files the first answer to `id`; later answers to the same id are
    /// ignored (the first one is what retries get). Returns the changed key.
    pub(crate) fn file(
        &mut self,
        id: &CommandId,
        at: Millis,
        make: impl FnOnce() -> (String, A),
    ) -> Option<StateKey> {
        if self.entries.contains_key(id) {
            return None;
        }
        let (request_hash, answer) = make();
        self.entries.insert(
            id.clone(),
            Entry {
                request_hash,
                answer,
                at,
            },
        );
        Some(StateKey::Command(id.clone()))
    }

    /// The entry for `id`.
    pub(crate) fn get(&self, id: &CommandId) -> Option<&Entry<A>> {
        self.entries.get(id)
    }

    /// Restores a stored record, its answer in the aggregate's form.
    pub(crate) fn load(&mut self, rec: CommandRecord, answer: impl FnOnce(Answer) -> Option<A>) {
        let CommandRecord {
            command_id,
            request_hash,
            answer: stored,
            at,
        } = rec;
        if let Some(answer) = answer(stored) {
            let entry = Entry {
                request_hash,
                answer,
                at,
            };
            self.entries.insert(command_id, entry);
        }
    }

    /// Drops entries answered before `older_than`; returns their keys, sorted.
    /// A linear scan: pruning is rare (the caller runs it every so often), and
    /// not keeping a time index keeps the hot path to one map insert.
    pub(crate) fn prune(&mut self, older_than: Millis) -> Vec<StateKey> {
        let mut dropped = Vec::new();
        self.entries.retain(|id, e| {
            let keep = e.at >= older_than;
            if !keep {
                dropped.push(StateKey::Command(id.clone()));
            }
            keep
        });
        dropped.sort();
        dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_answer_wins_and_a_different_hash_is_a_reuse() {
        let mut ledger = Ledger::default();
        let id = CommandId::new("c1");
        assert!(matches!(ledger.check(&id, "h1"), Seen::Fresh));
        let key = ledger.file(&id, 10, || ("h1".into(), 1));
        assert_eq!(key, Some(StateKey::Command(id.clone())));
        assert_eq!(ledger.file(&id, 11, || ("h2".into(), 2)), None);
        assert!(matches!(ledger.check(&id, "h1"), Seen::Replay(1)));
        assert!(matches!(ledger.check(&id, "h2"), Seen::Reused));
        assert_eq!(ledger.get(&id).map(|e| e.at), Some(10));
    }

    #[test]
    fn an_entry_without_a_hash_replays_to_any_request() {
        let mut ledger = Ledger::default();
        let id = CommandId::new("c1");
        ledger.file(&id, 10, || (String::new(), 'a'));
        assert!(matches!(ledger.check(&id, "anything"), Seen::Replay('a')));
    }

    #[test]
    fn pruning_drops_only_entries_answered_before_the_cutoff() {
        let mut ledger = Ledger::default();
        for (id, at) in [("a", 5), ("b", 10), ("c", 15)] {
            ledger.file(&CommandId::new(id), at, || (String::new(), ()));
        }
        assert_eq!(ledger.prune(10), vec![StateKey::Command("a".into())]);
        assert!(ledger.get(&"b".into()).is_some());
        assert!(ledger.get(&"a".into()).is_none());
    }
}
