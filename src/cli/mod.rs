//! The command line: options, their environment-variable fallbacks, the `policy`, `explain`
//! and `approvals` subcommands, validation with one-line errors that name the option, and the
//! help text. Produces a [`Command`] for `main` to run.

use crate::base::term::Verbosity;
use crate::gateway::BlockAs;
use crate::guards::sql;
use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

pub mod approvals;
pub mod audit;
mod keys;
pub mod pins;
pub mod run;
pub mod serve;
pub mod state;
pub mod tokens;
mod upstream;
mod watch;

pub const USAGE: &str = "\
sentinel - runtime security gateway for MCP servers

Usage:
  sentinel [OPTIONS] [--] SERVER_CMD [ARGS...]   proxy: run SERVER_CMD behind the gateway
  sentinel [OPTIONS] --upstream URL              proxy: a remote MCP server over HTTP
  sentinel [OPTIONS] < messages.jsonl            demo: judge JSON-RPC lines from stdin
  sentinel serve [OPTIONS] [--] SERVER_CMD [ARGS...]
                                                 MCP over HTTP: a SERVER_CMD process per
                                                 session (see Serve options)
  sentinel serve [OPTIONS] --upstream URL        MCP over HTTP on both sides
  sentinel policy check FILE                     validate a policy file (every profile)
  sentinel policy test FILE CASES                run a policy's test cases
  sentinel policy show-default                   print the built-in policy as a file
  sentinel explain [OPTIONS] [MESSAGE|-]         explain the decision on one message
  sentinel approvals list [--json]               calls held for a person's approval, of
                                                 every running Sentinel of yours
  sentinel approvals approve ID [--session]      approve a held call (for the session)
  sentinel approvals deny ID [--reason TEXT]     deny a held call
  sentinel approvals watch                       show held calls as they come and answer
                                                 them (see sentinel approvals --help)
  sentinel pins list|diff|accept|reset ...       the tool definitions pinned per server
                                                 (see sentinel pins --help)
  sentinel tokens new --tenant NAME [--file F]   a bearer token for serve --tokens
  sentinel audit keygen|verify|stats|tail|query  the audit log: signing keys, tamper
                                                 checks, counts and searches (see
                                                 sentinel audit --help)

Everything from SERVER_CMD on is passed to the server untouched (a server named
`policy`, `explain`, `approvals`, `pins`, `audit`, `serve` or `tokens` needs
`sentinel -- policy ...`).

Options:
      --policy FILE      policy file, YAML or .json [env: SENTINEL_POLICY]
                         [default: the built-in policy]
      --profile NAME     profile of the policy file [env: SENTINEL_PROFILE]
      --server-name NAME name matched by rules' `servers:` [default: the server command line,
                         or the --upstream URL without credentials and query]
      --upstream URL     the server is remote, MCP over HTTP (http:// or https://): no
                         SERVER_CMD; headers (Authorization) from SENTINEL_UPSTREAM_HEADERS
                         (`Name: value` lines) or --upstream-headers, never the command line
      --transport KIND   with --upstream: auto (Streamable HTTP, else HTTP+SSE),
                         streamable-http or sse [default: auto]
      --upstream-headers FILE  with --upstream: `Name: value` lines sent on every request
      --pins-dir DIR     where tool definitions are pinned per server [env:
                         SENTINEL_PINS_DIR] [default: the per-user state dir's pins/]
      --reload-interval MS  how often the policy file is checked for changes; 0 = only on
                         SIGHUP [default: 1000]
      --audit-log PATH   JSON Lines audit log [env: SENTINEL_AUDIT_LOG]
                         [default: ./security_audit.log, else the per-user state dir]
      --audit-fsync      fdatasync the audit log after every entry
      --audit-max-bytes N  rotate the log (FILE -> FILE.1 ...) before it would pass N bytes
                         (K, M, G: KiB, MiB, GiB) [default: never]
      --audit-keep N     rotated files kept, FILE.1 to FILE.N [default: 5]
      --audit-key FILE   sign checkpoints with this Ed25519 key (sentinel audit keygen)
                         [env: SENTINEL_AUDIT_KEY]
      --audit-checkpoint-every N  with --audit-key: a signed checkpoint every N entries
                         (and one at exit) [default: 1000]
      --max-rows N       built-in policy: largest LIMIT a read may ask for [default: 1000]
      --dialect NAME     built-in policy: SQL dialect: auto, sqlite, postgres, mysql,
                         mssql, snowflake, bigquery, duckdb, ... [default: auto: the
                         server's database when it can be told, else every one's rules]
      --block-as KIND    answer blocked calls with a JSON-RPC `error` or a tool `result`
                         with isError: true [default: error]
      --state URL        where breaker and approval state lives: `memory` (this process)
                         or redis://[:PASSWORD@]HOST[:PORT][/DB], shared by every Sentinel
                         using it [env: SENTINEL_STATE] [default: memory]
      --state-fail HOW   when that Redis cannot be reached: `closed` refuses the calls
                         whose limits cannot be checked, `open` lets them through with a
                         warning [default: closed]
      --no-color         no ANSI colours on stderr (also when NO_COLOR is set)
  -q, --quiet            print only errors on stderr
  -v, --verbose          also log allowed tool calls and lifecycle steps
  -h, --help             print this help
  -V, --version          print the version

Serve options (sentinel serve; the options above apply too):
      --listen ADDR      address and port to listen on [default: 127.0.0.1:8080]; a
                         non-loopback address without --tokens gets a loud warning
      --endpoint PATH    the Streamable HTTP endpoint [default: /mcp]; the legacy
                         HTTP+SSE transport is at /sse and /messages
      --tokens FILE      bearer tokens (SHA-256 hashes) and their tenants and profiles;
                         without it, no authentication
      --allow-origin O   an Origin allowed besides loopback pages (repeatable; * = any)
      --max-sessions N   MCP sessions (server processes) at most [default: 256]
      --session-idle S   end a session unused for S seconds [default: 1800]
      --max-body N       largest request body (K, M) [default: 4M]
      --max-connections N  concurrent connections at most [default: 512]
      --head-timeout S   a request head must arrive within S seconds [default: 10]
      --tls-cert FILE    serve HTTPS with this PEM certificate chain (with --tls-key)
      --tls-key FILE     the PEM private key of --tls-cert

Exit codes: the server's own exit code (128+N if signal N ended it); 2 bad usage or an
invalid policy; 126 server not executable; 127 server not found; 1 other errors.
`policy check` and `policy test` exit 1 when the file has errors or a case fails.
`approvals` exits 1 when the call or its Sentinel is not found or the answer is refused.
";

/// Settings shared by every mode.
#[derive(Clone, Debug)]
pub struct Options {
    pub audit_log: Option<PathBuf>,
    /// `--audit-fsync`, `--audit-max-bytes`, `--audit-keep`.
    pub audit_file: crate::audit::log::LogOptions,
    pub audit_key: Option<PathBuf>,
    /// `--audit-checkpoint-every`, when given.
    pub audit_checkpoint_every: Option<u64>,
    pub policy: Option<PathBuf>,
    pub profile: Option<String>,
    pub server_name: Option<String>,
    /// Where tool definitions are pinned (`None`: the per-user state directory).
    pub pins_dir: Option<PathBuf>,
    pub reload_interval: Duration,
    pub max_rows: u64,
    pub dialect: String,
    /// Whether --max-rows or --dialect was given (they configure the built-in policy only).
    pub builtin_tuned: bool,
    pub block_as: BlockAs,
    /// `--state`: a checked `redis://` URL, or `None` for this process's memory.
    pub state: Option<String>,
    /// `--state-fail`.
    pub state_fail: crate::guards::breaker::StoreFail,
    pub color: bool,
    pub verbosity: Verbosity,
}

impl Options {
    /// Where the policy comes from, as the policy tooling reads it.
    pub fn source(&self) -> crate::policy::tooling::Source<'_> {
        crate::policy::tooling::Source {
            file: self.policy.as_deref(),
            profile: self.profile.as_deref(),
            dialect: &self.dialect,
            max_rows: self.max_rows,
        }
    }
}

/// What to do.
#[derive(Debug)]
pub enum Command {
    Proxy(Options, Vec<OsString>),
    /// `sentinel serve`: its options and the server command.
    Serve(Options, Box<serve::ServeOptions>, Vec<OsString>),
    Demo(Options),
    PolicyCheck(PathBuf),
    PolicyTest(PathBuf, PathBuf),
    PolicyShowDefault(Options),
    /// The message text, or `None` to read it from stdin.
    Explain(Options, Option<String>),
    /// `sentinel approvals ...` (its own arguments; Sentinel's options do not apply).
    Approvals(approvals::Action),
    /// `sentinel audit ...` (its own arguments).
    Audit(Vec<OsString>),
    /// `sentinel pins ...` (its own arguments).
    Pins(Vec<OsString>),
    /// `sentinel tokens new ...`.
    Tokens(tokens::New),
    TokensHelp,
    /// The hidden `sentinel __upstream URL ...`: the stdio<->HTTP bridge `--upstream` runs.
    Upstream(crate::transport::http::upstream::Config),
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
    let env_string = |k: &str| {
        env(k)
            .filter(|v| !v.is_empty())
            .map(|v| v.to_string_lossy().into_owned())
    };
    let mut opts = Options {
        audit_log: env_string("SENTINEL_AUDIT_LOG").map(PathBuf::from),
        audit_file: crate::audit::log::LogOptions::default(),
        audit_key: env_string("SENTINEL_AUDIT_KEY").map(PathBuf::from),
        audit_checkpoint_every: None,
        policy: env_string("SENTINEL_POLICY").map(PathBuf::from),
        profile: env_string("SENTINEL_PROFILE"),
        server_name: None,
        pins_dir: env_string("SENTINEL_PINS_DIR").map(PathBuf::from),
        reload_interval: Duration::from_millis(1000),
        max_rows: 1000,
        dialect: "auto".into(),
        builtin_tuned: false,
        block_as: BlockAs::Error,
        state: None,
        state_fail: crate::guards::breaker::StoreFail::Closed,
        color: true,
        verbosity: Verbosity::Normal,
    };
    if args.first().and_then(|a| a.to_str()) == Some("approvals") {
        return approvals::parse(args.into_iter().skip(1).collect()).map(Command::Approvals);
    }
    match args.first().and_then(|a| a.to_str()) {
        Some("audit") => return Ok(Command::Audit(args.into_iter().skip(1).collect())),
        Some("pins") => return Ok(Command::Pins(args.into_iter().skip(1).collect())),
        Some("tokens") => {
            return Ok(tokens::parse(args.into_iter().skip(1).collect())?
                .map_or(Command::TokensHelp, Command::Tokens))
        }
        Some("__upstream") => {
            return upstream::bridge(args.into_iter().skip(1).collect()).map(Command::Upstream)
        }
        _ => {}
    }
    if let Some(v) = env_string("SENTINEL_STATE") {
        opts.state =
            state::parse_url(&v).map_err(|e| UsageError(format!("SENTINEL_STATE: {e}")))?;
    }
    let sub = match args.first().and_then(|a| a.to_str()) {
        Some("policy") => Some("policy"),
        Some("explain") => Some("explain"),
        Some("serve") => Some("serve"),
        _ => None,
    };
    let serving = sub == Some("serve");
    let mut serve_opts = serve::ServeOptions::default();
    let mut parser = lexopt::Parser::from_args(args.into_iter().skip(usize::from(sub.is_some())));
    let err = |e: lexopt::Error| UsageError(format!("{e} (see sentinel --help)"));
    let mut words: Vec<String> = Vec::new();
    let mut up = upstream::Args::default();
    while let Some(arg) = parser.next().map_err(err)? {
        match arg {
            Long("audit-log") => opts.audit_log = Some(parser.value().map_err(err)?.into()),
            Long("audit-fsync") => opts.audit_file.fsync = true,
            Long("audit-max-bytes") => {
                let v = string(parser.value().map_err(err)?, "--audit-max-bytes")?;
                opts.audit_file.max_bytes = Some(bytes(&v).ok_or_else(|| {
                    UsageError(format!(
                        "invalid value '{v}' for --audit-max-bytes: expected a size in bytes, at \
                         least 1, with an optional K, M or G (KiB, MiB, GiB), e.g. 10M"
                    ))
                })?);
            }
            Long("audit-keep") => {
                let v = string(parser.value().map_err(err)?, "--audit-keep")?;
                opts.audit_file.keep = v.parse().ok().filter(|n| (1..=1000).contains(n)).ok_or_else(|| {
                    UsageError(format!(
                        "invalid value '{v}' for --audit-keep: expected a number of rotated files from 1 to 1000"
                    ))
                })?;
            }
            Long("audit-key") => opts.audit_key = Some(parser.value().map_err(err)?.into()),
            Long("audit-checkpoint-every") => {
                let v = string(parser.value().map_err(err)?, "--audit-checkpoint-every")?;
                opts.audit_checkpoint_every = Some(v.parse().ok().filter(|&n| n >= 1).ok_or_else(|| {
                    UsageError(format!(
                        "invalid value '{v}' for --audit-checkpoint-every: expected a number of entries, 1 or more"
                    ))
                })?);
            }
            Long("policy") => opts.policy = Some(parser.value().map_err(err)?.into()),
            Long("profile") => {
                opts.profile = Some(string(parser.value().map_err(err)?, "--profile")?)
            }
            Long("server-name") => {
                opts.server_name = Some(string(parser.value().map_err(err)?, "--server-name")?)
            }
            Long("pins-dir") => opts.pins_dir = Some(parser.value().map_err(err)?.into()),
            Long("reload-interval") => {
                let v = string(parser.value().map_err(err)?, "--reload-interval")?;
                let ms: u64 = v.parse().map_err(|_| {
                    UsageError(format!(
                        "invalid value '{v}' for --reload-interval: expected milliseconds, 0 or more"
                    ))
                })?;
                opts.reload_interval = Duration::from_millis(ms);
            }
            Long("max-rows") => {
                let v = string(parser.value().map_err(err)?, "--max-rows")?;
                opts.max_rows = v.parse().map_err(|_| {
                    UsageError(format!(
                        "invalid value '{v}' for --max-rows: expected a whole number of rows, 0 or more"
                    ))
                })?;
                opts.builtin_tuned = true;
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
                opts.builtin_tuned = true;
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
            Long("state") => {
                opts.state = state::parse_url(&string(parser.value().map_err(err)?, "--state")?)
                    .map_err(UsageError)?
            }
            Long("state-fail") => {
                let v = string(parser.value().map_err(err)?, "--state-fail")?;
                opts.state_fail = state::parse_fail(&v).map_err(UsageError)?;
            }
            Long(name) if upstream::OPTIONS.contains(&name) => {
                let name = name.to_owned();
                up.set(&name, parser.value().map_err(err)?)?;
            }
            Long("no-color") => opts.color = false,
            Short('q') | Long("quiet") => opts.verbosity = Verbosity::Quiet,
            Short('v') | Long("verbose") => opts.verbosity = Verbosity::Verbose,
            Short('h') | Long("help") => return Ok(Command::Help),
            Short('V') | Long("version") => return Ok(Command::Version),
            Long(name) if serving && serve::OPTIONS.contains(&name) => {
                let name = name.to_owned();
                serve::option(&mut serve_opts, &name, parser.value().map_err(err)?)?;
            }
            Value(word) if sub.is_some() && !serving => words.push(string(word, "an argument")?),
            Value(program) => {
                up.no_server_cmd()?;
                let mut argv = vec![program];
                argv.extend(parser.raw_args().map_err(err)?);
                check_builtin(&opts)?;
                if serving {
                    serve::check(&serve_opts)?;
                    return Ok(Command::Serve(opts, Box::new(serve_opts), argv));
                }
                return Ok(Command::Proxy(opts, argv));
            }
            _ => return Err(err(arg.unexpected())),
        }
    }
    // `serve --upstream URL`: HTTP on both sides, a bridge per session as its server.
    if let Some(argv) = up.proxy(sub.is_some() && !serving, &mut opts, &env)? {
        check_builtin(&opts)?;
        if serving {
            serve::check(&serve_opts)?;
            return Ok(Command::Serve(opts, Box::new(serve_opts), argv));
        }
        return Ok(Command::Proxy(opts, argv));
    }
    if sub != Some("policy") {
        check_builtin(&opts)?;
    }
    match sub {
        None => Ok(Command::Demo(opts)),
        Some("serve") => Err(UsageError(
            "serve needs the MCP server to run per session: sentinel serve [OPTIONS] -- \
             SERVER_CMD [ARGS...], or a remote one: sentinel serve --upstream URL"
                .into(),
        )),
        Some("explain") => match words.as_slice() {
            [] => Ok(Command::Explain(opts, None)),
            [m] if m == "-" => Ok(Command::Explain(opts, None)),
            [m] => Ok(Command::Explain(opts, Some(m.clone()))),
            _ => Err(UsageError(
                "explain takes one MESSAGE (or - for stdin); quote the JSON".into(),
            )),
        },
        _ => {
            let words: Vec<&str> = words.iter().map(String::as_str).collect();
            match words.as_slice() {
                ["check", file] => Ok(Command::PolicyCheck(PathBuf::from(file))),
                ["test", file, cases] => Ok(Command::PolicyTest(
                    PathBuf::from(file),
                    PathBuf::from(cases),
                )),
                ["show-default"] => Ok(Command::PolicyShowDefault(opts)),
                ["check", ..] => Err(UsageError("usage: sentinel policy check FILE".into())),
                ["test", ..] => Err(UsageError("usage: sentinel policy test FILE CASES".into())),
                _ => Err(UsageError(
                    "unknown policy command: expected check, test or show-default".into(),
                )),
            }
        }
    }
}

/// `--max-rows`/`--dialect` tune the built-in policy; with a policy file they would be
/// silently ignored, so they are refused. `--profile` means nothing without a file.
fn check_builtin(opts: &Options) -> Result<(), UsageError> {
    if opts.audit_checkpoint_every.is_some() && opts.audit_key.is_none() {
        return Err(UsageError(
            "--audit-checkpoint-every needs --audit-key FILE (or SENTINEL_AUDIT_KEY): only \
             signed logs have checkpoints"
                .into(),
        ));
    }
    if opts.profile.is_some() && opts.policy.is_none() {
        return Err(UsageError(
            "--profile (or SENTINEL_PROFILE) needs a policy file: pass --policy FILE".into(),
        ));
    }
    if opts.builtin_tuned && opts.policy.is_some() {
        return Err(UsageError(
            "--max-rows and --dialect configure the built-in policy; with --policy set them in \
             the file's sql rules"
                .into(),
        ));
    }
    Ok(())
}

/// `N`, `NK`, `NM`, `NG` (KiB, MiB, GiB), at least 1.
pub(crate) fn bytes(v: &str) -> Option<u64> {
    let (digits, unit) = match v.as_bytes().last()? {
        b'K' | b'k' => (&v[..v.len() - 1], 1 << 10),
        b'M' | b'm' => (&v[..v.len() - 1], 1 << 20),
        b'G' | b'g' => (&v[..v.len() - 1], 1 << 30),
        _ => (v, 1),
    };
    let n: u64 = digits.parse().ok()?;
    n.checked_mul(unit).filter(|&b| b >= 1)
}

pub(crate) fn string(v: OsString, option: &str) -> Result<String, UsageError> {
    v.into_string()
        .map_err(|v| UsageError(format!("invalid value {v:?} for {option}: not valid UTF-8")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(args: &[&str], env: &[(&str, &str)]) -> Options {
        let args = args.iter().map(OsString::from).collect();
        let env = |k: &str| env.iter().find(|(n, _)| *n == k).map(|(_, v)| v.into());
        match parse(args, env) {
            Ok(Command::Proxy(o, _)) => o,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_pins_directory_is_the_option_else_the_environment_else_unset() {
        let env = [("SENTINEL_PINS_DIR", "/env/pins")];
        assert_eq!(options(&["srv"], &[]).pins_dir, None);
        assert_eq!(
            options(&["srv"], &env).pins_dir,
            Some(PathBuf::from("/env/pins"))
        );
        assert_eq!(
            options(&["--pins-dir", "/opt/pins", "srv"], &env).pins_dir,
            Some(PathBuf::from("/opt/pins"))
        );
        assert!(parse(vec!["--pins-dir".into()], |_| None).is_err());
    }
}
