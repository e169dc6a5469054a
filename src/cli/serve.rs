//! `sentinel serve`: its options (`--listen`, `--tokens`, `--allow-origin`, the limits, TLS),
//! and the factory that gives each MCP session over HTTP its gateway: the policy profile of
//! its tenant (loaded once per profile and reloaded like the stdio proxy's), an audit session
//! on the shared log with the tenant in every entry, and the tenant's breaker state (one key
//! per tenant, shared by all its sessions). Refused requests (401, 403, 400) are audited here.

use super::{string, Options, UsageError};
use crate::audit::Audit;
use crate::base::clock::Clock;
use crate::base::term::Term;
use crate::gateway::{self, Gateway};
use crate::policy::{self, Live};
use crate::transport::http::auth::{Tenant, Tokens};
use crate::transport::http::origin::Origins;
use crate::transport::http::serve::sessions::{Factory, NewSession};
use crate::transport::http::serve::{self, Config};
use crate::transport::http::server::{self, Limits};
use crate::transport::local::Gateways;
use std::collections::HashMap;
use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// The options of `sentinel serve` beyond the shared ones.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    pub listen: SocketAddr,
    pub endpoint: String,
    pub tokens: Option<PathBuf>,
    pub origins: Vec<String>,
    pub max_sessions: usize,
    pub idle: Duration,
    pub limits: Limits,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            endpoint: "/mcp".into(),
            tokens: None,
            origins: Vec::new(),
            max_sessions: 256,
            idle: Duration::from_secs(30 * 60),
            limits: Limits::default(),
            tls_cert: None,
            tls_key: None,
        }
    }
}

/// The options only `serve` takes.
pub const OPTIONS: &[&str] = &[
    "listen",
    "endpoint",
    "tokens",
    "allow-origin",
    "max-sessions",
    "session-idle",
    "max-body",
    "max-connections",
    "head-timeout",
    "tls-cert",
    "tls-key",
];

/// Parses one `serve` option (`name` is in [`OPTIONS`]).
pub fn option(s: &mut ServeOptions, name: &str, value: OsString) -> Result<(), UsageError> {
    let flag = format!("--{name}");
    let v = string(value, &flag)?;
    let bad = |what: &str| UsageError(format!("invalid value '{v}' for {flag}: expected {what}"));
    match name {
        "listen" => {
            s.listen = v
                .parse()
                .or_else(|_| format!("127.0.0.1:{v}").parse())
                .map_err(|_| bad("ADDRESS:PORT (e.g. 127.0.0.1:8080 or 0.0.0.0:8080) or a port"))?
        }
        "endpoint" if v.starts_with('/') && !v.contains('?') => s.endpoint = v,
        "endpoint" => return Err(bad("a path starting with / (e.g. /mcp)")),
        "tokens" => s.tokens = Some(PathBuf::from(v)),
        "allow-origin" => s.origins.push(v),
        "max-sessions" => {
            s.max_sessions = v
                .parse()
                .ok()
                .filter(|&n| n >= 1)
                .ok_or_else(|| bad("a number of sessions, 1 or more"))?
        }
        "session-idle" => {
            s.idle = Duration::from_secs(seconds(&v).ok_or_else(|| bad("seconds, 1 or more"))?)
        }
        "max-body" => {
            s.limits.max_body = super::bytes(&v)
                .and_then(|b| usize::try_from(b).ok())
                .ok_or_else(|| bad("a size in bytes (K, M: KiB, MiB), e.g. 4M"))?
        }
        "max-connections" => {
            s.limits.max_connections = v
                .parse()
                .ok()
                .filter(|&n| n >= 1)
                .ok_or_else(|| bad("a number of connections, 1 or more"))?
        }
        "head-timeout" => {
            s.limits.head_timeout =
                Duration::from_secs(seconds(&v).ok_or_else(|| bad("seconds, 1 or more"))?)
        }
        "tls-cert" => s.tls_cert = Some(PathBuf::from(v)),
        "tls-key" => s.tls_key = Some(PathBuf::from(v)),
        _ => unreachable!("not a serve option: {name}"),
    }
    Ok(())
}

fn seconds(v: &str) -> Option<u64> {
    v.trim_end_matches('s').parse().ok().filter(|&n| n >= 1)
}

/// Checks what only makes sense together.
pub fn check(s: &ServeOptions) -> Result<(), UsageError> {
    if s.tls_cert.is_some() != s.tls_key.is_some() {
        return Err(UsageError(
            "--tls-cert and --tls-key go together: pass both (PEM files) or neither".into(),
        ));
    }
    Ok(())
}

/// The factory of session gateways.
struct Sessions {
    opts: Options,
    server_name: String,
    command_line: String,
    audit: Arc<Audit>,
    term: Term,
    clock: Arc<dyn Clock>,
    /// The breaker and approvals state: memory, or `--state`'s Redis.
    state: super::state::State,
    /// The policy of each profile in use ("" for the command line's).
    lives: Mutex<HashMap<String, Arc<Live>>>,
    reloads: Arc<Mutex<Vec<Sender<()>>>>,
    /// Every session's gateway, for `sentinel approvals` on this host.
    local: Arc<Gateways>,
}

impl Sessions {
    fn live(&self, profile: Option<&str>) -> Result<Arc<Live>, String> {
        // Without a policy file there are no profiles: every tenant has the built-in policy.
        let profile = profile.filter(|_| self.opts.policy.is_some());
        let key = profile.unwrap_or("").to_owned();
        let mut lives = self.lives.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(l) = lives.get(&key) {
            return Ok(l.clone());
        }
        let mut source = self.opts.source();
        if profile.is_some() {
            source.profile = profile;
        }
        let policy = policy::tooling::load(&source).map_err(|e| {
            format!(
                "the policy for profile '{}' does not load: {e}; fix the policy file or the \
                 tenant's profile in the tokens file",
                profile.unwrap_or("(default)")
            )
        })?;
        let live = Arc::new(Live::new(Arc::new(policy)));
        if let Some(path) = self.opts.policy.clone() {
            let tx = policy::reload::spawn(
                path,
                profile
                    .map(str::to_owned)
                    .or_else(|| self.opts.profile.clone()),
                live.clone(),
                self.audit.clone(),
                self.opts.reload_interval,
                self.term.clone(),
            );
            self.reloads
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(tx);
        }
        lives.insert(key, live.clone());
        Ok(live)
    }
}

impl Factory for Sessions {
    fn session(&self, tenant: Option<&Tenant>) -> Result<NewSession, String> {
        let live = self.live(tenant.map(|t| t.profile.as_str()))?;
        let audit = Arc::new(
            self.audit
                .session(self.command_line.clone(), tenant.map(|t| t.name.clone())),
        );
        let id = audit.session_id().to_owned();
        let pins = crate::guards::pins::Pins::new(self.opts.pins_dir.clone())
            .map(|pins| gateway::PinContext {
                pins,
                command: self.command_line.clone(),
            })
            .map_err(|e| e.to_string());
        // One breaker state per tenant, shared by its sessions (without tokens, every client
        // is the one anonymous tenant): opening more sessions never resets a budget.
        let key = format!("tenant:{}", tenant.map_or("anonymous", |t| t.name.as_str()));
        let gateway = Gateway::new(
            live,
            self.server_name.clone(),
            audit.clone(),
            self.term.clone(),
            self.opts.block_as,
            true,
            self.clock.clone(),
        )
        .with_pins(pins);
        let gateway = Arc::new(self.state.apply(gateway, key));
        self.local.add(gateway.clone());
        let (local, ours) = (self.local.clone(), gateway.clone());
        Ok(NewSession {
            gateway,
            id,
            on_end: Box::new(move || {
                local.remove(&ours);
                audit.close()
            }),
        })
    }

    fn refused(&self, status: u16, reason: &str, explanation: &str) {
        self.audit.event(
            "blocked",
            reason,
            &format!("HTTP {status}: {reason}"),
            None,
            explanation,
        );
    }
}

/// `sentinel serve`: listen, and run a server process per MCP session. Returns the exit code.
pub fn run(opts: Options, serve_opts: ServeOptions, argv: Vec<OsString>) -> u8 {
    // Before any thread starts: the signals are received by the signal thread only.
    crate::transport::signals::block_forwarded_signals();
    let term = Term::new(opts.color, opts.verbosity);
    let command_line = argv
        .iter()
        .map(|a| a.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ");
    let started = match super::run::start(&opts, &term, command_line.clone()) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let super::run::Started {
        policy,
        audit,
        clock,
    } = started;
    let tokens = match &serve_opts.tokens {
        None => None,
        Some(path) => match Tokens::load(path) {
            Ok(t) => Some(Arc::new(t)),
            Err(e) => {
                term.error(&format!("not starting: {}", e.0));
                return 2;
            }
        },
    };
    let tls = match (&serve_opts.tls_cert, &serve_opts.tls_key) {
        (Some(cert), Some(key)) => match server::tls_config(cert, key) {
            Ok(c) => Some(c),
            Err(e) => {
                term.error(&format!("not starting: {e}"));
                return 2;
            }
        },
        _ => None,
    };
    let server_name = opts
        .server_name
        .clone()
        .unwrap_or_else(|| command_line.clone());
    // `--state`: with Redis, a tenant's breaker state is shared by every Sentinel using it.
    let state = match super::state::open_state(&opts, &term) {
        Ok(s) => s,
        Err(e) => {
            term.error(&e);
            return 2;
        }
    };
    let reloads = Arc::new(Mutex::new(Vec::new()));
    let sessions = Sessions {
        server_name,
        command_line,
        audit: audit.clone(),
        term: term.clone(),
        clock,
        state,
        lives: Mutex::new(HashMap::from([(
            String::new(),
            Arc::new(Live::new(policy)),
        )])),
        reloads: reloads.clone(),
        local: Arc::new(Gateways::default()),
        opts: opts.clone(),
    };
    // The local approval channel (`sentinel approvals`), one for every session's gateway.
    let _local = match crate::transport::local::start_many(sessions.local.clone(), term.clone()) {
        Ok(listener) => Some(listener),
        Err(e) => {
            term.warn(&format!(
                "the local approval channel (sentinel approvals) is off: {e}"
            ));
            None
        }
    };
    // The command line's own policy is reloaded too.
    if let Some(path) = opts.policy.clone() {
        let live = sessions.live(None).expect("loaded above");
        let tx = policy::reload::spawn(
            path,
            opts.profile.clone(),
            live,
            audit.clone(),
            opts.reload_interval,
            term.clone(),
        );
        reloads.lock().unwrap_or_else(|p| p.into_inner()).push(tx);
    }
    // SIGHUP reloads every profile's policy.
    let (hup, hups) = mpsc::channel::<()>();
    thread::Builder::new()
        .name("reload-fanout".into())
        .spawn(move || {
            for () in hups {
                for tx in reloads.lock().unwrap_or_else(|p| p.into_inner()).iter() {
                    let _ = tx.send(());
                }
            }
        })
        .expect("cannot start the reload thread");
    let loopback = serve_opts.listen.ip().is_loopback();
    let config = Config {
        listen: serve_opts.listen,
        endpoint: serve_opts.endpoint,
        sse: "/sse".into(),
        messages: "/messages".into(),
        max_sessions: serve_opts.max_sessions,
        idle: serve_opts.idle,
        origins: Origins::new(&serve_opts.origins, loopback),
        tokens,
        limits: serve_opts.limits,
        tls,
        argv,
        reload_interval: opts.reload_interval,
    };
    let code = serve::run(config, Arc::new(sessions), term.clone(), Some(hup));
    audit.close();
    term.finish();
    code
}
