//! Running one point (N sessions, a warm-up, the measured window) and the processes it measures.

#[allow(unused_imports)]
use super::*;

pub(crate) struct Load {
    pub(crate) addr: SocketAddr,
    pub(crate) path: String,
    pub(crate) sessions: usize,
    pub(crate) warmup: Duration,
    pub(crate) duration: Duration,
    pub(crate) sse: bool,
    pub(crate) pid: Option<u32>,
}

/// One session's thread: open, wait for all, run the loop, end the session.
pub(crate) fn session_thread(
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
pub(crate) fn run_loop(
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

pub(crate) fn run_point(load: Load) -> Res<Point> {
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

pub(crate) fn sleep_until(t: Instant) {
    let now = Instant::now();
    if t > now {
        thread::sleep(t - now);
    }
}

// ---------------------------------------------------------------------------------------------
// Processes under test.

/// A child process whose stderr is drained (the last 64 KiB kept).
pub(crate) struct Proc {
    pub(crate) child: Child,
    pub(crate) stderr: Arc<Mutex<String>>,
    pub(crate) addr: SocketAddr,
}

impl Proc {
    pub(crate) fn start(mut cmd: Command) -> Res<Proc> {
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

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, and the exit within 30 s (then SIGKILL); how long it took.
    pub(crate) fn stop(&mut self) -> Res<Duration> {
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
pub(crate) fn baseline_policy(sentinel: &Path, dir: &Path) -> Res<PathBuf> {
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
