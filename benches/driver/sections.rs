//! The sections of a run, as `--only` names them (latency, throughput, blocked, big, startup,
//! sql, policy, guard, breaker; inspect and audit have modules of their own): each, if wanted, runs its measurements over the targets, in rounds,
//! and stores the figures the table shows. `Bench` holds what they share.

use std::fs;
use std::path::Path;

use crate::measure::{
    big, big_request, guard_key, in_rounds, latency, latency_pair, max_rss, median, p50_p99,
    percentile, pipelined, policy_key, put, sql_inspection, startup, write_demo_input, DemoInput,
    Figures, Pipelined,
};
use crate::messages::{fill, Load, PROSE, SQL_SHAPES};
use crate::policies::{
    breaker_policy, check_policy, guard_policy, write_policy, BREAKER_CALL, GUARD_CALLS, POLICY_50,
};
use crate::procs::{err, Ctx, Res, Target};

/// One run of the benchmark: what every section measures with, and the figures measured.
pub(crate) struct Bench<'a> {
    pub(crate) ctx: &'a Ctx,
    /// The columns: direct, the relay (if asked for), then the sentinels, from `s0` on.
    pub(crate) targets: Vec<Target>,
    pub(crate) s0: usize,
    pub(crate) tmp: &'a Path,
    pub(crate) progress: &'a dyn Fn(&str),
    /// Whether `--only` selects a section (all are, without it).
    pub(crate) wanted: &'a dyn Fn(&str) -> bool,
    /// Per target, the figures measured so far.
    pub(crate) figures: Vec<Figures>,
}

/// One demo-mode run of the `sql` section: (label, query, distinct, lines, reps).
pub(crate) type SqlRun = (String, &'static str, bool, usize, usize);

/// The `latency` section: round trips with one request in flight, unpinned and pinned.
pub(crate) fn measure_latency(bench: &mut Bench) {
    let Bench {
        ctx,
        ref targets,
        progress,
        wanted,
        ref mut figures,
        ..
    } = *bench;
    let n = &ctx.n;
    let rounds = n.rounds;
    if wanted("latency") {
        let calls = n.per_round(n.latency);
        for (pin, p50, p99) in [(false, "lat_p50", "lat_p99"), (true, "pin_p50", "pin_p99")] {
            let what = if pin { "latency, one CPU" } else { "latency" };
            let runs = in_rounds(targets, rounds, progress, what, |_, t| {
                latency(ctx, t, pin, calls, Load::Small)
            });
            for (f, r) in figures.iter_mut().zip(runs) {
                let mut all: Vec<f64> = match r {
                    Ok(v) => v.into_iter().flatten().collect(),
                    Err(e) => {
                        f.insert(p50.into(), Err(e.clone()));
                        f.insert(p99.into(), Err(e));
                        continue;
                    }
                };
                all.sort_by(f64::total_cmp);
                f.insert(p50.into(), Ok(percentile(&all, 0.5)));
                f.insert(p99.into(), Ok(percentile(&all, 0.99)));
            }
        }
    }
}

/// The `throughput` section: pipelined small calls, and the peak RSS they reach.
pub(crate) fn measure_throughput(bench: &mut Bench) {
    let Bench {
        ctx,
        ref targets,
        progress,
        wanted,
        ref mut figures,
        ..
    } = *bench;
    let n = &ctx.n;
    let rounds = n.rounds;
    if wanted("throughput") {
        let per = n.per_round(n.pipelined);
        let runs = in_rounds(targets, rounds, progress, "pipelined", |r, t| {
            pipelined(ctx, t, per, Load::Small, r)
        });
        for (f, r) in figures.iter_mut().zip(runs) {
            let r = r.and_then(|v| {
                let secs: f64 = v.iter().map(|p| p.secs).sum();
                let rss = max_rss(v.iter().map(|p| &p.rss))?;
                let anon = max_rss(v.iter().map(|p| &p.rss_anon))?;
                let mut cpu = None;
                for p in &v {
                    if let Some(c) = &p.cpu {
                        *cpu.get_or_insert(0.0) += c.clone()?;
                    }
                }
                let msgs = (per * v.len()) as f64;
                Ok((msgs / secs, rss, anon, cpu.map(|c| c / msgs)))
            });
            put(f, "pipe_rate", &r, |v| v.0);
            if let Ok((_, Some(_), _, _)) | Err(_) = &r {
                put(f, "rss_small", &r, |v| v.1.unwrap_or(f64::NAN));
                put(f, "rss_anon_small", &r, |v| v.2.unwrap_or(f64::NAN));
            }
            if let Ok((_, _, _, Some(_))) | Err(_) = &r {
                put(f, "pipe_cpu", &r, |v| v.3.unwrap_or(f64::NAN));
            }
        }
        // The same load, direct to the minimal C echo server: bench_echo must be as fast.
        if let Some(c) = &ctx.echo_c {
            let c_ctx = Ctx {
                echo: c.clone(),
                echo_c: None,
                tmp: ctx.tmp.clone(),
                n: ctx.n.clone(),
            };
            let direct = &targets[..1];
            let runs = in_rounds(direct, rounds, progress, "pipelined, C echo", |r, t| {
                pipelined(&c_ctx, t, per, Load::Small, r)
            });
            for (f, r) in figures.iter_mut().zip(runs) {
                let r = r.map(|v| (per * v.len()) as f64 / v.iter().map(|p| p.secs).sum::<f64>());
                put(f, "pipe_rate_c", &r, |v| *v);
            }
        }
    }
}

/// The `blocked` section: pipelined blocked calls (the same query, a different one each) and
/// the audit lines they leave.
pub(crate) fn measure_blocked(bench: &mut Bench) {
    let Bench {
        ctx,
        ref targets,
        s0,
        progress,
        wanted,
        ref mut figures,
        ..
    } = *bench;
    let n = &ctx.n;
    let rounds = n.rounds;
    let sentinels = &targets[s0..];
    if wanted("blocked") {
        for (load, total, rate_key, lines_key) in [
            (Load::Blocked, n.blocked, "blocked_rate", "audit_lines"),
            (
                Load::BlockedDistinct,
                n.blocked_distinct,
                "blocked_distinct_rate",
                "audit_lines_distinct",
            ),
        ] {
            let per = n.per_round(total);
            let what = match load {
                Load::BlockedDistinct => "blocked, distinct queries",
                _ => "blocked",
            };
            let runs = in_rounds(sentinels, rounds, progress, what, |r, t| {
                pipelined(ctx, t, per, load, r)
            });
            for (f, r) in figures[s0..].iter_mut().zip(runs) {
                let r = r.and_then(|v| {
                    let secs: f64 = v.iter().map(|p| p.secs).sum();
                    let mut lines = 0;
                    for p in &v {
                        if let Some(a) = &p.audit_lines {
                            lines += a.clone()?;
                        }
                    }
                    Ok(((per * v.len()) as f64 / secs, lines as f64))
                });
                put(f, rate_key, &r, |v| v.0);
                put(f, lines_key, &r, |v| v.1);
            }
        }
    }
}

/// The `big` section: 8 MiB responses and requests, unpinned and pinned, and the peak RSS.
pub(crate) fn measure_big(bench: &mut Bench) {
    let Bench {
        ctx,
        ref targets,
        progress,
        wanted,
        ref mut figures,
        ..
    } = *bench;
    let n = &ctx.n;
    let rounds = n.rounds;
    if wanted("big") {
        let per = n.per_round(n.big_runs);
        let mut req = big_request();
        for (pin, resp_key, req_key) in [
            (false, "big_resp", "big_req"),
            (true, "pin_big_resp", "pin_big_req"),
        ] {
            let one_cpu = if pin { ", one CPU" } else { "" };
            for (request, key) in [(false, resp_key), (true, req_key)] {
                let what = format!(
                    "8 MiB {}{one_cpu}",
                    ["responses", "requests"][request as usize]
                );
                let runs = in_rounds(targets, rounds, progress, &what, |_, t| {
                    big(ctx, t, request.then_some(&mut req), pin, per)
                });
                for (f, r) in figures.iter_mut().zip(runs) {
                    let r = r.and_then(|v| {
                        let rss = max_rss(v.iter().map(|x| &x.1))?;
                        Ok((median(v.into_iter().flat_map(|x| x.0).collect()), rss))
                    });
                    put(f, key, &r, |v| v.0);
                    if let (false, Ok((_, Some(_))) | Err(_)) = (pin, &r) {
                        let rss_key = ["rss_big_resp", "rss_big_req"][request as usize];
                        put(f, rss_key, &r, |v| v.1.unwrap_or(f64::NAN));
                    }
                }
            }
        }
    }
}

/// The `startup` section: spawn to first `ping` answer, unpinned and pinned.
pub(crate) fn measure_startup(bench: &mut Bench) {
    let Bench {
        ctx,
        ref targets,
        progress,
        wanted,
        ref mut figures,
        ..
    } = *bench;
    let n = &ctx.n;
    let rounds = n.rounds;
    if wanted("startup") {
        let per = n.per_round(n.startup);
        for (pin, key) in [(false, "startup"), (true, "pin_startup")] {
            let what = if pin { "startup, one CPU" } else { "startup" };
            let runs = in_rounds(targets, rounds, progress, what, |_, t| {
                startup(ctx, t, pin, per)
            });
            for (f, r) in figures.iter_mut().zip(runs) {
                let r = r.map(|v| median(v.into_iter().flatten().collect()));
                put(f, key, &r, |v| *v);
            }
        }
    }
}

/// The `sql` section: SQL inspection time per query, through demo mode. Returns its runs and
/// their figure keys (the table has a row for each, measured or not).
pub(crate) fn measure_sql(bench: &mut Bench) -> (Vec<SqlRun>, Vec<&'static str>) {
    let Bench {
        ctx,
        ref targets,
        s0,
        tmp,
        progress,
        wanted,
        ref mut figures,
    } = *bench;
    let n = &ctx.n;
    let sentinels = &targets[s0..];
    // Every shape with a different query on each line (each one parsed), then the first shape
    // repeated on every line (what a verdict cache sees when an agent repeats itself).
    let sql_runs: Vec<(String, &str, bool, usize, usize)> = SQL_SHAPES
        .iter()
        .enumerate()
        .map(|(i, (label, q))| {
            let (n_lines, reps) = if i == 0 {
                (n.sql, 1)
            } else {
                (n.sql / 4, n.sql_reps)
            };
            (
                format!("{label}, distinct queries"),
                *q,
                true,
                n_lines,
                reps,
            )
        })
        .chain(std::iter::once((
            format!("{}, one query repeated", SQL_SHAPES[0].0),
            SQL_SHAPES[0].1,
            false,
            n.sql,
            1,
        )))
        .collect();
    let sql_keys: Vec<&'static str> =
        ["sql_0", "sql_1", "sql_2", "sql_3", "sql_4", "sql_5"][..sql_runs.len()].to_vec();
    if wanted("sql") {
        let mut inputs = Vec::new();
        for (i, (_, query, distinct, n_lines, reps)) in sql_runs.iter().enumerate() {
            let input = DemoInput {
                sql: tmp.join(format!("demo-sql-{i}.jsonl")),
                prose: tmp.join(format!("demo-prose-{i}.jsonl")),
                n: *n_lines,
                reps: *reps,
            };
            // Prose of the same length once filled, ending in the same kind of number.
            let len = fill(query, 0).len() - 6;
            let mut prose = String::new();
            while prose.len() < len {
                prose.push_str(PROSE);
                prose.push(' ');
            }
            prose.truncate(len);
            prose.push_str("{n}");
            if let Err(e) = write_demo_input(&input.sql, input.n, query, *distinct, false)
                .and_then(|()| write_demo_input(&input.prose, input.n, &prose, *distinct, true))
            {
                eprintln!("bench_driver: {e}");
                std::process::exit(1);
            }
            inputs.push(input);
        }
        for (t, f) in sentinels.iter().zip(&mut figures[s0..]) {
            progress(&format!("SQL inspection (demo mode): {}", t.label));
            for (key, r) in sql_keys.iter().zip(sql_inspection(ctx, t, &inputs)) {
                f.insert((*key).into(), r);
            }
        }
        for input in &inputs {
            let _ = fs::remove_file(&input.sql);
            let _ = fs::remove_file(&input.prose);
        }
    }
    (sql_runs, sql_keys)
}

/// The `policy` section: the baseline policy against the 50-rule file.
pub(crate) fn measure_policy(bench: &mut Bench) {
    let Bench {
        ctx,
        ref targets,
        s0,
        tmp,
        progress,
        wanted,
        ref mut figures,
    } = *bench;
    let n = &ctx.n;
    let rounds = n.rounds;
    let sentinels = &targets[s0..];
    // The policy's cost: each sentinel with the baseline policy and with the 50-rule
    // file, as two sessions of the same binary in the same rounds.
    let policy_file = tmp.join("policy-50.yaml");
    if wanted("policy") {
        let pairs: Vec<Target> = sentinels
            .iter()
            .flat_map(|t| {
                let mut with = t.clone();
                with.label = format!("{}-policy50", t.label);
                with.policy = Some(Ok(policy_file.clone()));
                [t.clone(), with]
            })
            .collect();
        let ready = fs::write(&policy_file, POLICY_50)
            .map_err(err("write the 50-rule policy"))
            .and_then(|()| {
                let rules =
                    POLICY_50.matches("- {id: ").count() + POLICY_50.matches("- id: ").count();
                if rules == 50 {
                    Ok(())
                } else {
                    Err(format!("the policy has {rules} rules, not 50"))
                }
            });
        let ready: Vec<Res<()>> = sentinels
            .iter()
            .map(|t| {
                ready
                    .clone()
                    .and_then(|()| check_policy(t.sentinel().expect("a sentinel"), &policy_file))
            })
            .collect();
        let calls = n.per_round(n.latency);
        for (pin, mode) in [(false, "lat"), (true, "pin")] {
            let what = if pin {
                "policy: latency, one CPU"
            } else {
                "policy: latency"
            };
            let runs = in_rounds(&pairs, rounds, progress, what, |_, t| {
                latency(ctx, t, pin, calls, Load::Small)
            });
            let stats = |r: &Res<Vec<Vec<f64>>>| -> Res<(f64, f64)> {
                let mut all: Vec<f64> = r.clone()?.into_iter().flatten().collect();
                all.sort_by(f64::total_cmp);
                Ok((percentile(&all, 0.5), percentile(&all, 0.99)))
            };
            for (k, f) in figures[s0..].iter_mut().enumerate() {
                let base = stats(&runs[2 * k]);
                let with = ready[k].clone().and_then(|()| stats(&runs[2 * k + 1]));
                let added = with
                    .clone()
                    .and_then(|w| base.clone().map(|b| (w.0 - b.0, w.1 - b.1)));
                for (stat, pick) in [("p50", 0), ("p99", 1)] {
                    let get = |v: &(f64, f64)| if pick == 0 { v.0 } else { v.1 };
                    put(f, policy_key(mode, "def", stat), &base, get);
                    put(f, policy_key(mode, "50", stat), &with, get);
                    put(f, policy_key(mode, "add", stat), &added, get);
                }
            }
        }
        let per = n.per_round(n.pipelined);
        let runs = in_rounds(&pairs, rounds, progress, "policy: pipelined", |r, t| {
            pipelined(ctx, t, per, Load::Small, r)
        });
        let rate_of = |r: &Res<Vec<Pipelined>>| -> Res<f64> {
            let v = r.as_ref().map_err(Clone::clone)?;
            Ok((per * v.len()) as f64 / v.iter().map(|p| p.secs).sum::<f64>())
        };
        for (k, f) in figures[s0..].iter_mut().enumerate() {
            let base = rate_of(&runs[2 * k]);
            let with = ready[k].clone().and_then(|()| rate_of(&runs[2 * k + 1]));
            let both = with.clone().and_then(|w| base.clone().map(|b| (w, b)));
            put(f, "pol_pipe_def", &base, |v| *v);
            put(f, "pol_pipe_50", &with, |v| *v);
            put(f, "pol_pipe_ratio", &both, |(w, b)| w / b);
            put(f, "pol_pipe_cost", &both, |(w, b)| 1.0 / w - 1.0 / b);
        }
        let _ = fs::remove_file(&policy_file);
    }
}

/// The `guard` section: the baseline policy against the guard policy. Returns its failures
/// (a refused call or a broken session fails the section).
pub(crate) fn measure_guard(bench: &mut Bench) -> Vec<String> {
    let Bench {
        ctx,
        ref targets,
        s0,
        tmp,
        progress,
        wanted,
        ref mut figures,
    } = *bench;
    let n = &ctx.n;
    let rounds = n.rounds;
    let sentinels = &targets[s0..];
    // The guard's cost: each sentinel with the baseline and with the guard policy (circuit
    // breaker on, egress guard enforcing an allow list), as two sessions of the same binary in
    // the same rounds, for each kind of call. Every answer must be a forwarded echo.
    let mut guard_failures: Vec<String> = Vec::new();
    if wanted("guard") {
        let pairs = with_policy(sentinels, tmp, "guard", guard_policy);
        let mut failed = |r: &Res<(f64, f64)>| {
            if let Err(e) = r {
                if !guard_failures.contains(e) {
                    eprintln!("bench_driver: guard section FAILED: {e}");
                    guard_failures.push(e.clone());
                }
            }
        };
        for (v, (label, args)) in GUARD_CALLS.iter().enumerate() {
            let load = Load::Args(args);
            let calls = n.per_round(n.latency);
            // Per sentinel: the round trips of the baseline and the guard session and their
            // CPU time, over both placements.
            let mut cpu_calls: Vec<Res<[(f64, usize); 2]>> =
                sentinels.iter().map(|_| Ok([(0.0, 0); 2])).collect();
            for (pin, mode) in [(false, "lat"), (true, "pin")] {
                // A pair that failed unpinned is not run again pinned: its error stands.
                let mut runs: Vec<Res<[Vec<f64>; 2]>> = cpu_calls
                    .iter()
                    .map(|c| {
                        c.as_ref()
                            .map(|_| [Vec::new(), Vec::new()])
                            .map_err(Clone::clone)
                    })
                    .collect();
                for round in 0..rounds {
                    progress(&format!(
                        "guard, {label}: latency, baseline and guard alternating{}, round {}/{rounds}",
                        if pin { ", one CPU" } else { "" },
                        round + 1
                    ));
                    for j in 0..sentinels.len() {
                        let k = (j + round) % sentinels.len();
                        let (base, guard) = (&pairs[2 * k], &pairs[2 * k + 1]);
                        // Which session starts each call alternates; so does which starts first.
                        let (a, b) = if round % 2 == 0 {
                            (base, guard)
                        } else {
                            (guard, base)
                        };
                        let (Ok(done), Ok(cpu)) = (&mut runs[k], &mut cpu_calls[k]) else {
                            continue;
                        };
                        match latency_pair(ctx, a, b, pin, calls, load) {
                            Ok(mut r) => {
                                if round % 2 == 1 {
                                    r.swap(0, 1);
                                }
                                for (s, (times, secs)) in r.into_iter().enumerate() {
                                    cpu[s].0 += secs;
                                    cpu[s].1 += times.len();
                                    done[s].extend(times);
                                }
                            }
                            Err(e) => {
                                runs[k] = Err(e.clone());
                                cpu_calls[k] = Err(e);
                            }
                        }
                    }
                }
                for (k, f) in figures[s0..].iter_mut().enumerate() {
                    let stats = |s: usize| -> Res<(f64, f64)> {
                        let r = runs[k].as_ref().map_err(Clone::clone)?;
                        p50_p99(&Ok(vec![r[s].clone()]))
                    };
                    let base = stats(0);
                    let with = stats(1);
                    failed(&base);
                    failed(&with);
                    let added = with
                        .clone()
                        .and_then(|w| base.clone().map(|b| (w.0 - b.0, w.1 - b.1)));
                    for (stat, pick) in [("p50", 0), ("p99", 1)] {
                        let get = |v: &(f64, f64)| if pick == 0 { v.0 } else { v.1 };
                        put(f, &guard_key(v, mode, "base", stat), &base, get);
                        put(f, &guard_key(v, mode, "guard", stat), &with, get);
                        put(f, &guard_key(v, mode, "add", stat), &added, get);
                    }
                }
            }
            for (k, f) in figures[s0..].iter_mut().enumerate() {
                let per_call = cpu_calls[k]
                    .clone()
                    .map(|c| (c[0].0 / c[0].1 as f64, c[1].0 / c[1].1 as f64));
                put(f, &guard_key(v, "cpu1", "base", ""), &per_call, |c| c.0);
                put(f, &guard_key(v, "cpu1", "guard", ""), &per_call, |c| c.1);
                put(f, &guard_key(v, "cpu1", "add", ""), &per_call, |c| {
                    c.1 - c.0
                });
            }
            let per = n.per_round(n.guard_pipelined);
            let what = format!("guard, {label}: pipelined");
            let runs = in_rounds(&pairs, rounds, progress, &what, |r, t| {
                pipelined(ctx, t, per, load, r)
            });
            let rate_of = |r: &Res<Vec<Pipelined>>| rate_and_cpu(r, per);
            for (k, f) in figures[s0..].iter_mut().enumerate() {
                let base = rate_of(&runs[2 * k]);
                let with = rate_of(&runs[2 * k + 1]);
                let both = with.clone().and_then(|w| base.clone().map(|b| (w, b)));
                failed(&both.clone().map(|(w, b)| (w.0, b.0)));
                put(f, &guard_key(v, "pipe", "base", ""), &base, |v| v.0);
                put(f, &guard_key(v, "pipe", "guard", ""), &with, |v| v.0);
                put(f, &guard_key(v, "pipe", "ratio", ""), &both, |(w, b)| {
                    w.0 / b.0
                });
                put(f, &guard_key(v, "pipe", "cost", ""), &both, |(w, b)| {
                    1.0 / w.0 - 1.0 / b.0
                });
                put(f, &guard_key(v, "cpu", "base", ""), &base, |v| v.1);
                put(f, &guard_key(v, "cpu", "guard", ""), &with, |v| v.1);
                put(f, &guard_key(v, "cpu", "add", ""), &both, |(w, b)| {
                    w.1 - b.1
                });
            }
        }
    }
    guard_failures
}

/// The `breaker` section: the baseline policy against the built-in default with its circuit
/// breaker on (its rate limit lifted), pipelined small calls, each different. Returns its
/// failures (a refused call or a broken session fails the section).
pub(crate) fn measure_breaker(bench: &mut Bench) -> Vec<String> {
    let Bench {
        ctx,
        ref targets,
        s0,
        tmp,
        progress,
        wanted,
        ref mut figures,
    } = *bench;
    let mut failures: Vec<String> = Vec::new();
    if !wanted("breaker") {
        return failures;
    }
    let n = &ctx.n;
    let pairs = with_policy(&targets[s0..], tmp, "breaker", breaker_policy);
    let per = n.per_round(n.pipelined);
    let runs = in_rounds(&pairs, n.rounds, progress, "breaker: pipelined", |r, t| {
        pipelined(ctx, t, per, Load::Args(BREAKER_CALL), r)
    });
    let rate_of = |r: &Res<Vec<Pipelined>>| rate_and_cpu(r, per);
    for (k, f) in figures[s0..].iter_mut().enumerate() {
        let base = rate_of(&runs[2 * k]);
        let with = rate_of(&runs[2 * k + 1]);
        for e in [&base, &with].into_iter().filter_map(|r| r.as_ref().err()) {
            if !failures.contains(e) {
                eprintln!("bench_driver: breaker section FAILED: {e}");
                failures.push(e.clone());
            }
        }
        let both = with.clone().and_then(|w| base.clone().map(|b| (w, b)));
        put(f, "brk_pipe_base", &base, |v| v.0);
        put(f, "brk_pipe_on", &with, |v| v.0);
        put(f, "brk_cpu_base", &base, |v| v.1);
        put(f, "brk_cpu_on", &with, |v| v.1);
        put(f, "brk_cpu_add", &both, |(w, b)| w.1 - b.1);
    }
    failures
}

/// Messages per second and Sentinel's CPU seconds per message over pipelined runs of `per`
/// messages each.
fn rate_and_cpu(runs: &Res<Vec<Pipelined>>, per: usize) -> Res<(f64, f64)> {
    let v = runs.as_ref().map_err(Clone::clone)?;
    let msgs = (per * v.len()) as f64;
    let mut cpu = 0.0;
    for p in v {
        cpu += p.cpu.clone().ok_or("no CPU time")??;
    }
    Ok((msgs / v.iter().map(|p| p.secs).sum::<f64>(), cpu / msgs))
}

/// Each sentinel twice, as it is and with the policy `policy` makes from that binary (its
/// label suffixed `-NAME`, the file `NAME-LABEL.yaml` in `tmp`): the pairs a section compares.
fn with_policy(
    sentinels: &[Target],
    tmp: &Path,
    name: &str,
    policy: fn(&Path) -> Res<String>,
) -> Vec<Target> {
    sentinels
        .iter()
        .flat_map(|t| {
            let bin = t.sentinel().expect("a sentinel");
            let file = tmp.join(format!("{name}-{}.yaml", t.label));
            let mut with = t.clone();
            with.label = format!("{}-{name}", t.label);
            with.policy = Some(write_policy(bin, &file, &policy(bin)));
            [t.clone(), with]
        })
        .collect()
}
