//! Faults the sandbox provider injects on purpose, for tests, chaos runs
//! and demos: a provider outage (a 5xx), a call that times out, a slow
//! answer, a webhook that is never delivered. Nothing here runs unless a
//! test programs it or the operator configures random faults
//! (`SLOTSTREAM_SANDBOX_FAULTS`, see [`SandboxFaults::parse`]).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// How one provider call (a checkout, or a lookup by the reconciler)
/// misbehaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The provider answers 5xx: nothing is taken or delivered, the call is
    /// a transient error.
    Unavailable,
    /// The provider does not answer within the given time: nothing is
    /// taken or delivered, the call fails (transiently) after it.
    Timeout(Duration),
    /// The provider answers after the given time, then carries on as usual.
    Slow(Duration),
    /// The provider takes the checkout and answers the call, but its webhook
    /// never arrives: only asking it (the reconciler) finds the outcome. A
    /// lookup is not affected.
    LostWebhook,
}

/// Random faults: each call draws one (or none) with these chances.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Chances {
    unavailable: f64,
    timeout: f64,
    slow: f64,
    lost_webhook: f64,
}

/// How long a random timeout hangs before failing: longer than the
/// driver's bound on a provider call (10 s), so the platform gives up first.
const RANDOM_TIMEOUT: Duration = Duration::from_secs(12);
/// How long a random slow answer takes.
const RANDOM_SLOW: Duration = Duration::from_secs(2);

#[derive(Debug, Default)]
struct Plan {
    /// Faults for the next calls, in order.
    next: VecDeque<Fault>,
    /// For every call once `next` is empty.
    always: Option<Fault>,
    /// Otherwise, drawn per call.
    random: Option<Chances>,
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

    /// Random faults from a spec such as
    /// `unavailable=0.1,timeout=0.05,slow=0.1,lost_webhook=0.1`: each
    /// provider call misbehaves that way with that chance (the chances add
    /// up to at most 1). An empty spec means no faults.
    ///
    /// # Errors
    /// A message naming the part of the spec that is not understood.
    pub fn parse(spec: &str) -> Result<Self, String> {
        let mut chances = Chances::default();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, value) = part
                .split_once('=')
                .ok_or_else(|| format!("`{part}`: expected <fault>=<chance>"))?;
            let p: f64 = value
                .trim()
                .parse()
                .ok()
                .filter(|p: &f64| (0.0..=1.0).contains(p))
                .ok_or_else(|| format!("`{part}`: the chance must be a number from 0 to 1"))?;
            match name.trim() {
                "unavailable" => chances.unavailable = p,
                "timeout" => chances.timeout = p,
                "slow" => chances.slow = p,
                "lost_webhook" => chances.lost_webhook = p,
                other => {
                    return Err(format!(
                        "`{other}`: unknown fault (unavailable, timeout, slow, lost_webhook)"
                    ));
                }
            }
        }
        let total = chances.unavailable + chances.timeout + chances.slow + chances.lost_webhook;
        if total > 1.0 + 1e-9 {
            return Err(format!("the chances add up to {total}, more than 1"));
        }
        let faults = Self::default();
        if total > 0.0 {
            faults.plan().random = Some(chances);
        }
        Ok(faults)
    }

    fn plan(&self) -> std::sync::MutexGuard<'_, Plan> {
        // A panic while holding this lock leaves a plan that is still a
        // plan: carry on with it.
        self.plan.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The next `calls` provider calls misbehave as `fault`, after those
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

    /// Whether any fault is programmed or configured.
    pub fn is_programmed(&self) -> bool {
        let plan = self.plan();
        !plan.next.is_empty() || plan.always.is_some() || plan.random.is_some()
    }

    /// Forgets every programmed fault.
    pub fn clear(&self) {
        let mut plan = self.plan();
        plan.next.clear();
        plan.always = None;
        plan.random = None;
    }

    /// The fault of the call being made now, if any.
    pub(crate) fn take(&self) -> Option<Fault> {
        let mut plan = self.plan();
        if let Some(f) = plan.next.pop_front().or(plan.always) {
            return Some(f);
        }
        let c = plan.random?;
        let mut draw = fastrand::f64();
        for (chance, fault) in [
            (c.unavailable, Fault::Unavailable),
            (c.timeout, Fault::Timeout(RANDOM_TIMEOUT)),
            (c.slow, Fault::Slow(RANDOM_SLOW)),
            (c.lost_webhook, Fault::LostWebhook),
        ] {
            if draw < chance {
                return Some(fault);
            }
            draw -= chance;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spec_parses_into_chances_and_bad_ones_say_why() {
        let f = SandboxFaults::parse("unavailable=0.25, lost_webhook=0.5").unwrap();
        let c = f.plan().random.unwrap();
        assert_eq!((c.unavailable, c.lost_webhook, c.timeout), (0.25, 0.5, 0.0));
        assert!(SandboxFaults::parse("").unwrap().take().is_none());
        assert!(
            SandboxFaults::parse("flaky=0.1")
                .unwrap_err()
                .contains("unknown fault")
        );
        assert!(
            SandboxFaults::parse("slow=2")
                .unwrap_err()
                .contains("from 0 to 1")
        );
        assert!(
            SandboxFaults::parse("slow")
                .unwrap_err()
                .contains("expected")
        );
        assert!(
            SandboxFaults::parse("slow=0.6,timeout=0.6")
                .unwrap_err()
                .contains("more than 1")
        );
    }

    #[test]
    fn a_certain_fault_is_always_drawn_and_queued_faults_come_first() {
        let f = SandboxFaults::parse("lost_webhook=1").unwrap();
        f.next(1, Fault::Unavailable);
        assert_eq!(f.take(), Some(Fault::Unavailable));
        assert!((0..20).all(|_| f.take() == Some(Fault::LostWebhook)));
        f.clear();
        assert_eq!(f.take(), None);
    }
}
