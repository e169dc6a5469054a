//! `bench_driver`: the benchmark driver behind `scripts/bench`.
//!
//! It measures Sentinel against a direct connection to the `bench_echo` server, in the same
//! run: round-trip latency, pipelined throughput, blocked-and-audited calls, 8 MiB responses
//! and requests, peak RSS, startup time and (through demo mode) SQL inspection time. Every
//! sentinel binary given with `--sentinel LABEL=PATH` gets its own column; `--relay` adds a
//! column for a proxy that only copies bytes (this binary in `--relay-mode`), the floor any
//! stdio proxy pays. The result is a markdown table on stdout; progress goes to stderr.
//!
//! Sentinel is started as `SENTINEL --audit-log TMP/audit-*.log -- ECHO` with stderr sent to
//! /dev/null (its alerts for blocked calls are still formatted and written). Latency, 8 MiB
//! and startup figures are taken twice: with the processes placed freely, and with all of them
//! pinned to one CPU (on a VM, waking an idle virtual CPU can cost more than everything
//! Sentinel does).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

const USAGE: &str = "\
usage: bench_driver --echo PATH --sentinel LABEL=PATH [--sentinel LABEL=PATH ...]
                    [--relay] [--quick] [--only LIST] [--tmp DIR]
       bench_driver --relay-mode -- SERVER_CMD [ARGS...]
       bench_driver --print-policy

  --echo PATH         the bench_echo server binary
  --sentinel L=PATH   a sentinel binary to measure, shown in column `sentinel L`
  --relay             add a `relay` column: this binary in --relay-mode, a proxy that only
                      copies bytes (two threads, 64 KiB reads): the floor for any stdio proxy
  --relay-mode        be that relay: spawn SERVER_CMD and copy stdin/stdout to and from it
  --quick             smaller N everywhere (a rough figure in a few seconds)
  --only LIST         comma-separated subset of:
                      latency,throughput,blocked,big,startup,sql,policy
                      (policy: every sentinel with the built-in default policy vs a 50-rule
                      policy file: round-trip latency, pinned and not, and pipelined throughput)
  --print-policy      print the 50-rule policy file of the `policy` section and exit
  --tmp DIR           scratch directory (default: a new directory under $TMPDIR)
";

/// The blocked call of the benchmark: an unbounded read.
const BLOCKED_QUERY: &str = "SELECT * FROM users";
/// The same, made distinct per message (`{n}` is replaced by a 6-digit number), so that no
/// verdict cache can answer it.
const BLOCKED_DISTINCT: &str = "SELECT * FROM users WHERE id > {n}";

/// SQL shapes for the inspection-time measurement: (label, query). All are allowed by the
/// default policy, so every line is forwarded and nothing is audited. `{n}` is replaced by a
/// 6-digit number: distinct per line for the cold-cache figures, always the same for the
/// repeated-query figure.
const SQL_SHAPES: &[(&str, &str)] = &[
    (
        "simple",
        "SELECT id, name FROM users WHERE id = {n} ORDER BY name LIMIT 10",
    ),
    (
        "join",
        "SELECT u.id, u.name, o.total FROM users u JOIN orders o ON o.user_id = u.id \
         WHERE u.id = {n} AND o.status = 'paid' ORDER BY o.created_at DESC LIMIT 20",
    ),
    (
        "CTE",
        "WITH recent AS (SELECT user_id, total FROM orders WHERE created_at > '2024-01-01' \
         LIMIT 500) SELECT user_id, total FROM recent WHERE total > {n} LIMIT 50",
    ),
    (
        "aggregate",
        "SELECT status, COUNT(*) AS n, SUM(total) AS revenue FROM orders \
         WHERE created_at > '2024-01-01' AND total > {n} GROUP BY status ORDER BY n DESC \
         LIMIT 10",
    ),
];

/// `template` with `{n}` replaced by the 6-digit number `100000 + i`.
fn fill(template: &str, i: u64) -> String {
    template.replace("{n}", &(100_000 + i % 900_000).to_string())
}

/// Filler for the non-SQL baseline lines (its first word is not a SQL keyword, so the guard's
/// pre-filter skips it, as it does for prose).
const PROSE: &str = "Lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod \
                     tempor incididunt ut labore et dolore magna aliqua Ut enim ad minim veniam \
                     quis nostrud exercitation ullamco laboris nisi ut aliquip ex ea commodo";

/// The 50-rule policy of the `policy` section: what a real deployment might load. The
/// benchmark call (`echo` with `{"text":"hello world"}`) matches none of the rules, so every
/// message is checked against all 50 and then allowed: the most work an allowed call costs.
/// - 20 tool rules (globs, `except_tools`, `servers`) scoped to other tools and servers;
/// - 21 argument-condition rules on every tool: regex, prefix, one_of, equals, min, max,
///   min_length, `not`, `any_string`, on `/text` (which the call has) and on paths it lacks;
/// - 8 SQL rules scoped to other tools (per-dialect database servers);
/// - a final SQL rule on every tool, the same as the built-in default policy's one rule.
const POLICY_50: &str = r#"# bench_driver: a realistic 50-rule policy (benches/driver.rs, POLICY_50).
version: 1
profiles:
  default:
    mode: enforce
    default_action: allow
    rules:
      # -- 20 tool rules: none matches the benchmark's `echo` --
      - {id: t01-shell, tools: ["shell*", "*exec*", "run_command", "bash"], action: block}
      - {id: t02-delete, tools: ["*delete*", "*remove*", "*drop*"], action: block}
      - {id: t03-fs-write, tools: ["fs.write*", "write_file", "edit_file", "move_file"], action: approve}
      - {id: t04-merge, tools: ["github.*merge*", "merge_pull_request"], action: approve}
      - {id: t05-push, tools: ["push_files", "*_push", "git_push*"], action: approve}
      - {id: t06-browser, tools: ["browser_*", "puppeteer_*", "playwright_*"], action: monitor}
      - {id: t07-read-only, tools: ["read_file", "list_directory", "get_file_info"], action: allow}
      - {id: t08-search, tools: ["search_*", "*_search"], action: allow}
      - {id: t09-payments, tools: ["stripe_*", "*payment*", "*refund*"], action: block}
      - {id: t10-email, tools: ["send_email", "gmail_send*", "*_send_message"], action: approve}
      - {id: t11-k8s, tools: ["kubectl_*", "k8s_*"], except_tools: ["kubectl_get", "kubectl_describe"], action: block}
      - {id: t12-iam, tools: ["aws_iam_*", "gcp_iam_*", "azure_role_*"], action: block}
      - {id: t13-secrets, tools: ["*secret*", "*vault*", "get_env*"], action: block}
      - {id: t14-prod-servers, servers: ["prod-*", "*-production"], action: monitor}
      - {id: t15-staging-writes, servers: ["staging-*"], tools: ["*write*", "*update*"], action: approve}
      - {id: t16-network, tools: ["fetch", "http_*", "curl*", "wget*"], action: block}
      - {id: t17-git, tools: ["git_reset", "git_clean", "git_checkout_force"], action: block}
      - {id: t18-slack, tools: ["slack_*"], action: monitor}
      - {id: t19-docker, tools: ["docker_*", "container_*"], except_tools: ["docker_ps", "docker_logs"], action: block}
      - {id: t20-time, tools: ["get_current_time", "convert_time"], action: allow}
      # -- 21 argument conditions on every tool: none holds for {"text":"hello world"} --
      - id: a01-rm-rf
        when: [{any_string: true, regex: 'rm\s+-[a-z]*r[a-z]*f?\s+/'}]
        action: block
      - id: a02-aws-key
        when: [{any_string: true, regex: '\bAKIA[0-9A-Z]{16}\b'}]
        action: block
      - id: a03-private-key
        when: [{any_string: true, prefix: "-----BEGIN"}]
        action: block
      - id: a04-etc
        when: [{path: /path, prefix: "/etc/"}]
        action: block
      - id: a05-ssh
        when: [{path: /path, regex: '(^|/)\.ssh(/|$)'}]
        action: block
      - id: a06-dotenv
        when: [{path: /text, regex: '(^|/)\.env(\.[a-z]+)?$'}]
        action: block
      - id: a07-root-dirs
        when: [{path: /directory, one_of: ["/", "/root", "/home", "/etc"]}]
        action: block
      - id: a08-row-limit
        when: [{path: /limit, min: 10001}]
        action: block
      - id: a09-negative-limit
        when: [{path: /limit, max: -1}]
        action: block
      - id: a10-page-size
        when: [{path: /page_size, min: 1000}]
        action: approve
      - id: a11-huge-text
        when: [{path: /text, min_length: 100000}]
        action: block
      - id: a12-sudo
        when: [{path: /text, prefix: "sudo "}]
        action: block
      - id: a13-curl-pipe-sh
        when: [{path: /text, regex: 'curl[^|]*\|\s*(ba|z)?sh'}]
        action: block
      - id: a14-write-mode
        when: [{path: /mode, one_of: ["w", "a", "w+", "a+"]}]
        action: approve
      - id: a15-force-push-main
        when: [{path: /branch, one_of: ["main", "master", "release"]}, {path: /force, equals: true}]
        action: block
      - id: a16-internal-url
        when: [{path: /url, regex: '^https?://(10\.|192\.168\.|169\.254\.|127\.|localhost)'}]
        action: block
      - id: a17-recursive-root
        when: [{path: /recursive, equals: true}, {path: /path, prefix: "/"}]
        action: block
      - id: a18-external-mail
        when: [{path: /to, regex: "@"}, {path: /to, regex: '@example\.com$', not: true}]
        action: approve
      - id: a19-amount
        when: [{path: /amount, min: 500}]
        action: approve
      - id: a20-password
        when: [{path: /text, regex: '(?i)\bpass(word|wd)?\s*[:=]'}]
        action: block
      - id: a21-nested-flag
        when: [{path: /options/dangerous, equals: true}]
        action: block
      # -- 8 SQL rules for the database servers' tools --
      - {id: s01-postgres, tools: ["postgres_*", "pg_*"], sql: {dialect: postgres, max_rows: 500}, action: block}
      - {id: s02-mysql, tools: ["mysql_*"], sql: {dialect: mysql, max_rows: 500}, action: block}
      - {id: s03-sqlite, tools: ["sqlite_*", "read_query", "write_query"], sql: {dialect: sqlite}, action: block}
      - {id: s04-snowflake, tools: ["snowflake_*"], sql: {dialect: snowflake, max_rows: 10000, checks: [unbounded_read, export]}, action: block}
      - {id: s05-bigquery, tools: ["bigquery_*", "bq_*"], sql: {dialect: bigquery, max_rows: 10000}, action: block}
      - {id: s06-duckdb, tools: ["duckdb_*"], sql: {dialect: duckdb, checks: [destructive]}, action: approve}
      - {id: s07-mssql, tools: ["mssql_*", "sqlserver_*"], sql: {dialect: mssql, max_rows: 200}, action: block}
      - {id: s08-clickhouse, tools: ["clickhouse_*"], sql: {dialect: clickhouse, max_rows: 100000, unparseable: monitor}, action: block}
      # -- the built-in default's rule, last --
      - id: sql
        sql:
          dialect: generic
          max_rows: 1000
          keys: [sql, query, statement, stmt]
          checks: [unbounded_read, export, destructive]
          unparseable: block
        action: block
"#;

const MIB: usize = 1024 * 1024;
const BIG: usize = 8 * MIB;

/// How much work each measurement does. Sessions are run in rounds, the targets in a
/// rotating order within each round, so that drift in the machine's state (other load, the
/// hypervisor) is spread over all columns instead of landing on one.
struct Sizes {
    rounds: usize,
    /// Round trips per target (over all rounds), plus a 10% warm-up per session.
    latency: usize,
    pipelined: usize,
    blocked: usize,
    /// Blocked calls with a different query each (no verdict cache helps).
    blocked_distinct: usize,
    /// Timed 8 MiB round trips per target (over all rounds), plus one warm-up per session.
    big_runs: usize,
    /// Fresh sessions per target (over all rounds), plus one warm-up per round.
    startup: usize,
    /// Lines per demo-mode run for the first (typical) SQL shape; the others get a quarter.
    sql: usize,
    /// Runs of each SQL and prose input for the other shapes (the fastest counts).
    sql_reps: usize,
    timeout: Duration,
}

impl Sizes {
    fn full() -> Sizes {
        Sizes {
            rounds: 5,
            latency: 20_000,
            pipelined: 1_000_000,
            blocked: 200_000,
            blocked_distinct: 50_000,
            big_runs: 10,
            startup: 30,
            sql: 100_000,
            sql_reps: 2,
            timeout: Duration::from_secs(120),
        }
    }
    fn quick() -> Sizes {
        Sizes {
            rounds: 2,
            latency: 4_000,
            pipelined: 100_000,
            blocked: 20_000,
            blocked_distinct: 5_000,
            big_runs: 4,
            startup: 8,
            sql: 10_000,
            sql_reps: 1,
            timeout: Duration::from_secs(60),
        }
    }

    /// `total` split over the rounds (at least 1 per round).
    fn per_round(&self, total: usize) -> usize {
        total.div_ceil(self.rounds).max(1)
    }
}

/// What a session talks to: the echo server directly, or a proxy in front of it.
#[derive(Clone)]
struct Target {
    label: String,
    kind: TargetKind,
    /// For sentinels: `--policy FILE` (else the built-in default policy).
    policy: Option<PathBuf>,
}

#[derive(Clone)]
enum TargetKind {
    Direct,
    /// This binary in `--relay-mode`.
    Relay(PathBuf),
    Sentinel(PathBuf),
}

impl Target {
    fn sentinel(&self) -> Option<&Path> {
        match &self.kind {
            TargetKind::Sentinel(p) => Some(p),
            _ => None,
        }
    }
    fn is_proxy(&self) -> bool {
        !matches!(self.kind, TargetKind::Direct)
    }
    fn column(&self) -> String {
        match self.kind {
            TargetKind::Direct => "direct".into(),
            TargetKind::Relay(_) => "relay (floor)".into(),
            TargetKind::Sentinel(_) => format!("sentinel {}", self.label),
        }
    }
}

struct Ctx {
    echo: PathBuf,
    tmp: PathBuf,
    n: Sizes,
}

type Res<T> = Result<T, String>;

fn err<E: std::fmt::Display>(what: &str) -> impl FnOnce(E) -> String + '_ {
    move |e| format!("{what}: {e}")
}

/// Kills `pid` if not disarmed within `limit`, so a hung process ends the measurement instead
/// of the benchmark.
struct Watchdog {
    tx: Option<mpsc::Sender<()>>,
    handle: Option<JoinHandle<bool>>,
}

impl Watchdog {
    fn new(pid: u32, limit: Duration) -> Watchdog {
        let (tx, rx) = mpsc::channel::<()>();
        let handle = thread::spawn(move || match rx.recv_timeout(limit) {
            Err(RecvTimeoutError::Timeout) => {
                // SAFETY: plain kill(2) on a pid we spawned and have not reaped yet.
                unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
                true
            }
            _ => false,
        });
        Watchdog {
            tx: Some(tx),
            handle: Some(handle),
        }
    }

    /// Stops the watchdog; true if it had fired.
    fn disarm(&mut self) -> bool {
        self.tx.take();
        self.handle
            .take()
            .is_some_and(|h| h.join().unwrap_or(false))
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.disarm();
    }
}

/// One running server (direct) or sentinel-plus-server session.
struct Proc {
    child: Child,
    stdin: Option<ChildStdin>,
    out: BufReader<ChildStdout>,
    dog: Watchdog,
    audit: Option<PathBuf>,
}

impl Proc {
    fn start(ctx: &Ctx, target: &Target, tag: &str) -> Res<Proc> {
        let mut audit = None;
        let mut cmd = match &target.kind {
            TargetKind::Direct => Command::new(&ctx.echo),
            TargetKind::Relay(me) => {
                let mut c = Command::new(me);
                c.arg("--relay-mode").arg("--").arg(&ctx.echo);
                c
            }
            TargetKind::Sentinel(bin) => {
                let path = ctx.tmp.join(format!("audit-{}-{tag}.log", target.label));
                let _ = fs::remove_file(&path);
                let mut c = Command::new(bin);
                if let Some(policy) = &target.policy {
                    c.arg("--policy").arg(policy);
                }
                c.arg("--audit-log").arg(&path).arg("--").arg(&ctx.echo);
                audit = Some(path);
                c
            }
        };
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = cmd.spawn().map_err(err("cannot start"))?;
        let stdin = child.stdin.take();
        let out = BufReader::with_capacity(MIB, child.stdout.take().expect("piped stdout"));
        let dog = Watchdog::new(child.id(), ctx.n.timeout);
        Ok(Proc {
            child,
            stdin,
            out,
            dog,
            audit,
        })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn stdin(&mut self) -> &mut ChildStdin {
        self.stdin.as_mut().expect("stdin still open")
    }

    /// Reads one response line into `buf` (cleared first).
    fn read_line(&mut self, buf: &mut Vec<u8>) -> Res<()> {
        buf.clear();
        let n = self.out.read_until(b'\n', buf).map_err(err("read"))?;
        if n == 0 || buf.last() != Some(&b'\n') {
            return Err(self.eof_error());
        }
        Ok(())
    }

    fn eof_error(&mut self) -> String {
        if self.dog.disarm() {
            "timed out (killed)".into()
        } else {
            "output closed early".into()
        }
    }

    /// One `ping` round trip.
    fn ping(&mut self) -> Res<()> {
        self.stdin()
            .write_all(b"{\"jsonrpc\":\"2.0\",\"id\":\"ping\",\"method\":\"ping\"}\n")
            .map_err(err("write"))?;
        let mut buf = Vec::new();
        self.read_line(&mut buf)?;
        if !contains(&buf, b"\"result\"") {
            return Err(format!("unexpected ping answer: {}", snippet(&buf)));
        }
        Ok(())
    }

    /// Closes stdin and waits for the process to exit.
    fn finish(mut self) -> Res<()> {
        self.stdin.take();
        let status = self.child.wait().map_err(err("wait"))?;
        if self.dog.disarm() {
            return Err("timed out (killed)".into());
        }
        if !status.success() {
            return Err(format!("exited with {status}"));
        }
        Ok(())
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn snippet(b: &[u8]) -> String {
    String::from_utf8_lossy(&b[..b.len().min(200)]).into_owned()
}

/// VmHWM (peak resident set) of a live process, in bytes.
fn vm_hwm(pid: u32) -> Res<f64> {
    let status =
        fs::read_to_string(format!("/proc/{pid}/status")).map_err(err("read /proc status"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .ok_or("no VmHWM in /proc status")?;
    let kib: f64 = line
        .trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .map_err(err("parse VmHWM"))?;
    Ok(kib * 1024.0)
}

fn count_lines(path: &Path) -> Res<usize> {
    let data = fs::read(path).map_err(err("read audit log"))?;
    Ok(data.iter().filter(|&&b| b == b'\n').count())
}

fn push_u64(out: &mut Vec<u8>, mut v: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// `{"jsonrpc":"2.0","id":ID,"method":"tools/call","params":{"name":TOOL,"arguments":{KEY:"VALUE"}}}\n`
/// (VALUE must need no escaping).
fn tools_call(out: &mut Vec<u8>, id: u64, tool: &str, key: &str, value: &str) {
    out.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"id\":");
    push_u64(out, id);
    out.extend_from_slice(b",\"method\":\"tools/call\",\"params\":{\"name\":\"");
    out.extend_from_slice(tool.as_bytes());
    out.extend_from_slice(b"\",\"arguments\":{\"");
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\":\"");
    out.extend_from_slice(value.as_bytes());
    out.extend_from_slice(b"\"}}}\n");
}

fn small_call(out: &mut Vec<u8>, id: u64) {
    tools_call(out, id, "echo", "text", "hello world");
}

fn blocked_call(out: &mut Vec<u8>, id: u64) {
    tools_call(out, id, "query", "query", BLOCKED_QUERY);
}

fn blocked_distinct_call(out: &mut Vec<u8>, id: u64) {
    tools_call(out, id, "query", "query", &fill(BLOCKED_DISTINCT, id));
}

/// What a pipelined session sends.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Load {
    /// Small allowed calls.
    Small,
    /// The same blocked query every time.
    Blocked,
    /// A different blocked query every time.
    BlockedDistinct,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    percentile(&v, 0.5)
}

/// The largest of the sessions' peak RSS figures (`None` for direct sessions).
fn max_rss<'a>(rss: impl Iterator<Item = &'a Option<Res<f64>>>) -> Res<Option<f64>> {
    let mut max: Option<f64> = None;
    for r in rss.flatten() {
        let v = r.clone()?;
        max = Some(max.map_or(v, |m| m.max(v)));
    }
    Ok(max)
}

// ---------------------------------------------------------------------------------------------
// Measurements. Each returns named figures (seconds, bytes, counts) for one target.

type Figures = BTreeMap<&'static str, Res<f64>>;

fn put<T>(f: &mut Figures, key: &'static str, r: &Res<T>, value: impl FnOnce(&T) -> f64) {
    f.insert(
        key,
        match r {
            Ok(v) => Ok(value(v)),
            Err(e) => Err(e.clone()),
        },
    );
}

/// Restricts the calling thread (and so the processes it spawns from now on) to one CPU;
/// restores the previous affinity when dropped.
struct Pinned(libc::cpu_set_t);

impl Pinned {
    fn to_first_cpu() -> Res<Pinned> {
        // SAFETY: cpu_set_t is plain data; the calls only read and write the sets passed.
        unsafe {
            let mut old: libc::cpu_set_t = std::mem::zeroed();
            let size = std::mem::size_of::<libc::cpu_set_t>();
            if libc::sched_getaffinity(0, size, &mut old) != 0 {
                return Err(format!("sched_getaffinity: {}", io::Error::last_os_error()));
            }
            let cpu = (0..libc::CPU_SETSIZE as usize)
                .find(|&c| libc::CPU_ISSET(c, &old))
                .ok_or("no CPU in the affinity mask")?;
            let mut one: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(cpu, &mut one);
            if libc::sched_setaffinity(0, size, &one) != 0 {
                return Err(format!("sched_setaffinity: {}", io::Error::last_os_error()));
            }
            Ok(Pinned(old))
        }
    }
}

impl Drop for Pinned {
    fn drop(&mut self) {
        // SAFETY: restores the mask read in `to_first_cpu`.
        unsafe {
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &self.0);
        }
    }
}

/// One session of `calls` round trips with one request in flight (after a 10% warm-up): the
/// round-trip times in seconds. With `pin`, the driver, the sentinel and the server all run on
/// one CPU (no cross-CPU wake-ups).
fn latency(ctx: &Ctx, t: &Target, pin: bool, calls: usize) -> Res<Vec<f64>> {
    let _pinned = if pin {
        Some(Pinned::to_first_cpu()?)
    } else {
        None
    };
    let mut p = Proc::start(ctx, t, "latency")?;
    p.ping()?;
    let mut req = Vec::with_capacity(256);
    let mut resp = Vec::with_capacity(256);
    let warmup = calls / 10;
    let mut samples = Vec::with_capacity(calls);
    for i in 0..warmup + calls {
        req.clear();
        small_call(&mut req, i as u64);
        let t0 = Instant::now();
        p.stdin().write_all(&req).map_err(err("write"))?;
        p.read_line(&mut resp)?;
        let dt = t0.elapsed().as_secs_f64();
        if i >= warmup {
            samples.push(dt);
        }
    }
    if !contains(&resp, b"\"result\"") {
        return Err(format!("unexpected answer: {}", snippet(&resp)));
    }
    p.finish()?;
    Ok(samples)
}

struct Pipelined {
    secs: f64,
    rss: Option<Res<f64>>,
    audit_lines: Option<Res<usize>>,
}

/// One session: `n` messages written by one thread while this one counts the answers. With
/// blocked loads, the answers must be Sentinel's errors.
fn pipelined(ctx: &Ctx, t: &Target, n: usize, load: Load, round: usize) -> Res<Pipelined> {
    let blocked = load != Load::Small;
    let tag = format!("{}-{round}", if blocked { "blocked" } else { "pipelined" });
    let mut p = Proc::start(ctx, t, &tag)?;
    p.ping()?;
    let stdin = p.stdin.take().expect("stdin");
    let t0 = Instant::now();
    let writer = thread::spawn(move || -> io::Result<ChildStdin> {
        let mut w = BufWriter::with_capacity(64 * 1024, stdin);
        let mut msg = Vec::with_capacity(256);
        for i in 0..n as u64 {
            msg.clear();
            match load {
                Load::Small => small_call(&mut msg, i),
                Load::Blocked => blocked_call(&mut msg, i),
                Load::BlockedDistinct => blocked_distinct_call(&mut msg, i),
            }
            w.write_all(&msg)?;
        }
        w.flush()?;
        w.into_inner().map_err(|e| e.into_error())
    });
    let mut buf = vec![0u8; 256 * 1024];
    let mut first = Vec::new();
    let mut lines = 0usize;
    while lines < n {
        let k = match p.out.read(&mut buf) {
            Ok(0) => return Err(format!("{} after {lines} of {n} answers", p.eof_error())),
            Ok(k) => k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("read: {e}")),
        };
        if first.len() < 512 {
            first.extend_from_slice(&buf[..k.min(512)]);
        }
        lines += buf[..k].iter().filter(|&&b| b == b'\n').count();
    }
    let secs = t0.elapsed().as_secs_f64();
    let stdin = writer
        .join()
        .map_err(|_| "writer panicked".to_string())?
        .map_err(err("write"))?;
    let expect: &[u8] = if blocked { b"-32010" } else { b"\"result\"" };
    let first_line = first.split(|&b| b == b'\n').next().unwrap_or(&[]);
    if !contains(first_line, expect) {
        return Err(format!("unexpected answer: {}", snippet(first_line)));
    }
    // Every answer is in: the peak is reached, and the process is still alive to ask.
    let rss = t.is_proxy().then(|| vm_hwm(p.pid()));
    p.stdin = Some(stdin);
    let audit = p.audit.clone();
    p.finish()?;
    let audit_lines = audit.map(|a| count_lines(&a));
    Ok(Pipelined {
        secs,
        rss,
        audit_lines,
    })
}

/// The 8 MiB request line (a `tools/call` of `echo` whose `content` is 8 MiB of words), with
/// a placeholder id of 8 digits at [`BIG_ID_AT`].
fn big_request() -> Vec<u8> {
    let words = PROSE.to_ascii_lowercase();
    let mut text = String::with_capacity(BIG + words.len());
    while text.len() < BIG {
        text.push_str(&words);
        text.push(' ');
    }
    text.truncate(BIG);
    let mut req = Vec::with_capacity(BIG + 256);
    tools_call(&mut req, 10_000_000, "echo", "content", &text);
    req
}

/// Where the 8-digit id starts in a line written by [`tools_call`].
const BIG_ID_AT: usize = "{\"jsonrpc\":\"2.0\",\"id\":".len();

/// One session of `runs` round trips carrying an 8 MiB response (`big_req` is `None`) or the
/// 8 MiB request `big_req`, after one warm-up: the times in seconds, and the sentinel's peak
/// RSS. With `pin`, everything runs on one CPU.
fn big(
    ctx: &Ctx,
    t: &Target,
    big_req: Option<&mut Vec<u8>>,
    pin: bool,
    runs: usize,
) -> Res<(Vec<f64>, Option<Res<f64>>)> {
    let _pinned = if pin {
        Some(Pinned::to_first_cpu()?)
    } else {
        None
    };
    let mut p = Proc::start(ctx, t, "big")?;
    p.ping()?;
    let mut small = Vec::new();
    let request = big_req.is_some();
    let mut req = big_req;
    let mut resp = Vec::new();
    let mut times = Vec::new();
    for run in 0..=runs {
        let id = 10_000_000 + run as u64;
        let line: &[u8] = match req.as_deref_mut() {
            Some(r) => {
                r[BIG_ID_AT..BIG_ID_AT + 8].copy_from_slice(id.to_string().as_bytes());
                r
            }
            None => {
                small.clear();
                tools_call(&mut small, id, "big", "size", "8MiB");
                &small
            }
        };
        let t0 = Instant::now();
        p.stdin().write_all(line).map_err(err("write"))?;
        p.read_line(&mut resp)?;
        let dt = t0.elapsed().as_secs_f64();
        let ok =
            contains(&resp[..resp.len().min(200)], b"\"result\"") && (request || resp.len() > BIG);
        if !ok {
            return Err(format!("unexpected answer: {}", snippet(&resp)));
        }
        if run > 0 {
            times.push(dt);
        }
    }
    let rss = t.is_proxy().then(|| vm_hwm(p.pid()));
    p.finish()?;
    Ok((times, rss))
}

/// Spawn to first `ping` answer for `runs` fresh processes, after one warm-up: the times in
/// seconds. With `pin`, everything runs on one CPU.
fn startup(ctx: &Ctx, t: &Target, pin: bool, runs: usize) -> Res<Vec<f64>> {
    let _pinned = if pin {
        Some(Pinned::to_first_cpu()?)
    } else {
        None
    };
    let mut times = Vec::new();
    for run in 0..=runs {
        let t0 = Instant::now();
        let mut p = Proc::start(ctx, t, "startup")?;
        p.ping()?;
        let dt = t0.elapsed().as_secs_f64();
        p.finish()?;
        if run > 0 {
            times.push(dt);
        }
    }
    Ok(times)
}

/// The figure key of a `policy` section measurement: `mode` lat or pin, `which` def, 50 or
/// add, `stat` p50 or p99.
fn policy_key(mode: &str, which: &str, stat: &str) -> &'static str {
    match (mode, which, stat) {
        ("lat", "def", "p50") => "pol_lat_def_p50",
        ("lat", "def", _) => "pol_lat_def_p99",
        ("lat", "50", "p50") => "pol_lat_50_p50",
        ("lat", "50", _) => "pol_lat_50_p99",
        ("lat", _, "p50") => "pol_lat_add_p50",
        ("lat", _, _) => "pol_lat_add_p99",
        (_, "def", "p50") => "pol_pin_def_p50",
        (_, "def", _) => "pol_pin_def_p99",
        (_, "50", "p50") => "pol_pin_50_p50",
        (_, "50", _) => "pol_pin_50_p99",
        (_, _, "p50") => "pol_pin_add_p50",
        (_, _, _) => "pol_pin_add_p99",
    }
}

/// `SENTINEL policy check FILE`: the file must load in this binary.
fn check_policy(bin: &Path, file: &Path) -> Res<()> {
    let out = Command::new(bin)
        .arg("policy")
        .arg("check")
        .arg(file)
        .stdin(Stdio::null())
        .output()
        .map_err(err("cannot run policy check"))?;
    if out.status.success() {
        return Ok(());
    }
    let text = String::from_utf8_lossy(&out.stderr) + String::from_utf8_lossy(&out.stdout);
    Err(format!(
        "policy check failed: {}",
        text.lines().next().unwrap_or("").trim()
    ))
}

/// Runs `f(round, target)` for every round and target, the targets in a rotating order; per
/// target, the results of all rounds (or its first error, after which it is skipped).
fn in_rounds<T>(
    targets: &[Target],
    rounds: usize,
    progress: &dyn Fn(&str),
    what: &str,
    mut f: impl FnMut(usize, &Target) -> Res<T>,
) -> Vec<Res<Vec<T>>> {
    let mut out: Vec<Res<Vec<T>>> = targets.iter().map(|_| Ok(Vec::new())).collect();
    for round in 0..rounds {
        progress(&format!("{what}, round {}/{rounds}", round + 1));
        for k in 0..targets.len() {
            let i = (k + round) % targets.len();
            if let Ok(done) = &mut out[i] {
                match f(round, &targets[i]) {
                    Ok(v) => done.push(v),
                    Err(e) => out[i] = Err(format!("{}: {e}", targets[i].label)),
                }
            }
        }
    }
    out
}

/// Writes `n` tools/call lines whose `query` argument is `template` filled with the line
/// number (`distinct`) or always with 0.
fn write_demo_input(path: &Path, n: usize, template: &str, distinct: bool) -> Res<()> {
    let mut w = BufWriter::new(File::create(path).map_err(err("create demo input"))?);
    let mut msg = Vec::with_capacity(512);
    for i in 0..n as u64 {
        msg.clear();
        let value = fill(template, if distinct { i } else { 0 });
        tools_call(&mut msg, i, "query", "query", &value);
        w.write_all(&msg).map_err(err("write demo input"))?;
    }
    w.flush().map_err(err("write demo input"))
}

/// Wall time of `sentinel` in demo mode over `input` (n lines, all of which must come out).
fn demo_run(ctx: &Ctx, bin: &Path, input: &Path, audit: &Path, n: usize) -> Res<f64> {
    let stdin = File::open(input).map_err(err("open demo input"))?;
    let t0 = Instant::now();
    let mut child = Command::new(bin)
        .arg("--audit-log")
        .arg(audit)
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(err("cannot start"))?;
    let mut dog = Watchdog::new(child.id(), ctx.n.timeout);
    let mut out = child.stdout.take().expect("piped stdout");
    let mut buf = vec![0u8; 256 * 1024];
    let mut lines = 0usize;
    loop {
        match out.read(&mut buf) {
            Ok(0) => break,
            Ok(k) => lines += buf[..k].iter().filter(|&&b| b == b'\n').count(),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("read: {e}")),
        }
    }
    let status = child.wait().map_err(err("wait"))?;
    let secs = t0.elapsed().as_secs_f64();
    if dog.disarm() {
        return Err("timed out (killed)".into());
    }
    if !status.success() {
        return Err(format!("exited with {status}"));
    }
    if lines != n {
        return Err(format!("{lines} lines out for {n} in (some were blocked?)"));
    }
    Ok(secs)
}

/// One demo-mode input: the SQL lines, the prose lines of the same length, their count, and
/// how many runs of each to take the fastest of.
struct DemoInput {
    sql: PathBuf,
    prose: PathBuf,
    n: usize,
    reps: usize,
}

/// Per-query inspection time for each SQL shape, in seconds: demo mode over the SQL lines
/// minus demo mode over lines of the same length carrying prose.
fn sql_inspection(ctx: &Ctx, t: &Target, inputs: &[DemoInput]) -> Vec<Res<f64>> {
    let Some(bin) = t.sentinel() else {
        return Vec::new();
    };
    let audit = ctx.tmp.join(format!("audit-{}-demo.log", t.label));
    let _ = fs::remove_file(&audit);
    let mut out = Vec::new();
    for input in inputs {
        let mut best_sql = f64::INFINITY;
        let mut best_prose = f64::INFINITY;
        let mut failure = None;
        for _ in 0..input.reps {
            match (
                demo_run(ctx, bin, &input.prose, &audit, input.n),
                demo_run(ctx, bin, &input.sql, &audit, input.n),
            ) {
                (Ok(a), Ok(b)) => {
                    best_prose = best_prose.min(a);
                    best_sql = best_sql.min(b);
                }
                (Err(e), _) | (_, Err(e)) => failure = Some(e),
            }
        }
        out.push(match failure {
            Some(e) => Err(e),
            None => Ok((best_sql - best_prose) / input.n as f64),
        });
    }
    if let Ok(lines) = count_lines(&audit) {
        if lines > 0 {
            return vec![Err(format!("{lines} demo lines were blocked")); out.len()];
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The table.

struct Table {
    targets: Vec<Target>,
    figures: Vec<Figures>,
    rows: String,
}

enum Kind {
    /// The raw figure for every target.
    Plain,
    /// Sentinel minus direct.
    Added,
    /// Sentinel divided by direct.
    Ratio,
}

impl Table {
    fn get(&self, i: usize, key: &str) -> Option<&Res<f64>> {
        self.figures[i].get(key)
    }

    /// Adds a row. `show` formats a value; `target` is the target text and `pass` its test
    /// (applied to the value shown in the sentinel columns).
    fn row(
        &mut self,
        metric: &str,
        key: &str,
        kind: Kind,
        show: impl Fn(f64) -> String,
        target: &str,
        pass: Option<&dyn Fn(f64) -> bool>,
    ) {
        let mut cells = Vec::new();
        let mut verdicts = Vec::new();
        let direct = self.get(0, key).cloned();
        for i in 0..self.targets.len() {
            let value: Option<Res<f64>> = match (&kind, i) {
                (Kind::Plain, _) => self.get(i, key).cloned(),
                (_, 0) => None,
                (k, _) => match (self.get(i, key), &direct) {
                    (Some(Ok(s)), Some(Ok(d))) => Some(Ok(match k {
                        Kind::Added => s - d,
                        _ => s / d,
                    })),
                    (Some(Err(e)), _) => Some(Err(e.clone())),
                    (_, Some(Err(_))) => Some(Err("direct run failed".into())),
                    _ => None,
                },
            };
            cells.push(match &value {
                None => "—".to_owned(),
                Some(Ok(v)) => show(*v),
                Some(Err(e)) => format!("error: {e}"),
            });
            if self.targets[i].sentinel().is_some() {
                if let Some(test) = pass {
                    let label = &self.targets[i].label;
                    verdicts.push(match &value {
                        Some(Ok(v)) if test(*v) => format!("{label} pass"),
                        Some(Ok(_)) => format!("{label} **MISS**"),
                        _ => format!("{label} n/a"),
                    });
                }
            }
        }
        if cells.iter().all(|c| c == "—") {
            return;
        }
        let _ = writeln!(
            self.rows,
            "| {metric} | {} | {target} | {} |",
            cells.join(" | "),
            verdicts.join(", ")
        );
    }
}

/// The CPU idle setup, which decides what a cross-CPU wake-up costs.
fn idle_note() -> String {
    let read = |p: &str| fs::read_to_string(p).ok().map(|s| s.trim().to_owned());
    let driver = read("/sys/devices/system/cpu/cpuidle/current_driver");
    let poll = read("/sys/module/haltpoll/parameters/guest_halt_poll_ns");
    match (driver, poll) {
        (Some(d), Some(p)) => format!(" (here: cpuidle driver {d}, guest_halt_poll_ns={p})"),
        (Some(d), None) => format!(" (here: cpuidle driver {d})"),
        _ => String::new(),
    }
}

fn us(v: f64) -> String {
    format!("{:.1} us", v * 1e6)
}
fn ms(v: f64) -> String {
    format!("{:.2} ms", v * 1e3)
}
fn rate(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.2} M/s", v / 1e6)
    } else {
        format!("{:.0} k/s", v / 1e3)
    }
}
fn mib(v: f64) -> String {
    format!("{:.1} MiB", v / MIB as f64)
}
fn pct(v: f64) -> String {
    format!("{:.0}%", v * 100.0)
}
fn times(v: f64) -> String {
    format!("{v:.2}x")
}

// ---------------------------------------------------------------------------------------------

struct Args {
    echo: PathBuf,
    sentinels: Vec<(String, PathBuf)>,
    relay: bool,
    quick: bool,
    only: Option<Vec<String>>,
    tmp: Option<PathBuf>,
}

fn parse_args() -> Result<Args, String> {
    let mut echo = None;
    let mut sentinels = Vec::new();
    let mut relay = false;
    let mut quick = false;
    let mut only = None;
    let mut tmp = None;
    let mut it = std::env::args_os().skip(1);
    while let Some(a) = it.next() {
        let a = a.to_string_lossy().into_owned();
        let mut value = |name: &str| {
            it.next()
                .map(PathBuf::from)
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match a.as_str() {
            "--echo" => echo = Some(value("--echo")?),
            "--sentinel" => {
                let v = value("--sentinel")?.to_string_lossy().into_owned();
                let (label, path) = v.split_once('=').ok_or("--sentinel takes LABEL=PATH")?;
                sentinels.push((label.to_owned(), PathBuf::from(path)));
            }
            "--quick" => quick = true,
            "--relay" => relay = true,
            "--only" => {
                let v = value("--only")?.to_string_lossy().into_owned();
                only = Some(v.split(',').map(str::to_owned).collect());
            }
            "--tmp" => tmp = Some(value("--tmp")?),
            "-h" | "--help" => {
                print!("{USAGE}");
                std::process::exit(0);
            }
            _ => return Err(format!("unexpected argument {a:?}")),
        }
    }
    Ok(Args {
        echo: echo.ok_or("--echo is required")?,
        sentinels,
        relay,
        quick,
        only,
        tmp,
    })
}

/// `--relay-mode -- CMD ARGS...`: spawn CMD and copy bytes both ways (64 KiB reads, one
/// thread per direction, nothing parsed) until both directions end; exit with CMD's status.
fn relay_mode(argv: &[std::ffi::OsString]) -> ! {
    let Some((cmd, args)) = argv.split_first() else {
        eprintln!("bench_driver: --relay-mode needs -- SERVER_CMD");
        std::process::exit(2);
    };
    let mut child = match Command::new(cmd)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("bench_driver: relay: cannot start {cmd:?}: {e}");
            std::process::exit(127);
        }
    };
    let mut to_server = child.stdin.take().expect("piped stdin");
    let mut from_server = child.stdout.take().expect("piped stdout");
    let back = thread::spawn(move || {
        let mut stdout = io::stdout().lock();
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n) = from_server.read(&mut buf) {
            // Stdout is line buffered: write and flush each chunk as it arrives.
            if n == 0
                || stdout
                    .write_all(&buf[..n])
                    .and_then(|()| stdout.flush())
                    .is_err()
            {
                break;
            }
        }
    });
    let mut stdin = io::stdin().lock();
    let mut buf = vec![0u8; 64 * 1024];
    while let Ok(n) = stdin.read(&mut buf) {
        if n == 0 || to_server.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    drop(to_server);
    let _ = back.join();
    let code = child.wait().ok().and_then(|s| s.code()).unwrap_or(1);
    std::process::exit(code);
}

fn main() {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    if argv.first().is_some_and(|a| a == "--print-policy") {
        print!("{POLICY_50}");
        return;
    }
    if argv.first().is_some_and(|a| a == "--relay-mode") {
        let rest = match argv.get(1) {
            Some(a) if a == "--" => &argv[2..],
            _ => &argv[1..],
        };
        relay_mode(rest);
    }
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("bench_driver: {e}\n{USAGE}");
            std::process::exit(2);
        }
    };
    let tmp = args.tmp.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("sentinel-bench-{}", std::process::id()))
    });
    if let Err(e) = fs::create_dir_all(&tmp) {
        eprintln!("bench_driver: cannot create {}: {e}", tmp.display());
        std::process::exit(1);
    }
    let ctx = Ctx {
        echo: args.echo.clone(),
        tmp: tmp.clone(),
        n: if args.quick {
            Sizes::quick()
        } else {
            Sizes::full()
        },
    };
    let mut targets = vec![Target {
        label: "direct".into(),
        kind: TargetKind::Direct,
        policy: None,
    }];
    if args.relay {
        match std::env::current_exe() {
            Ok(me) => targets.push(Target {
                label: "relay".into(),
                kind: TargetKind::Relay(me),
                policy: None,
            }),
            Err(e) => eprintln!("bench_driver: no relay column: cannot find this binary: {e}"),
        }
    }
    let s0 = targets.len();
    targets.extend(args.sentinels.iter().map(|(l, p)| Target {
        label: l.clone(),
        kind: TargetKind::Sentinel(p.clone()),
        policy: None,
    }));
    let wanted = |m: &str| args.only.as_ref().is_none_or(|o| o.iter().any(|x| x == m));
    let mut figures: Vec<Figures> = targets.iter().map(|_| Figures::new()).collect();
    let started = Instant::now();
    let progress = |what: &str| {
        eprintln!("[{:6.1}s] {what}", started.elapsed().as_secs_f64());
    };
    let n = &ctx.n;
    let rounds = n.rounds;
    let sentinels = &targets[s0..];

    if wanted("latency") {
        let calls = n.per_round(n.latency);
        for (pin, p50, p99) in [(false, "lat_p50", "lat_p99"), (true, "pin_p50", "pin_p99")] {
            let what = if pin { "latency, one CPU" } else { "latency" };
            let runs = in_rounds(&targets, rounds, &progress, what, |_, t| {
                latency(&ctx, t, pin, calls)
            });
            for (f, r) in figures.iter_mut().zip(runs) {
                let mut all: Vec<f64> = match r {
                    Ok(v) => v.into_iter().flatten().collect(),
                    Err(e) => {
                        f.insert(p50, Err(e.clone()));
                        f.insert(p99, Err(e));
                        continue;
                    }
                };
                all.sort_by(f64::total_cmp);
                f.insert(p50, Ok(percentile(&all, 0.5)));
                f.insert(p99, Ok(percentile(&all, 0.99)));
            }
        }
    }
    if wanted("throughput") {
        let per = n.per_round(n.pipelined);
        let runs = in_rounds(&targets, rounds, &progress, "pipelined", |r, t| {
            pipelined(&ctx, t, per, Load::Small, r)
        });
        for (f, r) in figures.iter_mut().zip(runs) {
            let r = r.and_then(|v| {
                let secs: f64 = v.iter().map(|p| p.secs).sum();
                let rss = max_rss(v.iter().map(|p| &p.rss))?;
                Ok(((per * v.len()) as f64 / secs, rss))
            });
            put(f, "pipe_rate", &r, |v| v.0);
            if let Ok((_, Some(_))) | Err(_) = &r {
                put(f, "rss_small", &r, |v| v.1.unwrap_or(f64::NAN));
            }
        }
    }
    if wanted("blocked") {
        for (load, total, rate_key, lines_key) in [
            (Load::Blocked, n.blocked, "blocked_rate", "audit_lines"),
            (
                Load::BlockedDistinct,
                n.blocked_distinct,
                "blocked_distinct_rate",
                "audit_lines_distinct",
            ),
        ] {
            let per = n.per_round(total);
            let what = match load {
                Load::BlockedDistinct => "blocked, distinct queries",
                _ => "blocked",
            };
            let runs = in_rounds(sentinels, rounds, &progress, what, |r, t| {
                pipelined(&ctx, t, per, load, r)
            });
            for (f, r) in figures[s0..].iter_mut().zip(runs) {
                let r = r.and_then(|v| {
                    let secs: f64 = v.iter().map(|p| p.secs).sum();
                    let mut lines = 0;
                    for p in &v {
                        if let Some(a) = &p.audit_lines {
                            lines += a.clone()?;
                        }
                    }
                    Ok(((per * v.len()) as f64 / secs, lines as f64))
                });
                put(f, rate_key, &r, |v| v.0);
                put(f, lines_key, &r, |v| v.1);
            }
        }
    }
    if wanted("big") {
        let per = n.per_round(n.big_runs);
        let mut req = big_request();
        for (pin, resp_key, req_key) in [
            (false, "big_resp", "big_req"),
            (true, "pin_big_resp", "pin_big_req"),
        ] {
            let one_cpu = if pin { ", one CPU" } else { "" };
            for (request, key) in [(false, resp_key), (true, req_key)] {
                let what = format!(
                    "8 MiB {}{one_cpu}",
                    ["responses", "requests"][request as usize]
                );
                let runs = in_rounds(&targets, rounds, &progress, &what, |_, t| {
                    big(&ctx, t, request.then_some(&mut req), pin, per)
                });
                for (f, r) in figures.iter_mut().zip(runs) {
                    let r = r.and_then(|v| {
                        let rss = max_rss(v.iter().map(|x| &x.1))?;
                        Ok((median(v.into_iter().flat_map(|x| x.0).collect()), rss))
                    });
                    put(f, key, &r, |v| v.0);
                    if let (false, Ok((_, Some(_))) | Err(_)) = (pin, &r) {
                        let rss_key = ["rss_big_resp", "rss_big_req"][request as usize];
                        put(f, rss_key, &r, |v| v.1.unwrap_or(f64::NAN));
                    }
                }
            }
        }
    }
    if wanted("startup") {
        let per = n.per_round(n.startup);
        for (pin, key) in [(false, "startup"), (true, "pin_startup")] {
            let what = if pin { "startup, one CPU" } else { "startup" };
            let runs = in_rounds(&targets, rounds, &progress, what, |_, t| {
                startup(&ctx, t, pin, per)
            });
            for (f, r) in figures.iter_mut().zip(runs) {
                let r = r.map(|v| median(v.into_iter().flatten().collect()));
                put(f, key, &r, |v| *v);
            }
        }
    }
    // Every shape with a different query on each line (each one parsed), then the first shape
    // repeated on every line (what a verdict cache sees when an agent repeats itself).
    let sql_runs: Vec<(String, &str, bool, usize, usize)> = SQL_SHAPES
        .iter()
        .enumerate()
        .map(|(i, (label, q))| {
            let (n_lines, reps) = if i == 0 {
                (n.sql, 1)
            } else {
                (n.sql / 4, n.sql_reps)
            };
            (
                format!("{label}, distinct queries"),
                *q,
                true,
                n_lines,
                reps,
            )
        })
        .chain(std::iter::once((
            format!("{}, one query repeated", SQL_SHAPES[0].0),
            SQL_SHAPES[0].1,
            false,
            n.sql,
            1,
        )))
        .collect();
    let sql_keys: Vec<&'static str> =
        ["sql_0", "sql_1", "sql_2", "sql_3", "sql_4", "sql_5"][..sql_runs.len()].to_vec();
    if wanted("sql") {
        let mut inputs = Vec::new();
        for (i, (_, query, distinct, n_lines, reps)) in sql_runs.iter().enumerate() {
            let input = DemoInput {
                sql: tmp.join(format!("demo-sql-{i}.jsonl")),
                prose: tmp.join(format!("demo-prose-{i}.jsonl")),
                n: *n_lines,
                reps: *reps,
            };
            // Prose of the same length once filled, ending in the same kind of number.
            let len = fill(query, 0).len() - 6;
            let mut prose = String::new();
            while prose.len() < len {
                prose.push_str(PROSE);
                prose.push(' ');
            }
            prose.truncate(len);
            prose.push_str("{n}");
            if let Err(e) = write_demo_input(&input.sql, input.n, query, *distinct)
                .and_then(|()| write_demo_input(&input.prose, input.n, &prose, *distinct))
            {
                eprintln!("bench_driver: {e}");
                std::process::exit(1);
            }
            inputs.push(input);
        }
        for (t, f) in sentinels.iter().zip(&mut figures[s0..]) {
            progress(&format!("SQL inspection (demo mode): {}", t.label));
            for (key, r) in sql_keys.iter().zip(sql_inspection(&ctx, t, &inputs)) {
                f.insert(key, r);
            }
        }
        for input in &inputs {
            let _ = fs::remove_file(&input.sql);
            let _ = fs::remove_file(&input.prose);
        }
    }
    // The policy's cost: each sentinel with the built-in default policy and with the 50-rule
    // file, as two sessions of the same binary in the same rounds.
    let policy_file = tmp.join("policy-50.yaml");
    if wanted("policy") {
        let pairs: Vec<Target> = sentinels
            .iter()
            .flat_map(|t| {
                let mut with = t.clone();
                with.label = format!("{}-policy50", t.label);
                with.policy = Some(policy_file.clone());
                [t.clone(), with]
            })
            .collect();
        let ready = fs::write(&policy_file, POLICY_50)
            .map_err(err("write the 50-rule policy"))
            .and_then(|()| {
                let rules =
                    POLICY_50.matches("- {id: ").count() + POLICY_50.matches("- id: ").count();
                if rules == 50 {
                    Ok(())
                } else {
                    Err(format!("the policy has {rules} rules, not 50"))
                }
            });
        let ready: Vec<Res<()>> = sentinels
            .iter()
            .map(|t| {
                ready
                    .clone()
                    .and_then(|()| check_policy(t.sentinel().expect("a sentinel"), &policy_file))
            })
            .collect();
        let calls = n.per_round(n.latency);
        for (pin, mode) in [(false, "lat"), (true, "pin")] {
            let what = if pin {
                "policy: latency, one CPU"
            } else {
                "policy: latency"
            };
            let runs = in_rounds(&pairs, rounds, &progress, what, |_, t| {
                latency(&ctx, t, pin, calls)
            });
            let stats = |r: &Res<Vec<Vec<f64>>>| -> Res<(f64, f64)> {
                let mut all: Vec<f64> = r.clone()?.into_iter().flatten().collect();
                all.sort_by(f64::total_cmp);
                Ok((percentile(&all, 0.5), percentile(&all, 0.99)))
            };
            for (k, f) in figures[s0..].iter_mut().enumerate() {
                let base = stats(&runs[2 * k]);
                let with = ready[k].clone().and_then(|()| stats(&runs[2 * k + 1]));
                let added = with
                    .clone()
                    .and_then(|w| base.clone().map(|b| (w.0 - b.0, w.1 - b.1)));
                for (stat, pick) in [("p50", 0), ("p99", 1)] {
                    let get = |v: &(f64, f64)| if pick == 0 { v.0 } else { v.1 };
                    put(f, policy_key(mode, "def", stat), &base, get);
                    put(f, policy_key(mode, "50", stat), &with, get);
                    put(f, policy_key(mode, "add", stat), &added, get);
                }
            }
        }
        let per = n.per_round(n.pipelined);
        let runs = in_rounds(&pairs, rounds, &progress, "policy: pipelined", |r, t| {
            pipelined(&ctx, t, per, Load::Small, r)
        });
        let rate_of = |r: &Res<Vec<Pipelined>>| -> Res<f64> {
            let v = r.as_ref().map_err(Clone::clone)?;
            Ok((per * v.len()) as f64 / v.iter().map(|p| p.secs).sum::<f64>())
        };
        for (k, f) in figures[s0..].iter_mut().enumerate() {
            let base = rate_of(&runs[2 * k]);
            let with = ready[k].clone().and_then(|()| rate_of(&runs[2 * k + 1]));
            let both = with.clone().and_then(|w| base.clone().map(|b| (w, b)));
            put(f, "pol_pipe_def", &base, |v| *v);
            put(f, "pol_pipe_50", &with, |v| *v);
            put(f, "pol_pipe_ratio", &both, |(w, b)| w / b);
            put(f, "pol_pipe_cost", &both, |(w, b)| 1.0 / w - 1.0 / b);
        }
        let _ = fs::remove_file(&policy_file);
    }
    eprintln!("[{:6.1}s] done", started.elapsed().as_secs_f64());

    let mut table = Table {
        targets,
        figures,
        rows: String::new(),
    };
    let le = |max: f64| move |v: f64| v <= max;
    let ge = |min: f64| move |v: f64| v >= min;
    let lt = |max: f64| move |v: f64| v < max;
    for (mode, p50, p99) in [
        ("unpinned", "lat_p50", "lat_p99"),
        ("all on one CPU", "pin_p50", "pin_p99"),
    ] {
        let rt = format!("round trip, 1 in flight, {mode} ({} calls)", n.latency);
        table.row(&format!("{rt}, p50"), p50, Kind::Plain, us, "", None);
        table.row(
            &format!("added latency p50, {mode}"),
            p50,
            Kind::Added,
            us,
            "≤ 10 us",
            Some(&le(10e-6)),
        );
        table.row(&format!("{rt}, p99"), p99, Kind::Plain, us, "", None);
        table.row(
            &format!("added latency p99, {mode}"),
            p99,
            Kind::Added,
            us,
            "",
            None,
        );
    }
    table.row(
        &format!("pipelined small tools/call ({} msgs)", n.pipelined),
        "pipe_rate",
        Kind::Plain,
        rate,
        "",
        None,
    );
    table.row(
        "pipelined throughput vs direct",
        "pipe_rate",
        Kind::Ratio,
        pct,
        "≥ 25%",
        Some(&ge(0.25)),
    );
    table.row(
        &format!(
            "blocked + audited calls, `{BLOCKED_QUERY}` ({} pipelined)",
            n.blocked
        ),
        "blocked_rate",
        Kind::Plain,
        rate,
        "≥ 200 k/s",
        Some(&ge(200e3)),
    );
    let blocked = (n.per_round(n.blocked) * rounds) as f64;
    table.row(
        "audit log lines after the blocked runs",
        "audit_lines",
        Kind::Plain,
        |v| format!("{v:.0}"),
        &format!("= {blocked}"),
        Some(&move |v| v == blocked),
    );
    table.row(
        &format!(
            "blocked + audited calls, a different query each ({} pipelined)",
            n.blocked_distinct
        ),
        "blocked_distinct_rate",
        Kind::Plain,
        rate,
        "",
        None,
    );
    let distinct = (n.per_round(n.blocked_distinct) * rounds) as f64;
    table.row(
        "audit log lines after those",
        "audit_lines_distinct",
        Kind::Plain,
        |v| format!("{v:.0}"),
        &format!("= {distinct}"),
        Some(&move |v| v == distinct),
    );
    for (mode, resp, req) in [
        ("unpinned", "big_resp", "big_req"),
        ("all on one CPU", "pin_big_resp", "pin_big_req"),
    ] {
        table.row(
            &format!("8 MiB response, {mode}, median of {}", n.big_runs),
            resp,
            Kind::Plain,
            ms,
            "",
            None,
        );
        table.row(
            &format!("8 MiB response vs direct, {mode}"),
            resp,
            Kind::Ratio,
            times,
            "≤ 1.5x",
            Some(&le(1.5)),
        );
        table.row(
            &format!("8 MiB request, {mode}, median of {}", n.big_runs),
            req,
            Kind::Plain,
            ms,
            "",
            None,
        );
        table.row(
            &format!("8 MiB request vs direct, {mode}"),
            req,
            Kind::Ratio,
            times,
            "",
            None,
        );
    }
    table.row(
        "peak RSS (VmHWM), small messages",
        "rss_small",
        Kind::Plain,
        mib,
        "< 4 MiB",
        Some(&lt(4.0 * MIB as f64)),
    );
    table.row(
        "peak RSS (VmHWM), 8 MiB responses",
        "rss_big_resp",
        Kind::Plain,
        mib,
        "< 30 MiB",
        Some(&lt(30.0 * MIB as f64)),
    );
    table.row(
        "peak RSS (VmHWM), 8 MiB requests",
        "rss_big_req",
        Kind::Plain,
        mib,
        "< 30 MiB",
        Some(&lt(30.0 * MIB as f64)),
    );
    for (mode, key) in [("unpinned", "startup"), ("all on one CPU", "pin_startup")] {
        table.row(
            &format!(
                "startup: spawn → ping answer, {mode}, median of {}",
                n.startup
            ),
            key,
            Kind::Plain,
            ms,
            "",
            None,
        );
        table.row(
            &format!("added startup, {mode}"),
            key,
            Kind::Added,
            ms,
            "≤ 3 ms",
            Some(&le(3e-3)),
        );
    }
    for ((label, _, _, n_lines, _), key) in sql_runs.iter().zip(&sql_keys) {
        table.row(
            &format!("SQL inspection per query, {label} (demo mode, N={n_lines})"),
            key,
            Kind::Plain,
            us,
            "",
            None,
        );
    }

    for (mode, key, name) in [
        ("unpinned", "lat", "round trip, 1 in flight, unpinned"),
        (
            "all on one CPU",
            "pin",
            "round trip, 1 in flight, all on one CPU",
        ),
    ] {
        for stat in ["p50", "p99"] {
            let what = format!("{name} ({} calls), {stat}", n.latency);
            table.row(
                &format!("{what}, built-in default policy"),
                policy_key(key, "def", stat),
                Kind::Plain,
                us,
                "",
                None,
            );
            table.row(
                &format!("{what}, 50-rule policy"),
                policy_key(key, "50", stat),
                Kind::Plain,
                us,
                "",
                None,
            );
            let (target, pass): (&str, Option<&dyn Fn(f64) -> bool>) = if stat == "p50" {
                ("< 10 us", Some(&lt(10e-6)))
            } else {
                ("", None)
            };
            table.row(
                &format!("added by the 50-rule policy over the default, {stat}, {mode}"),
                policy_key(key, "add", stat),
                Kind::Plain,
                us,
                target,
                pass,
            );
        }
    }
    table.row(
        &format!(
            "pipelined small tools/call ({} msgs), built-in default policy",
            n.pipelined
        ),
        "pol_pipe_def",
        Kind::Plain,
        rate,
        "",
        None,
    );
    table.row(
        &format!(
            "pipelined small tools/call ({} msgs), 50-rule policy",
            n.pipelined
        ),
        "pol_pipe_50",
        Kind::Plain,
        rate,
        "",
        None,
    );
    table.row(
        "pipelined throughput, 50-rule policy vs default",
        "pol_pipe_ratio",
        Kind::Plain,
        pct,
        "",
        None,
    );
    table.row(
        "added time per pipelined message (1/rate difference)",
        "pol_pipe_cost",
        Kind::Plain,
        us,
        "",
        None,
    );

    let mut header = String::from("| metric | direct |");
    let mut rule = String::from("|---|---:|");
    for t in &table.targets[1..] {
        let _ = write!(header, " {} |", t.column());
        rule.push_str("---:|");
    }
    header.push_str(" target | verdict |");
    rule.push_str("---|---|");
    println!("{header}\n{rule}\n{}", table.rows);
    println!(
        "Every figure pools {rounds} rounds; each round runs every column once, in rotating \
         order. \"unpinned\": the kernel places the processes freely. \"all on one CPU\": \
         driver, sentinel and server are pinned to one CPU, so no wake-up has to cross CPUs; \
         that isolates the work Sentinel adds from the cost of waking an idle (virtual) CPU{}.",
        idle_note()
    );
    if wanted("sql") || wanted("blocked") {
        println!();
        println!(
            "SQL inspection: demo-mode wall time over N lines of each shape minus the same over N \
             prose lines of the same length, per line. `{{n}}` is a 6-digit number, different on \
             every line for \"distinct queries\" (no verdict cache can help) and fixed for \"one \
             query repeated\". Distinct blocked calls: `{BLOCKED_DISTINCT}`."
        );
        for (label, q) in SQL_SHAPES {
            println!("- {label}: `{q}`");
        }
    }
    if wanted("policy") {
        println!();
        println!(
            "Policy cost: every sentinel twice in the same rounds, with the built-in default \
             policy (no --policy) and with `--policy TMP/policy-50.yaml`, a 50-rule file \
             (`bench_driver --print-policy` prints it): 20 tool rules (globs, except_tools, \
             servers) scoped to other tools, 21 argument conditions on every tool (regex, \
             prefix, one_of, equals, min, max, min_length, not, any_string; on /text, which the \
             call has, and on paths it lacks), 8 SQL rules scoped to other tools, and last the \
             built-in SQL rule. The call (`echo`, `{{\"text\":\"hello world\"}}`) matches no \
             rule, so each message is checked against all 50 and allowed. \"added\" is the \
             50-rule figure minus the default one, same binary, same placement."
        );
    }
    println!();
    println!("Sessions (driver on the other end of stdin/stdout):");
    println!("- direct: `{}`", ctx.echo.display());
    for t in &table.targets[1..] {
        match &t.kind {
            TargetKind::Direct => {}
            TargetKind::Relay(me) => println!(
                "- relay: `{} --relay-mode -- {}` (copies bytes, inspects nothing; not judged)",
                me.display(),
                ctx.echo.display()
            ),
            TargetKind::Sentinel(bin) => println!(
                "- sentinel {}: `{} --audit-log {}/audit-*.log -- {}` (stderr to /dev/null)",
                t.label,
                bin.display(),
                tmp.display(),
                ctx.echo.display()
            ),
        }
    }
    println!();
    let cmd: Vec<String> = std::env::args().collect();
    println!("Command: `{}`", cmd.join(" "));
    if args.tmp.is_none() {
        let _ = fs::remove_dir_all(&tmp);
    }
}
