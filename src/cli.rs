//! The command line: options, their environment-variable fallbacks, validation with one-line
//! errors that name the option, and the help text. Produces a [`Command`] for `main` to run.

use crate::gateway::BlockAs;
use crate::sql;
use crate::term::Verbosity;
use std::ffi::OsString;
use std::path::PathBuf;

pub const USAGE: &str = "\
sentinel - runtime security gateway for MCP servers

Usage:
  sentinel [OPTIONS] [--] SERVER_CMD [ARGS...]   proxy: run SERVER_CMD behind the gateway
  sentinel [OPTIONS] < messages.jsonl            demo: judge JSON-RPC lines from stdin

Everything from SERVER_CMD on is passed to the server untouched.

Options:
      --audit-log PATH   JSON Lines audit log [env: SENTINEL_AUDIT_LOG]
                         [default: ./security_audit.log, else the per-user state dir]
      --max-rows N       largest LIMIT a read may ask for [default: 1000]
      --dialect NAME     SQL dialect: generic, sqlite, postgres, mysql, mssql, snowflake,
                         bigquery, duckdb, ... [default: generic]
      --block-as KIND    answer blocked calls with a JSON-RPC `error` or a tool `result`
                         with isError: true [default: error]
      --no-color         no ANSI colours on stderr (also when NO_COLOR is set)
  -q, --quiet            print only errors on stderr
  -v, --verbose          also log allowed tool calls and lifecycle steps
  -h, --help             print this help
  -V, --version          print the version

Exit codes: the server's own exit code (128+N if signal N ended it); 2 bad usage;
126 server not executable; 127 server not found; 1 other errors.
";

/// Settings shared by every mode.
#[derive(Clone, Debug)]
pub struct Options {
    pub audit_log: Option<PathBuf>,
    pub max_rows: u64,
    pub dialect: String,
    pub block_as: BlockAs,
    pub color: bool,
    pub verbosity: Verbosity,
}

/// What to do.
#[derive(Debug)]
pub enum Command {
    Proxy(Options, Vec<OsString>),
    Demo(Options),
    Help,
    Version,
}

/// A usage error: one line naming the option, exit code 2.
#[derive(Debug)]
pub struct UsageError(pub String);

/// Parses the arguments after the program name; `env` looks up environment variables.
pub fn parse(
    args: Vec<OsString>,
    env: impl Fn(&str) -> Option<OsString>,
) -> Result<Command, UsageError> {
    use lexopt::prelude::*;
    let mut opts = Options {
        audit_log: env("SENTINEL_AUDIT_LOG")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from),
        max_rows: 1000,
        dialect: "generic".into(),
        block_as: BlockAs::Error,
        color: true,
        verbosity: Verbosity::Normal,
    };
    let mut parser = lexopt::Parser::from_args(args);
    let err = |e: lexopt::Error| UsageError(format!("{e} (see sentinel --help)"));
    while let Some(arg) = parser.next().map_err(err)? {
        match arg {
            Long("audit-log") => opts.audit_log = Some(parser.value().map_err(err)?.into()),
            Long("max-rows") => {
                let v = string(parser.value().map_err(err)?, "--max-rows")?;
                opts.max_rows = v.parse().map_err(|_| {
                    UsageError(format!(
                        "invalid value '{v}' for --max-rows: expected a whole number of rows, 0 or more"
                    ))
                })?;
            }
            Long("dialect") => {
                let v = string(parser.value().map_err(err)?, "--dialect")?;
                if !sql::is_dialect(&v) {
                    return Err(UsageError(format!(
                        "invalid value '{v}' for --dialect: expected one of {}",
                        sql::DIALECTS.join(", ")
                    )));
                }
                opts.dialect = v.to_ascii_lowercase();
            }
            Long("block-as") => {
                let v = string(parser.value().map_err(err)?, "--block-as")?;
                opts.block_as = match v.as_str() {
                    "error" => BlockAs::Error,
                    "result" => BlockAs::Result,
                    _ => {
                        return Err(UsageError(format!(
                            "invalid value '{v}' for --block-as: expected 'error' or 'result'"
                        )))
                    }
                };
            }
            Long("no-color") => opts.color = false,
            Short('q') | Long("quiet") => opts.verbosity = Verbosity::Quiet,
            Short('v') | Long("verbose") => opts.verbosity = Verbosity::Verbose,
            Short('h') | Long("help") => return Ok(Command::Help),
            Short('V') | Long("version") => return Ok(Command::Version),
            Value(program) => {
                let mut argv = vec![program];
                argv.extend(parser.raw_args().map_err(err)?);
                return Ok(Command::Proxy(opts, argv));
            }
            _ => return Err(err(arg.unexpected())),
        }
    }
    Ok(Command::Demo(opts))
}

fn string(v: OsString, option: &str) -> Result<String, UsageError> {
    v.into_string()
        .map_err(|v| UsageError(format!("invalid value {v:?} for {option}: not valid UTF-8")))
}
