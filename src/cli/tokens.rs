//! `sentinel tokens new`: makes a bearer token for `sentinel serve --tokens FILE`. The token
//! (256 random bits) is printed once on stdout, for the client's configuration; only its
//! SHA-256 goes into the tokens file, appended as a new entry with its tenant and profile (the
//! file is created, owner-only, when missing), or printed on stderr to paste by hand.

use super::UsageError;
use crate::base::hex::hex;
use crate::transport::http::auth::hash_token;
use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;

pub const HELP: &str = "\
sentinel tokens new --tenant NAME [--profile PROFILE] [--file FILE]

Makes a bearer token for `sentinel serve --tokens FILE` and prints it on stdout (once: it is
not stored). Its SHA-256, tenant and profile are appended to FILE (created owner-only when
missing; a running serve reloads it), or, without --file, printed on stderr.
";

#[derive(Debug)]
pub struct New {
    tenant: String,
    profile: Option<String>,
    file: Option<PathBuf>,
}

/// Parses the arguments after `tokens`.
pub fn parse(args: Vec<OsString>) -> Result<Option<New>, UsageError> {
    use lexopt::prelude::*;
    let mut p = lexopt::Parser::from_args(args);
    let err = |e: lexopt::Error| UsageError(format!("{e} (see sentinel tokens --help)"));
    let (mut tenant, mut profile, mut file, mut verb) = (None, None, None, None);
    while let Some(arg) = p.next().map_err(err)? {
        match arg {
            Long("tenant") => tenant = Some(super::string(p.value().map_err(err)?, "--tenant")?),
            Long("profile") => profile = Some(super::string(p.value().map_err(err)?, "--profile")?),
            Long("file") => file = Some(PathBuf::from(p.value().map_err(err)?)),
            Short('h') | Long("help") => return Ok(None),
            Value(v) if verb.is_none() => verb = Some(super::string(v, "the command")?),
            _ => return Err(err(arg.unexpected())),
        }
    }
    if verb.as_deref() != Some("new") {
        return Err(UsageError(
            "usage: sentinel tokens new --tenant NAME [--profile PROFILE] [--file FILE]".into(),
        ));
    }
    let safe = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    };
    let tenant = tenant.ok_or_else(|| UsageError("tokens new needs --tenant NAME".into()))?;
    for (what, v) in [("--tenant", Some(&tenant)), ("--profile", profile.as_ref())] {
        if let Some(v) = v.filter(|v| !safe(v)) {
            return Err(UsageError(format!(
                "invalid value '{v}' for {what}: use letters, digits, '-', '_' and '.'"
            )));
        }
    }
    Ok(Some(New {
        tenant,
        profile,
        file,
    }))
}

/// Runs `tokens new`; the exit code.
pub fn run(new: New) -> u8 {
    let mut raw = [0u8; 32];
    if let Err(e) = getrandom::fill(&mut raw) {
        eprintln!("sentinel: error: the operating system's random source failed: {e}");
        return 1;
    }
    let token = format!("snt_{}", hex(&raw));
    let mut entry = format!(
        "  - sha256: {}\n    tenant: {}\n",
        hash_token(&token),
        new.tenant
    );
    if let Some(p) = &new.profile {
        entry.push_str(&format!("    profile: {p}\n"));
    }
    match &new.file {
        Some(path) => {
            let fresh = !path.exists();
            let opened = {
                use std::os::unix::fs::OpenOptionsExt;
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .mode(0o600)
                    .open(path)
            };
            let written = opened.and_then(|mut f| {
                if fresh {
                    f.write_all(b"tokens:\n")?;
                }
                f.write_all(entry.as_bytes())
            });
            if let Err(e) = written {
                eprintln!(
                    "sentinel: error: cannot write the tokens file {} ({e}); no token was made",
                    path.display()
                );
                return 1;
            }
            eprintln!(
                "sentinel: tenant {} added to {}; the token (shown once) is on stdout",
                new.tenant,
                path.display()
            );
        }
        None => eprint!("add this entry under `tokens:` in the tokens file:\n{entry}"),
    }
    println!("{token}");
    0
}
