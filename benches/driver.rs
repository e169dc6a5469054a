//! `bench_driver`: the benchmark driver behind `scripts/bench`.
//!
//! It measures Sentinel against a direct connection to the `bench_echo` server, in the same
//! run: round-trip latency, pipelined throughput, blocked-and-audited calls, 8 MiB responses
//! and requests, peak RSS, startup time and (through demo mode) SQL inspection time. Every
//! sentinel binary given with `--sentinel LABEL=PATH` gets its own column; `--relay` adds a
//! column for a proxy that only copies bytes (this binary in `--relay-mode`), the floor any
//! stdio proxy pays. The result is a markdown table on stdout; progress goes to stderr.
//!
//! Sentinel is started as `SENTINEL --policy TMP/baseline-LABEL.yaml --audit-log
//! TMP/audit-*.log -- ECHO` with stderr sent to /dev/null (its alerts for blocked calls are
//! still formatted and written). The baseline policy is the binary's own built-in default
//! (`sentinel policy show-default`) with the circuit breaker switched off: the benchmark sends
//! the same call thousands of times a second, which the breaker's defaults (loop detection,
//! 600 calls a minute) would refuse. The `guard` section measures what the breaker and an
//! enforcing egress guard add over that baseline. Latency, 8 MiB
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
       bench_driver --print-baseline SENTINEL | --print-guard SENTINEL

  --echo PATH         the bench_echo server binary
  --sentinel L=PATH   a sentinel binary to measure, shown in column `sentinel L`
  --relay             add a `relay` column: this binary in --relay-mode, a proxy that only
                      copies bytes (two threads, 64 KiB reads): the floor for any stdio proxy
  --relay-mode        be that relay: spawn SERVER_CMD and copy stdin/stdout to and from it
  --quick             smaller N everywhere (a rough figure in a few seconds)
  --only LIST         comma-separated subset of:
                      latency,throughput,blocked,big,startup,sql,policy,guard
                      (policy: every sentinel with the baseline policy vs a 50-rule policy
                      file; guard: the baseline vs the circuit breaker and the egress guard
                      on and enforcing; both: round-trip latency, pinned and not, and
                      pipelined throughput)
  --print-policy      print the 50-rule policy file of the `policy` section and exit
  --print-baseline S  print the baseline policy every sentinel session runs with, generated
                      from sentinel binary S (its built-in default, circuit breaker off)
  --print-guard S     print the `guard` section's policy, generated from sentinel binary S
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
/// - 19 tool rules (globs, `except_tools`, `servers`) scoped to other tools and servers;
/// - 21 argument-condition rules on every tool: regex, prefix, one_of, equals, min, max,
///   min_length, `not`, `any_string`, on `/text` (which the call has) and on paths it lacks;
/// - 8 SQL rules scoped to other tools (per-dialect database servers);
/// - last, the built-in default policy's two rules (the egress guard reporting, the SQL rule
///   on every tool), so the file does everything the baseline does, and more;
/// - like the baseline, the circuit breaker off (`breaker: {mode: off}`).
const POLICY_50: &str = r#"# bench_driver: a realistic 50-rule policy (benches/driver.rs, POLICY_50).
version: 1
profiles:
  default:
    mode: enforce
    default_action: allow
    rules:
      # -- 19 tool rules: none matches the benchmark's `echo` --
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
      # -- the built-in default's two rules, last --
      - id: egress
        egress:
          allowed_domains: []
          denied_domains: []
          checks: [denied, unlisted, private, metadata, secrets]
          entropy_threshold: 4.5
          entropy_min_length: 32
        action: monitor
      - id: sql
        sql:
          dialect: generic
          max_rows: 1000
          keys: [sql, query, statement, stmt]
          checks: [unbounded_read, export, destructive]
          unparseable: block
        action: block
    # The same calls thousands of times a second: the circuit breaker is off, as in the
    # baseline (the `guard` section measures it).
    breaker: {mode: off}
"#;

/// What replaces the `breaker:` block of `sentinel policy show-default` in the baseline
/// policy every sentinel session runs with (see [`baseline_policy`]).
const BREAKER_OFF: &str = "    breaker: {mode: off}\n";

/// The `guard` section's egress rule, in place of the default's reporting one: enforcing, with
/// 20 allowed and 10 denied domains, all five checks and the entropy detector on. The
/// benchmark's URL host (`api.corp.example`) matches the 19th allowed entry.
const GUARD_EGRESS: &str = r#"      - id: egress
        description: The exfiltration guard, enforcing (bench_driver, guard section).
        egress:
          allowed_domains: [github.com, "*.github.com", "*.githubusercontent.com",
            api.openai.com, api.anthropic.com, "*.amazonaws.com", "*.googleapis.com",
            "*.slack.com", "*.atlassian.net", "*.stripe.com", pypi.org,
            files.pythonhosted.org, registry.npmjs.org, crates.io, "*.crates.io",
            "10.20.0.0/16", "192.168.50.0/24", corp.example, "*.corp.example",
            "*.corp.internal"]
          denied_domains: [pastebin.com, "*.pastebin.com", "*.ngrok.io", "*.ngrok-free.app",
            transfer.sh, webhook.site, "*.requestbin.net", "*.pipedream.net", "*.oast.fun",
            "*.interact.sh"]
          checks: [denied, unlisted, private, metadata, secrets]
          entropy_threshold: 4.5
          entropy_min_length: 32
        action: block
"#;

/// The `guard` section's circuit breaker: every check on and enforcing, with limits the
/// benchmark never reaches (so every call is judged by all of them and none is refused).
/// Three rate limits cover the benchmark's `echo` tool: the overall one and two per-tool ones.
const GUARD_BREAKER: &str = r#"    breaker:
      mode: enforce
      rate_limits:
        - tools: ["*"]
          rate: 100000000/second
          burst: 100000000
        - tools: [echo]
          rate: 100000000/second
          burst: 100000000
        - tools: ["echo*", "fetch_*"]
          rate: 100000000/second
          burst: 100000000
      loop:
        repeats: 5
        window: 5s
        ignore_fields: [timestamp, nonce, request_id]
      max_calls: 1000000000
      budget: 1000000000000
      tools:
        - tools: [echo]
          max_calls: 1000000000
          cost: 0.001
      consecutive_errors: 5
      cooldown: 30s
      max_cooldown: 10m
"#;

/// The `guard` section's calls (the `arguments` object of a `tools/call` of `echo`; `{n}` is
/// a 6-digit number, different on every call so that loop detection never trips): (label,
/// arguments). Each passes every check of both policies: the URL's host is allow-listed, the
/// prose names no host, the SQL is bounded.
/// - With SQL, sqlparser runs on every call, in both policies, and twice: on the query, and on
///   the prose, because its first word (`check`) is a SQL keyword, which is all the SQL
///   guard's pre-filter looks at (the parse fails, and the prose passes: it is not under a SQL
///   key). Its cost (about 20 us a call with glibc, several times more with musl) dwarfs and
///   blurs what the guard adds.
/// - Without SQL, the prose starts with a word that is no SQL keyword, so sqlparser never
///   runs: the figure shows the guard's own cost best.
const GUARD_CALLS: &[(&str, &str)] = &[
    (
        "URL + prose + SQL",
        r#"{"url":"https://api.corp.example/items/{n}","note":"check the status of order {n} for the customer","query":"SELECT id, status FROM orders WHERE id = {n} LIMIT 1"}"#,
    ),
    (
        "URL + prose, no SQL",
        r#"{"url":"https://api.corp.example/items/{n}","note":"please check the status of order {n} for the customer"}"#,
    ),
];

/// `text` with the block that starts at the line `header` (ignoring a trailing comment)
/// replaced by `with`: the header line and every following line indented deeper than it (a
/// YAML block, or a list item's fields).
fn replace_block(text: &str, header: &str, with: &str) -> Res<String> {
    let indent = |l: &str| l.len() - l.trim_start_matches(' ').len();
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let start = lines
        .iter()
        .position(|l| l.split(" #").next().unwrap_or("").trim_end() == header)
        .ok_or_else(|| format!("no line {:?} in `policy show-default`", header.trim()))?;
    let depth = indent(header);
    let end = lines[start + 1..]
        .iter()
        .position(|l| !l.trim().is_empty() && indent(l) <= depth)
        .map_or(lines.len(), |k| start + 1 + k);
    let mut out: String = lines[..start].concat();
    out.push_str(with);
    out.push_str(&lines[end..].concat());
    Ok(out)
}

/// `SENTINEL policy show-default`.
fn show_default(bin: &Path) -> Res<String> {
    let out = Command::new(bin)
        .args(["policy", "show-default"])
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(err("cannot run policy show-default"))?;
    if !out.status.success() {
        return Err(format!("policy show-default: {}", out.status));
    }
    String::from_utf8(out.stdout).map_err(err("policy show-default"))
}

/// The baseline: the binary's built-in default policy with its `breaker:` block replaced by
/// `breaker: {mode: off}`; every other rule as built in.
fn baseline_policy(bin: &Path) -> Res<String> {
    let text = replace_block(&show_default(bin)?, "    breaker:", BREAKER_OFF)?;
    Ok(format!(
        "# bench_driver: the baseline (benches/driver.rs, baseline_policy): `{} policy \
         show-default`\n# with the circuit breaker off.\n{text}",
        bin.display()
    ))
}

/// The `guard` policy: the built-in default with its reporting egress rule replaced by
/// [`GUARD_EGRESS`] and its `breaker:` block by [`GUARD_BREAKER`].
fn guard_policy(bin: &Path) -> Res<String> {
    let text = show_default(bin)?;
    let text = replace_block(&text, "      - id: egress", GUARD_EGRESS)?;
    let text = replace_block(&text, "    breaker:", GUARD_BREAKER)?;
    Ok(format!(
        "# bench_driver: the guard section's policy (benches/driver.rs, guard_policy): `{} \
         policy show-default`\n# with the egress guard enforcing an allow list and the circuit \
         breaker on, enforcing.\n{text}",
        bin.display()
    ))
}

/// Writes `text` to `path` and checks it with `bin policy check`.
fn write_policy(bin: &Path, path: &Path, text: &Res<String>) -> Res<PathBuf> {
    let text = text.clone()?;
    fs::write(path, text).map_err(err("write the policy"))?;
    check_policy(bin, path)?;
    Ok(path.to_owned())
}

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
    /// Pipelined messages per target and call kind in the `guard` section (over all rounds;
    /// fewer than `pipelined`: with SQL, every message is parsed).
    guard_pipelined: usize,
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
            guard_pipelined: 300_000,
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
            guard_pipelined: 30_000,
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
    /// For sentinels: `--policy FILE` (the baseline unless a section says otherwise), or why
    /// that file could not be made; `None` for the others.
    policy: Option<Res<PathBuf>>,
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
                    c.arg("--policy").arg(policy.clone()?);
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

/// CPU time used so far by all the threads of a live process, in seconds: the sum of the
/// first field (time on a CPU, ns) of `/proc/PID/task/*/schedstat`. Unlike wall time, it does
/// not grow while the process waits for a CPU that other load holds.
fn cpu_secs(pid: u32) -> Res<f64> {
    let mut ns: u64 = 0;
    let tasks = fs::read_dir(format!("/proc/{pid}/task")).map_err(err("read /proc tasks"))?;
    for task in tasks {
        let task = task.map_err(err("read /proc tasks"))?;
        // A thread that has just ended has no schedstat any more.
        let Ok(stat) = fs::read_to_string(task.path().join("schedstat")) else {
            continue;
        };
        ns += stat
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<u64>().ok())
            .ok_or("unreadable /proc schedstat")?;
    }
    Ok(ns as f64 * 1e-9)
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

/// `{"jsonrpc":"2.0","id":ID,"method":"tools/call","params":{"name":TOOL,"arguments":ARGS}}\n`
/// (ARGS: a JSON object).
fn args_call(out: &mut Vec<u8>, id: u64, tool: &str, args: &str) {
    out.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"id\":");
    push_u64(out, id);
    out.extend_from_slice(b",\"method\":\"tools/call\",\"params\":{\"name\":\"");
    out.extend_from_slice(tool.as_bytes());
    out.extend_from_slice(b"\",\"arguments\":");
    out.extend_from_slice(args.as_bytes());
    out.extend_from_slice(b"}}\n");
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

/// What a session sends.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Load {
    /// Small allowed calls.
    Small,
    /// The same blocked query every time.
    Blocked,
    /// A different blocked query every time.
    BlockedDistinct,
    /// Allowed calls of `echo` with these arguments, `{n}` filled with the id (so each call
    /// is different).
    Args(&'static str),
}

impl Load {
    fn blocked(self) -> bool {
        matches!(self, Load::Blocked | Load::BlockedDistinct)
    }

    /// Appends message number `id`.
    fn message(self, out: &mut Vec<u8>, id: u64) {
        match self {
            Load::Small => small_call(out, id),
            Load::Blocked => blocked_call(out, id),
            Load::BlockedDistinct => blocked_distinct_call(out, id),
            Load::Args(template) => args_call(out, id, "echo", &fill(template, id)),
        }
    }
}

/// Whether `line` is the echo server's answer to request `id`, passed on unchanged: a
/// forwarded call, not a refusal.
fn is_echo_answer(line: &[u8], id: u64) -> bool {
    let mut want = Vec::with_capacity(64);
    want.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"id\":");
    push_u64(&mut want, id);
    want.extend_from_slice(ECHO_RESULT);
    line.starts_with(&want)
}

/// What follows the id in every answer of the echo server to a small `tools/call`.
const ECHO_RESULT: &[u8] = b",\"result\":{\"content\":[{\"type\":\"text\",\"text\":\"ok\"}]}}\n";

/// An empty audit log: nothing was refused, and nothing was recorded as monitored.
fn audit_empty(audit: Option<&Path>) -> Res<()> {
    let Some(path) = audit else {
        return Ok(());
    };
    match count_lines(path)? {
        0 => Ok(()),
        n => {
            let data = fs::read(path).unwrap_or_default();
            let first = data.split(|&b| b == b'\n').next().unwrap_or(&[]);
            Err(format!(
                "{n} audit entries for calls that should all pass (first: {})",
                snippet(first)
            ))
        }
    }
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

type Figures = BTreeMap<String, Res<f64>>;

fn put<T>(f: &mut Figures, key: &str, r: &Res<T>, value: impl FnOnce(&T) -> f64) {
    f.insert(
        key.to_owned(),
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
/// Every answer must be the echo server's, forwarded (checked after the clock stops), and the
/// audit log must stay empty.
fn latency(ctx: &Ctx, t: &Target, pin: bool, calls: usize, load: Load) -> Res<Vec<f64>> {
    let _pinned = if pin {
        Some(Pinned::to_first_cpu()?)
    } else {
        None
    };
    let mut p = Proc::start(ctx, t, "latency")?;
    p.ping()?;
    let mut req = Vec::with_capacity(512);
    let mut resp = Vec::with_capacity(256);
    let warmup = calls / 10;
    let mut samples = Vec::with_capacity(calls);
    for i in 0..warmup + calls {
        req.clear();
        load.message(&mut req, i as u64);
        let t0 = Instant::now();
        p.stdin().write_all(&req).map_err(err("write"))?;
        p.read_line(&mut resp)?;
        let dt = t0.elapsed().as_secs_f64();
        if !is_echo_answer(&resp, i as u64) {
            return Err(format!(
                "call {i} was not forwarded: {}",
                snippet(&resp).trim_end()
            ));
        }
        if i >= warmup {
            samples.push(dt);
        }
    }
    let audit = p.audit.clone();
    p.finish()?;
    audit_empty(audit.as_deref())?;
    Ok(samples)
}

/// Round trips, one request in flight, to two sessions at once (`a` and `b`, typically the
/// same binary with two policies), alternating between them call by call (and which goes
/// first), so that both see the same state of the machine: for each, the round-trip times in
/// seconds (after a 10% warm-up) and the sentinel's CPU time over the timed calls. Every answer
/// must be the echo server's, forwarded; the audit logs must stay empty. With `pin`, all the
/// processes run on one CPU.
fn latency_pair(
    ctx: &Ctx,
    a: &Target,
    b: &Target,
    pin: bool,
    calls: usize,
    load: Load,
) -> Res<[(Vec<f64>, f64); 2]> {
    let _pinned = if pin {
        Some(Pinned::to_first_cpu()?)
    } else {
        None
    };
    let start = |t: &Target| -> Res<Proc> {
        let mut p = Proc::start(ctx, t, "latency-pair").map_err(|e| format!("{}: {e}", t.label))?;
        p.ping().map_err(|e| format!("{}: {e}", t.label))?;
        Ok(p)
    };
    let mut procs = [start(a)?, start(b)?];
    let labels = [&a.label, &b.label];
    let mut req = Vec::with_capacity(512);
    let mut resp = Vec::with_capacity(256);
    let warmup = calls / 10;
    let mut samples = [Vec::with_capacity(calls), Vec::with_capacity(calls)];
    let mut cpu0 = [0.0; 2];
    for i in 0..warmup + calls {
        if i == warmup {
            for (c, p) in cpu0.iter_mut().zip(&procs) {
                *c = cpu_secs(p.pid())?;
            }
        }
        req.clear();
        load.message(&mut req, i as u64);
        for j in 0..2 {
            let s = (i + j) % 2;
            let p = &mut procs[s];
            let t0 = Instant::now();
            p.stdin().write_all(&req).map_err(err("write"))?;
            p.read_line(&mut resp)
                .map_err(|e| format!("{}: {e}", labels[s]))?;
            let dt = t0.elapsed().as_secs_f64();
            if !is_echo_answer(&resp, i as u64) {
                return Err(format!(
                    "{}: call {i} was not forwarded: {}",
                    labels[s],
                    snippet(&resp).trim_end()
                ));
            }
            if i >= warmup {
                samples[s].push(dt);
            }
        }
    }
    let mut cpu = [0.0; 2];
    for ((c, c0), p) in cpu.iter_mut().zip(cpu0).zip(&procs) {
        *c = cpu_secs(p.pid())? - c0;
    }
    let [pa, pb] = procs;
    for (p, label) in [(pa, labels[0]), (pb, labels[1])] {
        let audit = p.audit.clone();
        p.finish().map_err(|e| format!("{label}: {e}"))?;
        audit_empty(audit.as_deref()).map_err(|e| format!("{label}: {e}"))?;
    }
    let [sa, sb] = samples;
    Ok([(sa, cpu[0]), (sb, cpu[1])])
}

struct Pipelined {
    secs: f64,
    rss: Option<Res<f64>>,
    audit_lines: Option<Res<usize>>,
    /// Sentinel's CPU time (all its threads) from the first message to the last answer.
    cpu: Option<Res<f64>>,
}

/// Checks, line by line as the chunks come, that every answer is the echo server's to the
/// request of the same number (answers come in request order).
#[derive(Default)]
struct EchoCheck {
    partial: Vec<u8>,
    next: u64,
    bad: usize,
    first_bad: Option<String>,
}

impl EchoCheck {
    fn feed(&mut self, mut chunk: &[u8]) {
        while let Some(at) = chunk.iter().position(|&b| b == b'\n') {
            let (line, rest) = chunk.split_at(at + 1);
            chunk = rest;
            let ok = if self.partial.is_empty() {
                is_echo_answer(line, self.next)
            } else {
                self.partial.extend_from_slice(line);
                let ok = is_echo_answer(&self.partial, self.next);
                if !ok && self.first_bad.is_none() {
                    self.first_bad = Some(snippet(&self.partial));
                }
                self.partial.clear();
                ok
            };
            if !ok {
                self.bad += 1;
                if self.first_bad.is_none() {
                    self.first_bad = Some(snippet(line));
                }
            }
            self.next += 1;
        }
        self.partial.extend_from_slice(chunk);
    }

    fn verdict(&self) -> Res<()> {
        if self.bad == 0 {
            return Ok(());
        }
        Err(format!(
            "{} of {} answers were not forwarded echoes (first: {})",
            self.bad,
            self.next,
            self.first_bad.as_deref().unwrap_or("").trim_end()
        ))
    }
}

/// One session: `n` messages written by one thread while this one counts the answers. With
/// blocked loads, the answers must be Sentinel's errors; otherwise the audit log must stay
/// empty (nothing refused or recorded), and with `Load::Args` every answer is checked to be
/// the echo server's.
fn pipelined(ctx: &Ctx, t: &Target, n: usize, load: Load, round: usize) -> Res<Pipelined> {
    let blocked = load.blocked();
    let tag = format!("{}-{round}", if blocked { "blocked" } else { "pipelined" });
    let mut p = Proc::start(ctx, t, &tag)?;
    p.ping()?;
    let stdin = p.stdin.take().expect("stdin");
    let sentinel = t.sentinel().is_some();
    let cpu0 = sentinel.then(|| cpu_secs(p.pid()));
    let t0 = Instant::now();
    let writer = thread::spawn(move || -> io::Result<ChildStdin> {
        let mut w = BufWriter::with_capacity(64 * 1024, stdin);
        let mut msg = Vec::with_capacity(512);
        for i in 0..n as u64 {
            msg.clear();
            load.message(&mut msg, i);
            w.write_all(&msg)?;
        }
        w.flush()?;
        w.into_inner().map_err(|e| e.into_error())
    });
    let mut buf = vec![0u8; 256 * 1024];
    let mut first = Vec::new();
    let mut lines = 0usize;
    let mut check = matches!(load, Load::Args(_)).then(EchoCheck::default);
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
        if let Some(c) = &mut check {
            c.feed(&buf[..k]);
        }
        lines += buf[..k].iter().filter(|&&b| b == b'\n').count();
    }
    let secs = t0.elapsed().as_secs_f64();
    let cpu = cpu0.map(|c0| Ok(cpu_secs(p.pid())? - c0?));
    let stdin = writer
        .join()
        .map_err(|_| "writer panicked".to_string())?
        .map_err(err("write"))?;
    if let Some(c) = &check {
        c.verdict()?;
    }
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
    if !blocked {
        audit_empty(audit.as_deref())?;
    }
    let audit_lines = audit.map(|a| count_lines(&a));
    Ok(Pipelined {
        secs,
        rss,
        audit_lines,
        cpu,
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

/// The p50 and p99 of all the round trips of all rounds.
fn p50_p99(r: &Res<Vec<Vec<f64>>>) -> Res<(f64, f64)> {
    let mut all: Vec<f64> = r.clone()?.into_iter().flatten().collect();
    if all.is_empty() {
        return Err("no samples".into());
    }
    all.sort_by(f64::total_cmp);
    Ok((percentile(&all, 0.5), percentile(&all, 0.99)))
}

/// The figure key of a `guard` section measurement: call kind `v` (index into
/// [`GUARD_CALLS`]), `mode` lat, pin or pipe, `which` base, guard, add (or ratio, cost),
/// `stat` p50 or p99 (empty for pipe).
fn guard_key(v: usize, mode: &str, which: &str, stat: &str) -> String {
    format!("guard{v}_{mode}_{which}_{stat}")
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

/// Wall time of `sentinel --policy POLICY` in demo mode over `input` (n lines, all of which
/// must come out).
fn demo_run(
    ctx: &Ctx,
    bin: &Path,
    policy: &Path,
    input: &Path,
    audit: &Path,
    n: usize,
) -> Res<f64> {
    let stdin = File::open(input).map_err(err("open demo input"))?;
    let t0 = Instant::now();
    let mut child = Command::new(bin)
        .arg("--policy")
        .arg(policy)
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
    let policy = match t.policy.clone().unwrap_or_else(|| Err("no policy".into())) {
        Ok(p) => p,
        Err(e) => return vec![Err(e); inputs.len()],
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
                demo_run(ctx, bin, &policy, &input.prose, &audit, input.n),
                demo_run(ctx, bin, &policy, &input.sql, &audit, input.n),
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
    let print: Option<fn(&Path) -> Res<String>> = match argv.first().and_then(|a| a.to_str()) {
        Some("--print-baseline") => Some(baseline_policy),
        Some("--print-guard") => Some(guard_policy),
        _ => None,
    };
    if let Some(make) = print {
        let Some(bin) = argv.get(1) else {
            eprintln!(
                "bench_driver: {} needs a sentinel binary",
                argv[0].to_string_lossy()
            );
            std::process::exit(2);
        };
        match make(Path::new(bin)) {
            Ok(text) => print!("{text}"),
            Err(e) => {
                eprintln!("bench_driver: {e}");
                std::process::exit(1);
            }
        }
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
    // Every sentinel session runs with the baseline policy, made from the binary itself.
    targets.extend(args.sentinels.iter().map(|(l, p)| {
        let file = tmp.join(format!("baseline-{l}.yaml"));
        let policy = write_policy(p, &file, &baseline_policy(p));
        if let Err(e) = &policy {
            eprintln!("bench_driver: sentinel {l}: no baseline policy: {e}");
        }
        Target {
            label: l.clone(),
            kind: TargetKind::Sentinel(p.clone()),
            policy: Some(policy),
        }
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
                latency(&ctx, t, pin, calls, Load::Small)
            });
            for (f, r) in figures.iter_mut().zip(runs) {
                let mut all: Vec<f64> = match r {
                    Ok(v) => v.into_iter().flatten().collect(),
                    Err(e) => {
                        f.insert(p50.into(), Err(e.clone()));
                        f.insert(p99.into(), Err(e));
                        continue;
                    }
                };
                all.sort_by(f64::total_cmp);
                f.insert(p50.into(), Ok(percentile(&all, 0.5)));
                f.insert(p99.into(), Ok(percentile(&all, 0.99)));
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
                f.insert((*key).into(), r);
            }
        }
        for input in &inputs {
            let _ = fs::remove_file(&input.sql);
            let _ = fs::remove_file(&input.prose);
        }
    }
    // The policy's cost: each sentinel with the baseline policy and with the 50-rule
    // file, as two sessions of the same binary in the same rounds.
    let policy_file = tmp.join("policy-50.yaml");
    if wanted("policy") {
        let pairs: Vec<Target> = sentinels
            .iter()
            .flat_map(|t| {
                let mut with = t.clone();
                with.label = format!("{}-policy50", t.label);
                with.policy = Some(Ok(policy_file.clone()));
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
                latency(&ctx, t, pin, calls, Load::Small)
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
    // The guard's cost: each sentinel with the baseline and with the guard policy (circuit
    // breaker on, egress guard enforcing an allow list), as two sessions of the same binary in
    // the same rounds, for each kind of call. Every answer must be a forwarded echo.
    let mut guard_failures: Vec<String> = Vec::new();
    if wanted("guard") {
        let pairs: Vec<Target> = sentinels
            .iter()
            .flat_map(|t| {
                let bin = t.sentinel().expect("a sentinel");
                let file = tmp.join(format!("guard-{}.yaml", t.label));
                let mut with = t.clone();
                with.label = format!("{}-guard", t.label);
                with.policy = Some(write_policy(bin, &file, &guard_policy(bin)));
                [t.clone(), with]
            })
            .collect();
        let mut failed = |r: &Res<(f64, f64)>| {
            if let Err(e) = r {
                if !guard_failures.contains(e) {
                    eprintln!("bench_driver: guard section FAILED: {e}");
                    guard_failures.push(e.clone());
                }
            }
        };
        for (v, (label, args)) in GUARD_CALLS.iter().enumerate() {
            let load = Load::Args(args);
            let calls = n.per_round(n.latency);
            // Per sentinel: the round trips of the baseline and the guard session and their
            // CPU time, over both placements.
            let mut cpu_calls: Vec<Res<[(f64, usize); 2]>> =
                sentinels.iter().map(|_| Ok([(0.0, 0); 2])).collect();
            for (pin, mode) in [(false, "lat"), (true, "pin")] {
                // A pair that failed unpinned is not run again pinned: its error stands.
                let mut runs: Vec<Res<[Vec<f64>; 2]>> = cpu_calls
                    .iter()
                    .map(|c| {
                        c.as_ref()
                            .map(|_| [Vec::new(), Vec::new()])
                            .map_err(Clone::clone)
                    })
                    .collect();
                for round in 0..rounds {
                    progress(&format!(
                        "guard, {label}: latency, baseline and guard alternating{}, round {}/{rounds}",
                        if pin { ", one CPU" } else { "" },
                        round + 1
                    ));
                    for j in 0..sentinels.len() {
                        let k = (j + round) % sentinels.len();
                        let (base, guard) = (&pairs[2 * k], &pairs[2 * k + 1]);
                        // Which session starts each call alternates; so does which starts first.
                        let (a, b) = if round % 2 == 0 {
                            (base, guard)
                        } else {
                            (guard, base)
                        };
                        let (Ok(done), Ok(cpu)) = (&mut runs[k], &mut cpu_calls[k]) else {
                            continue;
                        };
                        match latency_pair(&ctx, a, b, pin, calls, load) {
                            Ok(mut r) => {
                                if round % 2 == 1 {
                                    r.swap(0, 1);
                                }
                                for (s, (times, secs)) in r.into_iter().enumerate() {
                                    cpu[s].0 += secs;
                                    cpu[s].1 += times.len();
                                    done[s].extend(times);
                                }
                            }
                            Err(e) => {
                                runs[k] = Err(e.clone());
                                cpu_calls[k] = Err(e);
                            }
                        }
                    }
                }
                for (k, f) in figures[s0..].iter_mut().enumerate() {
                    let stats = |s: usize| -> Res<(f64, f64)> {
                        let r = runs[k].as_ref().map_err(Clone::clone)?;
                        p50_p99(&Ok(vec![r[s].clone()]))
                    };
                    let base = stats(0);
                    let with = stats(1);
                    failed(&base);
                    failed(&with);
                    let added = with
                        .clone()
                        .and_then(|w| base.clone().map(|b| (w.0 - b.0, w.1 - b.1)));
                    for (stat, pick) in [("p50", 0), ("p99", 1)] {
                        let get = |v: &(f64, f64)| if pick == 0 { v.0 } else { v.1 };
                        put(f, &guard_key(v, mode, "base", stat), &base, get);
                        put(f, &guard_key(v, mode, "guard", stat), &with, get);
                        put(f, &guard_key(v, mode, "add", stat), &added, get);
                    }
                }
            }
            for (k, f) in figures[s0..].iter_mut().enumerate() {
                let per_call = cpu_calls[k]
                    .clone()
                    .map(|c| (c[0].0 / c[0].1 as f64, c[1].0 / c[1].1 as f64));
                put(f, &guard_key(v, "cpu1", "base", ""), &per_call, |c| c.0);
                put(f, &guard_key(v, "cpu1", "guard", ""), &per_call, |c| c.1);
                put(f, &guard_key(v, "cpu1", "add", ""), &per_call, |c| {
                    c.1 - c.0
                });
            }
            let per = n.per_round(n.guard_pipelined);
            let what = format!("guard, {label}: pipelined");
            let runs = in_rounds(&pairs, rounds, &progress, &what, |r, t| {
                pipelined(&ctx, t, per, load, r)
            });
            let rate_of = |r: &Res<Vec<Pipelined>>| -> Res<(f64, f64)> {
                let v = r.as_ref().map_err(Clone::clone)?;
                let msgs = (per * v.len()) as f64;
                let mut cpu = 0.0;
                for p in v {
                    cpu += p.cpu.clone().ok_or("no CPU time")??;
                }
                Ok((msgs / v.iter().map(|p| p.secs).sum::<f64>(), cpu / msgs))
            };
            for (k, f) in figures[s0..].iter_mut().enumerate() {
                let base = rate_of(&runs[2 * k]);
                let with = rate_of(&runs[2 * k + 1]);
                let both = with.clone().and_then(|w| base.clone().map(|b| (w, b)));
                failed(&both.clone().map(|(w, b)| (w.0, b.0)));
                put(f, &guard_key(v, "pipe", "base", ""), &base, |v| v.0);
                put(f, &guard_key(v, "pipe", "guard", ""), &with, |v| v.0);
                put(f, &guard_key(v, "pipe", "ratio", ""), &both, |(w, b)| {
                    w.0 / b.0
                });
                put(f, &guard_key(v, "pipe", "cost", ""), &both, |(w, b)| {
                    1.0 / w.0 - 1.0 / b.0
                });
                put(f, &guard_key(v, "cpu", "base", ""), &base, |v| v.1);
                put(f, &guard_key(v, "cpu", "guard", ""), &with, |v| v.1);
                put(f, &guard_key(v, "cpu", "add", ""), &both, |(w, b)| {
                    w.1 - b.1
                });
            }
        }
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
                &format!("{what}, baseline policy"),
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
                &format!("added by the 50-rule policy over the baseline, {stat}, {mode}"),
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
            "pipelined small tools/call ({} msgs), baseline policy",
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
        "pipelined throughput, 50-rule policy vs baseline",
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

    for (v, (label, _)) in GUARD_CALLS.iter().enumerate() {
        for (mode, key) in [("unpinned", "lat"), ("all on one CPU", "pin")] {
            let rt = format!(
                "guard, {label}: round trip p50, {mode} ({} calls)",
                n.latency
            );
            table.row(
                &format!("{rt}, baseline policy"),
                &guard_key(v, key, "base", "p50"),
                Kind::Plain,
                us,
                "",
                None,
            );
            table.row(
                &format!("{rt}, guard policy"),
                &guard_key(v, key, "guard", "p50"),
                Kind::Plain,
                us,
                "",
                None,
            );
            table.row(
                &format!("**added by breaker + egress guard**, {label}, p50, {mode}"),
                &guard_key(v, key, "add", "p50"),
                Kind::Plain,
                us,
                "< 10 us",
                Some(&lt(10e-6)),
            );
            table.row(
                &format!("added by breaker + egress guard, {label}, p99, {mode}"),
                &guard_key(v, key, "add", "p99"),
                Kind::Plain,
                us,
                "",
                None,
            );
        }
        for (which, what) in [
            ("base", "baseline policy"),
            ("guard", "guard policy"),
            ("add", "added by breaker + egress guard"),
        ] {
            table.row(
                &format!("guard, {label}: sentinel CPU time per call, 1 in flight, {what}"),
                &guard_key(v, "cpu1", which, ""),
                Kind::Plain,
                us,
                "",
                None,
            );
        }
        let pipe = format!(
            "guard, {label}: pipelined tools/call ({} msgs)",
            n.guard_pipelined
        );
        table.row(
            &format!("{pipe}, baseline policy"),
            &guard_key(v, "pipe", "base", ""),
            Kind::Plain,
            rate,
            "",
            None,
        );
        table.row(
            &format!("{pipe}, guard policy"),
            &guard_key(v, "pipe", "guard", ""),
            Kind::Plain,
            rate,
            "",
            None,
        );
        table.row(
            &format!("guard, {label}: pipelined throughput, guard vs baseline"),
            &guard_key(v, "pipe", "ratio", ""),
            Kind::Plain,
            pct,
            "",
            None,
        );
        table.row(
            &format!("guard, {label}: added time per pipelined message (1/rate difference)"),
            &guard_key(v, "pipe", "cost", ""),
            Kind::Plain,
            us,
            "",
            None,
        );
        for (which, what) in [
            ("base", "baseline policy"),
            ("guard", "guard policy"),
            ("add", "added by breaker + egress guard"),
        ] {
            table.row(
                &format!("guard, {label}: sentinel CPU time per pipelined message, {what}"),
                &guard_key(v, "cpu", which, ""),
                Kind::Plain,
                us,
                "",
                None,
            );
        }
    }

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
    if s0 < table.targets.len() {
        println!();
        println!(
            "Baseline: every sentinel session above (latency, throughput, blocked, 8 MiB, \
             startup, SQL demo mode, and the reference rows of the policy and guard sections) \
             runs with `--policy TMP/baseline-LABEL.yaml`: that binary's own `sentinel policy \
             show-default` (the built-in rules: the egress guard reporting, the SQL guard \
             blocking) with its `breaker:` block replaced by `breaker: {{mode: off}}`, checked \
             with `sentinel policy check` (`bench_driver --print-baseline SENTINEL` prints it). \
             The circuit breaker is on by default (the 5th identical call within 5 s is \
             refused; 600 calls a minute, burst 200), and these rows send the same call \
             thousands of times a second: with it they would measure refusals, not forwarding. \
             The blocked rows use the same baseline, so they stay comparable. Startup and peak RSS \
             therefore include loading that file (and the policy reload thread). Allowed calls \
             are checked: every latency answer is the echo server's, and no session's audit \
             log gets an entry."
        );
    }
    if wanted("policy") {
        println!();
        println!(
            "Policy cost: every sentinel twice in the same rounds, with the baseline and with \
             `--policy TMP/policy-50.yaml`, a 50-rule file (`bench_driver --print-policy` \
             prints it): 19 tool rules (globs, except_tools, servers) scoped to other tools, 21 \
             argument conditions on every tool (regex, prefix, one_of, equals, min, max, \
             min_length, not, any_string; on /text, which the call has, and on paths it \
             lacks), 8 SQL rules scoped to other tools, and last the built-in default's two \
             rules (egress reporting, SQL); the circuit breaker off, as in the baseline. The \
             call (`echo`, `{{\"text\":\"hello world\"}}`) matches no rule, so each message \
             is checked against all 50 and allowed. \"added\" is the 50-rule figure minus the \
             baseline one, same binary, same placement."
        );
    }
    if wanted("guard") {
        println!();
        println!(
            "Guard cost: every sentinel twice in the same rounds, with the baseline and with \
             `--policy TMP/guard-LABEL.yaml` (`bench_driver --print-guard SENTINEL` prints \
             it): the built-in default with its egress rule enforcing (`action: block`; 20 \
             allowed domains, `*.corp.example` among them, 10 denied, all five checks, entropy \
             detector on) and the circuit breaker on and enforcing: loop detection (5 repeats \
             in 5 s), three rate limits covering the called tool (overall, `[echo]`, \
             `[\"echo*\", \"fetch_*\"]`; 100000000/second, burst 100000000), max_calls \
             1000000000 (session and tool), cost 0.001 per call against a budget of 1e12, 5 \
             consecutive errors. The limits are never reached: every call passes every check, \
             and every answer is verified to be the forwarded echo (a refusal fails the \
             section). Each call is different (`{{n}}`: a 6-digit number, the request's), so \
             loop detection never trips. With SQL, sqlparser runs on every call in both \
             policies, twice: on the query, and on the prose, whose first word (`check`) is a \
             SQL keyword, all the SQL guard's pre-filter looks at; without SQL, the prose starts \
             with `please` and nothing is parsed, which shows the guard's own cost best. \"added\" is the guard figure minus the baseline one, same binary, \
             same placement. Latency: the baseline and the guard session of a binary run side by side \
             and take turns call by call (alternating which goes first), so both see the same \
             state of the machine. \"sentinel CPU time\": the CPU time of all of the \
             sentinel's threads (`/proc/PID/task/*/schedstat`) over the timed calls, divided by \
             their number; unlike wall time it does not grow while the sentinel waits for a CPU \
             held by other load. The calls (tool `echo`):"
        );
        for (label, args) in GUARD_CALLS {
            println!("- {label}: `{args}`");
        }
        if !guard_failures.is_empty() {
            println!();
            println!("**The guard section FAILED** (a call was refused or a session broke):");
            for e in &guard_failures {
                println!("- {e}");
            }
        }
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
                "- sentinel {}: `{} --policy {}/baseline-{}.yaml --audit-log {}/audit-*.log -- \
                 {}` (stderr to /dev/null)",
                t.label,
                bin.display(),
                tmp.display(),
                t.label,
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
