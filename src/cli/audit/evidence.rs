//! `sentinel audit keygen` (an Ed25519 key pair for signing checkpoints) and `sentinel audit
//! verify` (the hash chain, each session's seq, the checkpoints' signatures): their
//! arguments, help, output and exit codes. What is checked lives in `audit::verify`.

use crate::audit::{keys, verify};
use std::ffi::OsString;
use std::io::BufReader;
use std::path::PathBuf;

const KEYGEN_USAGE: &str = "\
Usage: sentinel audit keygen [--out FILE] [--force]

Writes a new Ed25519 private key to FILE (mode 0600) and its public key to FILE.pub, and
prints the public key. Give FILE to Sentinel as --audit-key (or SENTINEL_AUDIT_KEY) and the
public key to sentinel audit verify --key. An existing file is never overwritten without
--force.

      --out FILE   where to write the private key [default: ./sentinel-audit.key]
      --force      replace FILE and FILE.pub if they exist
";

const VERIFY_USAGE: &str = "\
Usage: sentinel audit verify FILE... [--key PUBKEY] [--allow-open] [--partial]

Checks audit log files, given in order (rotated ones oldest first: FILE.2 FILE.1 FILE):
every line whole JSON, the hash chain from line to line and file to file, each session's
seq, and with --key every checkpoint's signature and every session signed and closed.
Names the file, line and what is wrong. Exit 0 when sound, 1 when anything is wrong, 2 on
usage errors.

      --key PUBKEY   the public key: a .pub file from sentinel audit keygen, or its 64 hex
                     digits
      --allow-open   a session without its closing checkpoint (a Sentinel still running)
                     is a note, not a problem
      --partial      the first file may continue a rotated file that is gone
";

/// Most findings printed; the rest are counted.
const MAX_SHOWN: usize = 1000;

pub fn run(sub: &str, args: Vec<OsString>) -> u8 {
    let result = match sub {
        "keygen" => keygen(args),
        _ => verify_cmd(args),
    };
    match result {
        Ok(code) => code,
        Err(Usage(msg)) => {
            eprintln!("sentinel: error: {msg}");
            2
        }
    }
}

struct Usage(String);

fn lexopt_err(e: lexopt::Error, sub: &str) -> Usage {
    Usage(format!("{e} (see sentinel audit {sub} --help)"))
}

fn keygen(args: Vec<OsString>) -> Result<u8, Usage> {
    use lexopt::prelude::*;
    let mut out = PathBuf::from("sentinel-audit.key");
    let mut force = false;
    let mut p = lexopt::Parser::from_args(args);
    while let Some(arg) = p.next().map_err(|e| lexopt_err(e, "keygen"))? {
        match arg {
            Long("out") => out = p.value().map_err(|e| lexopt_err(e, "keygen"))?.into(),
            Long("force") => force = true,
            Short('h') | Long("help") => {
                print!("{KEYGEN_USAGE}");
                return Ok(0);
            }
            _ => return Err(lexopt_err(arg.unexpected(), "keygen")),
        }
    }
    match keys::generate(&out, force) {
        Ok(g) => {
            eprintln!(
                "sentinel: wrote the private key {} (mode 0600: keep it outside the log's \
                 reach) and the public key {}; key id {}",
                g.private.display(),
                g.public_file.display(),
                g.public.id
            );
            println!("{}", g.public.hex());
            Ok(0)
        }
        Err(e) => {
            eprintln!("sentinel: error: {e}");
            Ok(1)
        }
    }
}

fn verify_cmd(args: Vec<OsString>) -> Result<u8, Usage> {
    use lexopt::prelude::*;
    let mut files: Vec<PathBuf> = Vec::new();
    let mut opts = verify::Options::default();
    let mut p = lexopt::Parser::from_args(args);
    let err = |e| lexopt_err(e, "verify");
    while let Some(arg) = p.next().map_err(err)? {
        match arg {
            Long("key") => {
                let v = p.value().map_err(err)?;
                opts.key = Some(public_key(&v)?);
            }
            Long("allow-open") => opts.allow_open = true,
            Long("partial") => opts.partial = true,
            Short('h') | Long("help") => {
                print!("{VERIFY_USAGE}");
                return Ok(0);
            }
            Value(v) => files.push(v.into()),
            _ => return Err(err(arg.unexpected())),
        }
    }
    if files.is_empty() {
        return Err(Usage(
            "sentinel audit verify needs the log FILE(s), rotated ones oldest first (see \
             sentinel audit verify --help)"
                .into(),
        ));
    }
    let mut inputs: Vec<Box<dyn std::io::BufRead>> = Vec::new();
    for f in &files {
        let file = std::fs::File::open(f)
            .map_err(|e| Usage(format!("cannot read {} ({e})", f.display())))?;
        inputs.push(Box::new(BufReader::with_capacity(256 * 1024, file)));
    }
    let report = verify::verify(inputs, &opts);
    let name = |i: usize| files[i].display().to_string();
    let mut out = String::new();
    for f in report.problems.iter().take(MAX_SHOWN) {
        out.push_str(&format!("{}:{}: {}\n", name(f.file), f.line, f.what));
    }
    if report.problems.len() > MAX_SHOWN {
        out.push_str(&format!(
            "... and {} more problems\n",
            report.problems.len() - MAX_SHOWN
        ));
    }
    for f in report.notes.iter().take(MAX_SHOWN) {
        out.push_str(&format!("{}:{}: note: {}\n", name(f.file), f.line, f.what));
    }
    let counts = format!(
        "{} line{} in {} file{}, {} session{}, {} checkpoint{}",
        report.lines,
        plural(report.lines),
        files.len(),
        plural(files.len() as u64),
        report.sessions,
        plural(report.sessions as u64),
        report.checkpoints,
        plural(report.checkpoints)
    );
    let code = if report.problems.is_empty() {
        match &opts.key {
            Some(k) => out.push_str(&format!(
                "sound: {counts}, {} signature{} verified with key {}\n",
                report.signatures,
                plural(report.signatures),
                k.id
            )),
            None => out.push_str(&format!(
                "sound: {counts}; the hash chain and every session's seq are intact.\nNo \
                 --key: this proves integrity against accidents (a cut, a lost, doubled, \
                 reordered or stray edited line), not against someone able to rewrite the \
                 whole file; pass --key PUBKEY to check the signed checkpoints.\n"
            )),
        }
        0
    } else {
        out.push_str(&format!(
            "NOT SOUND: {} problem{} in {counts}: the log is not as Sentinel wrote it\n",
            report.problems.len(),
            plural(report.problems.len() as u64)
        ));
        1
    };
    print!("{out}");
    Ok(code)
}

fn plural(n: u64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// `--key`: 64 hex digits, or a file holding the public key.
fn public_key(v: &OsString) -> Result<keys::PublicKey, Usage> {
    if let Some(k) = v.to_str().and_then(keys::PublicKey::parse) {
        return Ok(k);
    }
    let path = PathBuf::from(v);
    let mut text = String::new();
    std::fs::File::open(&path)
        .and_then(|f| std::io::Read::read_to_string(&mut std::io::Read::take(f, 4096), &mut text))
        .map_err(|e| {
            Usage(format!(
                "--key {}: not a public key (64 hex digits) and not a readable file ({e})",
                path.display()
            ))
        })?;
    if keys::is_private(&text) {
        return Err(Usage(format!(
            "--key {}: that is the private key; verify takes the public one ({}.pub)",
            path.display(),
            path.display()
        )));
    }
    keys::PublicKey::parse(&text).ok_or_else(|| {
        Usage(format!(
            "--key {}: not a public key file (expected what sentinel audit keygen wrote to \
             FILE.pub)",
            path.display()
        ))
    })
}
