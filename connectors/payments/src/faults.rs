//! Faults the sandbox provider injects on purpose, for tests: a provider
//! outage (a 5xx), a call that times out, a slow answer. Nothing here runs
//! unless a test programs it.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// How one checkout call misbehaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The provider answers 5xx: nothing is delivered, the call is a
    /// transient error (the driver retries it).
    Unavailable,
    /// The provider does not answer within the given time: nothing is
    /// delivered, the call fails (transiently) after it.
    Timeout(Duration),
    /// The provider answers after the given time, then delivers as usual.
    Slow(Duration),
}

#[derive(Debug, Default)]
struct Plan {
    /// Faults for the next calls, in order.
    next: VecDeque<Fault>,
    /// For every call once `next` is empty.
    always: Option<Fault>,
}

/// A handle on the faults of a [`SandboxProvider`](crate::SandboxProvider):
/// cloned into the provider, kept by the test, programmed at any time.
#[derive(Clone, Debug, Default)]
pub struct SandboxFaults {
    plan: Arc<Mutex<Plan>>,
}

impl SandboxFaults {
    /// No faults until some are programmed.
    pub fn new() -> Self {
        Self::default()
    }

    fn plan(&self) -> std::sync::MutexGuard<'_, Plan> {
        // A panic while holding this lock leaves a plan that is still a
        // plan: carry on with it.
        self.plan.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The next `calls` checkout calls misbehave as `fault`, after those
    /// already queued.
    pub fn next(&self, calls: usize, fault: Fault) -> &Self {
        self.plan().next.extend(std::iter::repeat_n(fault, calls));
        self
    }

    /// Every call without a queued fault misbehaves as `fault` (`None`: none
    /// does).
    pub fn always(&self, fault: Option<Fault>) -> &Self {
        self.plan().always = fault;
        self
    }

    /// Forgets every programmed fault.
    pub fn clear(&self) {
        let mut plan = self.plan();
        plan.next.clear();
        plan.always = None;
    }

    /// The fault of the call being made now, if any.
    pub(crate) fn take(&self) -> Option<Fault> {
        let mut plan = self.plan();
        plan.next.pop_front().or(plan.always)
    }
}
