//! The measurements. Each runs sessions of a target and returns what it measured (seconds,
//! bytes, counts); a run keeps the figures by name (`Figures`, and the keys of the policy and
//! guard sections). Also how much work each does (`Sizes`), the rounds they run in, the
//! demo-mode runs of the SQL inspection figure, and the statistics taken over the samples.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::messages::{audit_empty, fill, is_echo_answer, tools_call, EchoCheck, Load, PROSE};
use crate::procs::{
    contains, count_lines, cpu_secs, err, rss_anon, snippet, vm_hwm, Ctx, Pinned, Proc, Res,
    Target, Watchdog,
};

pub(crate) const MIB: usize = 1024 * 1024;
const BIG: usize = 8 * MIB;

/// How much work each measurement does. Sessions are run in rounds, the targets in a
/// rotating order within each round, so that drift in the machine's state (other load, the
/// hypervisor) is spread over all columns instead of landing on one.
#[derive(Clone)]
pub(crate) struct Sizes {
    pub(crate) rounds: usize,
    /// Round trips per target (over all rounds), plus a 10% warm-up per session.
    pub(crate) latency: usize,
    pub(crate) pipelined: usize,
    pub(crate) blocked: usize,
    /// Blocked calls with a different query each (no verdict cache helps).
    pub(crate) blocked_distinct: usize,
    /// Timed 8 MiB round trips per target (over all rounds), plus one warm-up per session.
    pub(crate) big_runs: usize,
    /// Fresh sessions per target (over all rounds), plus one warm-up per round.
    pub(crate) startup: usize,
    /// Lines per demo-mode run for the first (typical) SQL shape; the others get a quarter.
    pub(crate) sql: usize,
    /// Runs of each SQL and prose input for the other shapes (the fastest counts).
    pub(crate) sql_reps: usize,
    /// Pipelined messages per target and call kind in the `guard` section (over all rounds;
    /// fewer than `pipelined`: with SQL, every message is parsed).
    pub(crate) guard_pipelined: usize,
    /// `tools/list` round trips (200 tools each) per target in the `inspect` section (over
    /// all rounds), plus a 10% warm-up per session.
    pub(crate) lists: usize,
    /// Blocked calls per `--audit-fsync` run of the `audit` section are `blocked` divided by
    /// this (one fdatasync per entry is far slower than the others).
    pub(crate) fsync_div: usize,
    pub(crate) timeout: Duration,
}

impl Sizes {
    pub(crate) fn full() -> Sizes {
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
            lists: 2_000,
            fsync_div: 50,
            timeout: Duration::from_secs(120),
        }
    }
    pub(crate) fn quick() -> Sizes {
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
            lists: 200,
            fsync_div: 20,
            timeout: Duration::from_secs(60),
        }
    }

    /// `total` split over the rounds (at least 1 per round).
    pub(crate) fn per_round(&self, total: usize) -> usize {
        total.div_ceil(self.rounds).max(1)
    }
}

pub(crate) fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

pub(crate) fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    percentile(&v, 0.5)
}

/// The largest of the sessions' peak RSS figures (`None` for direct sessions).
pub(crate) fn max_rss<'a>(rss: impl Iterator<Item = &'a Option<Res<f64>>>) -> Res<Option<f64>> {
    let mut max: Option<f64> = None;
    for r in rss.flatten() {
        let v = r.clone()?;
        max = Some(max.map_or(v, |m| m.max(v)));
    }
    Ok(max)
}

pub(crate) type Figures = BTreeMap<String, Res<f64>>;

pub(crate) fn put<T>(f: &mut Figures, key: &str, r: &Res<T>, value: impl FnOnce(&T) -> f64) {
    f.insert(
        key.to_owned(),
        match r {
            Ok(v) => Ok(value(v)),
            Err(e) => Err(e.clone()),
        },
    );
}

/// One session of `calls` round trips with one request in flight (after a 10% warm-up): the
/// round-trip times in seconds. With `pin`, the driver, the sentinel and the server all run on
/// one CPU (no cross-CPU wake-ups).
/// Every answer must be the echo server's, forwarded (checked after the clock stops), and the
/// audit log must stay empty.
pub(crate) fn latency(ctx: &Ctx, t: &Target, pin: bool, calls: usize, load: Load) -> Res<Vec<f64>> {
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
pub(crate) fn latency_pair(
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

pub(crate) struct Pipelined {
    pub(crate) secs: f64,
    pub(crate) rss: Option<Res<f64>>,
    /// RssAnon once every answer is in.
    pub(crate) rss_anon: Option<Res<f64>>,
    pub(crate) audit_lines: Option<Res<usize>>,
    /// Sentinel's CPU time (all its threads) from the first message to the last answer.
    pub(crate) cpu: Option<Res<f64>>,
}

/// One session: `n` messages written by one thread while this one counts the answers. With
/// blocked loads, the answers must be Sentinel's errors; otherwise the audit log must stay
/// empty (nothing refused or recorded), and with `Load::Args` every answer is checked to be
/// the echo server's.
pub(crate) fn pipelined(
    ctx: &Ctx,
    t: &Target,
    n: usize,
    load: Load,
    round: usize,
) -> Res<Pipelined> {
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
    let rss_anon = t.is_proxy().then(|| rss_anon(p.pid()));
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
        rss_anon,
        audit_lines,
        cpu,
    })
}

/// The 8 MiB request line (a `tools/call` of `echo` whose `content` is 8 MiB of words), with
/// a placeholder id of 8 digits at [`BIG_ID_AT`].
pub(crate) fn big_request() -> Vec<u8> {
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
pub(crate) fn big(
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
pub(crate) fn startup(ctx: &Ctx, t: &Target, pin: bool, runs: usize) -> Res<Vec<f64>> {
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
pub(crate) fn policy_key(mode: &str, which: &str, stat: &str) -> &'static str {
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
pub(crate) fn p50_p99(r: &Res<Vec<Vec<f64>>>) -> Res<(f64, f64)> {
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
pub(crate) fn guard_key(v: usize, mode: &str, which: &str, stat: &str) -> String {
    format!("guard{v}_{mode}_{which}_{stat}")
}

/// Runs `f(round, target)` for every round and target, the targets in a rotating order; per
/// target, the results of all rounds (or its first error, after which it is skipped).
pub(crate) fn in_rounds<T>(
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
/// number (`distinct`) or always with 0. SQL goes to the tool `query` (its `query` carries
/// SQL); the prose baseline to `lookup`'s `input`, an argument that only might carry SQL, so
/// the guard's keyword pre-filter skips it (prose sent to a SQL tool is refused as
/// unverifiable, by design).
pub(crate) fn write_demo_input(
    path: &Path,
    n: usize,
    template: &str,
    distinct: bool,
    prose: bool,
) -> Res<()> {
    let (tool, key) = if prose {
        ("lookup", "input")
    } else {
        ("query", "query")
    };
    let mut w = BufWriter::new(File::create(path).map_err(err("create demo input"))?);
    let mut msg = Vec::with_capacity(512);
    for i in 0..n as u64 {
        msg.clear();
        let value = fill(template, if distinct { i } else { 0 });
        tools_call(&mut msg, i, tool, key, &value);
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
pub(crate) struct DemoInput {
    pub(crate) sql: PathBuf,
    pub(crate) prose: PathBuf,
    pub(crate) n: usize,
    pub(crate) reps: usize,
}

/// Per-query inspection time for each SQL shape, in seconds: demo mode over the SQL lines
/// minus demo mode over lines of the same length carrying prose.
pub(crate) fn sql_inspection(ctx: &Ctx, t: &Target, inputs: &[DemoInput]) -> Vec<Res<f64>> {
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
