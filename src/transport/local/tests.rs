//! The listener against a fake gateway over real sockets in a scratch directory: the requests
//! and their replies, the watch stream, the marker poke, slow watchers dropped, stale sockets
//! replaced and the socket removed on drop.

use super::*;
use crate::base::term::{Term, Verbosity};
use std::os::unix::fs::FileTypeExt;
use std::sync::atomic::AtomicUsize;
use std::time::Instant;

const T: Duration = Duration::from_secs(5);

/// A gateway stand-in: a list of held calls and the answers it was given.
#[derive(Default)]
struct Fake {
    held: Mutex<Vec<HeldCall>>,
    answers: Mutex<Vec<LocalAnswer>>,
    channel: Mutex<Option<Arc<dyn LocalChannel>>>,
}

impl Backend for Fake {
    fn attach(&self, channel: Arc<dyn LocalChannel>) {
        *self.channel.lock().unwrap() = Some(channel);
    }
    fn held(&self) -> Vec<HeldCall> {
        self.held.lock().unwrap().clone()
    }
    fn answer(&self, answer: LocalAnswer) -> Result<(), AnswerError> {
        let mut held = self.held.lock().unwrap();
        let Some(i) = held.iter().position(|h| h.id == answer.id) else {
            return Err(AnswerError::Unknown(answer.id));
        };
        if answer.session && !held[i].session_allowed {
            return Err(AnswerError::SessionForbidden(answer.id));
        }
        held.remove(i);
        self.answers.lock().unwrap().push(answer);
        Ok(())
    }
}

impl Fake {
    fn channel(&self) -> Arc<dyn LocalChannel> {
        self.channel.lock().unwrap().clone().expect("attached")
    }
}

fn call(id: &str, session_allowed: bool) -> HeldCall {
    HeldCall {
        id: id.into(),
        pid: 1,
        server: "db".into(),
        tool: "write_query".into(),
        rule: "sql.destructive".into(),
        reason: "Destructive statement".into(),
        detail: "DELETE without WHERE".into(),
        arguments: json!({"query": "DELETE FROM users"}),
        since: "2026-01-01T00:00:00.000000Z".into(),
        deadline: "2026-01-01T00:01:00.000000Z".into(),
        session_allowed,
        local: true,
    }
}

/// Removes a test's scratch directory when the test ends.
struct Cleanup(PathBuf);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn scratch(name: &str) -> (RunDir, Cleanup) {
    static N: AtomicUsize = AtomicUsize::new(0);
    let parent = std::env::temp_dir().join(format!(
        "sentinel-local-{}-{name}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&parent);
    std::fs::create_dir_all(&parent).unwrap();
    let dir = parent.join("mcp-sentinel");
    (RunDir::at(&parent, dir).unwrap(), Cleanup(parent))
}

fn quiet() -> Term {
    Term::new(false, Verbosity::Quiet)
}

fn started(name: &str, pid: u32) -> (RunDir, Arc<Fake>, LocalListener, Cleanup) {
    let (dir, cleanup) = scratch(name);
    let fake = Arc::new(Fake::default());
    let l = start_in(dir.clone(), pid, fake.clone(), quiet()).unwrap();
    (dir, fake, l, cleanup)
}

/// Makes the socket file at `path` look a minute old (a stale socket is removed only once
/// it has settled).
fn backdate(path: &Path) {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as libc::time_t;
    let t = libc::timespec {
        tv_sec: now - 60,
        tv_nsec: 0,
    };
    // SAFETY: c is a NUL-terminated path and the two timespecs are valid.
    let rc = unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            c.as_ptr(),
            [t, t].as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    assert_eq!(rc, 0, "utimensat: {}", std::io::Error::last_os_error());
}

fn wait_until(what: &str, f: impl Fn() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < T, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn requests_parse_and_bad_ones_say_why() {
    assert_eq!(parse_request(br#"{"op":"list"}"#), Ok(Request::List));
    assert_eq!(parse_request(br#"{"op":"watch"}"#), Ok(Request::Watch));
    assert_eq!(
        parse_request(br#"{"op":"approve","id":"1-2"}"#),
        Ok(Request::Approve {
            id: "1-2".into(),
            session: false
        })
    );
    assert_eq!(
        parse_request(br#"{"op":"approve","id":"1-2","session":true}"#),
        Ok(Request::Approve {
            id: "1-2".into(),
            session: true
        })
    );
    assert_eq!(
        parse_request(br#"{"op":"deny","id":"1-2","reason":"no"}"#),
        Ok(Request::Deny {
            id: "1-2".into(),
            reason: Some("no".into())
        })
    );
    let err = |line: &[u8]| parse_request(line).unwrap_err();
    assert!(err(b"nope").contains("not JSON"));
    assert!(err(br#"{"id":"1"}"#).contains("no \"op\""));
    assert!(err(br#"{"op":"frob"}"#).contains("unknown op \"frob\""));
    assert!(err(br#"{"op":7}"#).contains("unknown op 7"));
    assert!(err(br#"{"op":"approve"}"#).contains("id"));
    assert!(err(br#"{"op":"approve","id":"1","session":"yes"}"#).contains("invalid"));
    // What the client writes is what the listener reads.
    for r in [
        Request::List,
        Request::Watch,
        Request::Approve {
            id: "3-4".into(),
            session: true,
        },
        Request::Deny {
            id: "3-4".into(),
            reason: None,
        },
    ] {
        let text = serde_json::to_string(&r).unwrap();
        assert_eq!(parse_request(text.as_bytes()), Ok(r));
    }
}

#[test]
fn events_carry_the_held_call_and_the_resolution() {
    let v: Value =
        serde_json::from_str(&event_line(&Announcement::Held(call("1-1", true)))).unwrap();
    assert_eq!(v["event"], "held");
    assert_eq!(v["id"], "1-1");
    assert_eq!(v["arguments"]["query"], "DELETE FROM users");
    let held: Held = serde_json::from_value(v).unwrap();
    assert_eq!(held.tool, "write_query");
    assert!(held.session_allowed && held.local);
    let v: Value = serde_json::from_str(&event_line(&Announcement::Resolved {
        id: "1-1".into(),
        outcome: "timed out".into(),
    }))
    .unwrap();
    assert_eq!(
        v,
        json!({"event":"resolved","id":"1-1","outcome":"timed out"})
    );
    // A reader of another version: missing fields take defaults, `local` defaults to true.
    let held: Held = serde_json::from_str(r#"{"id":"2-1"}"#).unwrap();
    assert!(held.local && !held.session_allowed);
}

#[test]
fn list_approve_and_deny_over_the_socket() {
    let (dir, fake, listener, _cleanup) = started("answers", 41);
    assert!(listener.path().ends_with("41.sock"));
    let meta = std::fs::symlink_metadata(listener.path()).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    fake.held
        .lock()
        .unwrap()
        .extend([call("41-1", false), call("41-2", true), call("41-3", true)]);

    let mut c = Client::connect(&dir, 41, T).map_err(|_| "connect").unwrap();
    let reply = c.request(&Request::List).unwrap().unwrap();
    let ids: Vec<&str> = reply["held"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["41-1", "41-2", "41-3"]);

    let session_forbidden = c
        .request(&Request::Approve {
            id: "41-1".into(),
            session: true,
        })
        .unwrap()
        .unwrap_err();
    assert!(session_forbidden.contains("forbids approving for the session"));
    c.request(&Request::Approve {
        id: "41-2".into(),
        session: true,
    })
    .unwrap()
    .unwrap();
    c.request(&Request::Deny {
        id: "41-3".into(),
        reason: Some("not today".into()),
    })
    .unwrap()
    .unwrap();
    let unknown = c
        .request(&Request::Deny {
            id: "41-3".into(),
            reason: None,
        })
        .unwrap()
        .unwrap_err();
    assert!(unknown.starts_with("no held call 41-3"), "{unknown}");

    let answers = fake.answers.lock().unwrap().clone();
    assert_eq!(answers.len(), 2);
    assert!(answers[0].approve && answers[0].session);
    assert!(!answers[1].approve && answers[1].reason.as_deref() == Some("not today"));
    let me = format!(
        "user {} (uid {}, pid {})",
        rundir::user_name(rundir::euid()),
        rundir::euid(),
        std::process::id()
    );
    assert_eq!(answers[0].by, me);

    // A bad line is answered, and the connection goes on.
    write_line(&mut c.writer, "{\"op\":\"frob\"}").unwrap();
    let reply = c.next().unwrap().unwrap();
    assert_eq!(reply["ok"], false);
    assert!(c.request(&Request::List).unwrap().is_ok());
    drop(listener);
}

#[test]
fn a_watcher_gets_the_held_calls_then_every_announcement() {
    let (dir, fake, listener, _cleanup) = started("watch", 42);
    fake.held.lock().unwrap().push(call("42-1", true));
    let channel = fake.channel();
    assert!(!channel.is_open());

    let mut w = Client::connect(&dir, 42, T).map_err(|_| "connect").unwrap();
    w.request(&Request::Watch).unwrap().unwrap();
    let first = w.next().unwrap().unwrap();
    assert_eq!(
        (first["event"].as_str(), first["id"].as_str()),
        (Some("held"), Some("42-1"))
    );
    assert!(channel.is_open());

    channel.announce(&Announcement::Held(call("42-2", false)));
    channel.announce(&Announcement::Resolved {
        id: "42-1".into(),
        outcome: "approved".into(),
    });
    let second = w.next().unwrap().unwrap();
    assert_eq!(second["id"], "42-2");
    assert_eq!(second["session_allowed"], false);
    let third = w.next().unwrap().unwrap();
    assert_eq!(
        third,
        json!({"event":"resolved","id":"42-1","outcome":"approved"})
    );

    drop(w);
    wait_until("the watcher to be gone", || !channel.is_open());

    // Dropping the listener ends every watch stream and removes the socket.
    let mut w = Client::connect(&dir, 42, T).map_err(|_| "connect").unwrap();
    w.request(&Request::Watch).unwrap().unwrap();
    let _ = w.next();
    let path = listener.path().to_owned();
    drop(listener);
    assert!(!path.exists());
    assert!(matches!(w.next(), Ok(None) | Err(_)));
    assert!(!channel.is_open());
}

#[test]
fn a_slow_watcher_is_dropped_and_announcing_never_blocks() {
    let (dir, fake, _listener, _cleanup) = started("slow", 43);
    let channel = fake.channel();
    let mut w = Client::connect(&dir, 43, T).map_err(|_| "connect").unwrap();
    w.request(&Request::Watch).unwrap().unwrap();
    assert!(channel.is_open());
    // The watcher reads nothing more: its socket buffer fills, then its queue.
    let mut big = call("43-1", true);
    big.arguments = json!({"query": "x".repeat(64 * 1024)});
    let event = Announcement::Held(big);
    let start = Instant::now();
    for _ in 0..(WATCH_QUEUE * 8) {
        channel.announce(&event);
    }
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "announcing took {:?}",
        start.elapsed()
    );
    assert!(!channel.is_open(), "the slow watcher is still subscribed");
}

#[test]
fn a_live_watch_marker_opens_the_channel_and_is_poked() {
    let (dir, fake, _listener, _cleanup) = started("marker", 44);
    let channel = fake.channel();
    let marker = dir.entry(&Entry::Watch(9));
    let watcher = UnixListener::bind(&marker).unwrap();
    watcher.set_nonblocking(true).unwrap();
    assert!(channel.is_open());
    // The poke arrived: a connection waits on the marker.
    assert!(watcher.accept().is_ok());
    drop(watcher);
    // A dead watcher's marker is left while it may be a watch between bind and listen...
    assert!(!channel.is_open());
    assert!(marker.exists());
    // ...and removed on the next look once it has settled.
    backdate(&marker);
    assert!(!channel.is_open());
    assert!(!marker.exists());
}

#[test]
fn a_stale_socket_of_the_same_pid_is_replaced_and_a_live_one_refused() {
    let (dir, _cleanup) = scratch("stale");
    let path = dir.entry(&Entry::Sentinel(45));
    drop(UnixListener::bind(&path).unwrap());
    assert!(path.exists());
    let fake = Arc::new(Fake::default());
    let listener = start_in(dir.clone(), 45, fake.clone(), quiet()).unwrap();
    assert!(Client::connect(&dir, 45, T).is_ok());
    match start_in(dir.clone(), 45, fake, quiet()) {
        Err(Error::InUse { .. }) => {}
        other => panic!("expected InUse, got {:?}", other.err()),
    }
    drop(listener);
    assert!(!path.exists());
    assert!(matches!(Client::connect(&dir, 45, T), Err(Reach::Missing)));
}

#[test]
fn a_client_removes_a_stale_socket() {
    let (dir, _cleanup) = scratch("client");
    let path = dir.entry(&Entry::Sentinel(46));
    drop(UnixListener::bind(&path).unwrap());
    backdate(&path);
    assert!(matches!(Client::connect(&dir, 46, T), Err(Reach::Stale)));
    assert!(!path.exists());
}

#[test]
fn an_oversized_request_is_refused() {
    let (dir, _fake, _listener, _cleanup) = started("big", 47);
    let mut c = Client::connect(&dir, 47, T).map_err(|_| "connect").unwrap();
    let line = format!(
        "{{\"op\":\"deny\",\"id\":\"47-1\",\"reason\":\"{}\"}}",
        "x".repeat(MAX_REQUEST)
    );
    // The listener may hang up before it has read everything: a failed write is fine.
    let _ = write_line(&mut c.writer, &line);
    let reply = c.next().unwrap().unwrap();
    assert_eq!(reply["ok"], false);
    assert!(reply["error"].as_str().unwrap().contains("bytes"));
}
