//! `sentinel`: argument parsing and dispatch. Everything else lives in the library modules
//! listed in ARCHITECTURE.md.

mod audit;
mod bytes;
mod cli;
mod clock;
mod gateway;
mod jsonrpc;
mod lines;
mod policy;
mod proxy;
mod scan;
mod server;
mod sql;
mod term;

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
        cli::Command::Demo(o) => (o, None),
        cli::Command::Proxy(o, argv) => (o, Some(argv)),
    };
    let term = term::Term::new(opts.color, opts.verbosity);
    let server_label = server.as_ref().map_or_else(
        || "(demo: no server)".to_owned(),
        |argv| {
            argv.iter()
                .map(|a| a.to_string_lossy())
                .collect::<Vec<_>>()
                .join(" ")
        },
    );
    let audit = match audit::Audit::open(
        opts.audit_log.as_deref(),
        server_label,
        Arc::new(clock::SystemClock),
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
            return ExitCode::from(1);
        }
    };
    let policy = policy::Policy::builtin(&opts.dialect, opts.max_rows);
    let gateway =
        gateway::Gateway::new(policy, audit, term.clone(), opts.block_as, server.is_some());
    let code = match server {
        None => proxy::run_demo(gateway),
        Some(argv) => proxy::run_proxy(gateway, &argv, term.clone()),
    };
    term.finish();
    ExitCode::from(code)
}
