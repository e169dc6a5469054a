//! The command line of upstream mode: the proxy's `--upstream URL`, `--transport KIND` and
//! `--upstream-headers FILE` (validated here, at parse time: the URL, the transport, the
//! headers from the file and `SENTINEL_UPSTREAM_HEADERS`), which turn into the argv of the
//! bridge the proxy runs as its server; and the hidden `sentinel __upstream URL ...` that is
//! that bridge (`transport::http::upstream::run_bridge`).

use super::{Options, UsageError};
use crate::transport::http::upstream::{self, Config, Kind};
use std::ffi::OsString;
use std::path::PathBuf;

/// The options `parse` hands here.
pub const OPTIONS: [&str; 3] = ["upstream", "transport", "upstream-headers"];

/// The upstream options as given on the proxy's command line.
#[derive(Default)]
pub struct Args {
    url: Option<String>,
    transport: Option<String>,
    headers_file: Option<PathBuf>,
}

impl Args {
    /// Takes one of [`OPTIONS`] and its value.
    pub fn set(&mut self, option: &str, value: OsString) -> Result<(), UsageError> {
        match option {
            "upstream-headers" => self.headers_file = Some(value.into()),
            "upstream" => self.url = Some(super::string(value, "--upstream")?),
            _ => self.transport = Some(super::string(value, "--transport")?),
        }
        Ok(())
    }

    /// A SERVER_CMD was given: refused with `--upstream`.
    pub fn no_server_cmd(&self) -> Result<(), UsageError> {
        if self.url.is_some() {
            return Err(UsageError(
                "--upstream URL is the server: no SERVER_CMD is allowed with it (remove one \
                 or the other)"
                    .into(),
            ));
        }
        self.no_orphans()
    }

    /// `--transport` and `--upstream-headers` mean nothing without `--upstream`.
    fn no_orphans(&self) -> Result<(), UsageError> {
        if self.url.is_none() && (self.transport.is_some() || self.headers_file.is_some()) {
            return Err(UsageError(
                "--transport and --upstream-headers need --upstream URL".into(),
            ));
        }
        Ok(())
    }

    /// With `--upstream` (and no subcommand): the bridge's argv, the proxy's server command,
    /// and the server name defaulting to the URL. `env` is the environment, for the headers.
    pub fn proxy(
        self,
        subcommand: bool,
        opts: &mut Options,
        env: &impl Fn(&str) -> Option<OsString>,
    ) -> Result<Option<Vec<OsString>>, UsageError> {
        self.no_orphans()?;
        let Some(url) = &self.url else {
            return Ok(None);
        };
        if subcommand {
            return Err(UsageError(
                "--upstream runs the proxy; it does not go with a subcommand".into(),
            ));
        }
        let config = config(url, self.transport.as_deref(), self.headers_file)?;
        let env_headers = env(upstream::HEADERS_ENV).map(|v| v.to_string_lossy().into_owned());
        upstream::load_headers(env_headers.as_deref(), config.headers_file.as_deref())
            .map_err(UsageError)?;
        if opts.server_name.is_none() {
            opts.server_name = Some(upstream::display_name(&config.url));
        }
        Ok(Some(upstream::bridge_argv(&config)))
    }
}

fn config(
    url: &str,
    transport: Option<&str>,
    headers_file: Option<PathBuf>,
) -> Result<Config, UsageError> {
    let url = upstream::parse_url(url)
        .map_err(|e| UsageError(format!("invalid value for --upstream: {e}")))?;
    let transport = match transport {
        None => Kind::Auto,
        Some(v) => Kind::parse(v).ok_or_else(|| {
            UsageError(format!(
                "invalid value '{v}' for --transport: expected auto, streamable-http or sse"
            ))
        })?,
    };
    Ok(Config {
        url,
        transport,
        headers_file,
    })
}

/// `sentinel __upstream URL [--transport KIND] [--upstream-headers FILE]` (the arguments
/// after `__upstream`).
pub fn bridge(args: Vec<OsString>) -> Result<Config, UsageError> {
    use lexopt::prelude::*;
    let mut parser = lexopt::Parser::from_args(args);
    let err = |e: lexopt::Error| UsageError(format!("__upstream: {e}"));
    let mut args = Args::default();
    while let Some(arg) = parser.next().map_err(err)? {
        match arg {
            Long("transport") => args.set("transport", parser.value().map_err(err)?)?,
            Long("upstream-headers") => {
                args.set("upstream-headers", parser.value().map_err(err)?)?
            }
            Value(v) if args.url.is_none() => args.set("upstream", v)?,
            _ => return Err(err(arg.unexpected())),
        }
    }
    let url = args.url.ok_or_else(|| {
        UsageError(
            "usage: sentinel __upstream URL [--transport KIND] [--upstream-headers FILE]".into(),
        )
    })?;
    config(&url, args.transport.as_deref(), args.headers_file)
}

#[cfg(test)]
mod tests {
    use super::super::{parse, Command};
    use std::ffi::OsString;

    fn run(args: &[&str], env: &[(&str, &str)]) -> Result<Command, String> {
        let args = args.iter().map(OsString::from).collect();
        let env = |k: &str| env.iter().find(|(n, _)| *n == k).map(|(_, v)| v.into());
        parse(args, env).map_err(|e| e.0)
    }

    #[test]
    fn upstream_makes_the_bridge_the_server() {
        let Ok(Command::Proxy(o, argv)) = run(
            &[
                "--upstream",
                "https://u:p@mcp.example.com/mcp?k=1",
                "--transport",
                "sse",
            ],
            &[],
        ) else {
            panic!()
        };
        assert_eq!(
            o.server_name.as_deref(),
            Some("https://mcp.example.com/mcp")
        );
        let tail: Vec<_> = argv[1..].iter().map(|a| a.to_str().unwrap()).collect();
        assert_eq!(
            tail,
            [
                "__upstream",
                "https://u:p@mcp.example.com/mcp?k=1",
                "--transport",
                "sse"
            ]
        );
    }

    #[test]
    fn usage_errors() {
        let e = run(&["--upstream", "http://h/mcp", "srv"], &[]).unwrap_err();
        assert!(e.contains("no SERVER_CMD"), "{e}");
        assert!(run(&["--upstream", "file:///x"], &[])
            .unwrap_err()
            .contains("http"));
        assert!(run(&["--transport", "sse"], &[]).is_err());
        assert!(run(&["--upstream", "http://h/", "--transport", "ws"], &[]).is_err());
        let e = run(
            &["--upstream", "http://h/"],
            &[("SENTINEL_UPSTREAM_HEADERS", "Bearer s3cret")],
        )
        .unwrap_err();
        assert!(
            e.contains("SENTINEL_UPSTREAM_HEADERS line 1") && !e.contains("s3cret"),
            "{e}"
        );
    }

    #[test]
    fn the_hidden_bridge_command() {
        let Ok(Command::Upstream(c)) = run(
            &[
                "__upstream",
                "http://127.0.0.1:1/mcp",
                "--transport",
                "streamable-http",
            ],
            &[],
        ) else {
            panic!()
        };
        assert_eq!(c.url.as_str(), "http://127.0.0.1:1/mcp");
        assert!(run(&["__upstream"], &[]).is_err());
    }
}
