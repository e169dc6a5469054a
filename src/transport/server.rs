//! The wrapped MCP server as an operating-system process: spawning it in its own process group
//! (so `npx`/`uvx` launchers and everything they start can be ended together) with the
//! forwarded signals at their default action, tying its life to Sentinel's on Linux,
//! signalling the whole group, its exit code. Platform code (Unix), kept to this module and
//! `signals`.

use crate::transport::signals;
use std::ffi::OsString;
use std::io;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitStatus, Stdio};

/// Why the server could not be started.
#[derive(Debug)]
pub struct SpawnError {
    pub program: OsString,
    pub error: io::Error,
}

impl SpawnError {
    /// The conventional shell exit code: 127 not found, 126 not executable, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self.error.kind() {
            io::ErrorKind::NotFound => 127,
            io::ErrorKind::PermissionDenied => 126,
            _ => 1,
        }
    }

    /// A one-line message saying what happened and what to do.
    pub fn message(&self) -> String {
        let name = self.program.to_string_lossy();
        match self.error.kind() {
            io::ErrorKind::NotFound => format!(
                "cannot start MCP server '{name}': command not found (check the spelling, or use \
                 an absolute path: Claude Desktop does not use your shell's PATH)"
            ),
            io::ErrorKind::PermissionDenied => format!(
                "cannot start MCP server '{name}': permission denied (is it executable? chmod +x)"
            ),
            _ => format!("cannot start MCP server '{name}': {}", self.error),
        }
    }
}

/// Starts `argv` with piped stdio, the inherited environment and working directory, in a new
/// process group whose id is the child's pid. On Linux the child is killed if Sentinel dies.
/// Call this from the thread that lives as long as Sentinel (the main thread): Linux's
/// parent-death signal follows the spawning thread.
pub fn spawn(argv: &[OsString]) -> Result<Child, SpawnError> {
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    // Decided before fork: which forwarded signals the server starts with at their default
    // action (all of them, unless the caller ignored SIGHUP on purpose: see [`reset_in_server`]).
    let reset = reset_in_server();
    #[cfg(target_os = "linux")]
    // SAFETY: getpid is async-signal-safe and called before fork.
    let parent = unsafe { libc::getpid() };
    // SAFETY: the closure runs between fork and exec and only calls async-signal-safe
    // functions (signal, sigemptyset, sigprocmask, prctl, getppid, raise).
    unsafe {
        cmd.pre_exec(move || {
            // Forwarding a signal means something only if the server does not ignore it: a
            // shell starts background jobs with SIGINT ignored, and that must not leak into
            // the server (supervisors reset dispositions for the same reason).
            for &sig in reset.iter().flatten() {
                libc::signal(sig, libc::SIG_DFL);
            }
            // The server starts with no signals blocked, whatever Sentinel blocks.
            let mut empty: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut empty);
            libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
            #[cfg(target_os = "linux")]
            {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
                    return Err(io::Error::last_os_error());
                }
                // Sentinel may already have died between fork and prctl.
                if libc::getppid() != parent {
                    libc::raise(libc::SIGKILL);
                }
            }
            Ok(())
        });
    }
    cmd.spawn().map_err(|error| SpawnError {
        program: argv[0].clone(),
        error,
    })
}

/// The forwarded signals the server gets at their default action: SIGINT and SIGTERM always;
/// SIGHUP unless the caller ignored it (under `nohup` the whole tree stays immune to hangups,
/// and Sentinel does not pass one on either).
fn reset_in_server() -> [Option<i32>; 3] {
    let hup = (!signals::ignored_by_caller(libc::SIGHUP)).then_some(libc::SIGHUP);
    [Some(libc::SIGINT), Some(libc::SIGTERM), hup]
}

/// Sends `signal` to every process in the group `pgid`; false when the group no longer exists.
pub fn signal_group(pgid: u32, signal: i32) -> bool {
    let Ok(pgid) = libc::pid_t::try_from(pgid) else {
        return false;
    };
    // SAFETY: kill has no memory-safety preconditions; a negative pid names a process group.
    unsafe { libc::kill(-pgid, signal) == 0 }
}

/// Whether any process of group `pgid` is still alive (zombies included).
pub fn group_alive(pgid: u32) -> bool {
    signal_group(pgid, 0)
}

/// The exit code that mirrors a child's status: its code, or 128 + the signal that ended it.
pub fn exit_code(status: ExitStatus) -> u8 {
    match (status.code(), status.signal()) {
        (Some(c), _) => c as u8,
        (None, Some(s)) => (128 + s) as u8,
        _ => 1,
    }
}
