//! Periodic deletion of expired codes, tokens, grants, sessions and
//! `jti`s, so that the database stops growing; and the periodic reload of
//! the signing keys. (Checkpoints of SQLite's write-ahead log are the
//! store's own: `proofkey_store::CHECKPOINT_INTERVAL`.)

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use proofkey_core::Provider;

/// Runs `job` every `interval` (the first time at once when `at_start`),
/// until the task is dropped. A slow run delays the next, never doubles it.
async fn every<F, Fut>(interval: Duration, at_start: bool, mut job: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    if !at_start {
        tick.tick().await;
    }
    loop {
        tick.tick().await;
        job().await;
    }
}

/// Sweeps every `interval` until the task is dropped.
pub async fn sweeper(provider: Arc<Provider>, interval: Duration) {
    every(interval, true, || async {
        match provider.sweep().await {
            Ok(c) => tracing::debug!(
                codes = c.codes,
                access_tokens = c.access_tokens,
                refresh_tokens = c.refresh_tokens,
                sessions = c.sessions,
                jtis = c.jtis,
                device_codes = c.device_codes,
                grants = c.grants,
                "swept expired rows"
            ),
            Err(e) => tracing::warn!(error = %e, "sweep failed; will retry"),
        }
    })
    .await;
}

/// How often every node re-reads the signing keys (so a rotated key is
/// published within this time; `proofkey keys rotate` waits much longer
/// before the key signs).
pub const KEY_RELOAD_INTERVAL: Duration = Duration::from_secs(30);

/// Reloads the signing keys every `interval` until the task is dropped.
pub async fn key_reloader(provider: Arc<Provider>, interval: Duration) {
    every(interval, false, || async {
        if let Err(e) = provider.reload_keys().await {
            tracing::warn!(error = %e, "cannot reload signing keys; keeping the current ones");
        }
    })
    .await;
}
