//! `bench_driver`: the benchmark driver behind `scripts/bench`.
//!
//! It measures Sentinel against a direct connection to the `bench_echo` server, in the same
//! run: round-trip latency, pipelined throughput, blocked-and-audited calls, 8 MiB responses
//! and requests, peak RSS, startup time, (through demo mode) SQL inspection time, server-side
//! inspection (`inspect.rs`) and the audit log's hash chain and signatures (`audit.rs`). Every
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

mod audit;
mod inspect;
mod measure;
mod messages;
mod policies;
mod procs;
mod report;
mod sections;
mod table;

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::Instant;

use measure::{Figures, Sizes};
use policies::{baseline_policy, breaker_policy, guard_policy, write_policy, POLICY_50};
use procs::{Ctx, Res, Target, TargetKind};
use sections::Bench;

const USAGE: &str = "\
usage: bench_driver --echo PATH [--echo-c PATH] --sentinel LABEL=PATH [--sentinel ...]
                    [--relay] [--quick] [--only LIST] [--tmp DIR]
       bench_driver --relay-mode -- SERVER_CMD [ARGS...]
       bench_driver --print-policy
       bench_driver --print-baseline SENTINEL | --print-guard SENTINEL | --print-breaker SENTINEL

  --echo PATH         the bench_echo server binary
  --echo-c PATH       the minimal C echo server (benches/echo.c): the throughput section also
                      measures it, direct, to show bench_echo is at least as fast
  --sentinel L=PATH   a sentinel binary to measure, shown in column `sentinel L`
  --relay             add a `relay` column: this binary in --relay-mode, a proxy that only
                      copies bytes (two threads, 64 KiB reads): the floor for any stdio proxy
  --relay-mode        be that relay: spawn SERVER_CMD and copy stdin/stdout to and from it
  --quick             smaller N everywhere (a rough figure in a few seconds)
  --only LIST         comma-separated subset of:
                      latency,throughput,blocked,big,startup,sql,policy,guard,breaker,
                      inspect,audit
                      (policy: every sentinel with the baseline policy vs a 50-rule policy
                      file; guard: the baseline vs the circuit breaker and the egress guard
                      on and enforcing; both: round-trip latency, pinned and not, and
                      pipelined throughput; breaker: the baseline vs the built-in default's
                      circuit breaker on, its rate limit lifted, pipelined distinct calls;
                      inspect: a tools/list of 200 tools and 8 MiB responses, inspected or
                      not; audit: blocked calls per second with the hash chain, signed
                      checkpoints and fsync, as each binary's --help offers them)
  --print-policy      print the 50-rule policy file of the `policy` section and exit
  --print-baseline S  print the baseline policy every sentinel session runs with, generated
                      from sentinel binary S (its built-in default, circuit breaker off)
  --print-guard S     print the `guard` section's policy, generated from sentinel binary S
  --print-breaker S   print the `breaker` section's policy, generated from sentinel binary S
  --tmp DIR           scratch directory (default: a new directory under $TMPDIR)
";

struct Args {
    echo: PathBuf,
    echo_c: Option<PathBuf>,
    sentinels: Vec<(String, PathBuf)>,
    relay: bool,
    quick: bool,
    only: Option<Vec<String>>,
    tmp: Option<PathBuf>,
}

fn parse_args() -> Result<Args, String> {
    let mut echo = None;
    let mut echo_c = None;
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
            "--echo-c" => echo_c = Some(value("--echo-c")?),
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
        echo_c,
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
        Some("--print-breaker") => Some(breaker_policy),
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
        echo_c: args.echo_c.clone(),
        tmp: tmp.clone(),
        n: if args.quick {
            Sizes::quick()
        } else {
            Sizes::full()
        },
    };
    let mut targets = vec![Target::new("direct", TargetKind::Direct, None)];
    if args.relay {
        match std::env::current_exe() {
            Ok(me) => targets.push(Target::new("relay", TargetKind::Relay(me), None)),
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
        Target::new(l, TargetKind::Sentinel(p.clone()), Some(policy))
    }));
    let wanted = |m: &str| args.only.as_ref().is_none_or(|o| o.iter().any(|x| x == m));
    let figures: Vec<Figures> = targets.iter().map(|_| Figures::new()).collect();
    let started = Instant::now();
    let progress = |what: &str| {
        eprintln!("[{:6.1}s] {what}", started.elapsed().as_secs_f64());
    };
    let mut bench = Bench {
        ctx: &ctx,
        targets,
        s0,
        tmp: &tmp,
        progress: &progress,
        wanted: &wanted,
        figures,
    };

    sections::measure_latency(&mut bench);
    sections::measure_throughput(&mut bench);
    sections::measure_blocked(&mut bench);
    sections::measure_big(&mut bench);
    sections::measure_startup(&mut bench);
    let (sql_runs, sql_keys) = sections::measure_sql(&mut bench);
    sections::measure_policy(&mut bench);
    let mut failures = sections::measure_guard(&mut bench);
    let breaker_failures = sections::measure_breaker(&mut bench);
    inspect::measure_inspect(&mut bench);
    audit::measure_audit(&mut bench);
    eprintln!("[{:6.1}s] done", started.elapsed().as_secs_f64());

    failures.extend(breaker_failures);
    report::print(bench, sql_runs, sql_keys, failures);
    if args.tmp.is_none() {
        let _ = fs::remove_dir_all(&tmp);
    }
}
