//! `bench_http_load`: the load generator of `scripts/bench-http.sh` (issue 12): many concurrent
//! MCP sessions over Streamable HTTP on loopback, each a thread with one keep-alive connection
//! doing `initialize`, `notifications/initialized`, then `tools/call` requests in a closed loop
//! (one in flight per session) for a fixed time; every request's latency is recorded.
//!
//! Two modes:
//!
//! * `bench_http_load point --url http://127.0.0.1:PORT/mcp --sessions N [--duration S]
//!   [--warmup S] [--sse] [--pid PID]` measures one point against any Streamable HTTP MCP
//!   endpoint and prints its figures (with `--pid`, also the memory and CPU of that process
//!   and its descendants).
//! * `bench_http_load bench --sentinel BIN --echo BIN --http-echo BIN [--sessions 1,10,100,1000]
//!   [--duration S] [--warmup S] [--sse] [--dir DIR]` runs the whole benchmark: for each session
//!   count, (a) *direct*: the load sent to `bench_http_echo` (a fast HTTP MCP server answering
//!   what `bench_echo` answers), and (b) *through Sentinel*: the same load sent to
//!   `sentinel serve -- bench_echo` (a stdio `bench_echo` process per session), each on a fresh
//!   process; then prints Markdown tables: requests/s, p50/p99 latency and what Sentinel adds,
//!   Sentinel's CPU per request, and memory per session (Sentinel's own RSS, then its server
//!   processes', each after the sessions are open minus the idle process, divided by the
//!   sessions). Every `sentinel serve` runs with the baseline policy of `scripts/bench` (the
//!   built-in default with the circuit breaker off: the benchmark repeats one call far faster
//!   than the breaker's defaults allow) and is ended with SIGTERM, which ends every session; the
//!   benchmark checks that no server process outlives it.
//!
//! Answers are checked: 200, the request's id and the echo's `ok` text; anything else counts
//! as an error (reported, never in the latencies).

use std::collections::HashSet;
use std::fs;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

type Res<T> = Result<T, String>;

mod conn;
mod load;
mod measure;

use conn::*;
use load::*;
use measure::*;
// ---------------------------------------------------------------------------------------------
// Reporting.

fn mib(kib: f64) -> String {
    if kib.abs() >= 1024.0 {
        format!("{:.1} MiB", kib / 1024.0)
    } else {
        format!("{kib:.0} KiB")
    }
}

fn rate(r: f64) -> String {
    if r >= 1000.0 {
        format!("{:.1} k/s", r / 1000.0)
    } else {
        format!("{r:.0}/s")
    }
}

fn us(v: f64) -> String {
    if v >= 1_000_000.0 {
        format!("{:.2} s", v / 1e6)
    } else if v >= 10_000.0 {
        format!("{:.1} ms", v / 1000.0)
    } else {
        format!("{v:.0} us")
    }
}

fn print_point(label: &str, p: &Point) {
    eprintln!(
        "bench_http_load: {label}, {} sessions: opened in {:.2} s, {} requests in {:.0} s ({}), p50 {}, p99 {}, errors {}, reconnects {}{}",
        p.sessions,
        p.open_secs,
        p.lat.len(),
        p.secs,
        rate(p.rate()),
        us(p.pct(0.5)),
        us(p.pct(0.99)),
        p.errors,
        p.reconnects,
        if p.setup_errors.is_empty() {
            String::new()
        } else {
            format!(
                ", {} sessions failed (first: {})",
                p.setup_errors.len(),
                p.setup_errors[0]
            )
        }
    );
    if let Some(pr) = &p.procs {
        eprintln!(
            "bench_http_load:   process: idle rss {} KiB anon {} KiB threads {}; open rss {} KiB anon {} KiB threads {}; servers {} rss {} KiB anon {} KiB; cpu in window {:.2} s (servers {:.2} s), context switches {} (servers {})",
            pr.idle.main.rss_kib,
            pr.idle.main.anon_kib,
            pr.idle.main.threads,
            pr.open.main.rss_kib,
            pr.open.main.anon_kib,
            pr.open.main.threads,
            pr.open.kid_count,
            pr.open.kids.rss_kib,
            pr.open.kids.anon_kib,
            pr.window_end.main.cpu - pr.window_start.main.cpu,
            pr.window_start.kids_since(&pr.window_end).0,
            pr.window_end.main.switches - pr.window_start.main.switches,
            pr.window_start.kids_since(&pr.window_end).1,
        );
    }
}

struct Row {
    direct: Point,
    sentinel: Point,
    stop: Res<Duration>,
    leftover: usize,
}

fn table(rows: &[Row], sse: bool) -> String {
    let mut t = String::new();
    let accept = if sse {
        "`Accept: application/json, text/event-stream` (answers as SSE streams)"
    } else {
        "`Accept: application/json` (JSON answers)"
    };
    t.push_str(&format!(
        "Closed loop, one `tools/call` in flight per session, {accept}; latency = one request's round trip as the client sees it.\n\n"
    ));
    t.push_str("| sessions | direct req/s | via Sentinel req/s | Sentinel / direct | direct p50 / p99 | via Sentinel p50 / p99 | **added p50 / p99** | direct server's CPU per request | Sentinel CPU per request | Sentinel context switches per request | errors |\n");
    t.push_str("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for r in rows {
        let (d, s) = (&r.direct, &r.sentinel);
        let done = s.lat.len().max(1) as f64;
        let cpu = s.procs.as_ref().map_or("".into(), |p| {
            let c = p.window_end.main.cpu - p.window_start.main.cpu;
            let (k, _) = p.window_start.kids_since(&p.window_end);
            format!(
                "{} (+ {} in the servers)",
                us(c * 1e6 / done),
                us(k * 1e6 / done)
            )
        });
        let direct_cpu = d.procs.as_ref().map_or("".into(), |p| {
            let c = p.window_end.main.cpu - p.window_start.main.cpu;
            us(c * 1e6 / d.lat.len().max(1) as f64)
        });
        let switches = s.procs.as_ref().map_or("".into(), |p| {
            let sw = p.window_end.main.switches - p.window_start.main.switches;
            format!("{:.1}", sw as f64 / done)
        });
        let errs = d.errors + s.errors + d.setup_errors.len() as u64 + s.setup_errors.len() as u64;
        t.push_str(&format!(
            "| {} | {} | {} | {:.0}% | {} / {} | {} / {} | **{} / {}** | {} | {} | {} | {} |\n",
            s.sessions,
            rate(d.rate()),
            rate(s.rate()),
            100.0 * s.rate() / d.rate(),
            us(d.pct(0.5)),
            us(d.pct(0.99)),
            us(s.pct(0.5)),
            us(s.pct(0.99)),
            us(s.pct(0.5) - d.pct(0.5)),
            us(s.pct(0.99) - d.pct(0.99)),
            direct_cpu,
            cpu,
            switches,
            errs
        ));
    }
    t.push_str("\nMemory per session, `sentinel serve` (VmRSS from /proc, after every session is open and initialized, minus the idle process, divided by the sessions; RssAnon = heap and stacks):\n\n");
    t.push_str("| sessions | Sentinel idle RSS | Sentinel RSS, sessions open | **Sentinel per session** (RSS / RssAnon) | Sentinel threads per session | server processes | **server process per session** (RSS / RssAnon) | Sentinel RSS after the load | stopped by SIGTERM | processes left |\n");
    t.push_str("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for r in rows {
        let s = &r.sentinel;
        let Some(p) = &s.procs else { continue };
        let n = s.sessions as f64;
        let per = |a: u64, b: u64| (a as f64 - b as f64) / n;
        t.push_str(&format!(
            "| {} | {} | {} | **{} / {}** | {:.1} | {} | **{} / {}** | {} | {} | {} |\n",
            s.sessions,
            mib(p.idle.main.rss_kib as f64),
            mib(p.open.main.rss_kib as f64),
            mib(per(p.open.main.rss_kib, p.idle.main.rss_kib)),
            mib(per(p.open.main.anon_kib, p.idle.main.anon_kib)),
            per(p.open.main.threads, p.idle.main.threads),
            p.open.kid_count,
            mib(per(p.open.kids.rss_kib, p.idle.kids.rss_kib)),
            mib(per(p.open.kids.anon_kib, p.idle.kids.anon_kib)),
            mib(p.window_end.main.rss_kib as f64),
            match &r.stop {
                Ok(d) => format!("in {:.2} s", d.as_secs_f64()),
                Err(e) => e.clone(),
            },
            r.leftover
        ));
    }
    t.push_str("\nOpening the sessions (all at once, one thread each: `initialize`, then `notifications/initialized`; via Sentinel each starts a `bench_echo` process):\n\n");
    t.push_str("| sessions | direct: all open after | via Sentinel: all open after | via Sentinel: one session's open p50 / max | connections reopened (idle-closed by Sentinel while the others opened) |\n");
    t.push_str("|---:|---:|---:|---:|---:|\n");
    for r in rows {
        let (d, s) = (&r.direct, &r.sentinel);
        let q = |p: f64| {
            if s.open_lat.is_empty() {
                return f64::NAN;
            }
            let i = ((s.open_lat.len() as f64 * p).ceil() as usize).clamp(1, s.open_lat.len()) - 1;
            s.open_lat[i] as f64
        };
        t.push_str(&format!(
            "| {} | {:.2} s | {:.2} s | {} / {} | {} |\n",
            s.sessions,
            d.open_secs,
            s.open_secs,
            us(q(0.5)),
            us(q(1.0)),
            s.reconnects
        ));
    }
    t
}

// ---------------------------------------------------------------------------------------------
// Command line.

struct Args {
    mode: String,
    url: Option<String>,
    sentinel: Option<PathBuf>,
    echo: Option<PathBuf>,
    http_echo: Option<PathBuf>,
    sessions: Vec<usize>,
    duration: Duration,
    warmup: Duration,
    sse: bool,
    pid: Option<u32>,
    dir: Option<PathBuf>,
}

fn args() -> Res<Args> {
    let mut it = std::env::args().skip(1);
    let mode = it.next().ok_or(USAGE)?;
    let mut a = Args {
        mode,
        url: None,
        sentinel: None,
        echo: None,
        http_echo: None,
        sessions: vec![1, 10, 100, 1000],
        duration: Duration::from_secs(10),
        warmup: Duration::from_secs(2),
        sse: false,
        pid: None,
        dir: None,
    };
    let secs = |v: String| -> Res<Duration> {
        v.parse::<f64>()
            .map(Duration::from_secs_f64)
            .map_err(|e| format!("{v}: {e}"))
    };
    while let Some(k) = it.next() {
        let mut val = || it.next().ok_or(format!("{k} needs a value"));
        match k.as_str() {
            "--url" => a.url = Some(val()?),
            "--sentinel" => a.sentinel = Some(val()?.into()),
            "--echo" => a.echo = Some(val()?.into()),
            "--http-echo" => a.http_echo = Some(val()?.into()),
            "--sessions" => {
                a.sessions = val()?
                    .split(',')
                    .map(|s| s.trim().parse().map_err(|e| format!("--sessions {s}: {e}")))
                    .collect::<Res<_>>()?
            }
            "--duration" => a.duration = secs(val()?)?,
            "--warmup" => a.warmup = secs(val()?)?,
            "--pid" => a.pid = Some(val()?.parse().map_err(|e| format!("--pid: {e}"))?),
            "--dir" => a.dir = Some(val()?.into()),
            "--sse" => a.sse = true,
            _ => return Err(format!("unexpected argument {k}\n{USAGE}")),
        }
    }
    Ok(a)
}

const USAGE: &str = "usage: bench_http_load point --url URL --sessions N [--duration S] [--warmup S] [--sse] [--pid PID]
       bench_http_load bench --sentinel BIN --echo BIN --http-echo BIN [--sessions 1,10,100,1000] [--duration S] [--warmup S] [--sse] [--dir DIR]";

/// `http://HOST:PORT/PATH` -> the address and the path.
fn parse_url(url: &str) -> Res<(SocketAddr, String)> {
    let rest = url
        .strip_prefix("http://")
        .ok_or("only http:// URLs are supported")?;
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let addr = host
        .to_socket_addrs()
        .map_err(|e| format!("{host}: {e}"))?
        .next()
        .ok_or(format!("{host}: no address"))?;
    Ok((addr, if path.is_empty() { "/" } else { path }.to_owned()))
}

fn main() {
    match run() {
        Ok(()) => {}
        Err(e) => {
            eprintln!("bench_http_load: {e}");
            std::process::exit(1);
        }
    }
}

fn run() -> Res<()> {
    let a = args()?;
    match a.mode.as_str() {
        "point" => {
            let (addr, path) = parse_url(a.url.as_deref().ok_or("point needs --url")?)?;
            for &n in &a.sessions {
                let p = run_point(Load {
                    addr,
                    path: path.clone(),
                    sessions: n,
                    warmup: a.warmup,
                    duration: a.duration,
                    sse: a.sse,
                    pid: a.pid,
                })?;
                print_point("point", &p);
            }
            Ok(())
        }
        "bench" => bench(&a),
        _ => Err(USAGE.into()),
    }
}

fn bench(a: &Args) -> Res<()> {
    let sentinel = a.sentinel.as_deref().ok_or("bench needs --sentinel")?;
    let echo = a.echo.as_deref().ok_or("bench needs --echo")?;
    let http_echo = a.http_echo.as_deref().ok_or("bench needs --http-echo")?;
    let dir = match &a.dir {
        Some(d) => d.clone(),
        None => std::env::temp_dir().join(format!("bench-http-{}", std::process::id())),
    };
    fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let policy = baseline_policy(sentinel, &dir)?;
    let mut rows = Vec::new();
    for &n in &a.sessions {
        let load = |addr, pid| Load {
            addr,
            path: "/mcp".into(),
            sessions: n,
            warmup: a.warmup,
            duration: a.duration,
            sse: a.sse,
            pid,
        };
        // (a) direct.
        let mut cmd = Command::new(http_echo);
        cmd.args(["--listen", "127.0.0.1:0"]);
        let mut direct_proc = Proc::start(cmd)?;
        let direct = run_point(load(direct_proc.addr, Some(direct_proc.pid())))?;
        let _ = direct_proc.stop();
        print_point("direct", &direct);
        // (b) through sentinel serve, a stdio bench_echo per session.
        let mut cmd = Command::new(sentinel);
        cmd.arg("serve")
            .args(["--no-color", "--listen", "127.0.0.1:0"])
            .arg("--max-sessions")
            .arg((n + 16).max(256).to_string())
            .arg("--max-connections")
            .arg((2 * n + 64).max(512).to_string())
            .arg("--policy")
            .arg(&policy)
            .arg("--audit-log")
            .arg(dir.join(format!("audit-{n}.log")))
            .arg("--pins-dir")
            .arg(dir.join("pins"))
            .arg("--")
            .arg(echo);
        let mut sp = Proc::start(cmd)?;
        thread::sleep(Duration::from_millis(300));
        let through = run_point(load(sp.addr, Some(sp.pid())))?;
        print_point("via sentinel", &through);
        // Every server process seen while the sessions were open must be gone after SIGTERM.
        let seen: Vec<u32> = through
            .procs
            .as_ref()
            .map(|p| p.open.kid_pids.clone())
            .unwrap_or_default();
        let stop = sp.stop();
        thread::sleep(Duration::from_millis(200));
        let leftover = seen
            .iter()
            .filter(|&&p| {
                fs::read_to_string(format!("/proc/{p}/cmdline"))
                    .is_ok_and(|c| c.contains(&*echo.to_string_lossy()))
            })
            .count();
        if let Err(e) = &stop {
            eprintln!(
                "bench_http_load: sentinel serve {e}; its stderr: {}",
                sp.stderr.lock().unwrap()
            );
        }
        if leftover > 0 {
            eprintln!("bench_http_load: {leftover} server processes outlived sentinel serve");
        }
        let stderr = sp.stderr.lock().unwrap().clone();
        if stderr.contains("ERROR") || stderr.contains("error") {
            eprintln!("bench_http_load: sentinel serve's stderr: {stderr}");
        }
        rows.push(Row {
            direct,
            sentinel: through,
            stop,
            leftover,
        });
    }
    println!("{}", table(&rows, a.sse));
    let _ = fs::remove_dir_all(&dir);
    Ok(())
}
