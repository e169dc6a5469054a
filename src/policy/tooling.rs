//! The policy tooling subcommands: `sentinel policy check`, `policy test`, `policy
//! show-default` and `sentinel explain`. Each loads policies through `policy_file` and judges
//! messages through the same `Policy::decide` the gateway uses, so what they report is what
//! the proxy does.

use crate::base::jsonrpc::{self, Parsed};
use crate::policy::file::{self, PolicyError, PolicyFile};
use crate::policy::{Call, Decision, Policy};
use serde::Deserialize;
use std::io::Read;
use std::path::Path;

/// Where the policy in force comes from: a file (and one of its profiles), or the built-in
/// default as `--dialect` and `--max-rows` tune it.
pub struct Source<'a> {
    pub file: Option<&'a Path>,
    pub profile: Option<&'a str>,
    pub dialect: &'a str,
    pub max_rows: u64,
}

/// The policy `source` names: the file (profile) or the built-in default.
pub fn load(source: &Source) -> Result<Policy, PolicyError> {
    match source.file {
        Some(path) => PolicyFile::load(path)?.compile_checked(source.profile),
        None => Ok(Policy::builtin(source.dialect, source.max_rows)),
    }
}

/// `sentinel policy check FILE`: 0 when every profile compiles, 1 otherwise.
pub fn check(file: &Path) -> u8 {
    let parsed = match PolicyFile::load(file) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    let errors = parsed.check_all();
    for e in &errors {
        eprintln!("{e}");
    }
    if !errors.is_empty() {
        eprintln!("{}: {} error(s)", file.display(), errors.len());
        return 1;
    }
    let profiles = parsed.profiles();
    println!(
        "{}: ok ({} profile(s): {})",
        file.display(),
        profiles.len(),
        profiles.join(", ")
    );
    0
}

/// `sentinel policy show-default`.
pub fn show_default(source: &Source) -> u8 {
    print!("{}", file::default_yaml(source.dialect, source.max_rows));
    0
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CasesDoc {
    cases: Vec<CaseDoc>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseDoc {
    name: String,
    #[serde(default)]
    profile: Option<String>,
    #[serde(default)]
    server: Option<String>,
    #[serde(default)]
    tool: Option<String>,
    #[serde(default)]
    arguments: Option<serde_json::Value>,
    #[serde(default)]
    message: Option<serde_json::Value>,
    expect: String,
    #[serde(default)]
    rule: Option<String>,
}

/// `sentinel policy test FILE CASES`: runs each case, prints a line per case and a summary;
/// 0 when all pass, 1 otherwise.
pub fn test(file: &Path, cases_path: &Path) -> u8 {
    let parsed = match PolicyFile::load(file) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    let cases: CasesDoc = match std::fs::read_to_string(cases_path)
        .map_err(|e| e.to_string())
        .and_then(|t| {
            serde_saphyr::from_str(&t).map_err(|e| {
                let loc = e
                    .location()
                    .map_or(String::new(), |l| format!("{}:{}: ", l.line(), l.column()));
                format!("{loc}{}", file::yaml_message(&e))
            })
        }) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{}:{e}", cases_path.display());
            return 1;
        }
    };
    if cases.cases.is_empty() {
        eprintln!(
            "{}: no cases: a policy test needs at least one",
            cases_path.display()
        );
        return 1;
    }
    let (mut passed, mut failed) = (0usize, 0usize);
    for (i, case) in cases.cases.iter().enumerate() {
        let n = i + 1;
        match run_case(&parsed, case) {
            Ok(()) => {
                passed += 1;
                println!("ok {n} - {}", case.name);
            }
            Err(why) => {
                failed += 1;
                println!("not ok {n} - {}: {why}", case.name);
            }
        }
    }
    println!("policy test: {passed} passed, {failed} failed");
    u8::from(failed > 0)
}

fn run_case(file: &PolicyFile, case: &CaseDoc) -> Result<(), String> {
    let policy = file
        .compile(case.profile.as_deref())
        .map_err(|e| e.to_string())?;
    let text = match (&case.message, &case.tool) {
        (Some(m), None) => m.to_string(),
        (None, Some(tool)) => serde_json::json!({
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/call",
            "params": {"name": tool, "arguments": case.arguments.clone().unwrap_or_default()},
        })
        .to_string(),
        _ => return Err("give either `tool` (with `arguments`) or `message`".into()),
    };
    let server = case.server.as_deref().unwrap_or("");
    let (verdict, rule) = judge(&policy, server, &text, None)?;
    let want_rule = case.rule.as_deref();
    if verdict != case.expect || (want_rule.is_some() && want_rule != rule.as_deref()) {
        return Err(format!(
            "expected {}{}, got {verdict}{}",
            case.expect,
            want_rule.map_or(String::new(), |r| format!(" ({r})")),
            rule.map_or(String::new(), |r| format!(" ({r})"))
        ));
    }
    Ok(())
}

/// The verdict word and deciding rule for one message text.
fn judge(
    policy: &Policy,
    server: &str,
    text: &str,
    trace: Option<&mut Vec<String>>,
) -> Result<(String, Option<String>), String> {
    let decision = match jsonrpc::parse_line(text.as_bytes()) {
        Err(_) => return Ok(("block".into(), Some(crate::policy::MALFORMED.to_owned()))),
        Ok(None) => return Err("the message is empty".into()),
        Ok(Some(Parsed::Batch(_))) => return Err("give one message, not a batch".into()),
        Ok(Some(Parsed::Single(msg))) => {
            if msg.method.as_deref() != Some("tools/call") {
                return Ok(("allow".into(), None));
            }
            let call = Call {
                server,
                tool: msg.tool_name(),
                arguments: msg.params.as_ref().and_then(|p| p.get("arguments")),
                def: None,
                target: crate::guards::sql::conventions::infer(&[server]),
            };
            policy.decide(&call, trace)
        }
    };
    Ok((decision.verdict().to_owned(), deciding_rule(&decision)))
}

/// The rule behind the verdict: the refusing (or would-be refusing) rule, else the first
/// monitor record, else the allowing rule.
fn deciding_rule(d: &Decision) -> Option<String> {
    let refusing = d
        .terminal
        .as_ref()
        .filter(|h| h.action != crate::policy::Action::Allow);
    refusing
        .or(d.monitored.first())
        .or(d.terminal.as_ref())
        .map(|h| h.rule.clone())
}

/// `sentinel explain [MESSAGE|-]`: the decision on one message and the trace of every rule.
pub fn explain(source: &Source, server_name: Option<&str>, message: Option<&str>) -> u8 {
    let policy = match load(source) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("sentinel: error: invalid policy: {e}");
            return 2;
        }
    };
    let text = match message {
        Some(m) => m.to_owned(),
        None => {
            let mut s = String::new();
            if let Err(e) = std::io::stdin().read_to_string(&mut s) {
                eprintln!("sentinel: error: cannot read the message from stdin: {e}");
                return 1;
            }
            s
        }
    };
    let text = text.trim();
    let server = server_name.unwrap_or("");
    println!("policy: {}", policy.summary());
    println!(
        "breaker: {} (not applied here: it needs a session's history)",
        policy.breaker.summary()
    );
    if !server.is_empty() {
        println!("server: {server}");
    }
    let parsed = jsonrpc::parse_line(text.as_bytes());
    if let Ok(Some(Parsed::Single(msg))) = &parsed {
        let method = msg.method.as_deref().unwrap_or("(response)");
        match msg.tool_name() {
            Some(t) => println!("message: {method} tool={t}"),
            None => println!("message: {method}"),
        }
        if msg.method.as_deref() != Some("tools/call") {
            println!("decision: allow (only tools/call is inspected; {method} passes untouched)");
            return 0;
        }
        let call = Call {
            server,
            tool: msg.tool_name(),
            arguments: msg.params.as_ref().and_then(|p| p.get("arguments")),
            def: None,
            target: crate::guards::sql::conventions::infer(&[server]),
        };
        let mut trace = Vec::new();
        let decision = policy.decide(&call, Some(&mut trace));
        println!("trace:");
        if trace.is_empty() {
            println!("  (the policy has no rules)");
        }
        for (i, line) in trace.iter().enumerate() {
            println!("  {}. {line}", i + 1);
        }
        print!("decision: {}", decision.verdict());
        if let Some(rule) = deciding_rule(&decision) {
            print!(" (rule {rule})");
        }
        println!();
        let shown = decision
            .terminal
            .as_ref()
            .filter(|h| h.action != crate::policy::Action::Allow)
            .or(decision.monitored.first())
            .or(decision.terminal.as_ref());
        if let Some(h) = shown {
            println!("reason: {}", h.reason);
            println!("detail: {}", h.detail);
            println!("hint: {}", h.hint);
            if !h.pointer.is_empty() {
                println!("argument: {}", h.pointer);
            }
        }
        return 0;
    }
    match parsed {
        Err(r) => {
            println!("decision: block (rule jsonrpc.malformed)");
            println!("detail: {}", r.problem);
        }
        Ok(None) => {
            eprintln!("sentinel: error: no message given (pass it as an argument or on stdin)");
            return 2;
        }
        Ok(Some(_)) => {
            eprintln!("sentinel: error: explain takes one message, not a batch");
            return 2;
        }
    }
    0
}
