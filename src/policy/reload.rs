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

#[cfg(test)]
mod tests {
    use super::stamp;
    use std::fs::{File, FileTimes};
    use std::time::{Duration, UNIX_EPOCH};

    /// A file rewritten with the same length keeps its inode and size: only the modification
    /// time tells the change. Any change of its seconds or nanoseconds must show, including on
    /// file systems that keep whole seconds (nanoseconds 0).
    #[test]
    fn the_stamp_changes_with_any_change_of_the_modification_time() {
        let path = std::env::temp_dir().join(format!("sentinel-stamp-{}", std::process::id()));
        std::fs::write(&path, "version: 1\n").unwrap();
        let at = |secs: u64, nanos: u32| {
            let t = UNIX_EPOCH + Duration::new(secs, nanos);
            File::options()
                .write(true)
                .open(&path)
                .unwrap()
                .set_times(FileTimes::new().set_modified(t))
                .unwrap();
            stamp(&path).expect("a stamp for an existing file")
        };
        for ((s1, n1), (s2, n2)) in [
            ((1_700_000_000, 0), (1_700_000_001, 0)),
            ((1_700_000_000, 1), (1_700_000_001, 0)),
            ((1_700_000_000, 5), (1_700_000_000, 6)),
        ] {
            assert!(at(s1, n1) != at(s2, n2), "{s1}.{n1} vs {s2}.{n2}");
        }
        assert!(at(1_700_000_000, 7) == at(1_700_000_000, 7));
        std::fs::remove_file(&path).unwrap();
    }
}
