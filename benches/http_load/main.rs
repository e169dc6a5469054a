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

const INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"bench_http_load","version":"1"}}}"#;
const INITIALIZED: &str = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;

// ---------------------------------------------------------------------------------------------
// The HTTP client: one keep-alive connection, requests written with one write, answers read by
// Content-Length or chunked.

struct Conn {
    sock: TcpStream,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    host: String,
    path: String,
    accept: &'static str,
    session: Option<String>,
    req: Vec<u8>,
}

struct Answer {
    status: u16,
    session: Option<String>,
    body: Vec<u8>,
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

impl Conn {
    fn open(addr: SocketAddr, path: &str, sse: bool) -> io::Result<Conn> {
        let sock = TcpStream::connect(addr)?;
        sock.set_nodelay(true)?;
        sock.set_read_timeout(Some(Duration::from_secs(300)))?;
        Ok(Conn {
            sock,
            buf: vec![0u8; 16 * 1024],
            start: 0,
            end: 0,
            host: addr.to_string(),
            path: path.to_owned(),
            accept: if sse {
                "application/json, text/event-stream"
            } else {
                "application/json"
            },
            session: None,
            req: Vec::with_capacity(1024),
        })
    }

    fn send(&mut self, method: &str, body: &str) -> io::Result<()> {
        self.req.clear();
        let r = &mut self.req;
        write!(
            r,
            "{method} {} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nAccept: {}\r\n",
            self.path, self.host, self.accept
        )?;
        if let Some(s) = &self.session {
            write!(
                r,
                "Mcp-Session-Id: {s}\r\nMCP-Protocol-Version: 2025-06-18\r\n"
            )?;
        }
        write!(r, "Content-Length: {}\r\n\r\n{body}", body.len())?;
        self.sock.write_all(&self.req)
    }

    /// Reads more bytes into the buffer (compacting it first when full).
    fn fill(&mut self) -> io::Result<()> {
        if self.end == self.buf.len() {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            } else {
                let n = self.buf.len();
                self.buf.resize(n * 2, 0);
            }
        }
        let n = self.sock.read(&mut self.buf[self.end..])?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed"));
        }
        self.end += n;
        Ok(())
    }

    /// The next `\r\n`-terminated line (without it), consumed.
    fn line(&mut self) -> io::Result<Vec<u8>> {
        loop {
            if let Some(i) = find(&self.buf[self.start..self.end], b"\r\n") {
                let l = self.buf[self.start..self.start + i].to_vec();
                self.start += i + 2;
                return Ok(l);
            }
            self.fill()?;
        }
    }

    fn take(&mut self, n: usize, out: &mut Vec<u8>) -> io::Result<()> {
        while self.end - self.start < n {
            self.fill()?;
        }
        out.extend_from_slice(&self.buf[self.start..self.start + n]);
        self.start += n;
        Ok(())
    }

    fn answer(&mut self) -> io::Result<Answer> {
        let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_owned());
        let status_line = self.line()?;
        let status: u16 = std::str::from_utf8(&status_line)
            .ok()
            .and_then(|l| l.split(' ').nth(1)?.parse().ok())
            .ok_or_else(|| bad("status line"))?;
        let (mut length, mut chunked, mut session) = (None, false, None);
        loop {
            let h = self.line()?;
            if h.is_empty() {
                break;
            }
            let Some(colon) = h.iter().position(|&c| c == b':') else {
                return Err(bad("header"));
            };
            let (name, value) = (&h[..colon], h[colon + 1..].trim_ascii());
            if name.eq_ignore_ascii_case(b"content-length") {
                length = std::str::from_utf8(value).ok().and_then(|v| v.parse().ok());
            } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
                chunked = value.eq_ignore_ascii_case(b"chunked");
            } else if name.eq_ignore_ascii_case(b"mcp-session-id") {
                session = Some(String::from_utf8_lossy(value).into_owned());
            }
        }
        let mut body = Vec::new();
        if chunked {
            loop {
                let size = self.line()?;
                let size = std::str::from_utf8(&size)
                    .ok()
                    .and_then(|s| usize::from_str_radix(s.split(';').next()?.trim(), 16).ok())
                    .ok_or_else(|| bad("chunk size"))?;
                if size == 0 {
                    while !self.line()?.is_empty() {} // trailers
                    break;
                }
                self.take(size, &mut body)?;
                self.line()?;
            }
        } else if let Some(n) = length {
            self.take(n, &mut body)?;
        } else if status != 202 && status != 204 {
            return Err(bad("no length"));
        }
        if status == 100 {
            return self.answer();
        }
        Ok(Answer {
            status,
            session,
            body,
        })
    }

    fn post(&mut self, body: &str) -> io::Result<Answer> {
        self.send("POST", body)?;
        self.answer()
    }
}

// ---------------------------------------------------------------------------------------------
// One point: N sessions, a warm-up, then the measured window.

struct Point {
    sessions: usize,
    secs: f64,
    /// Latencies of the requests completed in the window, nanoseconds, sorted.
    lat: Vec<u64>,
    errors: u64,
    /// Connections the server had closed (idle past its keep-alive limit while the other
    /// sessions opened), reopened for the same session.
    reconnects: u64,
    /// From the first connect to every session open (initialize and initialized answered).
    open_secs: f64,
    /// Each session's initialize + initialized round trips, microseconds, sorted.
    open_lat: Vec<u64>,
    setup_errors: Vec<String>,
    /// With a pid: the process's and its descendants' figures.
    procs: Option<Procs>,
}

#[derive(Clone, Debug, Default)]
struct Usage {
    rss_kib: u64,
    anon_kib: u64,
    threads: u64,
    /// utime + stime, seconds.
    cpu: f64,
    /// Context switches (voluntary and not) of every thread, summed.
    switches: u64,
}

#[derive(Clone, Debug, Default)]
struct Tree {
    main: Usage,
    /// Every descendant, summed.
    kids: Usage,
    kid_count: usize,
    kid_pids: Vec<u32>,
    /// Each descendant's (pid, cpu, switches), to take differences over the same processes.
    kid_each: Vec<(u32, f64, u64)>,
}

impl Tree {
    /// CPU seconds and context switches of the descendants between `self` and `later`,
    /// counting only the processes in both.
    fn kids_since(&self, later: &Tree) -> (f64, u64) {
        let (mut cpu, mut sw) = (0.0, 0);
        for &(pid, c, s) in &later.kid_each {
            if let Some(&(_, c0, s0)) = self.kid_each.iter().find(|e| e.0 == pid) {
                cpu += c - c0;
                sw += s.saturating_sub(s0);
            }
        }
        (cpu, sw)
    }
}

struct Procs {
    idle: Tree,
    open: Tree,
    window_start: Tree,
    window_end: Tree,
}

impl Point {
    fn rate(&self) -> f64 {
        self.lat.len() as f64 / self.secs
    }
    fn pct(&self, p: f64) -> f64 {
        if self.lat.is_empty() {
            return f64::NAN;
        }
        let i = ((self.lat.len() as f64 * p).ceil() as usize).clamp(1, self.lat.len()) - 1;
        self.lat[i] as f64 / 1000.0
    }
}

/// Reads VmRSS, RssAnon, Threads and CPU time of `pid`.
fn usage(pid: u32) -> Option<Usage> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After the command's closing parenthesis: state is field 3, utime 14, stime 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // SAFETY: sysconf has no preconditions.
    let tick = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let cpu = (f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?) / tick;
    let mut switches = 0;
    if let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) {
        for t in tasks.flatten() {
            let Ok(st) = fs::read_to_string(t.path().join("status")) else {
                continue;
            };
            for l in st.lines() {
                if let Some(v) = l
                    .strip_prefix("voluntary_ctxt_switches:")
                    .or_else(|| l.strip_prefix("nonvoluntary_ctxt_switches:"))
                {
                    switches += v.trim().parse::<u64>().unwrap_or(0);
                }
            }
        }
    }
    Some(Usage {
        rss_kib: field("VmRSS:"),
        anon_kib: field("RssAnon:"),
        threads: field("Threads:"),
        cpu,
        switches,
    })
}

/// Every descendant of `pid` (by PPid, through the whole tree).
fn descendants(pid: u32) -> Vec<u32> {
    let mut parent_of = Vec::new();
    if let Ok(dir) = fs::read_dir("/proc") {
        for e in dir.flatten() {
            let Some(p) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            let Ok(stat) = fs::read_to_string(format!("/proc/{p}/stat")) else {
                continue;
            };
            let Some(close) = stat.rfind(')') else {
                continue;
            };
            let ppid = stat[close + 2..]
                .split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<u32>().ok());
            if let Some(pp) = ppid {
                parent_of.push((p, pp));
            }
        }
    }
    let mut tree: HashSet<u32> = HashSet::from([pid]);
    loop {
        let before = tree.len();
        for &(p, pp) in &parent_of {
            if tree.contains(&pp) {
                tree.insert(p);
            }
        }
        if tree.len() == before {
            break;
        }
    }
    tree.remove(&pid);
    let mut v: Vec<u32> = tree.into_iter().collect();
    v.sort_unstable();
    v
}

fn tree(pid: u32) -> Tree {
    let main = usage(pid).unwrap_or_default();
    let kid_pids = descendants(pid);
    let mut kids = Usage::default();
    let mut kid_count = 0;
    let mut kid_each = Vec::with_capacity(kid_pids.len());
    for &k in &kid_pids {
        if let Some(u) = usage(k) {
            kids.rss_kib += u.rss_kib;
            kids.anon_kib += u.anon_kib;
            kids.threads += u.threads;
            kids.cpu += u.cpu;
            kids.switches += u.switches;
            kid_each.push((k, u.cpu, u.switches));
            kid_count += 1;
        }
    }
    Tree {
        main,
        kids,
        kid_count,
        kid_pids,
        kid_each,
    }
}

struct Load {
    addr: SocketAddr,
    path: String,
    sessions: usize,
    warmup: Duration,
    duration: Duration,
    sse: bool,
    pid: Option<u32>,
}

/// One session's thread: open, wait for all, run the loop, end the session.
fn session_thread(
    load: Arc<Load>,
    opened: Arc<Barrier>,
    go: Arc<Barrier>,
    release: Arc<Barrier>,
    t0: Arc<OnceLock<Instant>>,
    errors: Arc<AtomicU64>,
    reconnects: Arc<AtomicU64>,
) -> Result<(Vec<u64>, u64), String> {
    let began = Instant::now();
    let setup = || -> Res<Conn> {
        let mut c = Conn::open(load.addr, &load.path, load.sse).map_err(|e| format!("{e}"))?;
        let a = c.post(INITIALIZE).map_err(|e| format!("initialize: {e}"))?;
        if a.status != 200 || a.session.is_none() {
            return Err(format!(
                "initialize: {} {}",
                a.status,
                String::from_utf8_lossy(&a.body)
            ));
        }
        c.session = a.session;
        let a = c
            .post(INITIALIZED)
            .map_err(|e| format!("initialized: {e}"))?;
        if a.status != 202 {
            return Err(format!("notifications/initialized: {}", a.status));
        }
        Ok(c)
    };
    let conn = setup();
    let open_us = began.elapsed().as_micros() as u64;
    opened.wait();
    go.wait();
    let t0 = *t0.get().expect("t0 set before go");
    let mut conn = conn;
    let result = match &mut conn {
        Ok(c) => run_loop(c, &load, t0, &errors, &reconnects),
        Err(e) => Err(e.clone()),
    };
    // The sessions stay open until the last figures of the window are read.
    release.wait();
    if let Ok(c) = &mut conn {
        // End the session (the server process exits with it).
        let _ = c.send("DELETE", "");
        let _ = c.answer();
    }
    result.map(|lat| (lat, open_us))
}

/// The closed loop of one session: `tools/call` after `tools/call` until the window ends; the
/// latencies of the requests within the window.
fn run_loop(
    c: &mut Conn,
    load: &Load,
    t0: Instant,
    errors: &AtomicU64,
    reconnects: &AtomicU64,
) -> Res<Vec<u64>> {
    let (from, to) = (t0 + load.warmup, t0 + load.warmup + load.duration);
    let mut lat = Vec::with_capacity(1 << 16);
    let mut id: u64 = 1;
    let mut body = String::with_capacity(256);
    let mut want = String::with_capacity(32);
    loop {
        let start = Instant::now();
        if start >= to {
            break;
        }
        body.clear();
        use std::fmt::Write as _;
        let _ = write!(
            body,
            r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"echo","arguments":{{"text":"hello world"}}}}}}"#
        );
        let mut sent = c.post(&body);
        if matches!(&sent, Err(e) if e.kind() == io::ErrorKind::UnexpectedEof) {
            // The server closed the kept-alive connection (its idle limit, while the other
            // sessions were opening): a new connection for the same session, as a client would.
            let session = c.session.take();
            *c = Conn::open(load.addr, &load.path, load.sse).map_err(|e| format!("{e}"))?;
            c.session = session;
            reconnects.fetch_add(1, Ordering::Relaxed);
            sent = c.post(&body);
        }
        let a = sent.map_err(|e| {
            format!(
                "tools/call (the session's request {id}, {:.1} s after the start): {e}",
                (start - t0).as_secs_f64()
            )
        })?;
        let end = Instant::now();
        want.clear();
        let _ = write!(want, "\"id\":{id},");
        let ok = a.status == 200
            && find(&a.body, want.as_bytes()).is_some()
            && find(&a.body, br#""text":"ok""#).is_some();
        if !ok {
            if errors.fetch_add(1, Ordering::Relaxed) == 0 {
                eprintln!(
                    "bench_http_load: unexpected answer: {} {}",
                    a.status,
                    String::from_utf8_lossy(&a.body)
                );
            }
        } else if start >= from && end <= to {
            lat.push((end - start).as_nanos() as u64);
        }
        id += 1;
    }
    Ok(lat)
}

fn run_point(load: Load) -> Res<Point> {
    let load = Arc::new(load);
    let n = load.sessions;
    let idle = load.pid.map(tree);
    let opened = Arc::new(Barrier::new(n + 1));
    let go = Arc::new(Barrier::new(n + 1));
    let release = Arc::new(Barrier::new(n + 1));
    let t0 = Arc::new(OnceLock::new());
    let errors = Arc::new(AtomicU64::new(0));
    let reconnects = Arc::new(AtomicU64::new(0));
    let mut handles = Vec::with_capacity(n);
    let began = Instant::now();
    for _ in 0..n {
        let (load, opened, go, release, t0, errors, reconnects) = (
            load.clone(),
            opened.clone(),
            go.clone(),
            release.clone(),
            t0.clone(),
            errors.clone(),
            reconnects.clone(),
        );
        let h = thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || session_thread(load, opened, go, release, t0, errors, reconnects))
            .map_err(|e| format!("cannot start a session thread: {e}"))?;
        handles.push(h);
    }
    opened.wait();
    let open_secs = began.elapsed().as_secs_f64();
    // Every session is open (or failed): let the processes settle, then read their memory.
    thread::sleep(Duration::from_millis(500));
    let open = load.pid.map(tree);
    let start = Instant::now();
    t0.set(start).expect("t0 once");
    go.wait();
    sleep_until(start + load.warmup);
    let window_start = load.pid.map(tree);
    sleep_until(start + load.warmup + load.duration);
    let window_end = load.pid.map(tree);
    release.wait();
    let mut lat = Vec::new();
    let mut open_lat = Vec::new();
    let mut setup_errors = Vec::new();
    for h in handles {
        match h.join() {
            Ok(Ok((l, o))) => {
                lat.extend(l);
                open_lat.push(o);
            }
            Ok(Err(e)) => setup_errors.push(e),
            Err(_) => setup_errors.push("a session thread panicked".into()),
        }
    }
    lat.sort_unstable();
    open_lat.sort_unstable();
    let procs = match (idle, open, window_start, window_end) {
        (Some(idle), Some(open), Some(window_start), Some(window_end)) => Some(Procs {
            idle,
            open,
            window_start,
            window_end,
        }),
        _ => None,
    };
    Ok(Point {
        sessions: n,
        secs: load.duration.as_secs_f64(),
        lat,
        errors: errors.load(Ordering::Relaxed),
        reconnects: reconnects.load(Ordering::Relaxed),
        open_secs,
        open_lat,
        setup_errors,
        procs,
    })
}

fn sleep_until(t: Instant) {
    let now = Instant::now();
    if t > now {
        thread::sleep(t - now);
    }
}

// ---------------------------------------------------------------------------------------------
// Processes under test.

/// A child process whose stderr is drained (the last 64 KiB kept).
struct Proc {
    child: Child,
    stderr: Arc<Mutex<String>>,
    addr: SocketAddr,
}

impl Proc {
    fn start(mut cmd: Command) -> Res<Proc> {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {cmd:?}: {e}"))?;
        let mut err = child.stderr.take().expect("piped");
        let stderr = Arc::new(Mutex::new(String::new()));
        {
            let stderr = stderr.clone();
            thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = err.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    let mut s = stderr.lock().unwrap();
                    s.push_str(&String::from_utf8_lossy(&buf[..n]));
                    if s.len() > 64 * 1024 {
                        let cut = s.len() - 32 * 1024;
                        let cut = (cut..s.len()).find(|&i| s.is_char_boundary(i)).unwrap();
                        s.drain(..cut);
                    }
                }
            });
        }
        let begin = Instant::now();
        loop {
            let text = stderr.lock().unwrap().clone();
            if let Some(rest) = text.split("listening on http://").nth(1) {
                let addr = rest
                    .split('/')
                    .next()
                    .and_then(|a| a.parse().ok())
                    .ok_or_else(|| format!("no address in {text:?}"))?;
                return Ok(Proc {
                    child,
                    stderr,
                    addr,
                });
            }
            if let Ok(Some(st)) = child.try_wait() {
                thread::sleep(Duration::from_millis(100));
                return Err(format!(
                    "{cmd:?} exited ({st}) before listening: {}",
                    stderr.lock().unwrap()
                ));
            }
            if begin.elapsed() > Duration::from_secs(20) {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{cmd:?} did not start listening: {text}"));
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, and the exit within 30 s (then SIGKILL); how long it took.
    fn stop(&mut self) -> Res<Duration> {
        let begin = Instant::now();
        // SAFETY: kill with a pid of our own child, which has not been waited for.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        loop {
            if let Ok(Some(_)) = self.child.try_wait() {
                return Ok(begin.elapsed());
            }
            if begin.elapsed() > Duration::from_secs(30) {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return Err("did not exit within 30 s of SIGTERM (killed)".into());
            }
            thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `show-default` with its `breaker:` block replaced by `breaker: {mode: off}` (the baseline
/// of `scripts/bench`, `benches/driver/policies.rs`).
fn baseline_policy(sentinel: &Path, dir: &Path) -> Res<PathBuf> {
    let out = Command::new(sentinel)
        .args(["policy", "show-default"])
        .output()
        .map_err(|e| format!("policy show-default: {e}"))?;
    if !out.status.success() {
        return Err(format!("policy show-default: {}", out.status));
    }
    let text = String::from_utf8(out.stdout).map_err(|e| e.to_string())?;
    let indent = |l: &str| l.len() - l.trim_start_matches(' ').len();
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let header = "    breaker:";
    let start = lines
        .iter()
        .position(|l| l.split(" #").next().unwrap_or("").trim_end() == header)
        .ok_or("no breaker: block in policy show-default")?;
    let end = lines[start + 1..]
        .iter()
        .position(|l| !l.trim().is_empty() && indent(l) <= indent(header))
        .map_or(lines.len(), |k| start + 1 + k);
    let policy = format!(
        "# bench_http_load: the built-in default with the circuit breaker off.\n{}    breaker: {{mode: off}}\n{}",
        lines[..start].concat(),
        lines[end..].concat()
    );
    let path = dir.join("baseline.yaml");
    fs::write(&path, policy).map_err(|e| format!("write {}: {e}", path.display()))?;
    let check = Command::new(sentinel)
        .args(["policy", "check"])
        .arg(&path)
        .stdout(Stdio::null())
        .output()
        .map_err(|e| format!("policy check: {e}"))?;
    if !check.status.success() {
        return Err(format!(
            "policy check of the baseline failed: {}",
            String::from_utf8_lossy(&check.stderr)
        ));
    }
    Ok(path)
}

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
