//! `sentinel`: argument parsing and dispatch. Everything else lives in the modules listed in
//! ARCHITECTURE.md.

mod audit;
mod base;
mod cli;
mod egress;
mod gateway;
mod guards;
mod policy;
mod secrets;
mod transport;

// Until the egress and secrets guards move under guards/: the paths they use.
use base::{bytes, glob};

use std::ffi::OsString;
use std::process::ExitCode;
use std::sync::Arc;

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let command = match cli::parse(args, |k| std::env::var_os(k)) {
        Ok(c) => c,
        Err(cli::UsageError(msg)) => {
            eprintln!("sentinel: error: {msg}");
            return ExitCode::from(2);
        }
    };
    let (opts, server) = match command {
        cli::Command::Help => {
            print!("{}", cli::USAGE);
            return ExitCode::SUCCESS;
        }
        cli::Command::Version => {
            println!("sentinel {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        cli::Command::PolicyCheck(file) => return ExitCode::from(policy::tooling::check(&file)),
        cli::Command::PolicyTest(file, cases) => {
            return ExitCode::from(policy::tooling::test(&file, &cases))
        }
        cli::Command::PolicyShowDefault(o) => {
            return ExitCode::from(policy::tooling::show_default(&o.source()))
        }
        cli::Command::Explain(o, message) => {
            return ExitCode::from(policy::tooling::explain(
                &o.source(),
                o.server_name.as_deref(),
                message.as_deref(),
            ))
        }
        cli::Command::Demo(o) => (o, None),
        cli::Command::Proxy(o, argv) => (o, Some(argv)),
    };
    ExitCode::from(run(opts, server))
}

/// Demo or proxy mode: load the policy, open the audit log, start reloading, run the session.
fn run(opts: cli::Options, server: Option<Vec<OsString>>) -> u8 {
    if server.is_some() {
        // Before any thread starts (the reload thread included): the signals Sentinel passes
        // on must reach only its signal thread, never kill it by default action.
        transport::server::block_forwarded_signals();
    }
    let term = base::term::Term::new(opts.color, opts.verbosity);
    if opts.profile.is_some() && opts.policy.is_none() {
        term.error("--profile (or SENTINEL_PROFILE) needs a policy file: pass --policy FILE");
        return 2;
    }
    let policy = match policy::tooling::load(&opts.source()) {
        Ok(p) => Arc::new(p),
        Err(e) => {
            term.error(&format!("invalid policy, not starting: {e}"));
            return 2;
        }
    };
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
    let clock = base::clock::from_env();
    let audit = match audit::Audit::open(
        opts.audit_log.as_deref(),
        command_line,
        clock.clone(),
        term.clone(),
    ) {
        Ok(a) => a,
        Err(e) => {
            term.error(&format!(
                "cannot open the audit log {} ({}); pass a writable path with --audit-log or \
                 SENTINEL_AUDIT_LOG",
                e.path.display(),
                e.error
            ));
            return 1;
        }
    };
    term.info(&format!("policy: {}", policy.summary()));
    term.info(&format!("breaker: {}", policy.breaker.summary()));
    let live = Arc::new(policy::Live::new(policy));
    let audit = Arc::new(audit);
    let gateway = Arc::new(gateway::Gateway::new(
        live.clone(),
        server_name,
        audit.clone(),
        term.clone(),
        opts.block_as,
        server.is_some(),
        clock,
    ));
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
    let code = match server {
        None => transport::stdio::run_demo(gateway),
        Some(argv) => transport::stdio::run_proxy(gateway, &argv, term.clone(), reload),
    };
    term.finish();
    code
}
