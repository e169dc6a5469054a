//! The `inspect` section: what server-side inspection costs. Round trips of a `tools/list`
//! answer of 200 tools, direct and through each sentinel with the built-in default's
//! inspection (descriptions and pins reported) and with inspection off; and 8 MiB
//! `tools/call` responses, direct, through each sentinel uninspected (the baseline: the
//! answer streams through) and inspected (a 16 MiB cap on the tool: the answer is held whole
//! and judged), with the sentinel's peak RSS. Its rows and notes are here too.

use std::ffi::OsStr;
use std::fs;
use std::io::Write;
use std::time::Instant;

use crate::measure::{big, in_rounds, max_rss, median, percentile, put, Sizes, MIB};
use crate::messages::tools_call;
use crate::policies::{
    capped_policy, has_option, inspect_off_policy, inspect_scan_policy, write_policy,
};
use crate::procs::{contains, count_lines, cpu_secs, err, snippet, Ctx, Proc, Res, Target};
use crate::sections::Bench;
use crate::table::{mib, ms, us, Kind, Table};

/// How many tools `bench_echo` lists.
const TOOLS: usize = 200;

/// One session of `calls` `tools/list` round trips, one in flight, after a 10% warm-up (the
/// first list of a session, which pins, is in the warm-up): the round-trip times in seconds,
/// the sentinel's CPU time over the timed calls, the answer's size, and the audit entries
/// the session left. Every answer must list all [`TOOLS`] tools.
fn list_round_trips(ctx: &Ctx, t: &Target, calls: usize) -> Res<ListRun> {
    let mut p = Proc::start(ctx, t, "inspect")?;
    p.ping()?;
    let warmup = (calls / 10).max(1);
    let mut req = Vec::with_capacity(128);
    let mut resp = Vec::with_capacity(512 * 1024);
    let mut times = Vec::with_capacity(calls);
    let mut cpu0 = None;
    for i in 0..warmup + calls {
        if i == warmup && t.sentinel().is_some() {
            cpu0 = Some(cpu_secs(p.pid())?);
        }
        req.clear();
        writeln!(
            req,
            "{{\"jsonrpc\":\"2.0\",\"id\":{i},\"method\":\"tools/list\",\"params\":{{}}}}"
        )
        .map_err(err("format"))?;
        let t0 = Instant::now();
        p.stdin().write_all(&req).map_err(err("write"))?;
        p.read_line(&mut resp)?;
        let dt = t0.elapsed().as_secs_f64();
        if i == 0 || i == warmup {
            let listed = resp
                .windows(14)
                .filter(|w| w == b"\"inputSchema\":")
                .count();
            if !contains(&resp[..resp.len().min(100)], b"\"result\"") || listed != TOOLS {
                return Err(format!(
                    "tools/list answer {i} lists {listed} tools, not {TOOLS}: {}",
                    snippet(&resp)
                ));
            }
        }
        if i >= warmup {
            times.push(dt);
        }
    }
    let cpu = match cpu0 {
        Some(c0) => Some(cpu_secs(p.pid())? - c0),
        None => None,
    };
    let audit = p.audit.clone();
    p.finish()?;
    let audit_lines = match audit {
        Some(a) => count_lines(&a)?,
        None => 0,
    };
    Ok(ListRun {
        times,
        cpu,
        bytes: resp.len(),
        audit_lines,
    })
}

/// One `big` session: its round-trip times and the sentinel's peak RSS.
type BigRun = (Vec<f64>, Option<Res<f64>>);

struct ListRun {
    times: Vec<f64>,
    cpu: Option<f64>,
    bytes: usize,
    audit_lines: usize,
}

/// One call of `big` through `t`, whose policy caps it below its size: the answer must be
/// the replacement (an error result, far smaller than 8 MiB). Returns its size.
fn cap_check(ctx: &Ctx, t: &Target) -> Res<f64> {
    let mut p = Proc::start(ctx, t, "capcheck")?;
    p.ping()?;
    let mut req = Vec::new();
    tools_call(&mut req, 7, "big", "size", "8MiB");
    p.stdin().write_all(&req).map_err(err("write"))?;
    let mut resp = Vec::new();
    p.read_line(&mut resp)?;
    p.finish()?;
    if resp.len() < MIB && contains(&resp, b"\"isError\":true") {
        Ok(resp.len() as f64)
    } else {
        Err(format!(
            "the 8 MiB answer over a 4 MiB cap was not replaced ({} bytes: {})",
            resp.len(),
            snippet(&resp)
        ))
    }
}

/// The `inspect` section.
pub(crate) fn measure_inspect(bench: &mut Bench) {
    let Bench {
        ctx,
        ref targets,
        s0,
        tmp,
        progress,
        wanted,
        ref mut figures,
    } = *bench;
    if !wanted("inspect") {
        return;
    }
    let n = &ctx.n;
    let rounds = n.rounds;
    // Per sentinel that has a `server:` section: (built-in default, inspection off, capped
    // at 16 MiB, capped at 4 MiB, scanning without pins), with a fresh pins directory.
    let mut variants: Vec<Option<[Target; 5]>> = Vec::new();
    for t in &targets[s0..] {
        let bin = t.sentinel().expect("a sentinel").to_owned();
        let off = match inspect_off_policy(&bin) {
            Ok(text) => Ok(text),
            Err(e) => {
                progress(&format!("inspect: skipping sentinel {}: {e}", t.label));
                variants.push(None);
                continue;
            }
        };
        let file = |name: &str| tmp.join(format!("{name}-{}.yaml", t.label));
        let pins = tmp.join(format!("pins-{}", t.label));
        let _ = fs::remove_dir_all(&pins);
        let _ = fs::create_dir_all(&pins);
        let mut def = t.variant("inspect", None, &[]);
        if has_option(&bin, "--pins-dir") {
            def.args
                .extend(["--pins-dir".into(), pins.into_os_string()]);
        } else {
            def.env
                .push(("XDG_STATE_HOME".into(), pins.into_os_string()));
        }
        let off_t = def.variant(
            "off",
            Some(write_policy(&bin, &file("inspect-off"), &off)),
            &[] as &[&OsStr],
        );
        let capped = |max: &str, name: &str| {
            let policy = write_policy(&bin, &file(name), &capped_policy(&bin, max));
            def.variant(name, Some(policy), &[])
        };
        let c16 = capped("16MiB", "capped");
        let c4 = capped("4MiB", "capped4");
        let scan = def.variant(
            "scan",
            Some(write_policy(
                &bin,
                &file("inspect-scan"),
                &inspect_scan_policy(&bin),
            )),
            &[],
        );
        variants.push(Some([def, off_t, c16, c4, scan]));
    }

    // tools/list round trips: direct, then each sentinel's default, off and scanning alone.
    let mut lists = vec![targets[0].clone()];
    for v in variants.iter().flatten() {
        lists.extend([v[0].clone(), v[1].clone(), v[4].clone()]);
    }
    let per = n.per_round(n.lists);
    let runs = in_rounds(
        &lists,
        rounds,
        progress,
        "tools/list of 200 tools",
        |_, t| list_round_trips(ctx, t, per),
    );
    // Per target: the median over rounds of each round's p50, CPU per list, audit entries.
    let stats = |r: &Res<Vec<ListRun>>| -> Res<(f64, Option<f64>, usize, usize)> {
        let v = r.as_ref().map_err(Clone::clone)?;
        let p50s = v
            .iter()
            .map(|x| {
                let mut t = x.times.clone();
                t.sort_by(f64::total_cmp);
                percentile(&t, 0.5)
            })
            .collect();
        let cpu: Option<f64> = v.iter().map(|x| x.cpu).sum();
        let calls: usize = v.iter().map(|x| x.times.len()).sum();
        Ok((
            median(p50s),
            cpu.map(|c| c / calls as f64),
            v.iter().map(|x| x.audit_lines).sum(),
            v.first().map_or(0, |x| x.bytes),
        ))
    };
    let direct = stats(&runs[0]);
    put(&mut figures[0], "il_def", &direct, |d| d.0);
    put(&mut figures[0], "il_off", &direct, |d| d.0);
    put(&mut figures[0], "il_bytes", &direct, |d| d.3 as f64);
    let mut at = 1;
    for (f, v) in figures[s0..].iter_mut().zip(&variants) {
        if v.is_none() {
            continue;
        }
        let def = stats(&runs[at]);
        let off = stats(&runs[at + 1]);
        let scan = stats(&runs[at + 2]);
        at += 3;
        let both = def.clone().and_then(|d| off.clone().map(|o| (d, o)));
        let scan_off = scan.clone().and_then(|s| off.clone().map(|o| (s, o)));
        let def_scan = def.clone().and_then(|d| scan.clone().map(|s| (d, s)));
        put(f, "il_def", &def, |d| d.0);
        put(f, "il_off", &off, |d| d.0);
        put(f, "il_scanonly", &scan, |d| d.0);
        put(f, "il_scan", &both, |(d, o)| d.0 - o.0);
        put(f, "il_scan_add", &scan_off, |(s, o)| s.0 - o.0);
        put(f, "il_pins_add", &def_scan, |(d, s)| d.0 - s.0);
        put(f, "il_cpu_scan", &scan, |d| d.1.unwrap_or(f64::NAN));
        put(f, "il_cpu_def", &def, |d| d.1.unwrap_or(f64::NAN));
        put(f, "il_cpu_off", &off, |d| d.1.unwrap_or(f64::NAN));
        put(f, "il_audit", &def, |d| d.2 as f64);
    }

    // 8 MiB responses: direct, then each sentinel as it is (baseline) and capped at 16 MiB.
    let mut bigs = vec![targets[0].clone()];
    for (t, v) in targets[s0..].iter().zip(&variants) {
        if let Some(v) = v {
            bigs.extend([t.clone(), v[2].clone()]);
        }
    }
    let per = n.per_round(n.big_runs);
    let runs = in_rounds(
        &bigs,
        rounds,
        progress,
        "8 MiB responses, inspected",
        |_, t| big(ctx, t, None, false, per),
    );
    let stats = |r: &Res<Vec<BigRun>>| -> Res<(f64, Option<f64>)> {
        let v = r.as_ref().map_err(Clone::clone)?;
        let rss = max_rss(v.iter().map(|x| &x.1))?;
        Ok((median(v.iter().map(|x| median(x.0.clone())).collect()), rss))
    };
    let direct = stats(&runs[0]);
    put(&mut figures[0], "b8_plain", &direct, |d| d.0);
    put(&mut figures[0], "b8_insp", &direct, |d| d.0);
    let mut at = 1;
    for (f, v) in figures[s0..].iter_mut().zip(&variants) {
        let Some(v) = v else { continue };
        let plain = stats(&runs[at]);
        let insp = stats(&runs[at + 1]);
        at += 2;
        put(f, "b8_plain", &plain, |d| d.0);
        put(f, "b8_insp", &insp, |d| d.0);
        put(f, "rss8_plain", &plain, |d| d.1.unwrap_or(f64::NAN));
        put(f, "rss8_insp", &insp, |d| d.1.unwrap_or(f64::NAN));
        progress(&format!("8 MiB response over a 4 MiB cap: {}", v[3].label));
        f.insert("b8_cap4".into(), cap_check(ctx, &v[3]));
    }
}

/// The `inspect` section's rows.
pub(crate) fn rows(table: &mut Table, n: &Sizes) {
    let list = match table.get(0, "il_bytes") {
        Some(Ok(b)) => format!("{TOOLS} tools, {:.0} KiB", b / 1024.0),
        _ => format!("{TOOLS} tools"),
    };
    let rt = format!(
        "inspect: `tools/list` of {list}, round trip p50 ({} lists)",
        n.lists
    );
    for (key, what) in [
        (
            "il_def",
            "built-in default (descriptions and pins: monitor)",
        ),
        (
            "il_off",
            "`server: {descriptions: off, pins: off, hide_refused_tools: false}`",
        ),
        ("il_scanonly", "descriptions monitor, pins off"),
    ] {
        table.row(&format!("{rt}, {what}"), key, Kind::Plain, us, "", None);
    }
    table.row(
        "inspect: **added per `tools/list`**, built-in default",
        "il_def",
        Kind::Added,
        us,
        "",
        None,
    );
    table.row(
        "inspect: added per `tools/list`, inspection off (held and parsed only)",
        "il_off",
        Kind::Added,
        us,
        "",
        None,
    );
    table.row(
        "inspect: of which description scanning and pins (default minus off)",
        "il_scan",
        Kind::Plain,
        us,
        "",
        None,
    );
    for (key, what) in [
        (
            "il_scan_add",
            "description scanning (descriptions only minus off)",
        ),
        ("il_pins_add", "pins (default minus descriptions only)"),
    ] {
        table.row(
            &format!("inspect: of which {what}"),
            key,
            Kind::Plain,
            us,
            "",
            None,
        );
    }
    for (key, what) in [
        ("il_cpu_def", "built-in default"),
        ("il_cpu_off", "inspection off"),
        ("il_cpu_scan", "descriptions only"),
    ] {
        table.row(
            &format!("inspect: sentinel CPU time per `tools/list`, {what}"),
            key,
            Kind::Plain,
            us,
            "",
            None,
        );
    }
    table.row(
        "inspect: audit entries after the built-in default's list sessions",
        "il_audit",
        Kind::Plain,
        |v| format!("{v:.0}"),
        "",
        None,
    );
    let resp = format!(
        "inspect: 8 MiB `tools/call` response, median of {} (unpinned)",
        n.big_runs
    );
    for (key, what) in [
        ("b8_plain", "uninspected (baseline)"),
        ("b8_insp", "inspected (cap 16MiB on `big`)"),
    ] {
        table.row(&format!("{resp}, {what}"), key, Kind::Plain, ms, "", None);
    }
    table.row(
        "inspect: added per 8 MiB response, uninspected",
        "b8_plain",
        Kind::Added,
        ms,
        "",
        None,
    );
    table.row(
        "inspect: **added per 8 MiB response, inspected**",
        "b8_insp",
        Kind::Added,
        ms,
        "",
        None,
    );
    for (key, what) in [
        ("rss8_plain", "uninspected"),
        ("rss8_insp", "inspected (the 8 MiB line held)"),
    ] {
        table.row(
            &format!("inspect: peak RSS (VmHWM), 8 MiB responses, {what}"),
            key,
            Kind::Plain,
            mib,
            "",
            None,
        );
    }
    table.row(
        "inspect: check: the 8 MiB answer under a 4 MiB cap is replaced (bytes passed on)",
        "b8_cap4",
        Kind::Plain,
        |v| format!("{v:.0} B"),
        "replaced",
        Some(&|v: f64| v < MIB as f64),
    );
}

/// The `inspect` section's note under the table.
pub(crate) fn note() {
    println!();
    println!(
        "Server-side inspection (`inspect`): `bench_echo` answers `tools/list` with {TOOLS} \
         tool definitions of the shape real servers list (name, title, a description of three \
         sentences, an input schema of 4 or 5 described properties, annotations), none with \
         anything the description scanner reports. One list in flight at a time; the first \
         tenth of each session is warm-up (its first list pins every tool: pins are written \
         to a fresh directory per binary, `--pins-dir TMP/pins-LABEL`, or `XDG_STATE_HOME` \
         for a binary without that option). \"built-in default\": the baseline policy \
         (its `server:` block as built in: descriptions monitor, pins monitor, refused tools \
         hidden); \"inspection off\": its `server:` block replaced by `{{descriptions: off, \
         pins: off, hide_refused_tools: false}}` (a `tools/list` answer is still held whole \
         and parsed); \"descriptions monitor, pins off\": `{{descriptions: monitor, pins: \
         off, hide_refused_tools: true}}`, which splits the default's cost between the two. \
         Each figure is the median over rounds of each round's p50. 8 MiB: one \
         `tools/call` of `big` at a time (unpinned); \"uninspected\" is the baseline policy, \
         whose caps count rows only for tools that take SQL, so the answer streams through; \
         \"inspected\" replaces its `server.responses` by `[{{tools: [big], max_bytes: \
         16MiB, action: block}}]`, so each answer is held whole, judged and passed on; the \
         check row runs one call with a 4 MiB cap, which must replace the answer. Median \
         over rounds of each round's median; peak RSS is the largest VmHWM of the \
         sessions."
    );
}
