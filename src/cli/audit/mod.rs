//! `sentinel audit`: the audit log's own commands. `keygen` and `verify` (the evidence:
//! signing keys, the hash chain and its signed checkpoints) live in `evidence`; `stats`,
//! `tail` and `query` (reading the log without jq) in `query`. Each is a process of its own
//! that only reads the log (or writes a key); the gateway never runs this code.

mod evidence;
mod query;

use std::ffi::OsString;

pub const USAGE: &str = "\
sentinel audit - the audit log's commands

Usage:
  sentinel audit keygen [--out FILE] [--force]  make an Ed25519 signing key for checkpoints
  sentinel audit verify FILE... [--key PUBKEY] [--allow-open] [--partial]
                                                check the hash chain and the signatures
  sentinel audit stats [FILTERS] [--by FIELD] [--json] [FILE...]
  sentinel audit tail [-n N] [-f] [FILTERS] [--json] [FILE...]
  sentinel audit query [FILTERS] [--json] [FILE...]

Each command's --help says more (sentinel audit verify --help).
";

/// Runs `sentinel audit ARGS...`; returns the exit code.
pub fn run(args: Vec<OsString>) -> u8 {
    let sub = args.first().and_then(|a| a.to_str()).unwrap_or("");
    let rest: Vec<OsString> = args.iter().skip(1).cloned().collect();
    match sub {
        "keygen" | "verify" => evidence::run(sub, rest),
        "stats" | "tail" | "query" => query::run(sub, rest),
        "-h" | "--help" | "help" => {
            print!("{USAGE}");
            0
        }
        "" => {
            eprintln!("sentinel: error: sentinel audit needs a command: keygen, verify, stats, tail or query (see sentinel audit --help)");
            2
        }
        other => {
            eprintln!("sentinel: error: unknown audit command '{other}': expected keygen, verify, stats, tail or query (see sentinel audit --help)");
            2
        }
    }
}
