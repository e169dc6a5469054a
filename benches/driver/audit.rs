//! The `audit` section: what making the audit log evidence costs per entry. Pipelined blocked
//! calls (each refused and audited, as in the `blocked` section) through each sentinel as it
//! is (with a binary from before the hash chain given as one more `--sentinel`, the chain's
//! own cost shows against it), with `--audit-key` (a signed checkpoint every 1000 entries,
//! the default), with `--audit-key --audit-checkpoint-every 1` (a signature per entry) and
//! with `--audit-fsync`; variants a binary lacks the option for are left out. The last log of
//! each variant is checked with `sentinel audit verify`. Its rows and notes are here too.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::measure::{in_rounds, median, pipelined, put, Pipelined, Sizes};
use crate::messages::{Load, BLOCKED_QUERY};
use crate::policies::has_option;
use crate::procs::{err, Res, Target};
use crate::sections::Bench;
use crate::table::{rate, us, Kind, Table};

/// The variants: (key suffix, row text).
const VARIANTS: &[(&str, &str)] = &[
    ("log", "audit log as the binary writes it (no options)"),
    (
        "key",
        "`--audit-key` (a signed checkpoint every 1000 entries)",
    ),
    (
        "key1",
        "`--audit-key --audit-checkpoint-every 1` (a signature per entry)",
    ),
    ("fsync", "`--audit-fsync` (fdatasync per entry)"),
];

/// `bin audit keygen --out FILE`: the private key's path and its `.pub`.
fn keygen(bin: &Path, file: &Path) -> Res<(PathBuf, PathBuf)> {
    let pubkey = PathBuf::from(format!("{}.pub", file.display()));
    let _ = fs::remove_file(file);
    let _ = fs::remove_file(&pubkey);
    let out = Command::new(bin)
        .args(["audit", "keygen", "--out"])
        .arg(file)
        .stdin(Stdio::null())
        .output()
        .map_err(err("cannot run audit keygen"))?;
    if !out.status.success() || !pubkey.exists() {
        return Err(format!(
            "audit keygen: {} {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok((file.to_owned(), pubkey))
}

/// `bin audit verify LOG [--key PUB]`: its exit code (0: sound).
fn verify(bin: &Path, log: &Path, key: Option<&Path>) -> Res<f64> {
    let mut c = Command::new(bin);
    c.args(["audit", "verify"]).arg(log);
    if let Some(k) = key {
        c.arg("--key").arg(k);
    }
    let out = c
        .stdin(Stdio::null())
        .output()
        .map_err(err("cannot run audit verify"))?;
    Ok(f64::from(out.status.code().unwrap_or(-1)))
}

/// Whether the first line of `log` carries a hash chain (`"prev":`).
fn chained(log: &Path) -> Res<bool> {
    let data = fs::read(log).map_err(err("read audit log"))?;
    let first = data.split(|&b| b == b'\n').next().unwrap_or(&[]);
    Ok(first.windows(7).any(|w| w == b"\"prev\":"))
}

/// The `audit` section.
pub(crate) fn measure_audit(bench: &mut Bench) {
    let Bench {
        ctx,
        ref targets,
        s0,
        tmp,
        progress,
        wanted,
        ref mut figures,
    } = *bench;
    if !wanted("audit") {
        return;
    }
    let n = &ctx.n;
    let rounds = n.rounds;
    // (target, sentinel index, variant index, public key)
    let mut runs_of: Vec<(Target, usize, usize, Option<PathBuf>)> = Vec::new();
    for (k, t) in targets[s0..].iter().enumerate() {
        let bin = t.sentinel().expect("a sentinel").to_owned();
        runs_of.push((t.clone(), k, 0, None));
        if has_option(&bin, "--audit-key") {
            match keygen(&bin, &tmp.join(format!("audit-{}.key", t.label))) {
                Ok((key, pubkey)) => {
                    let key: OsString = key.into_os_string();
                    let with_key = [OsStr::new("--audit-key"), &key];
                    runs_of.push((
                        t.variant("key", None, &with_key),
                        k,
                        1,
                        Some(pubkey.clone()),
                    ));
                    if has_option(&bin, "--audit-checkpoint-every") {
                        let every = [
                            &with_key[..],
                            &["--audit-checkpoint-every".as_ref(), "1".as_ref()],
                        ]
                        .concat();
                        runs_of.push((t.variant("key1", None, &every), k, 2, Some(pubkey)));
                    }
                }
                Err(e) => {
                    figures[s0 + k].insert("au_rate_key".into(), Err(e));
                }
            }
        }
        if has_option(&bin, "--audit-fsync") {
            runs_of.push((
                t.variant("fsync", None, &["--audit-fsync".as_ref()]),
                k,
                3,
                None,
            ));
        }
    }
    let sessions: Vec<Target> = runs_of.iter().map(|r| r.0.clone()).collect();
    let per_of = |v: usize| {
        let total = if v == 3 {
            n.blocked / n.fsync_div
        } else {
            n.blocked
        };
        n.per_round(total)
    };
    let runs = in_rounds(
        &sessions,
        rounds,
        progress,
        "audit: blocked calls",
        |r, t| {
            let v = runs_of
                .iter()
                .find(|x| x.0.label == t.label)
                .map_or(0, |x| x.2);
            pipelined(ctx, t, per_of(v), Load::Blocked, r)
        },
    );
    // Per run: calls/s (median over rounds), CPU per entry, audit lines per call.
    let stats = |r: &Res<Vec<Pipelined>>, per: usize| -> Res<(f64, f64, f64)> {
        let v = r.as_ref().map_err(Clone::clone)?;
        let rate = median(v.iter().map(|p| per as f64 / p.secs).collect());
        let mut cpu = 0.0;
        let mut lines = 0usize;
        for p in v {
            cpu += p.cpu.clone().ok_or("no CPU time")??;
            lines += p.audit_lines.clone().ok_or("no audit log")??;
        }
        let calls = (per * v.len()) as f64;
        Ok((rate, cpu / calls, lines as f64 / calls))
    };
    let mut base_us: Vec<Option<f64>> = vec![None; targets.len() - s0];
    let mut unchained: Option<f64> = None;
    let mut is_chained: Vec<Option<bool>> = vec![None; targets.len() - s0];
    for ((t, k, v, pubkey), r) in runs_of.iter().zip(&runs) {
        let (key, _) = VARIANTS[*v];
        let s = stats(r, per_of(*v));
        let f = &mut figures[s0 + k];
        put(f, &format!("au_rate_{key}"), &s, |s| s.0);
        put(f, &format!("au_us_{key}"), &s, |s| 1.0 / s.0);
        put(f, &format!("au_cpu_{key}"), &s, |s| s.1);
        put(f, &format!("au_lines_{key}"), &s, |s| s.2);
        let bin = t.sentinel().expect("a sentinel");
        let log = tmp.join(format!("audit-{}-blocked-{}.log", t.label, rounds - 1));
        if s.is_ok() && has_option(bin, "--audit-key") {
            f.insert(
                format!("au_verify_{key}"),
                verify(bin, &log, pubkey.as_deref()),
            );
        }
        if let Ok((rate, _, _)) = s {
            if *v == 0 {
                base_us[*k] = Some(1.0 / rate);
                let c = chained(&log);
                if let Ok(false) = c {
                    unchained.get_or_insert(1.0 / rate);
                }
                is_chained[*k] = c.ok();
                f.insert(
                    "au_chain".into(),
                    Ok(f64::from(u8::from(is_chained[*k] == Some(true)))),
                );
            } else if let Some(b) = base_us[*k] {
                f.insert(format!("au_add_{key}"), Ok(1.0 / rate - b));
            }
        }
    }
    // The chain's own cost: each chained binary's plain figure against the unchained one's.
    if let Some(before) = unchained {
        for (k, f) in figures[s0..].iter_mut().enumerate() {
            if let (Some(b), Some(true)) = (base_us[k], is_chained[k]) {
                f.insert("au_add_log".into(), Ok(b - before));
            }
        }
    }
}

/// The `audit` section's rows.
pub(crate) fn rows(table: &mut Table, n: &Sizes) {
    table.row(
        "audit: entries carry a hash chain (`prev`)",
        "au_chain",
        Kind::Plain,
        |v| if v > 0.0 { "yes".into() } else { "no".into() },
        "",
        None,
    );
    for (key, what) in VARIANTS {
        let calls = if *key == "fsync" {
            n.blocked / n.fsync_div
        } else {
            n.blocked
        };
        let head = format!("audit: blocked + audited calls, {what}");
        table.row(
            &format!("{head}, pipelined ({calls} calls)"),
            &format!("au_rate_{key}"),
            Kind::Plain,
            rate,
            "",
            None,
        );
        table.row(
            &format!("audit, {what}: time per entry (1/rate)"),
            &format!("au_us_{key}"),
            Kind::Plain,
            us,
            "",
            None,
        );
        let over = if *key == "log" {
            "**added per entry by the hash chain** (1/rate over the binary without it)".into()
        } else {
            format!(
                "**added per entry by {}** (1/rate over no options, same binary)",
                what
            )
        };
        table.row(
            &format!("audit: {over}"),
            &format!("au_add_{key}"),
            Kind::Plain,
            us,
            "",
            None,
        );
        table.row(
            &format!("audit, {what}: sentinel CPU time per entry"),
            &format!("au_cpu_{key}"),
            Kind::Plain,
            us,
            "",
            None,
        );
        table.row(
            &format!("audit, {what}: log lines per blocked call"),
            &format!("au_lines_{key}"),
            Kind::Plain,
            |v| format!("{v:.3}"),
            "",
            None,
        );
        table.row(
            &format!("audit, {what}: `sentinel audit verify` of the last log"),
            &format!("au_verify_{key}"),
            Kind::Plain,
            |v| {
                if v == 0.0 {
                    "sound (exit 0)".into()
                } else {
                    format!("**exit {v:.0}**")
                }
            },
            "exit 0",
            Some(&|v: f64| v == 0.0),
        );
    }
}

/// The `audit` section's note under the table.
pub(crate) fn note() {
    println!();
    println!(
        "Audit evidence (`audit`): pipelined `tools/call`s of `query` with `{BLOCKED_QUERY}`, \
         each refused and written to the audit log (as the `blocked` section does), with the \
         baseline policy, through each sentinel as it is (\"no options\") and with the audit \
         options its `--help` lists: `--audit-key TMP/audit-LABEL.key` (made by `sentinel \
         audit keygen --out`), the same with `--audit-checkpoint-every 1`, and \
         `--audit-fsync` (fewer calls: one fdatasync each, on the benchmark's temporary \
         directory's file system). calls/s is the median over rounds; time per entry is its \
         inverse; \"added\" compares it with the same binary with no options, or, for the \
         hash chain, with a column whose log has no `prev` (a binary from before the chain, \
         given with `--sentinel`). The last round's log of every variant is checked with \
         `sentinel audit verify LOG [--key LOG-KEY.pub]`."
    );
}
