//! `sentinel audit stats`, `tail` and `query`: reading JSON Lines audit logs (several files
//! read as one, in the order given: `FILE.1 FILE`) without jq. This file owns the options
//! (filters for all three, `--by`, `-n`, `-f`, `--json`), where the log is found when no file
//! is given, and the exit codes: 0 done, 1 a file could not be read or held lines that are
//! not entries (everything readable was still counted or printed), 2 a usage error. `filter`
//! says which entries are chosen, `read` reads files with bounded memory (from the end for
//! `tail`, following for `-f`), `stats` counts, `show` writes entries for people.

mod filter;
mod read;
mod show;
mod stats;

use crate::audit::location;
use crate::base::clock;
use filter::{Field, Filter, Head};
use read::Problems;
use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

/// How often `tail -f` looks for new lines.
const FOLLOW_EVERY: Duration = Duration::from_millis(100);

const FILTERS: &str = "\
Filters (all three commands; each may be repeated or given a comma-separated list of
`*`/`?` globs; an entry must match one value of every filter given):
  --since T       entries at or after T: RFC 3339 (2026-01-13T10:00:00Z, a date alone is its
                  midnight UTC) or how long ago (90s, 15m, 2h, 7d, 2w)
  --until T       entries before T
  --rule R        --reason R   --tool T   --server S   --session ID   --method M
  --action A      blocked, monitored, approval_required, held, approved, denied, allowed, or
                  a gateway event (policy_rejected, breaker_open, ...). Checkpoint entries
                  are left out unless --action names them (--action checkpoint)
  --json          JSON instead of text for people
";

/// Options of one command.
struct Opts {
    filter: Filter,
    json: bool,
    by: Vec<Field>,
    lines: usize,
    follow: bool,
    files: Vec<PathBuf>,
}

fn usage(sub: &str) -> String {
    let head = match sub {
        "stats" => {
            "sentinel audit stats [FILTERS] [--by FIELD] [--json] [FILE...]\n\n\
                    Counts the chosen entries: per action, and by reason, rule, tool, server,\n\
                    session and hour (--by FIELD, repeatable or a comma-separated list, \
                    chooses;\nalso action and method).\n"
        }
        "tail" => {
            "sentinel audit tail [-n N] [-f] [FILTERS] [--json] [FILE...]\n\n\
                   The last N chosen entries (default 10); -f then prints new ones as they are\n\
                   written, across rotation. --json prints the entries' lines as they are.\n"
        }
        _ => {
            "sentinel audit query [FILTERS] [--json] [FILE...]\n\n\
              Every chosen entry, in order. --json prints the entries' lines byte for byte.\n"
        }
    };
    format!(
        "{head}\nWithout FILE: $SENTINEL_AUDIT_LOG, else ./security_audit.log, else the per-user \
         state\ndirectory's security_audit.log (where the gateway writes it).\n\n{FILTERS}\n\
         Exit codes: 0 done; 1 a file could not be read or has lines that are not entries \
         (named\non stderr; the rest was still read); 2 a usage error.\n"
    )
}

fn usage_error(sub: &str, message: &str) -> u8 {
    eprintln!("sentinel: error: {message} (see sentinel audit {sub} --help)");
    2
}

fn parse(sub: &str, args: Vec<OsString>) -> Result<Option<Opts>, String> {
    let mut o = Opts {
        filter: Filter::default(),
        json: false,
        by: Vec::new(),
        lines: 10,
        follow: false,
        files: Vec::new(),
    };
    let clock = clock::from_env();
    let mut args = args.into_iter();
    let mut only_files = false;
    while let Some(arg) = args.next() {
        let Some(text) = arg
            .to_str()
            .filter(|t| !only_files && t.starts_with('-') && *t != "-")
        else {
            o.files.push(PathBuf::from(arg));
            continue;
        };
        let (name, inline) = match text.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_owned(), Some(v.to_owned())),
            _ => (text.to_owned(), None),
        };
        let mut value = || -> Result<String, String> {
            match inline.clone() {
                Some(v) => Ok(v),
                None => args
                    .next()
                    .and_then(|v| v.into_string().ok())
                    .ok_or_else(|| format!("{name} needs a value")),
            }
        };
        match name.as_str() {
            "-h" | "--help" => return Ok(None),
            "--" => only_files = true,
            "--json" => o.json = true,
            "--since" | "--until" => {
                let t = filter::parse_time(&value()?, clock.as_ref())
                    .map_err(|e| format!("{name}: {e}"))?;
                if name == "--since" {
                    o.filter.since = Some(t);
                } else {
                    o.filter.until = Some(t);
                }
            }
            "--by" if sub == "stats" => {
                for f in value()?.split(',') {
                    let field = Field::parse(f).ok_or_else(|| {
                        format!(
                            "--by {f:?}: expected reason, rule, tool, server, session, hour, \
                             action or method"
                        )
                    })?;
                    if !o.by.contains(&field) {
                        o.by.push(field);
                    }
                }
            }
            "-n" | "--lines" if sub == "tail" => {
                let v = value()?;
                o.lines = v
                    .parse()
                    .map_err(|_| format!("-n {v:?}: expected a number of entries"))?;
            }
            "-f" | "--follow" if sub == "tail" => o.follow = true,
            _ if name.starts_with("--")
                && Field::parse(&name[2..]).is_some_and(|f| f != Field::Hour) =>
            {
                let field = Field::parse(&name[2..]).unwrap_or(Field::Rule);
                if !o.filter.add(field, &value()?) {
                    return Err(format!("{name} needs a value (a name or a glob)"));
                }
            }
            _ => return Err(format!("unknown option '{name}' for sentinel audit {sub}")),
        }
    }
    if let (Some(s), Some(u)) = (o.filter.since, o.filter.until) {
        if s >= u {
            return Err("--since is not before --until: no entry can match".into());
        }
    }
    Ok(Some(o))
}

/// Runs `sentinel audit stats|tail|query ARGS`; returns the exit code.
pub fn run(sub: &str, args: Vec<OsString>) -> u8 {
    let mut o = match parse(sub, args) {
        Ok(Some(o)) => o,
        Ok(None) => {
            print!("{}", usage(sub));
            return 0;
        }
        Err(e) => return usage_error(sub, &e),
    };
    if o.files.is_empty() {
        match location::find(None) {
            Ok(p) => o.files.push(p),
            Err(looked) => {
                let places: Vec<String> = looked.iter().map(|p| p.display().to_string()).collect();
                eprintln!(
                    "sentinel: error: no audit log found (looked for {}): give its path \
                     (sentinel audit {sub} FILE) or set {}",
                    places.join(" and "),
                    location::ENV
                );
                return 1;
            }
        }
    }
    // A file that is not there is a mistake in the command, said before any output.
    let missing: Vec<String> = o
        .files
        .iter()
        .filter_map(|p| match std::fs::metadata(p) {
            Ok(m) if m.is_dir() => {
                Some(format!("{} is a directory, not an audit log", p.display()))
            }
            Ok(_) => None,
            Err(e) => Some(format!("cannot read the audit log {}: {e}", p.display())),
        })
        .collect();
    if !missing.is_empty() {
        for m in missing {
            eprintln!("sentinel: error: {m}");
        }
        return 1;
    }
    let mut problems = Problems::default();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut checkpoints = 0;
    let json = o.json;
    let print = |out: &mut dyn Write, bytes: &[u8], e: &Head| -> bool {
        let r = if json {
            out.write_all(bytes).and_then(|()| out.write_all(b"\n"))
        } else {
            writeln!(out, "{}", show::line(e))
        };
        r.is_ok()
    };
    match sub {
        "stats" => {
            let fields = if o.by.is_empty() {
                Field::GROUPS.to_vec()
            } else {
                o.by.clone()
            };
            let mut stats = stats::Stats::new(fields);
            read::scan(
                &o.files,
                &o.filter,
                &mut problems,
                &mut checkpoints,
                &mut |_, e| {
                    stats.add(e);
                    true
                },
            );
            let text = if o.json {
                format!("{}\n", stats.json(checkpoints, problems.malformed))
            } else {
                stats.human(checkpoints)
            };
            let _ = out.write_all(text.as_bytes());
        }
        "tail" => {
            let (lines, resume) = read::last(&o.files, o.lines, &o.filter, &mut problems);
            for l in &lines {
                if !print(&mut out, &l.bytes, &l.head) {
                    return 0; // the reader went away
                }
            }
            if o.follow {
                let failed = problems.report();
                if failed && !problems.unreadable.is_empty() {
                    return 1;
                }
                let _ = out.flush();
                let last = o.files.last().cloned().unwrap_or_default();
                read::follow(&last, resume, &o.filter, FOLLOW_EVERY, &mut |bytes, e| {
                    print(&mut out, bytes, e) && out.flush().is_ok()
                });
                return 0;
            }
        }
        _ => {
            read::scan(
                &o.files,
                &o.filter,
                &mut problems,
                &mut checkpoints,
                &mut |bytes, e| print(&mut out, bytes, e),
            );
        }
    }
    let _ = out.flush();
    u8::from(problems.report())
}
