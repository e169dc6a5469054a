//! Hot reload of the policy file without ever failing open: a std thread checks the file's
//! modification stamp every `--reload-interval` (SIGHUP forces a check), compiles the new file
//! completely, and only then puts it in force ([`Live`]) in one step. A file that fails to parse
//! or validate is refused: the old policy stays in force, and the error goes to stderr and the
//! audit log.

use crate::audit::Audit;
use crate::base::term::Term;
use crate::policy::file::PolicyFile;
use crate::policy::Live;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

/// What identifies one version of the file on disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    modified_ns: i128,
    len: u64,
    inode: u64,
}

fn stamp(path: &std::path::Path) -> Option<Stamp> {
    let m = std::fs::metadata(path).ok()?;
    Some(Stamp {
        modified_ns: i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
        len: m.size(),
        inode: m.ino(),
    })
}

/// Starts the watcher thread. Sending `()` on the returned channel forces a reload now.
pub fn spawn(
    path: PathBuf,
    profile: Option<String>,
    live: Arc<Live>,
    audit: Arc<Audit>,
    interval: Duration,
    term: Term,
) -> Sender<()> {
    let (tx, rx) = mpsc::channel::<()>();
    let mut last = stamp(&path);
    thread::Builder::new()
        .name("policy-reload".into())
        .spawn(move || loop {
            let forced = if interval.is_zero() {
                match rx.recv() {
                    Ok(()) => true,
                    Err(_) => return,
                }
            } else {
                match rx.recv_timeout(interval) {
                    Ok(()) => true,
                    Err(RecvTimeoutError::Timeout) => false,
                    Err(RecvTimeoutError::Disconnected) => return,
                }
            };
            let now = stamp(&path);
            if !forced && now == last {
                continue;
            }
            last = now;
            reload(&path, profile.as_deref(), &live, &audit, &term);
        })
        .expect("cannot start the policy reload thread");
    tx
}

/// Loads, compiles and swaps in the policy; on any error keeps the old one.
fn reload(path: &std::path::Path, profile: Option<&str>, live: &Live, audit: &Audit, term: &Term) {
    match PolicyFile::load(path).and_then(|f| f.compile_checked(profile)) {
        Ok(policy) => {
            let summary = policy.summary();
            live.set(Arc::new(policy));
            term.notice(&format!("policy reloaded: {summary}"));
            audit.event(
                "policy_loaded",
                "policy.reload",
                "Policy Reloaded",
                None,
                &summary,
            );
        }
        Err(e) => {
            term.error(&format!(
                "policy reload refused, the previous policy stays in force: {e}"
            ));
            audit.event(
                "policy_rejected",
                "policy.reload",
                "Policy Reload Refused",
                None,
                &e.to_string(),
            );
        }
    }
}
