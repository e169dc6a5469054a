//! Hot reload of the policy file, end to end: the real `sentinel` binary in proxy mode in front
//! of the fake MCP server, with `--reload-interval 50` (and `0` plus SIGHUP). While calls stream
//! in from a thread, the policy file is replaced (by rename, as editors do, and rewritten in
//! place), broken (YAML syntax, an unknown field, deleted) and fixed again. Each test checks
//! that no message is lost or answered twice, that the verdicts, ordered by request id, switch
//! exactly once per reload (each line is judged by one whole policy, never half of one), that
//! refused files leave the old policy in force, that blocked calls never reach the server
//! (its `--log`), and what stderr and the audit log say. Linux only (signals, /proc).
#![cfg(target_os = "linux")]

mod util;

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Limit for anything that must merely happen (generous: CI machines stall).
const LIMIT: Duration = Duration::from_secs(20);
/// Error code for a blocked call.
const BLOCKED: i64 = -32010;
/// How many responses judged by a policy each phase waits for before moving on.
const PHASE: u64 = 60;

// The policies below switch the circuit breaker off: these tests pour calls in as fast as
// they can to catch a reload mid-stream, which the default rate limit would (rightly) refuse.

const ALLOW_ECHO: &str = "\
version: 1
profiles:
  default:
    breaker: {mode: off}
    rules:
      - id: echo-ok
        tools: [echo]
        action: allow
";

/// Longer than [`ALLOW_ECHO`], so an in-place rewrite also changes the file's length.
const BLOCK_ECHO: &str = "\
version: 1
profiles:
  default:
    breaker: {mode: off}
    rules:
      - id: no-echo
        description: echo is switched off
        tools: [\"echo\"]
        action: block
";

/// Allows everything (no rule decides; the default action is allow).
const OPEN: &str = "\
version: 1
profiles:
  default:
    breaker: {mode: off}
    default_action: allow
    rules: []
";

/// Two rules that only mean something together: neither tool may be called.
const BLOCK_A_AND_B: &str = "\
version: 1
profiles:
  default:
    breaker: {mode: off}
    rules:
      - id: block-a
        tools: [a]
        action: block
      - id: block-b
        tools: [b]
        action: block
";

const BLOCK_DANGER: &str = "\
version: 1
profiles:
  default:
    breaker: {mode: off}
    rules:
      - id: no-danger
        tools: [danger]
        action: block
";

/// A YAML syntax error: a flow sequence that is never closed.
const BROKEN_SYNTAX: &str = "\
version: 1
profiles:
  default:
    rules: [
      - id: no-echo
";

/// Valid YAML, but `acton` is not a field of a rule (line 7, column 9).
const UNKNOWN_FIELD: &str = "\
version: 1
profiles:
  default:
    rules:
      - id: no-echo
        tools: [echo]
        acton: block
";

// ---- the session under test ----

/// A running `sentinel --policy FILE --reload-interval N -- fake_server --log FILE` whose stdout
/// and stderr are collected as they arrive, so the test can wait for a line on either.
struct Proxy {
    dir: PathBuf,
    policy: PathBuf,
    pid: u32,
    /// In a mutex so that waiting loops (which borrow `self`) can see an early exit.
    child: Mutex<Child>,
    stdin: Option<ChildStdin>,
    /// stdout lines, as read.
    out: Arc<Mutex<Vec<Vec<u8>>>>,
    /// stderr so far.
    err: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
}

impl Proxy {
    /// Starts sentinel in proxy mode, with `policy` written to `DIR/policy.yaml` and passed as
    /// `--policy` (none if `None`), checking the file every `interval_ms`.
    fn start(name: &str, policy: Option<&str>, interval_ms: u64, server_args: &[&str]) -> Proxy {
        let dir = util::scratch(name);
        let policy_path = dir.join("policy.yaml");
        let mut cmd = util::command(&dir);
        if let Some(text) = policy {
            fs::write(&policy_path, text).expect("write the policy file");
            cmd.arg("--policy").arg(&policy_path);
        }
        cmd.arg("--reload-interval")
            .arg(interval_ms.to_string())
            .arg("--")
            .arg(util::fake_server())
            .arg("--log")
            .arg(dir.join("server.log"))
            .args(server_args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn sentinel");
        let out = Arc::new(Mutex::new(Vec::new()));
        let err = Arc::new(Mutex::new(String::new()));
        let mut readers = Vec::new();
        {
            let stdout = child.stdout.take().expect("piped stdout");
            let out = out.clone();
            readers.push(thread::spawn(move || {
                let mut r = BufReader::new(stdout);
                loop {
                    let mut line = Vec::new();
                    match r.read_until(b'\n', &mut line) {
                        Ok(0) | Err(_) => break,
                        Ok(_) => out.lock().unwrap().push(line),
                    }
                }
            }));
        }
        {
            let stderr = child.stderr.take().expect("piped stderr");
            let err = err.clone();
            readers.push(thread::spawn(move || {
                let mut r = BufReader::new(stderr);
                loop {
                    let mut line = Vec::new();
                    match r.read_until(b'\n', &mut line) {
                        Ok(0) | Err(_) => break,
                        Ok(_) => err
                            .lock()
                            .unwrap()
                            .push_str(&String::from_utf8_lossy(&line)),
                    }
                }
            }));
        }
        Proxy {
            dir,
            policy: policy_path,
            stdin: child.stdin.take(),
            pid: child.id(),
            child: Mutex::new(child),
            out,
            err,
            readers,
        }
    }

    fn pid(&self) -> u32 {
        self.pid
    }

    /// Writes one line to sentinel's stdin.
    fn send(&mut self, line: &str) {
        let stdin = self
            .stdin
            .as_mut()
            .expect("stdin is open (no traffic thread)");
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .expect("write to sentinel");
    }

    fn stderr(&self) -> String {
        self.err.lock().unwrap().clone()
    }

    /// How many stderr lines contain `needle`.
    fn stderr_count(&self, needle: &str) -> usize {
        self.err
            .lock()
            .unwrap()
            .lines()
            .filter(|l| l.contains(needle))
            .count()
    }

    fn response_count(&self) -> u64 {
        self.out.lock().unwrap().len() as u64
    }

    /// Every stdout line so far, as JSON.
    fn responses(&self) -> Vec<Value> {
        self.out
            .lock()
            .unwrap()
            .iter()
            .map(|l| {
                serde_json::from_slice(l).unwrap_or_else(|e| {
                    panic!("stdout line not JSON ({e}): {}", String::from_utf8_lossy(l))
                })
            })
            .collect()
    }

    /// Polls `cond` until it holds; fails the test (with stderr) after [`LIMIT`].
    fn wait_for(&self, what: &str, cond: impl Fn() -> bool) {
        let start = Instant::now();
        while !cond() {
            if start.elapsed() > LIMIT {
                panic!(
                    "timed out after {LIMIT:?} waiting for {what}; {} stdout lines; stderr:\n{}",
                    self.response_count(),
                    self.stderr()
                );
            }
            if let Ok(Some(status)) = self.child.lock().unwrap().try_wait() {
                // Give the readers a moment to collect its last words, then report.
                thread::sleep(Duration::from_millis(100));
                panic!(
                    "sentinel exited ({status}) while waiting for {what}; stderr:\n{}",
                    self.stderr()
                );
            }
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// Waits until stderr has `n` lines containing `needle`.
    fn wait_stderr(&self, needle: &str, n: usize) {
        self.wait_for(&format!("{n} stderr line(s) with {needle:?}"), || {
            self.stderr_count(needle) >= n
        });
    }

    /// Waits for the response with this id (any number of others may come first).
    fn response(&self, id: u64) -> Value {
        let find = || {
            self.responses()
                .into_iter()
                .find(|r| r["id"].as_u64() == Some(id))
        };
        self.wait_for(&format!("the response to id {id}"), || find().is_some());
        find().expect("found")
    }

    /// Starts a thread writing `tools/call`s with ids 1, 2, ... (tool `tools[id % len]`) in
    /// small pipelined bursts until stopped.
    fn traffic(&mut self, tools: &'static [&'static str]) -> Traffic {
        let mut stdin = self.stdin.take().expect("stdin is open");
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU64::new(0));
        let handle = {
            let (stop, sent) = (stop.clone(), sent.clone());
            thread::spawn(move || -> Result<ChildStdin, String> {
                let mut id = 0u64;
                let mut burst = String::new();
                while !stop.load(Ordering::Relaxed) {
                    burst.clear();
                    for _ in 0..4 {
                        id += 1;
                        let tool = tools[(id % tools.len() as u64) as usize];
                        burst.push_str(&call(id, tool));
                        burst.push('\n');
                    }
                    stdin
                        .write_all(burst.as_bytes())
                        .map_err(|e| format!("write to sentinel after id {id}: {e}"))?;
                    sent.store(id, Ordering::Relaxed);
                    thread::sleep(Duration::from_micros(500));
                }
                Ok(stdin)
            })
        };
        Traffic {
            stop,
            sent,
            handle: Some(handle),
        }
    }

    /// Stops the traffic thread, takes stdin back and waits until every request sent has been
    /// answered (and no more lines come): returns the number of requests sent.
    fn stop(&mut self, mut t: Traffic) -> u64 {
        t.stop.store(true, Ordering::Relaxed);
        let stdin = t
            .handle
            .take()
            .expect("running")
            .join()
            .expect("traffic thread panicked")
            .unwrap_or_else(|e| panic!("{e}; stderr:\n{}", self.stderr()));
        self.stdin = Some(stdin);
        let sent = t.sent.load(Ordering::Relaxed);
        self.wait_for(&format!("answers to all {sent} requests"), || {
            self.response_count() >= sent
        });
        sent
    }

    /// Waits until `more` responses beyond those to the first `after` requests came in.
    fn wait_responses(&self, after: u64, more: u64) {
        self.wait_for(&format!("{more} responses after request {after}"), || {
            self.response_count() >= after + more
        });
    }

    /// Closes stdin and waits for sentinel to exit and its output to end: its status and all
    /// of its stderr ([`Proxy::responses`] then has every response).
    fn finish(&mut self) -> (ExitStatus, String) {
        self.stdin = None;
        let status = wait_exit(&mut self.child.lock().unwrap());
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
        (status, self.stderr())
    }

    /// The `id`s of the `tools/call` requests the server received.
    fn server_saw(&self) -> BTreeSet<u64> {
        let log = fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
        log.lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|m| m["method"] == "tools/call")
            .map(|m| m["id"].as_u64().expect("integer id in the server log"))
            .collect()
    }

    fn audit_actions(&self, action: &str) -> Vec<Value> {
        util::audit_entries(&self.dir)
            .into_iter()
            .filter(|e| e["action"] == action)
            .collect()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        // On a failed test: SIGKILL sentinel (its server follows through the parent-death signal).
        let child = self.child.get_mut().unwrap_or_else(|p| p.into_inner());
        if let Ok(None) = child.try_wait() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn wait_exit(child: &mut Child) -> ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(s) = child.try_wait().expect("try_wait") {
            return s;
        }
        if start.elapsed() > LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("sentinel did not exit within {LIMIT:?}");
        }
        thread::sleep(Duration::from_millis(5));
    }
}

/// The client thread of a streaming test.
struct Traffic {
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
    handle: Option<JoinHandle<Result<ChildStdin, String>>>,
}

impl Traffic {
    /// Requests sent so far.
    fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }
}

impl Drop for Traffic {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// A `tools/call` of `tool` whose arguments carry the id (the fake server echoes them back).
fn call(id: u64, tool: &str) -> String {
    util::tool_call(&id.to_string(), tool, &format!(r#"{{"n":{id}}}"#))
}

/// Replaces the policy file: by writing a new file and renaming it over the old one (what most
/// editors do), or by truncating and rewriting the same file.
fn replace(path: &Path, text: &str, in_place: bool) {
    if in_place {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(path)
            .expect("open the policy file");
        f.write_all(text.as_bytes())
            .expect("rewrite the policy file");
    } else {
        let tmp = path.with_extension("yaml.tmp");
        fs::write(&tmp, text).expect("write the new policy file");
        fs::rename(&tmp, path).expect("rename it over the policy file");
    }
}

// ---- verdicts ----

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    /// Forwarded: the server's echo of the arguments.
    Allowed,
    /// Refused by the rule with this id.
    Blocked(&'static str),
}

/// The verdict a response carries, checking it is well formed for request `id`.
fn verdict(r: &Value, id: u64, rules: &[&'static str]) -> Verdict {
    if let Some(text) = r["result"]["content"][0]["text"].as_str() {
        assert_eq!(
            text,
            format!(r#"{{"n":{id}}}"#),
            "not the server's echo of request {id}: {r}"
        );
        return Verdict::Allowed;
    }
    assert_eq!(r["error"]["code"], BLOCKED, "neither echo nor block: {r}");
    let rule = r["error"]["data"]["rule"].as_str().unwrap_or("");
    match rules.iter().find(|&&x| x == rule) {
        Some(&x) => Verdict::Blocked(x),
        None => panic!("blocked by unexpected rule {rule:?}: {r}"),
    }
}

/// Responses by id, checking that ids 1..=sent each got exactly one and nothing else came.
fn by_id(responses: &[Value], sent: u64) -> BTreeMap<u64, &Value> {
    let mut map = BTreeMap::new();
    for r in responses {
        let id = r["id"]
            .as_u64()
            .unwrap_or_else(|| panic!("response without an integer id: {r}"));
        assert!(map.insert(id, r).is_none(), "two responses to request {id}");
    }
    let missing: Vec<u64> = (1..=sent).filter(|i| !map.contains_key(i)).collect();
    assert!(
        missing.is_empty(),
        "{} of {sent} requests unanswered, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
    assert_eq!(map.len() as u64, sent, "responses to requests never sent");
    map
}

/// The ids (in order) where the policy judging the requests changed: `policy_of(id, verdict)`
/// names the policy (0, 1, ...) that explains the verdict on request `id`, and the sequence
/// of policies must be `expect[0]..., expect[1]..., ...` with every phase non-empty.
fn switch_points(
    verdicts: &[(u64, usize)],
    expect: &[usize],
    show: &dyn Fn(u64) -> String,
) -> Vec<u64> {
    let mut switches = Vec::new();
    let mut phase = 0;
    assert_eq!(
        verdicts.first().map(|v| v.1),
        Some(expect[0]),
        "the first request was not judged by the first policy: {}",
        show(verdicts[0].0)
    );
    for w in verdicts.windows(2) {
        if w[1].1 != w[0].1 {
            phase += 1;
            assert!(
                phase < expect.len() && w[1].1 == expect[phase],
                "unexpected switch of policy at request {} (after {}): {} then {}; switches \
                 so far at {switches:?}",
                w[1].0,
                w[0].0,
                show(w[0].0),
                show(w[1].0)
            );
            switches.push(w[1].0);
        }
    }
    assert_eq!(
        switches.len(),
        expect.len() - 1,
        "expected {} switch(es) of policy, saw them at {switches:?}",
        expect.len() - 1
    );
    switches
}

/// Checks the server received exactly the allowed calls.
fn assert_server_saw_only(p: &Proxy, allowed: &BTreeSet<u64>) {
    let saw = p.server_saw();
    let leaked: Vec<_> = saw.difference(allowed).take(10).collect();
    assert!(
        leaked.is_empty(),
        "blocked calls reached the server: {leaked:?}"
    );
    let lost: Vec<_> = allowed.difference(&saw).take(10).collect();
    assert!(
        lost.is_empty(),
        "allowed calls the server never saw: {lost:?}"
    );
}

/// `path:LINE:COL:` in `text`, with LINE and COL both numbers: returns (LINE, COL).
fn location_after(text: &str, path: &Path) -> Option<(u64, u64)> {
    let prefix = format!("{}:", path.display());
    let rest = &text[text.find(&prefix)? + prefix.len()..];
    let mut parts = rest.splitn(3, ':');
    let line = parts.next()?.parse().ok()?;
    let col = parts.next()?.parse().ok()?;
    parts.next()?;
    Some((line, col))
}

/// The stderr lines containing `needle`.
fn lines_with(text: &str, needle: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.contains(needle))
        .map(str::to_owned)
        .collect()
}

// ---- valid files while traffic flows ----

/// Allowed echo calls stream in; the file is replaced by one that blocks echo. Every request
/// is answered once, the verdicts switch once (by request id), and the blocked calls never
/// reach the server.
fn hot_reload(name: &str, in_place: bool) {
    let mut p = Proxy::start(name, Some(ALLOW_ECHO), 50, &[]);
    let t = p.traffic(&["echo"]);
    p.wait_responses(0, PHASE);
    replace(&p.policy, BLOCK_ECHO, in_place);
    p.wait_stderr("policy reloaded", 1);
    p.wait_responses(t.sent(), PHASE);
    let sent = p.stop(t);
    let (status, err) = p.finish();
    let responses = p.responses();
    let map = by_id(&responses, sent);
    let verdicts: Vec<(u64, usize)> = map
        .iter()
        .map(|(&id, r)| {
            let v = verdict(r, id, &["no-echo"]);
            (id, usize::from(v != Verdict::Allowed))
        })
        .collect();
    let show = |id: u64| map[&id].to_string();
    let switch = switch_points(&verdicts, &[0, 1], &show)[0];
    let allowed: BTreeSet<u64> = (1..switch).collect();
    assert_server_saw_only(&p, &allowed);
    assert_eq!(
        p.audit_actions("blocked").len() as u64,
        sent - (switch - 1),
        "one audit entry per blocked call"
    );
    let loaded = p.audit_actions("policy_loaded");
    assert_eq!(loaded.len(), 1, "{loaded:?}");
    assert!(
        loaded[0]["explanation"]
            .as_str()
            .is_some_and(|e| e.contains("policy.yaml")),
        "{loaded:?}"
    );
    assert!(status.success(), "sentinel {status}; stderr:\n{err}");
    assert_eq!(
        lines_with(&err, "policy reloaded").len(),
        1,
        "one reload; stderr:\n{err}"
    );
    if !in_place {
        // An in-place rewrite may be seen half done (truncated): that read is refused, which
        // keeps the old policy, and the finished file is loaded at the next check.
        assert_eq!(
            lines_with(&err, "policy reload refused"),
            Vec::<String>::new(),
            "stderr:\n{err}"
        );
    }
}

#[test]
fn a_file_renamed_over_the_policy_is_loaded_while_traffic_flows() {
    hot_reload("rename", false);
}

#[test]
fn a_policy_rewritten_in_place_is_loaded_while_traffic_flows() {
    hot_reload("in-place", true);
}

#[test]
fn two_rules_loaded_together_apply_together() {
    // Calls alternate between tools a and b while the policy flips between one that allows
    // both and one whose two rules block both: ordered by id, a and b change verdict at the
    // same request every time. A half-loaded policy (one rule in force, not the other) would
    // show up as an extra switch.
    const FLIPS: usize = 4;
    let mut p = Proxy::start("together", Some(OPEN), 50, &[]);
    let t = p.traffic(&["a", "b"]);
    p.wait_responses(0, PHASE);
    for flip in 1..=FLIPS {
        let next = if flip % 2 == 1 { BLOCK_A_AND_B } else { OPEN };
        replace(&p.policy, next, false);
        p.wait_stderr("policy reloaded", flip);
        p.wait_responses(t.sent(), PHASE);
    }
    let sent = p.stop(t);
    let (status, err) = p.finish();
    let responses = p.responses();
    let map = by_id(&responses, sent);
    let verdicts: Vec<(u64, usize)> = map
        .iter()
        .map(|(&id, r)| {
            let tool_rule = if id % 2 == 0 { "block-a" } else { "block-b" };
            let v = verdict(r, id, &["block-a", "block-b"]);
            if let Verdict::Blocked(rule) = v {
                assert_eq!(rule, tool_rule, "request {id} blocked by the wrong rule");
            }
            (id, usize::from(v != Verdict::Allowed))
        })
        .collect();
    let show = |id: u64| map[&id].to_string();
    let switches = switch_points(&verdicts, &[0, 1, 0, 1, 0], &show);
    let mut allowed = BTreeSet::new();
    let mut from = 1;
    for (i, &at) in switches
        .iter()
        .chain(std::iter::once(&(sent + 1)))
        .enumerate()
    {
        if i % 2 == 0 {
            allowed.extend(from..at);
        }
        from = at;
    }
    assert_server_saw_only(&p, &allowed);
    assert_eq!(p.audit_actions("policy_loaded").len(), FLIPS);
    assert!(status.success(), "sentinel {status}; stderr:\n{err}");
    assert_eq!(lines_with(&err, "policy reloaded").len(), FLIPS, "{err}");
}

// ---- refused files ----

#[test]
fn an_invalid_file_is_refused_and_the_old_policy_stays_until_it_is_fixed() {
    // Under BLOCK_DANGER, echo is allowed and danger blocked; under the fixed file (BLOCK_ECHO)
    // the other way round.
    let mut p = Proxy::start("invalid", Some(BLOCK_DANGER), 50, &[]);
    let t = p.traffic(&["echo", "danger"]);
    p.wait_responses(0, PHASE);

    replace(&p.policy, BROKEN_SYNTAX, false);
    p.wait_stderr("policy reload refused", 1);
    p.wait_responses(t.sent(), PHASE);

    replace(&p.policy, UNKNOWN_FIELD, false);
    p.wait_stderr("policy reload refused", 2);
    let refused_by = t.sent();
    p.wait_responses(refused_by, PHASE);
    assert_eq!(p.stderr_count("policy reloaded"), 0, "{}", p.stderr());

    replace(&p.policy, BLOCK_ECHO, false);
    p.wait_stderr("policy reloaded", 1);
    p.wait_responses(t.sent(), PHASE);
    let sent = p.stop(t);
    let (status, err) = p.finish();
    assert!(status.success(), "sentinel {status}; stderr:\n{err}");

    let refused = lines_with(&err, "policy reload refused");
    assert_eq!(refused.len(), 2, "stderr:\n{err}");
    for line in &refused {
        assert!(
            line.contains("the previous policy stays in force"),
            "{line}"
        );
        let at = location_after(line, &p.policy);
        assert!(
            at.is_some_and(|(l, c)| l > 0 && c > 0),
            "no FILE:LINE:COL in {line:?}"
        );
    }
    assert_eq!(
        location_after(&refused[0], &p.policy).map(|(line, _)| line),
        Some(5),
        "the syntax error is found at line 5: {}",
        refused[0]
    );
    assert_eq!(
        location_after(&refused[1], &p.policy),
        Some((7, 9)),
        "the unknown field is at line 7, column 9: {}",
        refused[1]
    );
    assert!(refused[1].contains("acton"), "{}", refused[1]);

    let responses = p.responses();
    let map = by_id(&responses, sent);
    let verdicts: Vec<(u64, usize)> = map
        .iter()
        .map(|(&id, r)| {
            let echo = id % 2 == 0;
            let v = verdict(r, id, &["no-danger", "no-echo"]);
            let old = if echo {
                Verdict::Allowed
            } else {
                Verdict::Blocked("no-danger")
            };
            let new = if echo {
                Verdict::Blocked("no-echo")
            } else {
                Verdict::Allowed
            };
            assert!(v == old || v == new, "request {id}: {v:?}");
            (id, usize::from(v == new))
        })
        .collect();
    let show = |id: u64| map[&id].to_string();
    let switch = switch_points(&verdicts, &[0, 1], &show)[0];
    assert!(
        switch > refused_by + PHASE,
        "the fixed policy took over at request {switch}, before the calls sent after the \
         refusals ({refused_by} + {PHASE}) were judged"
    );
    let allowed: BTreeSet<u64> = (1..=sent)
        .filter(|&id| (id < switch) == (id % 2 == 0))
        .collect();
    assert_server_saw_only(&p, &allowed);

    let rejected = p.audit_actions("policy_rejected");
    assert_eq!(rejected.len(), 2, "{rejected:?}");
    for r in &rejected {
        assert_eq!(r["rule"], "policy.reload", "{r}");
        let explanation = r["explanation"].as_str().unwrap_or("");
        assert!(
            location_after(explanation, &p.policy).is_some(),
            "no FILE:LINE:COL in the audit entry: {r}"
        );
    }
    assert_eq!(p.audit_actions("policy_loaded").len(), 1);
}

#[test]
fn deleting_the_policy_file_keeps_the_old_policy() {
    let mut p = Proxy::start("deleted", Some(BLOCK_ECHO), 50, &[]);
    p.send(&call(1, "echo"));
    assert_eq!(p.response(1)["error"]["code"], BLOCKED);

    fs::remove_file(&p.policy).expect("delete the policy file");
    p.wait_stderr("policy reload refused", 1);
    let err = p.stderr();
    let line = &lines_with(&err, "policy reload refused")[0];
    assert!(
        line.contains("cannot read the policy file"),
        "stderr:\n{err}"
    );
    // Still running, still judging by the old policy.
    p.send(&call(2, "echo"));
    assert_eq!(p.response(2)["error"]["data"]["rule"], "no-echo");
    assert!(
        p.child.lock().unwrap().try_wait().unwrap().is_none(),
        "sentinel died; stderr:\n{}",
        p.stderr()
    );
    let rejected = p.audit_actions("policy_rejected");
    assert_eq!(rejected.len(), 1, "{rejected:?}");

    // A new file at the path is picked up.
    replace(&p.policy, ALLOW_ECHO, false);
    p.wait_stderr("policy reloaded", 1);
    p.send(&call(3, "echo"));
    assert!(p.response(3)["result"].is_object());
    assert_eq!(p.stderr_count("policy reload refused"), 1, "{}", p.stderr());
    assert_eq!(p.server_saw(), BTreeSet::from([3]));
    let (status, err) = p.finish();
    assert!(status.success(), "sentinel {status}; stderr:\n{err}");
}

// ---- SIGHUP ----

#[test]
fn sighup_forces_a_reload_when_polling_is_off() {
    let mut p = Proxy::start("sighup", Some(ALLOW_ECHO), 0, &[]);
    p.send(&call(1, "echo"));
    assert!(p.response(1)["result"].is_object());

    replace(&p.policy, BLOCK_ECHO, false);
    // With --reload-interval 0 nothing looks at the file: there is no event to wait for, so
    // give a poller (were there one) many chances to notice.
    thread::sleep(Duration::from_millis(400));
    p.send(&call(2, "echo"));
    assert!(
        p.response(2)["result"].is_object(),
        "reloaded without SIGHUP"
    );
    assert_eq!(p.stderr_count("policy reloaded"), 0, "{}", p.stderr());

    util::send_signal(p.pid(), libc::SIGHUP);
    p.wait_stderr("policy reloaded", 1);
    p.send(&call(3, "echo"));
    assert_eq!(p.response(3)["error"]["data"]["rule"], "no-echo");

    // SIGHUP reloads even an unchanged file.
    util::send_signal(p.pid(), libc::SIGHUP);
    p.wait_stderr("policy reloaded", 2);
    p.send(&call(4, "echo"));
    assert_eq!(p.response(4)["error"]["code"], BLOCKED);

    assert_eq!(p.server_saw(), BTreeSet::from([1, 2]));
    assert_eq!(p.audit_actions("policy_loaded").len(), 2);
    let (status, err) = p.finish();
    assert!(status.success(), "sentinel {status}; stderr:\n{err}");
}

#[test]
fn without_a_policy_file_sighup_goes_to_the_server() {
    let mut p = Proxy::start("sighup-no-policy", None, 50, &["--pid-file", "server.pid"]);
    let server = util::read_pid(&p.dir.join("server.pid"), LIMIT);
    p.send(&call(1, "echo"));
    assert!(p.response(1)["result"].is_object());
    util::send_signal(p.pid(), libc::SIGHUP);
    let status = wait_exit(&mut p.child.lock().unwrap());
    assert_eq!(
        status.code(),
        Some(128 + libc::SIGHUP),
        "the server dies of SIGHUP and sentinel exits with 129: {status}; stderr:\n{}",
        p.stderr()
    );
    util::wait_dead(server, LIMIT);
    assert_eq!(p.stderr_count("policy reloaded"), 0);
}

#[test]
fn with_a_policy_file_sigterm_still_goes_to_the_server() {
    // The reload thread must not change how the other signals are handled: SIGTERM is passed
    // to the server's group, the server dies of it, and sentinel exits 143 by itself.
    let mut p = Proxy::start(
        "sigterm-policy",
        Some(ALLOW_ECHO),
        50,
        &["--pid-file", "server.pid"],
    );
    let server = util::read_pid(&p.dir.join("server.pid"), LIMIT);
    p.send(&call(1, "echo"));
    assert!(p.response(1)["result"].is_object());
    util::send_signal(p.pid(), libc::SIGTERM);
    let status = wait_exit(&mut p.child.lock().unwrap());
    assert_eq!(
        status.code(),
        Some(128 + libc::SIGTERM),
        "sentinel must pass SIGTERM on and exit with the server's 143, not die of it: \
         {status}; stderr:\n{}",
        p.stderr()
    );
    util::wait_dead(server, LIMIT);
}
