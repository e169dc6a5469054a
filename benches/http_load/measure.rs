//! One point's figures, and the memory and CPU of a process tree read from /proc.

#[allow(unused_imports)]
use super::*;

// ---------------------------------------------------------------------------------------------
// One point: N sessions, a warm-up, then the measured window.

pub(crate) struct Point {
    pub(crate) sessions: usize,
    pub(crate) secs: f64,
    /// Latencies of the requests completed in the window, nanoseconds, sorted.
    pub(crate) lat: Vec<u64>,
    pub(crate) errors: u64,
    /// Connections the server had closed (idle past its keep-alive limit while the other
    /// sessions opened), reopened for the same session.
    pub(crate) reconnects: u64,
    /// From the first connect to every session open (initialize and initialized answered).
    pub(crate) open_secs: f64,
    /// Each session's initialize + initialized round trips, microseconds, sorted.
    pub(crate) open_lat: Vec<u64>,
    pub(crate) setup_errors: Vec<String>,
    /// With a pid: the process's and its descendants' figures.
    pub(crate) procs: Option<Procs>,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct Usage {
    pub(crate) rss_kib: u64,
    pub(crate) anon_kib: u64,
    pub(crate) threads: u64,
    /// utime + stime, seconds.
    pub(crate) cpu: f64,
    /// Context switches (voluntary and not) of every thread, summed.
    pub(crate) switches: u64,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct Tree {
    pub(crate) main: Usage,
    /// Every descendant, summed.
    pub(crate) kids: Usage,
    pub(crate) kid_count: usize,
    pub(crate) kid_pids: Vec<u32>,
    /// Each descendant's (pid, cpu, switches), to take differences over the same processes.
    pub(crate) kid_each: Vec<(u32, f64, u64)>,
}

impl Tree {
    /// CPU seconds and context switches of the descendants between `self` and `later`,
    /// counting only the processes in both.
    pub(crate) fn kids_since(&self, later: &Tree) -> (f64, u64) {
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

pub(crate) struct Procs {
    pub(crate) idle: Tree,
    pub(crate) open: Tree,
    pub(crate) window_start: Tree,
    pub(crate) window_end: Tree,
}

impl Point {
    pub(crate) fn rate(&self) -> f64 {
        self.lat.len() as f64 / self.secs
    }
    pub(crate) fn pct(&self, p: f64) -> f64 {
        if self.lat.is_empty() {
            return f64::NAN;
        }
        let i = ((self.lat.len() as f64 * p).ceil() as usize).clamp(1, self.lat.len()) - 1;
        self.lat[i] as f64 / 1000.0
    }
}

/// Reads VmRSS, RssAnon, Threads and CPU time of `pid`.
pub(crate) fn usage(pid: u32) -> Option<Usage> {
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
pub(crate) fn descendants(pid: u32) -> Vec<u32> {
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

pub(crate) fn tree(pid: u32) -> Tree {
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
