//! What a run prints on stdout: the table's rows, in order, each with its target and test,
//! and the notes under the table (how the figures were taken, the policies, the sessions).

use std::fmt::Write as _;

use crate::measure::{guard_key, policy_key, MIB};
use crate::messages::{BLOCKED_DISTINCT, BLOCKED_QUERY, SQL_SHAPES};
use crate::policies::{BREAKER_CALL, GUARD_CALLS};
use crate::procs::TargetKind;
use crate::sections::{Bench, SqlRun};
use crate::table::{idle_note, mib, ms, pct, rate, times, us, Kind, Table};

/// Prints the table of `bench`'s figures and the notes under it.
pub(crate) fn print(
    bench: Bench,
    sql_runs: Vec<SqlRun>,
    sql_keys: Vec<&'static str>,
    failures: Vec<String>,
) {
    let Bench {
        ctx,
        targets,
        s0,
        tmp,
        wanted,
        figures,
        ..
    } = bench;
    let n = &ctx.n;
    let rounds = n.rounds;

    let mut table = Table {
        targets,
        figures,
        rows: String::new(),
    };
    let le = |max: f64| move |v: f64| v <= max;
    let ge = |min: f64| move |v: f64| v >= min;
    let lt = |max: f64| move |v: f64| v < max;
    for (mode, p50, p99) in [
        ("unpinned", "lat_p50", "lat_p99"),
        ("all on one CPU", "pin_p50", "pin_p99"),
    ] {
        let rt = format!("round trip, 1 in flight, {mode} ({} calls)", n.latency);
        table.row(&format!("{rt}, p50"), p50, Kind::Plain, us, "", None);
        table.row(
            &format!("added latency p50, {mode}"),
            p50,
            Kind::Added,
            us,
            "≤ 10 us",
            Some(&le(10e-6)),
        );
        table.row(&format!("{rt}, p99"), p99, Kind::Plain, us, "", None);
        table.row(
            &format!("added latency p99, {mode}"),
            p99,
            Kind::Added,
            us,
            "",
            None,
        );
    }
    table.row(
        &format!("pipelined small tools/call ({} msgs)", n.pipelined),
        "pipe_rate",
        Kind::Plain,
        rate,
        "",
        None,
    );
    table.row(
        "pipelined throughput vs direct",
        "pipe_rate",
        Kind::Ratio,
        pct,
        "≥ 25% (moonshot 50%)",
        Some(&ge(0.25)),
    );
    table.row(
        "Sentinel's own CPU time per pipelined message (all its threads)",
        "pipe_cpu",
        Kind::Plain,
        us,
        "≤ 1.0 us",
        Some(&le(1.0e-6)),
    );
    // The echo server against the minimal C one, both direct (no sentinel column).
    let c_rate = table.get(0, "pipe_rate_c").cloned();
    if let (Some(Ok(c)), Some(Ok(ours))) = (c_rate, table.get(0, "pipe_rate").cloned()) {
        let verdict = if ours >= 0.95 * c { "pass" } else { "**MISS**" };
        table.row(
            "pipelined, direct to the minimal C echo server (benches/echo.c)",
            "pipe_rate_c",
            Kind::Plain,
            rate,
            "",
            None,
        );
        let _ = writeln!(
            table.rows,
            "| bench_echo vs the C echo server, direct | {} |{} bench_echo ≥ 0.95x the C server | {verdict} |",
            times(ours / c),
            " — |".repeat(table.targets.len() - 1),
        );
    }
    table.row(
        &format!(
            "blocked + audited calls, `{BLOCKED_QUERY}` ({} pipelined)",
            n.blocked
        ),
        "blocked_rate",
        Kind::Plain,
        rate,
        "≥ 200 k/s",
        Some(&ge(200e3)),
    );
    let blocked = (n.per_round(n.blocked) * rounds) as f64;
    table.row(
        "audit log lines after the blocked runs",
        "audit_lines",
        Kind::Plain,
        |v| format!("{v:.0}"),
        &format!("= {blocked}"),
        Some(&move |v| v == blocked),
    );
    table.row(
        &format!(
            "blocked + audited calls, a different query each ({} pipelined)",
            n.blocked_distinct
        ),
        "blocked_distinct_rate",
        Kind::Plain,
        rate,
        "",
        None,
    );
    let distinct = (n.per_round(n.blocked_distinct) * rounds) as f64;
    table.row(
        "audit log lines after those",
        "audit_lines_distinct",
        Kind::Plain,
        |v| format!("{v:.0}"),
        &format!("= {distinct}"),
        Some(&move |v| v == distinct),
    );
    for (mode, resp, req) in [
        ("unpinned", "big_resp", "big_req"),
        ("all on one CPU", "pin_big_resp", "pin_big_req"),
    ] {
        table.row(
            &format!("8 MiB response, {mode}, median of {}", n.big_runs),
            resp,
            Kind::Plain,
            ms,
            "",
            None,
        );
        table.row(
            &format!("8 MiB response vs direct, {mode}"),
            resp,
            Kind::Ratio,
            times,
            "≤ 1.5x",
            Some(&le(1.5)),
        );
        table.row(
            &format!("8 MiB request, {mode}, median of {}", n.big_runs),
            req,
            Kind::Plain,
            ms,
            "",
            None,
        );
        table.row(
            &format!("8 MiB request vs direct, {mode}"),
            req,
            Kind::Ratio,
            times,
            "",
            None,
        );
    }
    table.row(
        "peak RSS (VmHWM), small messages",
        "rss_small",
        Kind::Plain,
        mib,
        "< 4 MiB",
        Some(&lt(4.0 * MIB as f64)),
    );
    table.row(
        "RssAnon after the small messages (heap and stacks; no file pages)",
        "rss_anon_small",
        Kind::Plain,
        mib,
        "< 2 MiB",
        Some(&lt(2.0 * MIB as f64)),
    );
    table.row(
        "peak RSS (VmHWM), 8 MiB responses",
        "rss_big_resp",
        Kind::Plain,
        mib,
        "< 30 MiB",
        Some(&lt(30.0 * MIB as f64)),
    );
    table.row(
        "peak RSS (VmHWM), 8 MiB requests",
        "rss_big_req",
        Kind::Plain,
        mib,
        "< 30 MiB",
        Some(&lt(30.0 * MIB as f64)),
    );
    for (mode, key) in [("unpinned", "startup"), ("all on one CPU", "pin_startup")] {
        table.row(
            &format!(
                "startup: spawn → ping answer, {mode}, median of {}",
                n.startup
            ),
            key,
            Kind::Plain,
            ms,
            "",
            None,
        );
        table.row(
            &format!("added startup, {mode}"),
            key,
            Kind::Added,
            ms,
            "≤ 2 ms",
            Some(&le(2e-3)),
        );
    }
    for ((label, _, _, n_lines, _), key) in sql_runs.iter().zip(&sql_keys) {
        table.row(
            &format!("SQL inspection per query, {label} (demo mode, N={n_lines})"),
            key,
            Kind::Plain,
            us,
            "",
            None,
        );
    }

    for (mode, key, name) in [
        ("unpinned", "lat", "round trip, 1 in flight, unpinned"),
        (
            "all on one CPU",
            "pin",
            "round trip, 1 in flight, all on one CPU",
        ),
    ] {
        for stat in ["p50", "p99"] {
            let what = format!("{name} ({} calls), {stat}", n.latency);
            table.row(
                &format!("{what}, baseline policy"),
                policy_key(key, "def", stat),
                Kind::Plain,
                us,
                "",
                None,
            );
            table.row(
                &format!("{what}, 50-rule policy"),
                policy_key(key, "50", stat),
                Kind::Plain,
                us,
                "",
                None,
            );
            let (target, pass): (&str, Option<&dyn Fn(f64) -> bool>) = if stat == "p50" {
                ("< 10 us", Some(&lt(10e-6)))
            } else {
                ("", None)
            };
            table.row(
                &format!("added by the 50-rule policy over the baseline, {stat}, {mode}"),
                policy_key(key, "add", stat),
                Kind::Plain,
                us,
                target,
                pass,
            );
        }
    }
    table.row(
        &format!(
            "pipelined small tools/call ({} msgs), baseline policy",
            n.pipelined
        ),
        "pol_pipe_def",
        Kind::Plain,
        rate,
        "",
        None,
    );
    table.row(
        &format!(
            "pipelined small tools/call ({} msgs), 50-rule policy",
            n.pipelined
        ),
        "pol_pipe_50",
        Kind::Plain,
        rate,
        "",
        None,
    );
    table.row(
        "pipelined throughput, 50-rule policy vs baseline",
        "pol_pipe_ratio",
        Kind::Plain,
        pct,
        "",
        None,
    );
    table.row(
        "added time per pipelined message (1/rate difference)",
        "pol_pipe_cost",
        Kind::Plain,
        us,
        "",
        None,
    );

    for (v, (label, _)) in GUARD_CALLS.iter().enumerate() {
        for (mode, key) in [("unpinned", "lat"), ("all on one CPU", "pin")] {
            let rt = format!(
                "guard, {label}: round trip p50, {mode} ({} calls)",
                n.latency
            );
            table.row(
                &format!("{rt}, baseline policy"),
                &guard_key(v, key, "base", "p50"),
                Kind::Plain,
                us,
                "",
                None,
            );
            table.row(
                &format!("{rt}, guard policy"),
                &guard_key(v, key, "guard", "p50"),
                Kind::Plain,
                us,
                "",
                None,
            );
            table.row(
                &format!("**added by breaker + egress guard**, {label}, p50, {mode}"),
                &guard_key(v, key, "add", "p50"),
                Kind::Plain,
                us,
                "< 10 us",
                Some(&lt(10e-6)),
            );
            table.row(
                &format!("added by breaker + egress guard, {label}, p99, {mode}"),
                &guard_key(v, key, "add", "p99"),
                Kind::Plain,
                us,
                "",
                None,
            );
        }
        for (which, what) in [
            ("base", "baseline policy"),
            ("guard", "guard policy"),
            ("add", "added by breaker + egress guard"),
        ] {
            table.row(
                &format!("guard, {label}: sentinel CPU time per call, 1 in flight, {what}"),
                &guard_key(v, "cpu1", which, ""),
                Kind::Plain,
                us,
                "",
                None,
            );
        }
        let pipe = format!(
            "guard, {label}: pipelined tools/call ({} msgs)",
            n.guard_pipelined
        );
        table.row(
            &format!("{pipe}, baseline policy"),
            &guard_key(v, "pipe", "base", ""),
            Kind::Plain,
            rate,
            "",
            None,
        );
        table.row(
            &format!("{pipe}, guard policy"),
            &guard_key(v, "pipe", "guard", ""),
            Kind::Plain,
            rate,
            "",
            None,
        );
        table.row(
            &format!("guard, {label}: pipelined throughput, guard vs baseline"),
            &guard_key(v, "pipe", "ratio", ""),
            Kind::Plain,
            pct,
            "",
            None,
        );
        table.row(
            &format!("guard, {label}: added time per pipelined message (1/rate difference)"),
            &guard_key(v, "pipe", "cost", ""),
            Kind::Plain,
            us,
            "",
            None,
        );
        for (which, what) in [
            ("base", "baseline policy"),
            ("guard", "guard policy"),
            ("add", "added by breaker + egress guard"),
        ] {
            table.row(
                &format!("guard, {label}: sentinel CPU time per pipelined message, {what}"),
                &guard_key(v, "cpu", which, ""),
                Kind::Plain,
                us,
                "",
                None,
            );
        }
    }

    let pipe = format!(
        "breaker on, distinct small calls: pipelined ({} msgs)",
        n.pipelined
    );
    for (key, what) in [
        ("brk_pipe_base", "baseline policy"),
        ("brk_pipe_on", "breaker on"),
    ] {
        table.row(&format!("{pipe}, {what}"), key, Kind::Plain, rate, "", None);
    }
    for (key, what, target) in [
        ("brk_cpu_base", "baseline policy", None),
        ("brk_cpu_on", "breaker on", Some(le(1.5e-6))),
        ("brk_cpu_add", "added by the breaker", None),
    ] {
        table.row(
            &format!(
                "breaker on, distinct small calls: sentinel CPU time per pipelined message, {what}"
            ),
            key,
            Kind::Plain,
            us,
            if target.is_some() { "≤ 1.5 us" } else { "" },
            target.as_ref().map(|t| t as &dyn Fn(f64) -> bool),
        );
    }

    if wanted("inspect") {
        crate::inspect::rows(&mut table, n);
    }
    if wanted("audit") {
        crate::audit::rows(&mut table, n);
    }

    let mut header = String::from("| metric | direct |");
    let mut rule = String::from("|---|---:|");
    for t in &table.targets[1..] {
        let _ = write!(header, " {} |", t.column());
        rule.push_str("---:|");
    }
    header.push_str(" target | verdict |");
    rule.push_str("---|---|");
    println!("{header}\n{rule}\n{}", table.rows);
    println!(
        "Every figure pools {rounds} rounds; each round runs every column once, in rotating \
         order. \"unpinned\": the kernel places the processes freely. \"all on one CPU\": \
         driver, sentinel and server are pinned to one CPU, so no wake-up has to cross CPUs; \
         that isolates the work Sentinel adds from the cost of waking an idle (virtual) CPU{}.",
        idle_note()
    );
    if wanted("sql") || wanted("blocked") {
        println!();
        println!(
            "SQL inspection: demo-mode wall time over N lines of each shape minus the same over N \
             prose lines of the same length, per line. `{{n}}` is a 6-digit number, different on \
             every line for \"distinct queries\" (no verdict cache can help) and fixed for \"one \
             query repeated\". Distinct blocked calls: `{BLOCKED_DISTINCT}`."
        );
        for (label, q) in SQL_SHAPES {
            println!("- {label}: `{q}`");
        }
    }
    if s0 < table.targets.len() {
        println!();
        println!(
            "Baseline: every sentinel session above (latency, throughput, blocked, 8 MiB, \
             startup, SQL demo mode, and the reference rows of the policy and guard sections) \
             runs with `--policy TMP/baseline-LABEL.yaml`: that binary's own `sentinel policy \
             show-default` (the built-in rules: the egress guard reporting, the SQL guard \
             blocking) with its `breaker:` block replaced by `breaker: {{mode: off}}`, checked \
             with `sentinel policy check` (`bench_driver --print-baseline SENTINEL` prints it). \
             The circuit breaker is on by default (the 5th identical call within 5 s is \
             refused; 600 calls a minute, burst 200), and these rows send the same call \
             thousands of times a second: with it they would measure refusals, not forwarding. \
             The blocked rows use the same baseline, so they stay comparable. Startup and peak RSS \
             therefore include loading that file (and the policy reload thread). Allowed calls \
             are checked: every latency answer is the echo server's, and no session's audit \
             log gets an entry."
        );
    }
    if wanted("policy") {
        println!();
        println!(
            "Policy cost: every sentinel twice in the same rounds, with the baseline and with \
             `--policy TMP/policy-50.yaml`, a 50-rule file (`bench_driver --print-policy` \
             prints it): 19 tool rules (globs, except_tools, servers) scoped to other tools, 21 \
             argument conditions on every tool (regex, prefix, one_of, equals, min, max, \
             min_length, not, any_string; on /text, which the call has, and on paths it \
             lacks), 8 SQL rules scoped to other tools, and last the built-in default's two \
             rules (egress reporting, SQL); the circuit breaker off, as in the baseline. The \
             call (`echo`, `{{\"text\":\"hello world\"}}`) matches no rule, so each message \
             is checked against all 50 and allowed. \"added\" is the 50-rule figure minus the \
             baseline one, same binary, same placement."
        );
    }
    if wanted("guard") {
        println!();
        println!(
            "Guard cost: every sentinel twice in the same rounds, with the baseline and with \
             `--policy TMP/guard-LABEL.yaml` (`bench_driver --print-guard SENTINEL` prints \
             it): the built-in default with its egress rule enforcing (`action: block`; 20 \
             allowed domains, `*.corp.example` among them, 10 denied, all five checks, entropy \
             detector on) and the circuit breaker on and enforcing: loop detection (5 repeats \
             in 5 s), three rate limits covering the called tool (overall, `[echo]`, \
             `[\"echo*\", \"fetch_*\"]`; 100000000/second, burst 100000000), max_calls \
             1000000000 (session and tool), cost 0.001 per call against a budget of 1e12, 5 \
             consecutive errors. The limits are never reached: every call passes every check, \
             and every answer is verified to be the forwarded echo (a refusal fails the \
             section). Each call is different (`{{n}}`: a 6-digit number, the request's), so \
             loop detection never trips. With SQL, sqlparser runs on every call in both \
             policies, twice: on the query, and on the prose, whose first word (`check`) is a \
             SQL keyword, all the SQL guard's pre-filter looks at; without SQL, the prose starts \
             with `please` and nothing is parsed, which shows the guard's own cost best. \"added\" is the guard figure minus the baseline one, same binary, \
             same placement. Latency: the baseline and the guard session of a binary run side by side \
             and take turns call by call (alternating which goes first), so both see the same \
             state of the machine. \"sentinel CPU time\": the CPU time of all of the \
             sentinel's threads (`/proc/PID/task/*/schedstat`) over the timed calls, divided by \
             their number; unlike wall time it does not grow while the sentinel waits for a CPU \
             held by other load. The calls (tool `echo`):"
        );
        for (label, args) in GUARD_CALLS {
            println!("- {label}: `{args}`");
        }
    }
    if wanted("breaker") {
        println!();
        println!(
            "Breaker cost: every sentinel twice in the same rounds, with the baseline and with \
             `--policy TMP/breaker-LABEL.yaml` (`bench_driver --print-breaker SENTINEL` prints \
             it): the built-in default as shipped, circuit breaker included (loop detection: 5 \
             repeats in 5 s; 5 consecutive errors; cooldowns), with only its rate limit lifted \
             to 100000000/second (600 a minute would refuse the benchmark within a second). The \
             call is the throughput section's, different every time so that loop detection \
             never trips: `echo` with `{BREAKER_CALL}` (`{{n}}`: the request's 6-digit number); \
             every answer is verified to be the forwarded echo. \"sentinel CPU time\" as in the \
             guard section."
        );
    }
    if wanted("inspect") {
        crate::inspect::note();
    }
    if wanted("audit") {
        crate::audit::note();
    }
    if !failures.is_empty() {
        println!();
        println!(
            "**The guard or breaker section FAILED** (a call was refused or a session broke):"
        );
        for e in &failures {
            println!("- {e}");
        }
    }
    println!();
    println!("Sessions (driver on the other end of stdin/stdout):");
    println!("- direct: `{}`", ctx.echo.display());
    for t in &table.targets[1..] {
        match &t.kind {
            TargetKind::Direct => {}
            TargetKind::Relay(me) => println!(
                "- relay: `{} --relay-mode -- {}` (copies bytes, inspects nothing; not judged)",
                me.display(),
                ctx.echo.display()
            ),
            TargetKind::Sentinel(bin) => println!(
                "- sentinel {}: `{} --policy {}/baseline-{}.yaml --audit-log {}/audit-*.log -- \
                 {}` (stderr to /dev/null)",
                t.label,
                bin.display(),
                tmp.display(),
                t.label,
                tmp.display(),
                ctx.echo.display()
            ),
        }
    }
    println!();
    let cmd: Vec<String> = std::env::args().collect();
    println!("Command: `{}`", cmd.join(" "));
}
