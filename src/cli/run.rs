//! A gateway session from the command line's options: load the policy (refusing to start on
//! an invalid one), open the audit log, build the gateway, start the reload thread, and run
//! the transport (demo mode without a server command, the stdio proxy with one). The one
//! place that puts every layer together.

use super::Options;
use crate::audit;
use crate::base::{clock, term};
use crate::gateway;
use crate::policy;
use crate::transport;
use std::ffi::OsString;
use std::sync::Arc;

/// Demo or proxy mode: load the policy, open the audit log, start reloading, run the session.
pub fn session(opts: Options, server: Option<Vec<OsString>>) -> u8 {
    if server.is_some() {
        // Before any thread starts (the reload thread included): the signals Sentinel passes
        // on must reach only its signal thread, never kill it by default action.
        transport::signals::block_forwarded_signals();
    }
    let term = term::Term::new(opts.color, opts.verbosity);
    let command_line = server.as_ref().map_or_else(
        || "(demo: no server)".to_owned(),
        |argv| {
            argv.iter()
                .map(|a| a.to_string_lossy())
                .collect::<Vec<_>>()
                .join(" ")
        },
    );
    let server_name = opts
        .server_name
        .clone()
        .unwrap_or_else(|| command_line.clone());
    let Started {
        policy,
        audit,
        clock,
    } = match start(&opts, &term, command_line.clone()) {
        Ok(s) => s,
        Err(code) => return code,
    };
    // Where the server's tool definitions are pinned (`sentinel pins`); without a directory,
    // pinning reports that it cannot work (and, under `pins: enforce`, trusts no tool).
    let pins = crate::guards::pins::Pins::new(opts.pins_dir.clone())
        .map(|pins| gateway::PinContext {
            pins,
            command: command_line.clone(),
        })
        .map_err(|e| e.to_string());
    // `--state`: with Redis, every Sentinel of this server (by name) shares one breaker state.
    let state = match super::state::open_state(&opts, &term) {
        Ok(s) => s,
        Err(e) => {
            term.error(&e);
            return 2;
        }
    };
    let state_key = match state.shared {
        Some(_) => format!("server:{server_name}"),
        None => "stdio".to_owned(),
    };
    let live = Arc::new(policy::Live::new(policy));
    let closing = audit.clone();
    let gateway = Arc::new(
        state.apply(
            gateway::Gateway::new(
                live.clone(),
                server_name,
                audit.clone(),
                term.clone(),
                opts.block_as,
                server.is_some(),
                clock,
            )
            .with_pins(pins),
            state_key,
        ),
    );
    let reload = opts.policy.clone().map(|path| {
        policy::reload::spawn(
            path,
            opts.profile.clone(),
            live,
            audit,
            opts.reload_interval,
            term.clone(),
        )
    });
    // The local approval channel (`sentinel approvals`): Sentinel runs on without it.
    let _local = match transport::local::start(gateway.clone(), term.clone()) {
        Ok(listener) => Some(listener),
        Err(e) => {
            term.warn(&format!(
                "the local approval channel (sentinel approvals) is off: {e}"
            ));
            None
        }
    };
    let code = match server {
        None => transport::stdio::run_demo(gateway),
        Some(argv) => transport::stdio::run_proxy(gateway, &argv, term.clone(), reload),
    };
    // The session's closing checkpoint (signed, when there is a key), after its last entry.
    closing.close();
    term.finish();
    code
}

/// What every mode that runs sessions starts from.
pub(super) struct Started {
    pub policy: Arc<policy::Policy>,
    pub audit: Arc<audit::Audit>,
    pub clock: Arc<dyn clock::Clock>,
}

/// Loads the policy (refusing an invalid one: exit code 2) and opens the audit log (exit code
/// 1 when it cannot be), saying what is in force on stderr.
pub(super) fn start(
    opts: &Options,
    term: &term::Term,
    command_line: String,
) -> Result<Started, u8> {
    if opts.profile.is_some() && opts.policy.is_none() {
        term.error("--profile (or SENTINEL_PROFILE) needs a policy file: pass --policy FILE");
        return Err(2);
    }
    let policy = match policy::tooling::load(&opts.source()) {
        Ok(p) => Arc::new(p),
        Err(e) => {
            term.error(&format!("invalid policy, not starting: {e}"));
            return Err(2);
        }
    };
    let clock = clock::from_env();
    let key = match opts.audit_key.as_deref().map(audit::keys::load).transpose() {
        Ok(k) => k.map(Arc::new),
        Err(e) => {
            term.error(&format!("not starting: {e}"));
            return Err(2);
        }
    };
    let settings = audit::Settings {
        log: opts.audit_file.clone(),
        key,
        checkpoint_every: opts
            .audit_checkpoint_every
            .unwrap_or(audit::DEFAULT_CHECKPOINT_EVERY),
    };
    let audit = match audit::Audit::open(
        opts.audit_log.as_deref(),
        command_line,
        clock.clone(),
        term.clone(),
        settings,
    ) {
        Ok(a) => a,
        Err(e) => {
            term.error(&format!(
                "cannot open the audit log {} ({}); pass a writable path with --audit-log or \
                 SENTINEL_AUDIT_LOG",
                e.path.display(),
                e.error
            ));
            return Err(1);
        }
    };
    term.info(&format!(
        "audit log: {} (session {}{})",
        audit.path().display(),
        audit.session_id(),
        if opts.audit_key.is_some() {
            ", signed checkpoints"
        } else {
            ""
        }
    ));
    term.info(&format!("policy: {}", policy.summary()));
    term.info(&format!("breaker: {}", policy.breaker.summary()));
    Ok(Started {
        policy,
        audit: Arc::new(audit),
        clock,
    })
}
