//! The shutdown state machine of a stdio session, run by the main thread on the events the
//! pumps and helper threads send: whichever side ends first (the client closes its stdin or
//! stops reading, the server exits or stops reading, a signal arrives), it ends the server's
//! whole process group, escalating from closing its stdin to SIGTERM to SIGKILL, and waits
//! until the server's output is delivered. The timings are README's (*Lifecycle*).

use crate::base::term::Term;
use crate::transport::server;
use std::process::ExitStatus;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

/// After the client closes its side, how long the server gets to exit on its own once its
/// stdin is closed, before SIGTERM.
pub const GRACE: Duration = Duration::from_millis(1000);
/// After SIGTERM, how long before SIGKILL.
pub const TERM_WAIT: Duration = Duration::from_millis(500);
/// After the server process exits, how long its remaining group members and open output pipes
/// get before the group is killed and Sentinel exits anyway.
pub const DRAIN: Duration = Duration::from_millis(300);
/// How often the main thread checks whether the server's group is gone, once the server
/// itself has exited.
const POLL: Duration = Duration::from_millis(10);
/// Events the pumps and helpers send to the main thread.
pub(super) enum Event {
    /// The client closed our stdin (or it failed).
    ClientEof,
    /// Writing to the client failed: nobody is reading our stdout any more.
    ClientGone,
    /// Writing to the server's stdin failed: it stopped reading.
    ServerInputClosed,
    ServerOutputEof,
    ServerStderrEof,
    ChildExited(ExitStatus),
    Signal(i32),
}

/// The shutdown state machine run by the main thread.
pub(super) struct Lifecycle {
    pgid: u32,
    term: Term,
    status: Option<ExitStatus>,
    out_eof: bool,
    err_eof: bool,
    /// When the next escalation happens, and what it is.
    next: Option<(Instant, Step)>,
    signals: u32,
    /// SIGKILL went to the whole group after the server exited.
    group_killed: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    Term,
    Kill,
    /// The server has exited but its group or pipes linger: kill the group.
    GiveUp,
    /// Stop waiting for the pipes.
    Abandon,
}

impl Lifecycle {
    pub(super) fn new(pgid: u32, term: Term) -> Lifecycle {
        Lifecycle {
            pgid,
            term,
            status: None,
            out_eof: false,
            err_eof: false,
            next: None,
            signals: 0,
            group_killed: false,
        }
    }

    /// Runs until the server has exited and its output is delivered; returns its status.
    pub(super) fn run(mut self, rx: &mpsc::Receiver<Event>) -> Option<ExitStatus> {
        loop {
            if self.status.is_some() && self.out_eof && self.err_eof {
                // Done once no member of the server's group is left (or the rest got SIGKILL).
                if self.group_killed || !server::group_alive(self.pgid) {
                    return self.status;
                }
            }
            let event = match self.next {
                Some((at, _)) => {
                    let mut wait = at.saturating_duration_since(Instant::now());
                    if self.status.is_some() {
                        // Poll for the last group members to go.
                        wait = wait.min(POLL);
                    }
                    match rx.recv_timeout(wait) {
                        Ok(e) => Some(e),
                        Err(RecvTimeoutError::Timeout) if Instant::now() < at => continue,
                        Err(RecvTimeoutError::Timeout) => None,
                        Err(RecvTimeoutError::Disconnected) => return self.status,
                    }
                }
                None => match rx.recv() {
                    Ok(e) => Some(e),
                    Err(_) => return self.status,
                },
            };
            match event {
                Some(e) => self.on_event(e),
                None => {
                    if self.escalate() {
                        return self.status;
                    }
                }
            }
        }
    }

    fn schedule(&mut self, after: Duration, step: Step) {
        let at = Instant::now() + after;
        // Never postpone an escalation already due sooner.
        if self.next.is_none_or(|(t, _)| at < t) || self.status.is_some() {
            self.next = Some((at, step));
        }
    }

    fn on_event(&mut self, e: Event) {
        match e {
            Event::ClientEof | Event::ClientGone | Event::ServerInputClosed => {
                if self.status.is_none() && self.next.is_none() {
                    self.term
                        .info("client side closed; closing the server's stdin");
                    self.schedule(GRACE, Step::Term);
                }
            }
            Event::Signal(sig) => {
                self.signals += 1;
                if self.status.is_some() {
                    return;
                }
                if self.signals > 1 {
                    server::signal_group(self.pgid, libc::SIGKILL);
                    return;
                }
                self.term
                    .info(&format!("received signal {sig}; passing it to the server"));
                server::signal_group(self.pgid, sig);
                self.next = Some((Instant::now() + TERM_WAIT, Step::Kill));
            }
            Event::ChildExited(status) => {
                self.status = Some(status);
                // Launchers such as npx/uvx may leave the real server running: end the group.
                if server::group_alive(self.pgid) {
                    server::signal_group(self.pgid, libc::SIGTERM);
                }
                self.next = Some((Instant::now() + DRAIN, Step::GiveUp));
            }
            Event::ServerOutputEof => self.out_eof = true,
            Event::ServerStderrEof => self.err_eof = true,
        }
    }

    /// Carries out the due step; true when it is time to stop waiting.
    fn escalate(&mut self) -> bool {
        let Some((_, step)) = self.next.take() else {
            return false;
        };
        match step {
            Step::Term => {
                self.term
                    .info("server did not exit after its stdin closed; sending SIGTERM");
                server::signal_group(self.pgid, libc::SIGTERM);
                self.next = Some((Instant::now() + TERM_WAIT, Step::Kill));
                false
            }
            Step::Kill => {
                self.term
                    .info("server did not exit after SIGTERM; sending SIGKILL");
                server::signal_group(self.pgid, libc::SIGKILL);
                false
            }
            Step::GiveUp => {
                server::signal_group(self.pgid, libc::SIGKILL);
                self.group_killed = true;
                self.next = Some((Instant::now() + DRAIN, Step::Abandon));
                false
            }
            Step::Abandon => {
                if !self.out_eof {
                    self.term.warn(
                        "the server's output pipe stayed open after it exited (a process it \
                         started still holds it); stopped waiting",
                    );
                }
                true
            }
        }
    }
}
