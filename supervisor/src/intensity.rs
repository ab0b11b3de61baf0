//! Restart intensity: one list of restart times per supervisor, shared with its children's
//! tasks so that a child can restart itself without a round trip through its supervisor.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The restarts of one supervisor within its period (OTP's `add_restart`).
pub(crate) struct Intensity {
    restarts: Mutex<VecDeque<Instant>>,
    max_restarts: u32,
    period: Duration,
    /// The executor's clock (virtual in tests).
    clock: Box<dyn Fn() -> Instant + Send + Sync>,
    /// Whether a child may restart itself ([`crate::child`]'s fast path): the strategy is
    /// `OneForOne`, there is no backoff, and the supervisor is not shutting down.
    fast: AtomicBool,
    /// Whether anyone subscribes to the tree's lifecycle events (the event bus's flag).
    watched: Arc<AtomicBool>,
}

impl Intensity {
    pub(crate) fn new(
        max_restarts: u32,
        period: Duration,
        clock: Box<dyn Fn() -> Instant + Send + Sync>,
        fast: bool,
        watched: Arc<AtomicBool>,
    ) -> Self {
        Intensity {
            restarts: Mutex::new(VecDeque::new()),
            max_restarts,
            period,
            clock,
            fast: AtomicBool::new(fast),
            watched,
        }
    }

    /// Records a restart now; `false` if it exceeds the intensity: the restarts within the last
    /// period, this one included, must number at most `max_restarts`.
    pub(crate) fn add_restart(&self) -> bool {
        let now = (self.clock)();
        let mut restarts = self.restarts.lock().unwrap_or_else(|p| p.into_inner());
        add_restart(&mut restarts, now, self.max_restarts, self.period)
    }

    /// The restarts recorded within the period (at most `max_restarts + 1`).
    pub(crate) fn recent(&self) -> u32 {
        self.restarts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len() as u32
    }

    /// Whether anyone subscribes to the lifecycle events.
    pub(crate) fn watched(&self) -> bool {
        self.watched.load(Ordering::Acquire)
    }

    pub(crate) fn fast_path(&self) -> bool {
        self.fast.load(Ordering::Acquire)
    }

    /// No child restarts itself from now on (the supervisor is shutting down).
    pub(crate) fn close_fast_path(&self) {
        self.fast.store(false, Ordering::Release);
    }
}

/// Records a restart at `now` in `restarts` (times, oldest first); `false` if it exceeds the
/// intensity: the restarts within the last `period`, this one included, must number at most
/// `max_restarts` (OTP's `add_restart`). Keeps at most `max_restarts + 1` times.
pub(crate) fn add_restart(
    restarts: &mut VecDeque<Instant>,
    now: Instant,
    max_restarts: u32,
    period: Duration,
) -> bool {
    restarts.push_back(now);
    if let Some(threshold) = now.checked_sub(period) {
        while restarts.front().is_some_and(|&oldest| oldest < threshold) {
            restarts.pop_front();
        }
    }
    // More than `max_restarts + 1` entries decide nothing more (the limit is exceeded either
    // way): a supervisor allowing many restarts does not keep every one.
    let keep = (max_restarts as usize).saturating_add(1);
    while restarts.len() > keep {
        restarts.pop_front();
    }
    restarts.len() <= max_restarts as usize
}
