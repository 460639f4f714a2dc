//! The processor trait: a synchronous, deterministic state machine per task
//! partition. The driver owns everything async.

use crate::log::{ConsumedRecord, OutRecord, StateEntry, StateWrite};
use crate::ports::{Effect, EffectReport};
use crate::topics::TopicSpec;
use crate::views::ViewWrite;
use slotstream_domain::Millis;

/// What one step produced; committed atomically by the driver.
#[derive(Debug, Default)]
pub struct Output {
    /// Records to append.
    pub records: Vec<OutRecord>,
    /// State-store changes.
    pub state: Vec<StateWrite>,
    /// Read-view changes.
    pub views: Vec<ViewWrite>,
    /// Side effects to perform before the commit.
    pub effects: Vec<Effect>,
    /// Side effects to perform after the commit, once, bounded by a
    /// timeout ([`Effect::after_commit`]), with the task partition that
    /// asked (what they learn comes back to it, [`Processor::on_report`]).
    pub after_commit: Vec<(u32, Effect)>,
    /// The deadlines of the timers `on_timer` fired (a hold's expiry), so
    /// the driver can report how late each took effect. Not committed.
    pub fired: Vec<Millis>,
}

impl Output {
    /// True when nothing was produced.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
            && self.state.is_empty()
            && self.views.is_empty()
            && self.effects.is_empty()
            && self.after_commit.is_empty()
    }
}

/// A record the processor cannot understand. The driver sends it to the
/// dead-letter topic with `reason`, commits past it, and goes on.
#[derive(Debug, thiserror::Error)]
#[error("poison record: {reason}")]
pub struct Poison {
    /// What was wrong with it (no secrets, no payload dump).
    pub reason: String,
}

impl Poison {
    /// Builds a poison verdict.
    pub fn new(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
        }
    }
}

/// A stream processor. Task partition `p` covers partition `p` of every input.
pub trait Processor: Send + 'static {
    /// Its consumer-group id, e.g. `slotstream.booking`.
    fn group(&self) -> &'static str;
    /// The topics it consumes (one partition count).
    fn inputs(&self) -> Vec<TopicSpec>;
    /// Loads the state of a newly assigned partition. A processor without
    /// state (notification, views) keeps the default, which has nothing to
    /// load.
    fn restore(&mut self, _partition: u32, _state: Vec<StateEntry>) -> Result<(), Poison> {
        Ok(())
    }
    /// Forgets a partition that moved elsewhere (default: nothing to forget).
    fn revoke(&mut self, _partition: u32) {}
    /// Handles one record.
    fn process(
        &mut self,
        record: &ConsumedRecord,
        now: Millis,
        out: &mut Output,
    ) -> Result<(), Poison>;
    /// The earliest instant `on_timer` has work on `partition`, if any.
    fn next_deadline(&self, _partition: u32) -> Option<Millis> {
        None
    }
    /// Fires due timers (hold expiry) on `partition`.
    fn on_timer(&mut self, _partition: u32, _now: Millis, _out: &mut Output) {}
    /// Decides what an effect performed after a commit learnt (the
    /// provider's answer to the reconciler), on the partition that asked.
    /// The default ignores it.
    fn on_report(
        &mut self,
        _partition: u32,
        _report: EffectReport,
        _now: Millis,
        _out: &mut Output,
    ) {
    }
    /// Called once before each commit: the place to write state keys made
    /// dirty by the batch, once each, instead of once per event.
    fn before_commit(&mut self, _out: &mut Output) {}
}
