//! Sentinel's own signal handling, without an async runtime: the signals it passes on to the
//! server (SIGINT, SIGTERM, SIGHUP) are blocked in every thread and received synchronously by
//! one thread with `sigwait`; and whether its caller started it with one of them ignored
//! (`nohup`). Platform code (Unix), kept to this one small module.

/// The signals Sentinel passes on to the server. SIGHUP is among them so that a closed
/// terminal ends the server's whole group instead of only Sentinel.
pub const FORWARDED: [i32; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

fn forwarded_set() -> libc::sigset_t {
    // SAFETY: sigemptyset/sigaddset initialise and fill a plain C struct we own.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in FORWARDED {
            libc::sigaddset(&mut set, s);
        }
        set
    }
}

/// Blocks the forwarded signals in the calling thread (and so in every thread it starts
/// afterwards), so they are only ever received by [`wait_signal`]. Call before starting threads.
pub fn block_forwarded_signals() {
    let set = forwarded_set();
    // SAFETY: set is initialised; the old mask is not needed.
    unsafe {
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

/// Waits for one of the forwarded signals and returns its number.
pub fn wait_signal() -> i32 {
    let set = forwarded_set();
    let mut sig: libc::c_int = 0;
    loop {
        // SAFETY: set is initialised and sig is a valid out-pointer.
        if unsafe { libc::sigwait(&set, &mut sig) } == 0 {
            return sig;
        }
    }
}

/// Whether Sentinel's caller started it with `signal` ignored (SIG_IGN), as `nohup` does for
/// SIGHUP and a non-interactive shell does for SIGINT in background jobs.
pub fn ignored_by_caller(signal: i32) -> bool {
    // SAFETY: sigaction with a null new action only reads the current one into `old`.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        libc::sigaction(signal, std::ptr::null(), &mut old) == 0
            && old.sa_sigaction == libc::SIG_IGN
    }
}
