//! The keys file, reloaded without a restart: its modification time, length and inode are
//! polled every [`POLL`], and SIGHUP forces a reload. A file that fails to read or parse
//! keeps the keys in force, with one warning per change (not one per poll).
//!
//! To change keys atomically, write a new file and rename it over the old one: a file
//! rewritten in place may be read half written, and is read again once it is whole.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime};

use super::Live;

/// How often the file's metadata is looked at.
pub const POLL: Duration = Duration::from_secs(2);

/// What changes when the file is rewritten or replaced.
type Stamp = Option<(SystemTime, u64, u64)>;

fn stamp(path: &Path) -> Stamp {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len(), meta.ino()))
}

/// Starts the watcher of `live`'s file, if it has one, on the current tokio runtime (a
/// router built outside one serves with the keys read at start). The task holds `live`
/// weakly and ends once the server that used it is gone.
pub(super) fn watch(live: &Arc<Live>) {
    let Some(path) = live.file.clone() else {
        return;
    };
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        tracing::warn!("no runtime: the keys file will not be reloaded");
        return;
    };
    runtime.spawn(poll(Arc::downgrade(live), path));
}

async fn poll(live: Weak<Live>, path: std::path::PathBuf) {
    let mut seen = stamp(&path);
    let mut tick = tokio::time::interval(POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    loop {
        let forced = tokio::select! {
            _ = tick.tick() => false,
            Some(()) = hung_up(&mut hangup) => true,
        };
        let Some(live) = live.upgrade() else {
            return;
        };
        let now = stamp(&path);
        if !forced && now == seen {
            continue;
        }
        seen = now;
        match live.reload() {
            Ok(n) => {
                let names: Vec<_> = live.current().names().cloned().collect();
                tracing::info!(keys = n, ?names, path = %path.display(), "API keys reloaded");
            }
            Err(e) => {
                tracing::warn!(error = %e, "API keys file not reloaded, the keys in force stay")
            }
        }
    }
}

/// The next SIGHUP; never, where the signal cannot be listened for.
async fn hung_up(hangup: &mut Option<tokio::signal::unix::Signal>) -> Option<()> {
    match hangup {
        Some(signal) => signal.recv().await,
        None => std::future::pending().await,
    }
}
