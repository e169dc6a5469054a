//! `sentinel`: argument parsing and dispatch. Everything else lives in the modules listed in
//! ARCHITECTURE.md.

mod audit;
mod base;
mod cli;
mod gateway;
mod guards;
mod policy;
mod transport;

use std::ffi::OsString;
use std::process::ExitCode;

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
        cli::Command::Approvals(action) => return ExitCode::from(cli::approvals::run(action)),
        cli::Command::Audit(args) => return ExitCode::from(cli::audit::run(args)),
        cli::Command::Pins(args) => return ExitCode::from(cli::pins::run(args)),
        cli::Command::Tokens(new) => return ExitCode::from(cli::tokens::run(new)),
        cli::Command::TokensHelp => {
            print!("{}", cli::tokens::HELP);
            return ExitCode::SUCCESS;
        }
        cli::Command::Serve(o, s, argv) => return ExitCode::from(cli::serve::run(o, *s, argv)),
        cli::Command::Upstream(c) => {
            return ExitCode::from(transport::http::upstream::run_bridge(c))
        }
        cli::Command::Demo(o) => (o, None),
        cli::Command::Proxy(o, argv) => (o, Some(argv)),
    };
    ExitCode::from(cli::run::session(opts, server))
}
