//! Progress bars on stderr: one for the setup, one for the load (phase,
//! requests per second over the last tick, errors so far).
//!
//! Invariant: progress is drawn on stderr only (indicatif hides it when stderr
//! is not a terminal), so stdout carries nothing but the summary.

use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::drive::Stop;

/// How often the load bar is refreshed.
const TICK: Duration = Duration::from_millis(250);

/// Live counters the load bar reads.
pub trait Live: Send + Sync + 'static {
    /// `(completed, not successful)` so far.
    fn live(&self) -> (u64, u64);
}

/// Whether and how progress is shown.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    enabled: bool,
}

impl Progress {
    /// Progress shown on stderr when `enabled`, hidden otherwise.
    pub fn new(enabled: bool) -> Self {
        Self { enabled }
    }

    /// A bar counting setup steps.
    pub fn setup_bar(&self) -> ProgressBar {
        let bar = self.bar(0);
        bar.set_style(style(
            "setup    [{elapsed_precise}] [{bar:30}] {pos}/{len} {msg}",
        ));
        bar
    }

    /// Draws the load bar until `stop` fires; the handle ends right after.
    pub fn watch(
        &self,
        start: Instant,
        warmup: Duration,
        duration: Duration,
        live: Arc<dyn Live>,
        stop: Stop,
    ) -> JoinHandle<()> {
        let total = warmup + duration;
        let bar = self.bar(u64::try_from(total.as_millis()).unwrap_or(u64::MAX));
        bar.set_style(style(
            "{prefix:8} [{elapsed_precise}] [{bar:30}] {percent:>3}% {msg}",
        ));
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(TICK);
            let (mut last_done, mut last_at) = (0u64, Instant::now());
            loop {
                tokio::select! {
                    _ = ticks.tick() => {}
                    () = stop.stopped() => break,
                }
                let now = Instant::now();
                let elapsed = now - start;
                let (done, failed) = live.live();
                let rate = (done - last_done) as f64 / (now - last_at).as_secs_f64().max(1e-3);
                (last_done, last_at) = (done, now);
                bar.set_prefix(if elapsed < warmup { "warm-up" } else { "load" });
                bar.set_position(u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX));
                bar.set_message(format!(
                    "{rate:>9.0} req/s  {done} answered  {failed} errors"
                ));
            }
            let (done, failed) = live.live();
            bar.finish_with_message(format!(
                "stopping: {done} answered, {failed} errors; waiting for answers in flight"
            ));
        })
    }

    fn bar(&self, len: u64) -> ProgressBar {
        if self.enabled {
            ProgressBar::new(len)
        } else {
            ProgressBar::hidden()
        }
    }
}

fn style(template: &str) -> ProgressStyle {
    // The templates are constants of this file; a typo falls back to the default look.
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}
