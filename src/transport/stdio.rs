//! The stdio transport: the pumps that move bytes between the client (our stdin/stdout), the
//! wrapped server (its stdin/stdout/stderr) and the [`Gateway`]. Threads: main (spawns the
//! server, then runs the shutdown state machine of `lifecycle` on events), `client->server`,
//! `server->client`, `server-stderr`, `child-wait` and `signals`. Demo mode (no server) is the
//! same client pump writing allowed messages to stdout.

use crate::base::lines::{read_line, Line, MAX_LINE};
use crate::base::scan::Scanner;
use crate::base::term::Term;
use crate::gateway::approvals::Outlet;
use crate::gateway::{Forward, Gateway, Outcome};
use crate::transport::hold::{Holder, Sink};
use crate::transport::lifecycle::{Event, Lifecycle, DRAIN};
use crate::transport::{server, signals};
use std::ffi::OsString;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::mem::ManuallyDrop;
use std::os::fd::FromRawFd;
use std::process::{ChildStdin, ExitStatus};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

/// Stack size of the thread that inspects messages (sqlparser recurses deeply).
const INSPECT_STACK: usize = 16 * 1024 * 1024;
/// Read buffer sizes.
const BUF: usize = 64 * 1024;

/// Sentinel's stdout without Rust's line buffering: every write goes straight to fd 1, so a
/// complete message is never held back.
pub struct RawStdout(ManuallyDrop<File>);

impl RawStdout {
    pub fn new() -> RawStdout {
        // SAFETY: fd 1 is open for the life of the process and ManuallyDrop never closes it.
        RawStdout(ManuallyDrop::new(unsafe { File::from_raw_fd(1) }))
    }
}

impl Default for RawStdout {
    fn default() -> Self {
        RawStdout::new()
    }
}

impl Write for RawStdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Sentinel's stdin as a reader that never closes fd 0.
struct RawStdin(ManuallyDrop<File>);

impl Read for RawStdin {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

fn raw_stdin() -> ManuallyDrop<File> {
    // SAFETY: fd 0 is open for the life of the process and ManuallyDrop never closes it.
    ManuallyDrop::new(unsafe { File::from_raw_fd(0) })
}

/// Where demo mode's released calls and later answers go: stdout, like everything else.
struct DemoOutlet(Arc<Mutex<BufWriter<RawStdout>>>);

impl Outlet for DemoOutlet {
    fn to_server(&self, line: &[u8]) -> bool {
        self.to_client(line);
        true
    }
    fn to_client(&self, bytes: &[u8]) {
        let mut out = lock(&self.0);
        let _ = out.write_all(bytes).and_then(|()| out.flush());
    }
}

/// Where a session's messages for the client go: our stdout for the stdio proxy, or an HTTP
/// session's router (which sends each line to the HTTP response it answers).
pub type ClientOutput = Box<dyn Write + Send>;
/// Where a session's client messages come from: our stdin, or an HTTP session's pipe.
pub type ClientInput = Box<dyn Read + Send>;

/// The client's two ends of a session.
pub struct ClientEnds {
    pub input: ClientInput,
    pub output: ClientOutput,
}

/// The proxy's outputs for what the gateway sends on its own (released calls, answers to
/// held ones, its requests to the client): the server's stdin, shared with the client pump,
/// and the client's output, shared with the server pump.
struct ProxyOutlet {
    server_in: Arc<Mutex<Option<ChildStdin>>>,
    stdout: Arc<Mutex<ClientOutput>>,
    tx: Sender<Event>,
}

impl Outlet for ProxyOutlet {
    fn to_server(&self, line: &[u8]) -> bool {
        let mut pipe = lock(&self.server_in);
        let Some(p) = pipe.as_mut() else { return false };
        if p.write_all(line).is_err() {
            *pipe = None;
            let _ = self.tx.send(Event::ServerInputClosed);
            return false;
        }
        true
    }
    fn to_client(&self, bytes: &[u8]) {
        if lock(&self.stdout).write_all(bytes).is_err() {
            let _ = self.tx.send(Event::ClientGone);
        }
    }
}

/// Demo mode: judge every stdin line; allowed messages and the gateway's answers go to stdout
/// in order. A call held for approval is written when approved (or its refusal when not);
/// at the end of the input, demo mode waits for every held call to be answered or time out.
/// Returns the exit code.
pub fn run_demo(gateway: Arc<Gateway>) -> u8 {
    let shared = Arc::new(Mutex::new(BufWriter::with_capacity(BUF, RawStdout::new())));
    gateway.attach(Arc::new(DemoOutlet(shared.clone())));
    let worker = thread::Builder::new()
        .name("inspect".into())
        .stack_size(INSPECT_STACK)
        .spawn(move || {
            let stdin = raw_stdin();
            let mut input = BufReader::with_capacity(BUF, &*stdin);
            let mut line = Vec::new();
            let mut client = gateway.client_side();
            let result: io::Result<()> = (|| loop {
                let outcome = match read_line(&mut input, &mut line, MAX_LINE)? {
                    Line::Eof => {
                        lock(&shared).flush()?;
                        gateway.wait_settled();
                        return lock(&shared).flush();
                    }
                    Line::TooLong => gateway.client_too_long(&mut client, MAX_LINE),
                    Line::Complete { .. } => gateway.client_line(&mut client, &line),
                };
                let mut out = lock(&shared);
                match &outcome.forward {
                    Forward::Nothing => {}
                    Forward::Original => {
                        out.write_all(&line)?;
                        out.write_all(b"\n")?;
                    }
                    Forward::Rewritten(b) => {
                        out.write_all(b)?;
                        out.write_all(b"\n")?;
                    }
                }
                out.write_all(&outcome.reply)?;
                if input.buffer().is_empty() {
                    out.flush()?;
                }
            })();
            result
        })
        .expect("cannot start the inspection thread");
    match worker.join() {
        Ok(Ok(())) => 0,
        Ok(Err(e)) if e.kind() == io::ErrorKind::BrokenPipe => 0,
        Ok(Err(e)) => {
            eprintln!("sentinel: error: I/O error: {e}");
            1
        }
        Err(_) => 1,
    }
}

/// Proxy mode: spawn `argv` and run the session to its end, the client being our own
/// stdin and stdout. Returns the exit code.
///
/// With `reload`, SIGHUP reloads the policy file instead of being passed on to the server;
/// without it, SIGHUP is passed on unless Sentinel's caller ignored it (`nohup`).
pub fn run_proxy(
    gateway: Arc<Gateway>,
    argv: &[OsString],
    term: Term,
    reload: Option<Sender<()>>,
) -> u8 {
    let ends = ClientEnds {
        input: Box::new(RawStdin(raw_stdin())),
        output: Box::new(RawStdout::new()),
    };
    let ran = run_server(gateway, argv, &term, ends, Some(reload));
    match ran {
        Err(code) => code,
        Ok(Some(s)) => server::exit_code(s),
        Ok(None) => 1,
    }
}

/// One session of a server process behind another transport (an HTTP session): the same
/// pumps and shutdown as [`run_proxy`], with `ends` as the client and no signal handling
/// (the caller ends the session by closing `ends.input`). Returns the server's exit status,
/// `None` when it had to be abandoned, or the exit code when it could not start.
pub fn run_session(
    gateway: Arc<Gateway>,
    argv: &[OsString],
    term: &Term,
    ends: ClientEnds,
) -> Result<Option<ExitStatus>, u8> {
    run_server(gateway, argv, term, ends, None)
}

/// Spawns `argv` and runs the session to its end; `signals` (with the reload channel) when
/// this process's signals are the session's.
fn run_server(
    gateway: Arc<Gateway>,
    argv: &[OsString],
    term: &Term,
    ends: ClientEnds,
    signals: Option<Option<Sender<()>>>,
) -> Result<Option<ExitStatus>, u8> {
    // The caller has blocked the forwarded signals before starting any thread.
    let mut child = match server::spawn(argv) {
        Ok(c) => c,
        Err(e) => {
            term.error(&e.message());
            return Err(e.exit_code());
        }
    };
    let pgid = child.id();
    term.info(&format!(
        "started MCP server (pid {pgid}): {}",
        argv.iter()
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ")
    ));
    if signals.is_some() {
        term.info(&format!("audit log: {}", gateway.audit_path().display()));
    }
    let (tx, rx) = mpsc::channel::<Event>();
    let ClientEnds { input, output } = ends;
    let stdout = Arc::new(Mutex::new(output));

    let server_in = Arc::new(Mutex::new(child.stdin.take()));
    gateway.attach(Arc::new(ProxyOutlet {
        server_in: server_in.clone(),
        stdout: stdout.clone(),
        tx: tx.clone(),
    }));
    let server_out = child.stdout.take().expect("piped stdout");
    let mut server_err = child.stderr.take().expect("piped stderr");

    {
        let (gateway, stdout, tx) = (gateway.clone(), stdout.clone(), tx.clone());
        spawn_named("client->server", INSPECT_STACK, move || {
            client_pump(&gateway, input, server_in, &stdout, &tx)
        });
    }
    {
        let (gateway, stdout, tx) = (gateway.clone(), stdout.clone(), tx.clone());
        spawn_named("server->client", 0, move || {
            server_pump(&gateway, server_out, &stdout, &tx)
        });
    }
    {
        let tx = tx.clone();
        spawn_named("server-stderr", 0, move || {
            let mut buf = vec![0u8; BUF];
            while let Ok(n) = server_err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let mut err = io::stderr().lock();
                let _ = err.write_all(&buf[..n]);
            }
            let _ = tx.send(Event::ServerStderrEof);
        });
    }
    {
        let tx = tx.clone();
        spawn_named("child-wait", 0, move || {
            // wait() only fails if the child was already reaped, which nothing else does.
            if let Ok(status) = child.wait() {
                let _ = tx.send(Event::ChildExited(status));
            }
        });
    }
    if let Some(reload) = signals {
        let tx = tx.clone();
        // Started under `nohup`: hangups are not passed on (the server ignores them too).
        let hup_ignored = signals::ignored_by_caller(libc::SIGHUP);
        let term = term.clone();
        spawn_named("signals", 0, move || loop {
            let sig = signals::wait_signal();
            if sig == libc::SIGHUP {
                if let Some(reload) = &reload {
                    let _ = reload.send(());
                    continue;
                }
                if hup_ignored {
                    term.notice(
                        "SIGHUP not passed on to the server: Sentinel was started with SIGHUP \
                         ignored (nohup)",
                    );
                    continue;
                }
            }
            if tx.send(Event::Signal(sig)).is_err() {
                break;
            }
        });
    }
    drop(tx);

    let status = Lifecycle::new(pgid, term.clone()).run(&rx);
    let why = match status {
        Some(s) if s.success() => "exited".to_owned(),
        Some(s) => format!("exited ({s})"),
        None => "stopped responding".to_owned(),
    };
    let answers = gateway.server_gone(&why);
    if !answers.is_empty() {
        if let Some(mut out) = lock_within(&stdout, DRAIN) {
            let _ = out.write_all(&answers);
            let _ = out.flush();
        }
    }
    if status.is_some() {
        term.info(&format!("MCP server {why}"));
    }
    Ok(status)
}

fn spawn_named(name: &str, stack: usize, f: impl FnOnce() + Send + 'static) {
    let mut b = thread::Builder::new().name(name.into());
    if stack > 0 {
        b = b.stack_size(stack);
    }
    b.spawn(f)
        .unwrap_or_else(|e| panic!("cannot start thread {name}: {e}"));
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Takes the lock if it comes free within `limit` (a stalled half-written server message may
/// hold it forever).
fn lock_within<T>(m: &Mutex<T>, limit: Duration) -> Option<MutexGuard<'_, T>> {
    let deadline = Instant::now() + limit;
    loop {
        match m.try_lock() {
            Ok(g) => return Some(g),
            Err(std::sync::TryLockError::Poisoned(p)) => return Some(p.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) if Instant::now() < deadline => {
                thread::sleep(Duration::from_millis(2));
            }
            Err(_) => return None,
        }
    }
}

/// Reads client lines, asks the gateway, forwards to the server and answers the client.
fn client_pump(
    gateway: &Gateway,
    input: ClientInput,
    server_in: Arc<Mutex<Option<ChildStdin>>>,
    stdout: &Mutex<ClientOutput>,
    tx: &Sender<Event>,
) {
    let write_server = |bytes: &[u8]| -> bool {
        let mut pipe = lock(&server_in);
        let ok = pipe.as_mut().is_some_and(|p| p.write_all(bytes).is_ok());
        if !ok {
            *pipe = None;
        }
        ok
    };
    let mut input = BufReader::with_capacity(BUF, input);
    let mut client = gateway.client_side();
    // What goes to the server, written when the input runs dry or it fills up (after the
    // requests in it are published as waiting for an answer).
    let mut to_server: Vec<u8> = Vec::with_capacity(BUF);
    let mut server_reading = true;
    let mut replies: Vec<u8> = Vec::new();
    let mut line = Vec::new();
    loop {
        let outcome = match read_line(&mut input, &mut line, MAX_LINE) {
            Ok(Line::Eof) | Err(_) => break,
            Ok(Line::TooLong) => gateway.client_too_long(&mut client, MAX_LINE),
            Ok(Line::Complete { .. }) => gateway.client_line(&mut client, &line),
        };
        let Outcome { forward, reply } = outcome;
        replies.extend_from_slice(&reply);
        // The order Sentinel promises: its own answers to a line reach the client before that
        // line (what of it is forwarded) or any later one can reach the server, so a fast
        // server's answer never overtakes them. Answers are otherwise batched until the input
        // runs dry.
        let idle = input.buffer().is_empty();
        if !replies.is_empty() && (forward != Forward::Nothing || idle || replies.len() >= BUF) {
            if lock(stdout).write_all(&replies).is_err() {
                let _ = tx.send(Event::ClientGone);
            }
            replies.clear();
        }
        match &forward {
            Forward::Nothing => {}
            Forward::Original => to_server.extend_from_slice(&line),
            Forward::Rewritten(b) => to_server.extend_from_slice(b),
        }
        if forward != Forward::Nothing {
            to_server.push(b'\n');
        }
        if idle || to_server.len() >= BUF || !server_reading {
            // Requests are waiting for an answer before the server can see them. Once the
            // server has stopped reading, the ones sent from now on are still recorded: they
            // are answered with an error when the server is gone.
            gateway.publish(&mut client);
            if server_reading && !to_server.is_empty() && !write_server(&to_server) {
                server_reading = false;
                let _ = tx.send(Event::ServerInputClosed);
            }
            to_server.clear();
        }
        if line.capacity() > BUF * 16 {
            line = Vec::new(); // do not keep a huge message's buffer around
        }
        if to_server.capacity() > BUF * 16 {
            to_server = Vec::with_capacity(BUF);
        }
    }
    if !replies.is_empty() {
        let _ = lock(stdout).write_all(&replies);
    }
    gateway.publish(&mut client);
    if server_reading && !to_server.is_empty() {
        let _ = write_server(&to_server);
    }
    // The client is gone: calls held for approval are dropped, never forwarded later.
    gateway.client_gone();
    // Dropping the server's stdin closes it: the first step of MCP's shutdown.
    drop(lock(&server_in).take());
    let _ = tx.send(Event::ClientEof);
}

/// Copies the server's stdout to ours as it arrives, holding the stdout lock while a message is
/// half written so the gateway's own answers never land inside it. While the gateway inspects
/// the server's answers, lines go through `hold` instead.
fn server_pump(
    gateway: &Gateway,
    mut server_out: std::process::ChildStdout,
    stdout: &Mutex<ClientOutput>,
    tx: &Sender<Event>,
) {
    let mut buf = vec![0u8; BUF];
    let mut scanner = Scanner::default();
    let mut holder = Holder::default();
    let mut answers = gateway.server_side();
    let mut out = ClientOut {
        stdout,
        guard: None,
        ok: true,
        tx,
    };
    loop {
        let n = match server_out.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        if holder.busy() || gateway.wants_server_lines() {
            let answers = &mut answers;
            let answers = std::cell::RefCell::new(answers);
            holder.feed(
                &buf[..n],
                gateway,
                &mut scanner,
                &mut |id, failed| gateway.server_response(&mut answers.borrow_mut(), id, failed),
                &mut || gateway.publish_answers(&mut answers.borrow_mut()),
                &mut out,
            );
            continue;
        }
        scanner.feed(&buf[..n], &mut |id, failed| {
            gateway.server_response(&mut answers, id, failed)
        });
        gateway.publish_answers(&mut answers);
        out.write(&buf[..n], !scanner.mid_line());
    }
    let held = holder.busy();
    if holder.end() || (scanner.mid_line() && !held) {
        // The server died mid-message: end the line so our own answers start on a fresh one.
        out.write(b"\n", true);
    }
    drop(out);
    let _ = tx.send(Event::ServerOutputEof);
}

/// The client's stdout as the server->client pump writes it: locked from the start of a
/// message to its end.
struct ClientOut<'a> {
    stdout: &'a Mutex<ClientOutput>,
    guard: Option<MutexGuard<'a, ClientOutput>>,
    ok: bool,
    tx: &'a Sender<Event>,
}

impl Sink for ClientOut<'_> {
    fn write(&mut self, bytes: &[u8], line_done: bool) {
        if self.ok && !bytes.is_empty() {
            let out = self.guard.get_or_insert_with(|| lock(self.stdout));
            if out.write_all(bytes).is_err() {
                self.ok = false;
                let _ = self.tx.send(Event::ClientGone);
            }
        }
        if line_done {
            self.guard = None;
        }
    }
}
