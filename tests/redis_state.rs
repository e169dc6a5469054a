//! Breaker and approvals state shared through a real Redis (`--state redis://`): each test
//! starts its own `redis-server` on a free port (no persistence, killed when the test ends)
//! and runs two or more real `sentinel` processes in demo mode against it. What is shown: two
//! instances share one call limit, one budget and one rate limit exactly, sequentially and
//! when both fire at the same time; Redis going away refuses calls with the reason (or, with
//! `--state-fail open`, lets them through recorded), said once on stderr and audited, and
//! its return is noted; a 2026-07-28 approval state sealed at one instance opens at another
//! and is good once across them; approvals fail closed while Redis is away.
//!
//! `redis-server` must be installed (Debian: `apt-get install redis-server`; `.ci/run` does
//! it): without it these tests fail, saying so. Time is the file clock's, frozen, so rate
//! limits never refill; no assertion depends on timing.

mod util;

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use util::Session;

/// Generous per-step limit for a loaded 2-core machine.
const T: Duration = Duration::from_secs(30);

/// A private `redis-server`, killed on drop.
struct RedisServer {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
}

impl RedisServer {
    fn start(name: &str) -> RedisServer {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut r = RedisServer {
            child: None,
            port,
            dir: util::scratch(name),
        };
        r.restart();
        r
    }

    /// Starts the server (again) on the same port, empty.
    fn restart(&mut self) {
        assert!(self.child.is_none(), "already running");
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run redis-server ({e}): these tests need a real Redis; install it \
                     (Debian: apt-get install redis-server)"
                )
            });
        self.child = Some(child);
        let url = self.url();
        let start = Instant::now();
        loop {
            let pong = redis::Client::open(url.as_str())
                .and_then(|c| c.get_connection_with_timeout(Duration::from_secs(1)))
                .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c));
            if pong.is_ok() {
                return;
            }
            assert!(
                start.elapsed() < T,
                "redis-server on port {} did not answer: {pong:?}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    fn conn(&self) -> redis::Connection {
        redis::Client::open(self.url().as_str())
            .unwrap()
            .get_connection_with_timeout(T)
            .unwrap()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A policy file with this `breaker:` section and these rules (YAML flow style).
fn policy(dir: &Path, breaker: &str, rules: &str) -> PathBuf {
    let p = dir.join("policy.yaml");
    std::fs::write(
        &p,
        format!("version: 1\nprofiles:\n  default:\n    rules: {rules}\n    breaker: {breaker}\n"),
    )
    .unwrap();
    p
}

/// A demo-mode Sentinel of server `name` on `url`, in its own directory (its audit log there),
/// its clock frozen at 2026-01-01.
fn sentinel(dir: &Path, policy: &Path, url: &str, name: &str, extra: &[&str]) -> Command {
    let clock = dir.join("clock");
    std::fs::write(&clock, "1767225600").unwrap();
    let mut cmd = util::command(dir);
    cmd.env("SENTINEL_TEST_CLOCK", &clock)
        .arg("--policy")
        .arg(policy)
        .arg("--server-name")
        .arg(name)
        .arg("--state")
        .arg(url)
        .args(extra);
    cmd
}

fn calls(ids: std::ops::Range<u32>, tool: &str) -> String {
    ids.map(|i| util::tool_call(&i.to_string(), tool, &format!("{{\"n\":{i}}}")) + "\n")
        .collect()
}

/// Runs one demo instance over `input`: (forwarded call ids, refusals by rule, stderr).
fn run(cmd: &mut Command, input: &str) -> (Vec<u64>, Vec<(u64, String)>, String) {
    let (status, out, err) = util::run(cmd, input.as_bytes(), T);
    assert!(status.success(), "{status:?}: {err}");
    let (fwd, refused) = split(&util::json_lines(&out));
    (fwd, refused, err)
}

/// Forwarded calls (echoed requests) and refusals (error answers, with their rule).
fn split(lines: &[Value]) -> (Vec<u64>, Vec<(u64, String)>) {
    let mut fwd = Vec::new();
    let mut refused = Vec::new();
    for l in lines {
        let id = l["id"].as_u64().unwrap_or_else(|| panic!("{l}"));
        if l.get("method").is_some() {
            fwd.push(id);
        } else {
            let rule = l["error"]["data"]["rule"]
                .as_str()
                .unwrap_or("?")
                .to_owned();
            refused.push((id, rule));
        }
    }
    (fwd, refused)
}

/// `--server-name` keys the shared state: two instances of one server share its limits.
#[test]
fn two_instances_share_one_call_limit_budget_and_rate_limit_exactly() {
    let redis = RedisServer::start("redis-seq");
    let (a, b) = (util::scratch("redis-seq-a"), util::scratch("redis-seq-b"));
    let breaker = "{max_calls: 5, budget: 1.0, tools: [{tools: [paid], cost: 0.25}], \
                   rate_limits: [{tools: [rated], rate: 1/hour, burst: 4}], loop: {repeats: 0}}";
    let (pa, pb) = (policy(&a, breaker, "[]"), policy(&b, breaker, "[]"));
    let url = redis.url();

    // max_calls 5: A makes 3, B makes 3; exactly the 6th is refused.
    let (fwd, refused, _) = run(
        &mut sentinel(&a, &pa, &url, "calls", &[]),
        &calls(1..4, "echo"),
    );
    assert_eq!((fwd, refused), (vec![1, 2, 3], vec![]));
    let (fwd, refused, _) = run(
        &mut sentinel(&b, &pb, &url, "calls", &[]),
        &calls(4..7, "echo"),
    );
    assert_eq!(fwd, vec![4, 5]);
    assert_eq!(refused, vec![(6, "breaker.max_calls".to_owned())]);

    // budget 1.0 at 0.25 a call: A spends 0.75, B's second call would pass 1.0.
    let (fwd, _, _) = run(
        &mut sentinel(&a, &pa, &url, "money", &[]),
        &calls(1..4, "paid"),
    );
    assert_eq!(fwd, vec![1, 2, 3]);
    let (fwd, refused, _) = run(
        &mut sentinel(&b, &pb, &url, "money", &[]),
        &calls(4..6, "paid"),
    );
    assert_eq!(fwd, vec![4]);
    assert_eq!(refused, vec![(5, "breaker.budget".to_owned())]);

    // A bucket of 4 that does not refill while the clock stands still: 2 at A, then 2 of 3 at B.
    let (fwd, _, _) = run(
        &mut sentinel(&a, &pa, &url, "rate", &[]),
        &calls(1..3, "rated"),
    );
    assert_eq!(fwd, vec![1, 2]);
    let (fwd, refused, _) = run(
        &mut sentinel(&b, &pb, &url, "rate", &[]),
        &calls(3..6, "rated"),
    );
    assert_eq!(fwd, vec![3, 4]);
    assert_eq!(refused, vec![(5, "breaker.rate".to_owned())]);

    // The state is in Redis under the documented key, with a time to live of about a day.
    let mut c = redis.conn();
    let ttl: i64 = redis::cmd("PTTL")
        .arg("sentinel:breaker:server:calls")
        .query(&mut c)
        .unwrap();
    assert!(ttl > 23 * 3_600_000 && ttl <= 24 * 3_600_000, "{ttl}");
    let json: String = redis::cmd("GET")
        .arg("sentinel:breaker:server:money")
        .query(&mut c)
        .unwrap();
    let st: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(st["calls"], 4, "{st}");
}

/// Three instances fire their calls at the same moment: exactly the limit is let through in
/// total, whatever the interleaving (the optimistic transaction retries on conflict).
#[test]
fn concurrent_instances_let_exactly_the_limit_through() {
    const INSTANCES: usize = 3;
    const CALLS: usize = 30;
    let redis = RedisServer::start("redis-conc");
    let url = redis.url();
    for (name, breaker, limit, rule) in [
        (
            "conc-calls",
            "{max_calls: 40, loop: {repeats: 0}}",
            40,
            "breaker.max_calls",
        ),
        (
            "conc-rate",
            "{rate_limits: [{tools: ['*'], rate: 1/hour, burst: 25}], loop: {repeats: 0}}",
            25,
            "breaker.rate",
        ),
    ] {
        let dirs: Vec<PathBuf> = (0..INSTANCES)
            .map(|i| util::scratch(&format!("{name}-{i}")))
            .collect();
        let mut sessions: Vec<Session> = dirs
            .iter()
            .map(|d| Session::spawn(&mut sentinel(d, &policy(d, breaker, "[]"), &url, name, &[])))
            .collect();
        let input = calls(1..(CALLS as u32 + 1), "echo");
        // Both get all their input before either is waited for.
        for s in &mut sessions {
            s.send_raw(input.as_bytes());
        }
        let mut forwarded = 0;
        let mut refused = 0;
        for s in &mut sessions {
            s.close_stdin();
            let status = s.wait(T);
            assert!(status.success(), "{status:?}: {}", s.stderr());
            let (fwd, no) = split(&util::json_lines(&s.rest_of_stdout()));
            assert_eq!(fwd.len() + no.len(), CALLS, "every call answered once");
            assert!(no.iter().all(|(_, r)| r == rule), "{no:?}");
            forwarded += fwd.len();
            refused += no.len();
        }
        assert_eq!(
            (forwarded, refused),
            (limit, INSTANCES * CALLS - limit),
            "{name}"
        );
    }
}

/// One interactive demo instance: a line in, a line out.
fn interactive(dir: &Path, url: &str, name: &str, extra: &[&str]) -> Session {
    let p = policy(dir, "{max_calls: 100, loop: {repeats: 0}}", "[]");
    Session::spawn(&mut sentinel(dir, &p, url, name, extra))
}

fn one(s: &mut Session, id: u32) -> Value {
    s.send(&util::tool_call(&id.to_string(), "echo", "{}"));
    s.recv(T)
}

fn count(text: &str, needle: &str) -> usize {
    text.matches(needle).count()
}

fn audited(dir: &Path, action: &str) -> Vec<Value> {
    util::audit_entries(dir)
        .into_iter()
        .filter(|e| e["action"] == action)
        .collect()
}

#[test]
fn redis_going_away_refuses_calls_with_the_reason_once_and_its_return_is_noted() {
    let mut redis = RedisServer::start("redis-away");
    let dir = util::scratch("redis-away-s");
    let mut s = interactive(&dir, &redis.url(), "away", &[]);
    assert_eq!(
        one(&mut s, 1)["method"],
        "tools/call",
        "forwarded while Redis is up"
    );
    redis.stop();
    for id in 2..5 {
        let r = one(&mut s, id);
        assert_eq!(r["error"]["code"], -32010, "{r}");
        assert_eq!(r["error"]["data"]["rule"], "breaker.state_store", "{r}");
        let msg = r["error"]["message"].as_str().unwrap();
        let want = format!("the shared state store ({}) is unreachable: ", redis.url());
        assert!(msg.contains(&want), "{msg}");
        assert!(
            msg.contains(
                "budgets and rate limits cannot be checked, so the call is refused; restore \
                 Redis or start Sentinel with --state-fail open"
            ),
            "{msg}"
        );
    }
    redis.restart();
    assert_eq!(
        one(&mut s, 5)["method"],
        "tools/call",
        "forwarded once Redis is back"
    );
    assert_eq!(one(&mut s, 6)["method"], "tools/call");
    s.close_stdin();
    assert!(s.wait(T).success());
    let err = s.stderr();
    assert_eq!(
        count(&err, "so tool calls are refused until it answers again"),
        1,
        "the outage is said once: {err}"
    );
    assert_eq!(count(&err, "answers again: budgets"), 1, "{err}");
    assert_eq!(audited(&dir, "state_store_down").len(), 1);
    assert_eq!(audited(&dir, "state_store_up").len(), 1);
    let blocked = audited(&dir, "blocked");
    assert_eq!(blocked.len(), 3);
    assert!(blocked.iter().all(|e| e["rule"] == "breaker.state_store"));
}

#[test]
fn with_state_fail_open_calls_go_through_recorded_and_warned_about_once() {
    let mut redis = RedisServer::start("redis-open");
    let dir = util::scratch("redis-open-s");
    let mut s = interactive(&dir, &redis.url(), "open", &["--state-fail", "open"]);
    assert_eq!(one(&mut s, 1)["method"], "tools/call");
    redis.stop();
    for id in 2..5 {
        let r = one(&mut s, id);
        assert_eq!(r["method"], "tools/call", "let through: {r}");
    }
    redis.restart();
    assert_eq!(one(&mut s, 5)["method"], "tools/call");
    s.close_stdin();
    assert!(s.wait(T).success());
    let err = s.stderr();
    assert_eq!(
        count(
            &err,
            "tool calls are let through unchecked until it answers again"
        ),
        1,
        "{err}"
    );
    assert_eq!(count(&err, "answers again: budgets"), 1, "{err}");
    let monitored = audited(&dir, "monitored");
    assert_eq!(monitored.len(), 3, "each unchecked call is recorded");
    assert!(monitored.iter().all(|e| e["rule"] == "breaker.state_store"));
    assert_eq!(audited(&dir, "state_store_down").len(), 1);
    assert_eq!(audited(&dir, "state_store_up").len(), 1);
}

#[test]
fn a_redis_unreachable_at_start_is_warned_about_and_calls_refused() {
    let mut redis = RedisServer::start("redis-start");
    let url = redis.url();
    redis.stop();
    let dir = util::scratch("redis-start-s");
    let p = policy(&dir, "{max_calls: 100}", "[]");
    let (fwd, refused, err) = run(
        &mut sentinel(&dir, &p, &url, "start", &[]),
        &calls(1..3, "echo"),
    );
    assert!(fwd.is_empty());
    assert_eq!(refused.len(), 2);
    assert!(err.contains("is unreachable at start"), "{err}");
    assert!(err.contains("Sentinel starts anyway"), "{err}");
}

// 2026-07-28 approvals across instances.

fn meta() -> Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": {"name": "mrtr-client", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": {"elicitation": {"form": {}}},
    })
}

fn deploy(id: u32, state: Option<&Value>) -> String {
    let mut c = json!({"jsonrpc":"2.0","id":id,"method":"tools/call",
        "params":{"name":"deploy","arguments":{"env":"prod"},"_meta":meta()}});
    if let Some(st) = state {
        c["params"]["requestState"] = st.clone();
        c["params"]["inputResponses"] = json!({
            "sentinel_approval": {"action": "accept", "content": {"decision": "approve"}}
        });
    }
    c.to_string()
}

fn approver(dir: &Path, url: Option<&str>) -> Session {
    let p = policy(
        dir,
        "{mode: off}",
        "[{id: deploy, tools: [deploy], action: approve, approval: {timeout: 60s}}]",
    );
    let clock = dir.join("clock");
    std::fs::write(&clock, "1767225600").unwrap();
    let mut cmd = util::command(dir);
    cmd.env("SENTINEL_TEST_CLOCK", &clock)
        .arg("--policy")
        .arg(p);
    if let Some(url) = url {
        cmd.arg("--state").arg(url);
    }
    Session::spawn(&mut cmd)
}

fn sealed(s: &mut Session, id: u32) -> Value {
    s.send(&deploy(id, None));
    let r = s.recv(T);
    assert_eq!(r["result"]["resultType"], "input_required", "{r}");
    r["result"]["requestState"].clone()
}

#[test]
fn an_approval_sealed_at_one_instance_opens_at_another_and_only_once() {
    let redis = RedisServer::start("redis-mrtr");
    let url = redis.url();
    let (da, db, dc) = (
        util::scratch("mrtr-a"),
        util::scratch("mrtr-b"),
        util::scratch("mrtr-c"),
    );
    let (mut a, mut b) = (approver(&da, Some(&url)), approver(&db, Some(&url)));
    let state = sealed(&mut a, 1);
    // B never saw the first round, but shares the key: the retry is approved and forwarded,
    // without Sentinel's fields.
    b.send(&deploy(2, Some(&state)));
    let r = b.recv(T);
    assert_eq!(r["method"], "tools/call", "{r}");
    assert_eq!(r["id"], 2);
    assert!(r["params"].get("requestState").is_none(), "{r}");
    // The same state again, at A (where it was made) or at B: a replay.
    for s in [&mut a, &mut b] {
        s.send(&deploy(3, Some(&state)));
        let r = s.recv(T);
        assert_eq!(r["error"]["code"], -32012, "{r}");
        let msg = r["error"]["message"].as_str().unwrap();
        assert!(msg.contains("already used"), "{msg}");
    }
    // Without --state, another instance has its own key: the state is foreign there.
    let mut c = approver(&dc, None);
    c.send(&deploy(4, Some(&state)));
    let r = c.recv(T);
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not issued by this Sentinel"),
        "{r}"
    );
    for mut s in [a, b, c] {
        s.close_stdin();
        assert!(s.wait(T).success());
    }
    let mut conn = redis.conn();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("sentinel:approvals:*")
        .query(&mut conn)
        .unwrap();
    assert_eq!(keys.len(), 2, "the key and one used nonce: {keys:?}");
    let nonce = keys.iter().find(|k| k.contains(":nonce:")).unwrap();
    let ttl: i64 = redis::cmd("PTTL").arg(nonce).query(&mut conn).unwrap();
    assert!(
        ttl > 0 && ttl <= 120_000,
        "kept until the state expires: {ttl}"
    );
}

#[test]
fn approvals_fail_closed_while_redis_is_away() {
    let mut redis = RedisServer::start("redis-mrtr-away");
    let dir = util::scratch("mrtr-away");
    let mut a = approver(&dir, Some(&redis.url()));
    let state = sealed(&mut a, 1);
    redis.stop();
    a.send(&deploy(2, Some(&state)));
    let r = a.recv(T);
    assert_eq!(r["error"]["code"], -32012, "{r}");
    let msg = r["error"]["message"].as_str().unwrap();
    assert!(msg.contains("is unreachable"), "{msg}");
    // A first round cannot be sealed either.
    a.send(&deploy(3, None));
    let r = a.recv(T);
    assert!(r.get("error").is_some(), "refused, not asked: {r}");
    a.close_stdin();
    assert!(a.wait(T).success());
    let err = a.stderr();
    assert_eq!(
        count(&err, "2026-07-28 approvals cannot be sealed"),
        1,
        "{err}"
    );
}

#[test]
fn bad_state_values_are_one_line_usage_errors() {
    let dir = util::scratch("redis-usage");
    for (args, env, want) in [
        (vec!["--state", "rediss://cache:6380/0"], None, "TLS"),
        (
            vec!["--state", "postgres://db/0"],
            None,
            "expected memory or redis://",
        ),
        (vec!["--state", "redis://cache/x"], None, "database number"),
        (
            vec!["--state-fail", "maybe"],
            None,
            "expected 'closed' or 'open'",
        ),
        (vec![], Some("http://x"), "SENTINEL_STATE"),
    ] {
        let mut cmd = util::command(&dir);
        cmd.args(&args);
        if let Some(v) = env {
            cmd.env("SENTINEL_STATE", v);
        }
        let (status, out, err) = util::run(&mut cmd, b"", T);
        assert_eq!(status.code(), Some(2), "{args:?}: {err}");
        assert!(out.is_empty());
        assert!(err.contains(want), "{want:?} not in {err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
    // `memory` is the default, spelled out.
    let (status, _, err) = util::run(
        util::command(&dir).args(["--state", "memory"]),
        util::tool_call("1", "echo", "{}").as_bytes(),
        T,
    );
    assert!(status.success(), "{err}");
}

// The serve tests' client, whole; this file uses part of it.
#[path = "serve/http.rs"]
#[allow(dead_code)]
mod http;

#[test]
fn two_serve_instances_share_one_tenants_limits_across_their_sessions() {
    let redis = RedisServer::start("redis-serve");
    let dir = util::scratch("redis-serve");
    let token = "token-of-team-a";
    let hash: String = sha2::Digest::finalize(sha2::Digest::chain_update(
        <sha2::Sha256 as sha2::Digest>::new(),
        token.as_bytes(),
    ))
    .iter()
    .map(|b| format!("{b:02x}"))
    .collect();
    let tokens = dir.join("tokens.yaml");
    std::fs::write(
        &tokens,
        format!("tokens:\n  - sha256: {hash}\n    tenant: team-a\n    profile: default\n"),
    )
    .unwrap();
    let p = policy(&dir, "{max_calls: 3, loop: {repeats: 0}}", "[]");
    let url = redis.url();
    let args = [
        "--tokens",
        tokens.to_str().unwrap(),
        "--policy",
        p.to_str().unwrap(),
        "--state",
        url.as_str(),
    ];
    let (da, db) = (dir.join("a"), dir.join("b"));
    std::fs::create_dir_all(&da).unwrap();
    std::fs::create_dir_all(&db).unwrap();
    let a = http::Serve::start(&da, &args, &[]);
    let b = http::Serve::start(&db, &args, &[]);
    let bearer = format!("Bearer {token}");
    let auth = [("Authorization", bearer.as_str())];
    let (sa, sb) = (a.init(&auth), b.init(&auth));
    let call = |serve: &http::Serve, sid: &str, id: u64| {
        let r = serve.request(
            "POST",
            &[
                ("Content-Type", "application/json"),
                ("Accept", "application/json"),
                ("Mcp-Session-Id", sid),
                ("Authorization", &bearer),
            ],
            &http::call(id, "echo", "{}"),
        );
        r.json()
    };
    assert!(call(&a, &sa, 1)["result"].is_object());
    assert!(call(&b, &sb, 2)["result"].is_object());
    assert!(call(&a, &sa, 3)["result"].is_object());
    // The tenant's fourth call, at either instance and in any session, is over the limit.
    let refused = call(&b, &sb, 4);
    assert_eq!(
        refused["error"]["data"]["rule"], "breaker.max_calls",
        "{refused}"
    );
    let sa2 = a.init(&auth);
    let again = call(&a, &sa2, 5);
    assert_eq!(
        again["error"]["data"]["rule"], "breaker.max_calls",
        "{again}"
    );
}
