//! The processes a measurement talks to: what a session is started as (`Target`: the echo
//! server directly, the relay, or a sentinel in front of it), the running session (`Proc`)
//! with its watchdog, pinning to one CPU, and what `/proc` says about a live process (peak
//! RSS, CPU time), plus the error type every part of the driver uses.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crate::measure::{Sizes, MIB};

/// What a session talks to: the echo server directly, or a proxy in front of it.
#[derive(Clone)]
pub(crate) struct Target {
    pub(crate) label: String,
    pub(crate) kind: TargetKind,
    /// For sentinels: `--policy FILE` (the baseline unless a section says otherwise), or why
    /// that file could not be made; `None` for the others.
    pub(crate) policy: Option<Res<PathBuf>>,
    /// For sentinels: options put before `--audit-log` (a section's variant: `--audit-key
    /// FILE`, `--pins-dir DIR`, ...); empty for the baseline.
    pub(crate) args: Vec<OsString>,
    /// Environment variables set for the session (the rest is inherited).
    pub(crate) env: Vec<(OsString, OsString)>,
}

#[derive(Clone)]
pub(crate) enum TargetKind {
    Direct,
    /// This binary in `--relay-mode`.
    Relay(PathBuf),
    Sentinel(PathBuf),
}

impl Target {
    /// A target with no extra options or environment.
    pub(crate) fn new(label: &str, kind: TargetKind, policy: Option<Res<PathBuf>>) -> Target {
        Target {
            label: label.to_owned(),
            kind,
            policy,
            args: Vec::new(),
            env: Vec::new(),
        }
    }

    /// This sentinel as a variant of itself: label `LABEL-suffix`, `policy` if given, and
    /// `args` added to its options.
    pub(crate) fn variant(
        &self,
        suffix: &str,
        policy: Option<Res<PathBuf>>,
        args: &[&OsStr],
    ) -> Target {
        let mut t = self.clone();
        t.label = format!("{}-{suffix}", self.label);
        if policy.is_some() {
            t.policy = policy;
        }
        t.args.extend(args.iter().map(|a| a.to_os_string()));
        t
    }

    pub(crate) fn sentinel(&self) -> Option<&Path> {
        match &self.kind {
            TargetKind::Sentinel(p) => Some(p),
            _ => None,
        }
    }
    pub(crate) fn is_proxy(&self) -> bool {
        !matches!(self.kind, TargetKind::Direct)
    }
    pub(crate) fn column(&self) -> String {
        match self.kind {
            TargetKind::Direct => "direct".into(),
            TargetKind::Relay(_) => "relay (floor)".into(),
            TargetKind::Sentinel(_) => format!("sentinel {}", self.label),
        }
    }
}

pub(crate) struct Ctx {
    pub(crate) echo: PathBuf,
    /// The minimal C echo server (benches/echo.c), if given: the direct rate `echo` must match.
    pub(crate) echo_c: Option<PathBuf>,
    pub(crate) tmp: PathBuf,
    pub(crate) n: Sizes,
}

pub(crate) type Res<T> = Result<T, String>;

pub(crate) fn err<E: std::fmt::Display>(what: &str) -> impl FnOnce(E) -> String + '_ {
    move |e| format!("{what}: {e}")
}

/// Kills `pid` if not disarmed within `limit`, so a hung process ends the measurement instead
/// of the benchmark.
pub(crate) struct Watchdog {
    tx: Option<mpsc::Sender<()>>,
    handle: Option<JoinHandle<bool>>,
}

impl Watchdog {
    pub(crate) fn new(pid: u32, limit: Duration) -> Watchdog {
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
    pub(crate) fn disarm(&mut self) -> bool {
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
pub(crate) struct Proc {
    child: Child,
    pub(crate) stdin: Option<ChildStdin>,
    pub(crate) out: BufReader<ChildStdout>,
    dog: Watchdog,
    pub(crate) audit: Option<PathBuf>,
}

impl Proc {
    pub(crate) fn start(ctx: &Ctx, target: &Target, tag: &str) -> Res<Proc> {
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
                c.args(&target.args);
                c.arg("--audit-log").arg(&path).arg("--").arg(&ctx.echo);
                audit = Some(path);
                c
            }
        };
        cmd.envs(target.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
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

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    pub(crate) fn stdin(&mut self) -> &mut ChildStdin {
        self.stdin.as_mut().expect("stdin still open")
    }

    /// Reads one response line into `buf` (cleared first).
    pub(crate) fn read_line(&mut self, buf: &mut Vec<u8>) -> Res<()> {
        buf.clear();
        let n = self.out.read_until(b'\n', buf).map_err(err("read"))?;
        if n == 0 || buf.last() != Some(&b'\n') {
            return Err(self.eof_error());
        }
        Ok(())
    }

    pub(crate) fn eof_error(&mut self) -> String {
        if self.dog.disarm() {
            "timed out (killed)".into()
        } else {
            "output closed early".into()
        }
    }

    /// One `ping` round trip.
    pub(crate) fn ping(&mut self) -> Res<()> {
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
    pub(crate) fn finish(mut self) -> Res<()> {
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

pub(crate) fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

pub(crate) fn snippet(b: &[u8]) -> String {
    String::from_utf8_lossy(&b[..b.len().min(200)]).into_owned()
}

/// VmHWM (peak resident set) of a live process, in bytes.
pub(crate) fn vm_hwm(pid: u32) -> Res<f64> {
    status_bytes(pid, "VmHWM:")
}

/// RssAnon (resident anonymous memory: heap, stacks; not the binary's pages) of a live
/// process, in bytes.
pub(crate) fn rss_anon(pid: u32) -> Res<f64> {
    status_bytes(pid, "RssAnon:")
}

/// A `kB` field of `/proc/PID/status`, in bytes.
fn status_bytes(pid: u32, field: &str) -> Res<f64> {
    let status =
        fs::read_to_string(format!("/proc/{pid}/status")).map_err(err("read /proc status"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with(field))
        .ok_or_else(|| format!("no {field} in /proc status"))?;
    let kib: f64 = line
        .trim_start_matches(field)
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .map_err(err("parse /proc status"))?;
    Ok(kib * 1024.0)
}

/// CPU time used so far by all the threads of a live process, in seconds: the sum of the
/// first field (time on a CPU, ns) of `/proc/PID/task/*/schedstat`. Unlike wall time, it does
/// not grow while the process waits for a CPU that other load holds.
pub(crate) fn cpu_secs(pid: u32) -> Res<f64> {
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

pub(crate) fn count_lines(path: &Path) -> Res<usize> {
    let data = fs::read(path).map_err(err("read audit log"))?;
    Ok(data.iter().filter(|&&b| b == b'\n').count())
}

/// Restricts the calling thread (and so the processes it spawns from now on) to one CPU;
/// restores the previous affinity when dropped.
pub(crate) struct Pinned(libc::cpu_set_t);

impl Pinned {
    pub(crate) fn to_first_cpu() -> Res<Pinned> {
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
