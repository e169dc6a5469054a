//! The policy files the sessions run with: the 50-rule file of the `policy` section, the
//! baseline (each binary's built-in default with the circuit breaker off) and the `guard`
//! section's policy (egress guard enforcing, breaker on) with the calls it is measured with,
//! all generated from `sentinel policy show-default` and checked with `sentinel policy check`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::procs::{err, Res};

/// The 50-rule policy of the `policy` section: what a real deployment might load. The
/// benchmark call (`echo` with `{"text":"hello world"}`) matches none of the rules, so every
/// message is checked against all 50 and then allowed: the most work an allowed call costs.
/// - 19 tool rules (globs, `except_tools`, `servers`) scoped to other tools and servers;
/// - 21 argument-condition rules on every tool: regex, prefix, one_of, equals, min, max,
///   min_length, `not`, `any_string`, on `/text` (which the call has) and on paths it lacks;
/// - 8 SQL rules scoped to other tools (per-dialect database servers);
/// - last, the built-in default policy's two rules (the egress guard reporting, the SQL rule
///   on every tool), so the file does everything the baseline does, and more;
/// - like the baseline, the circuit breaker off (`breaker: {mode: off}`).
pub(crate) const POLICY_50: &str = r#"# bench_driver: a realistic 50-rule policy (benches/driver.rs, POLICY_50).
version: 1
profiles:
  default:
    mode: enforce
    default_action: allow
    rules:
      # -- 19 tool rules: none matches the benchmark's `echo` --
      - {id: t01-shell, tools: ["shell*", "*exec*", "run_command", "bash"], action: block}
      - {id: t02-delete, tools: ["*delete*", "*remove*", "*drop*"], action: block}
      - {id: t03-fs-write, tools: ["fs.write*", "write_file", "edit_file", "move_file"], action: approve}
      - {id: t04-merge, tools: ["github.*merge*", "merge_pull_request"], action: approve}
      - {id: t05-push, tools: ["push_files", "*_push", "git_push*"], action: approve}
      - {id: t06-browser, tools: ["browser_*", "puppeteer_*", "playwright_*"], action: monitor}
      - {id: t07-read-only, tools: ["read_file", "list_directory", "get_file_info"], action: allow}
      - {id: t08-search, tools: ["search_*", "*_search"], action: allow}
      - {id: t09-payments, tools: ["stripe_*", "*payment*", "*refund*"], action: block}
      - {id: t10-email, tools: ["send_email", "gmail_send*", "*_send_message"], action: approve}
      - {id: t11-k8s, tools: ["kubectl_*", "k8s_*"], except_tools: ["kubectl_get", "kubectl_describe"], action: block}
      - {id: t12-iam, tools: ["aws_iam_*", "gcp_iam_*", "azure_role_*"], action: block}
      - {id: t13-secrets, tools: ["*secret*", "*vault*", "get_env*"], action: block}
      - {id: t14-prod-servers, servers: ["prod-*", "*-production"], action: monitor}
      - {id: t15-staging-writes, servers: ["staging-*"], tools: ["*write*", "*update*"], action: approve}
      - {id: t16-network, tools: ["fetch", "http_*", "curl*", "wget*"], action: block}
      - {id: t17-git, tools: ["git_reset", "git_clean", "git_checkout_force"], action: block}
      - {id: t18-slack, tools: ["slack_*"], action: monitor}
      - {id: t19-docker, tools: ["docker_*", "container_*"], except_tools: ["docker_ps", "docker_logs"], action: block}
      # -- 21 argument conditions on every tool: none holds for {"text":"hello world"} --
      - id: a01-rm-rf
        when: [{any_string: true, regex: 'rm\s+-[a-z]*r[a-z]*f?\s+/'}]
        action: block
      - id: a02-aws-key
        when: [{any_string: true, regex: '\bAKIA[0-9A-Z]{16}\b'}]
        action: block
      - id: a03-private-key
        when: [{any_string: true, prefix: "-----BEGIN"}]
        action: block
      - id: a04-etc
        when: [{path: /path, prefix: "/etc/"}]
        action: block
      - id: a05-ssh
        when: [{path: /path, regex: '(^|/)\.ssh(/|$)'}]
        action: block
      - id: a06-dotenv
        when: [{path: /text, regex: '(^|/)\.env(\.[a-z]+)?$'}]
        action: block
      - id: a07-root-dirs
        when: [{path: /directory, one_of: ["/", "/root", "/home", "/etc"]}]
        action: block
      - id: a08-row-limit
        when: [{path: /limit, min: 10001}]
        action: block
      - id: a09-negative-limit
        when: [{path: /limit, max: -1}]
        action: block
      - id: a10-page-size
        when: [{path: /page_size, min: 1000}]
        action: approve
      - id: a11-huge-text
        when: [{path: /text, min_length: 100000}]
        action: block
      - id: a12-sudo
        when: [{path: /text, prefix: "sudo "}]
        action: block
      - id: a13-curl-pipe-sh
        when: [{path: /text, regex: 'curl[^|]*\|\s*(ba|z)?sh'}]
        action: block
      - id: a14-write-mode
        when: [{path: /mode, one_of: ["w", "a", "w+", "a+"]}]
        action: approve
      - id: a15-force-push-main
        when: [{path: /branch, one_of: ["main", "master", "release"]}, {path: /force, equals: true}]
        action: block
      - id: a16-internal-url
        when: [{path: /url, regex: '^https?://(10\.|192\.168\.|169\.254\.|127\.|localhost)'}]
        action: block
      - id: a17-recursive-root
        when: [{path: /recursive, equals: true}, {path: /path, prefix: "/"}]
        action: block
      - id: a18-external-mail
        when: [{path: /to, regex: "@"}, {path: /to, regex: '@example\.com$', not: true}]
        action: approve
      - id: a19-amount
        when: [{path: /amount, min: 500}]
        action: approve
      - id: a20-password
        when: [{path: /text, regex: '(?i)\bpass(word|wd)?\s*[:=]'}]
        action: block
      - id: a21-nested-flag
        when: [{path: /options/dangerous, equals: true}]
        action: block
      # -- 8 SQL rules for the database servers' tools --
      - {id: s01-postgres, tools: ["postgres_*", "pg_*"], sql: {dialect: postgres, max_rows: 500}, action: block}
      - {id: s02-mysql, tools: ["mysql_*"], sql: {dialect: mysql, max_rows: 500}, action: block}
      - {id: s03-sqlite, tools: ["sqlite_*", "read_query", "write_query"], sql: {dialect: sqlite}, action: block}
      - {id: s04-snowflake, tools: ["snowflake_*"], sql: {dialect: snowflake, max_rows: 10000, checks: [unbounded_read, export]}, action: block}
      - {id: s05-bigquery, tools: ["bigquery_*", "bq_*"], sql: {dialect: bigquery, max_rows: 10000}, action: block}
      - {id: s06-duckdb, tools: ["duckdb_*"], sql: {dialect: duckdb, checks: [destructive]}, action: approve}
      - {id: s07-mssql, tools: ["mssql_*", "sqlserver_*"], sql: {dialect: mssql, max_rows: 200}, action: block}
      - {id: s08-clickhouse, tools: ["clickhouse_*"], sql: {dialect: clickhouse, max_rows: 100000, unparseable: monitor}, action: block}
      # -- the built-in default's two rules, last --
      - id: egress
        egress:
          allowed_domains: []
          denied_domains: []
          checks: [denied, unlisted, private, metadata, secrets]
          entropy_threshold: 4.5
          entropy_min_length: 32
        action: monitor
      - id: sql
        sql:
          dialect: generic
          max_rows: 1000
          keys: [sql, query, statement, stmt]
          checks: [unbounded_read, export, destructive]
          unparseable: block
        action: block
    # The same calls thousands of times a second: the circuit breaker is off, as in the
    # baseline (the `guard` section measures it).
    breaker: {mode: off}
"#;

/// What replaces the `breaker:` block of `sentinel policy show-default` in the baseline
/// policy every sentinel session runs with (see [`baseline_policy`]).
const BREAKER_OFF: &str = "    breaker: {mode: off}\n";

/// The `guard` section's egress rule, in place of the default's reporting one: enforcing, with
/// 20 allowed and 10 denied domains, all five checks and the entropy detector on. The
/// benchmark's URL host (`api.corp.example`) matches the 19th allowed entry.
const GUARD_EGRESS: &str = r#"      - id: egress
        description: The exfiltration guard, enforcing (bench_driver, guard section).
        egress:
          allowed_domains: [github.com, "*.github.com", "*.githubusercontent.com",
            api.openai.com, api.anthropic.com, "*.amazonaws.com", "*.googleapis.com",
            "*.slack.com", "*.atlassian.net", "*.stripe.com", pypi.org,
            files.pythonhosted.org, registry.npmjs.org, crates.io, "*.crates.io",
            "10.20.0.0/16", "192.168.50.0/24", corp.example, "*.corp.example",
            "*.corp.internal"]
          denied_domains: [pastebin.com, "*.pastebin.com", "*.ngrok.io", "*.ngrok-free.app",
            transfer.sh, webhook.site, "*.requestbin.net", "*.pipedream.net", "*.oast.fun",
            "*.interact.sh"]
          checks: [denied, unlisted, private, metadata, secrets]
          entropy_threshold: 4.5
          entropy_min_length: 32
        action: block
"#;

/// The `guard` section's circuit breaker: every check on and enforcing, with limits the
/// benchmark never reaches (so every call is judged by all of them and none is refused).
/// Three rate limits cover the benchmark's `echo` tool: the overall one and two per-tool ones.
const GUARD_BREAKER: &str = r#"    breaker:
      mode: enforce
      rate_limits:
        - tools: ["*"]
          rate: 100000000/second
          burst: 100000000
        - tools: [echo]
          rate: 100000000/second
          burst: 100000000
        - tools: ["echo*", "fetch_*"]
          rate: 100000000/second
          burst: 100000000
      loop:
        repeats: 5
        window: 5s
        ignore_fields: [timestamp, nonce, request_id]
      max_calls: 1000000000
      budget: 1000000000000
      tools:
        - tools: [echo]
          max_calls: 1000000000
          cost: 0.001
      consecutive_errors: 5
      cooldown: 30s
      max_cooldown: 10m
"#;

/// The `breaker` section's circuit breaker: the built-in default's, with only its rate limit
/// lifted (600 calls a minute would refuse a pipelined benchmark within a second): loop
/// detection, error tripping and cooldowns as shipped, enforcing.
const BREAKER_LIFTED: &str = r#"    breaker:
      rate_limits:
        - tools: ["*"]
          rate: 100000000/second
          burst: 100000000
      loop:
        repeats: 5
        window: 5s
        ignore_fields: [timestamp, nonce, request_id]
      consecutive_errors: 5
      cooldown: 30s
      max_cooldown: 10m
"#;

/// The `breaker` section's call: the throughput section's small call, made different each time
/// (`{n}`: a 6-digit number, the request's), so loop detection never trips.
pub(crate) const BREAKER_CALL: &str = r#"{"text":"hello world {n}"}"#;

/// The `guard` section's calls (the `arguments` object of a `tools/call` of `echo`; `{n}` is
/// a 6-digit number, different on every call so that loop detection never trips): (label,
/// arguments). Each passes every check of both policies: the URL's host is allow-listed, the
/// prose names no host, the SQL is bounded.
/// - With SQL, sqlparser runs on every call, in both policies, and twice: on the query, and on
///   the prose, because its first word (`check`) is a SQL keyword, which is all the SQL
///   guard's pre-filter looks at (the parse fails, and the prose passes: it is not under a SQL
///   key). Its cost (about 20 us a call with glibc, several times more with musl) dwarfs and
///   blurs what the guard adds.
/// - Without SQL, the prose starts with a word that is no SQL keyword, so sqlparser never
///   runs: the figure shows the guard's own cost best.
pub(crate) const GUARD_CALLS: &[(&str, &str)] = &[
    (
        "URL + prose + SQL",
        r#"{"url":"https://api.corp.example/items/{n}","note":"check the status of order {n} for the customer","query":"SELECT id, status FROM orders WHERE id = {n} LIMIT 1"}"#,
    ),
    (
        "URL + prose, no SQL",
        r#"{"url":"https://api.corp.example/items/{n}","note":"please check the status of order {n} for the customer"}"#,
    ),
];

/// `text` with the block that starts at the line `header` (ignoring a trailing comment)
/// replaced by `with`: the header line and every following line indented deeper than it (a
/// YAML block, or a list item's fields).
fn replace_block(text: &str, header: &str, with: &str) -> Res<String> {
    let indent = |l: &str| l.len() - l.trim_start_matches(' ').len();
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let start = lines
        .iter()
        .position(|l| l.split(" #").next().unwrap_or("").trim_end() == header)
        .ok_or_else(|| format!("no line {:?} in `policy show-default`", header.trim()))?;
    let depth = indent(header);
    let end = lines[start + 1..]
        .iter()
        .position(|l| !l.trim().is_empty() && indent(l) <= depth)
        .map_or(lines.len(), |k| start + 1 + k);
    let mut out: String = lines[..start].concat();
    out.push_str(with);
    out.push_str(&lines[end..].concat());
    Ok(out)
}

/// `SENTINEL policy show-default`.
fn show_default(bin: &Path) -> Res<String> {
    let out = Command::new(bin)
        .args(["policy", "show-default"])
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(err("cannot run policy show-default"))?;
    if !out.status.success() {
        return Err(format!("policy show-default: {}", out.status));
    }
    String::from_utf8(out.stdout).map_err(err("policy show-default"))
}

/// The baseline: the binary's built-in default policy with its `breaker:` block replaced by
/// `breaker: {mode: off}`; every other rule as built in.
pub(crate) fn baseline_policy(bin: &Path) -> Res<String> {
    let text = replace_block(&show_default(bin)?, "    breaker:", BREAKER_OFF)?;
    Ok(format!(
        "# bench_driver: the baseline (benches/driver.rs, baseline_policy): `{} policy \
         show-default`\n# with the circuit breaker off.\n{text}",
        bin.display()
    ))
}

/// The `guard` policy: the built-in default with its reporting egress rule replaced by
/// [`GUARD_EGRESS`] and its `breaker:` block by [`GUARD_BREAKER`].
pub(crate) fn guard_policy(bin: &Path) -> Res<String> {
    let text = show_default(bin)?;
    let text = replace_block(&text, "      - id: egress", GUARD_EGRESS)?;
    let text = replace_block(&text, "    breaker:", GUARD_BREAKER)?;
    Ok(format!(
        "# bench_driver: the guard section's policy (benches/driver.rs, guard_policy): `{} \
         policy show-default`\n# with the egress guard enforcing an allow list and the circuit \
         breaker on, enforcing.\n{text}",
        bin.display()
    ))
}

/// The `breaker` policy: the built-in default with its `breaker:` block replaced by
/// [`BREAKER_LIFTED`] (every other rule as built in, as in the baseline).
pub(crate) fn breaker_policy(bin: &Path) -> Res<String> {
    let text = replace_block(&show_default(bin)?, "    breaker:", BREAKER_LIFTED)?;
    Ok(format!(
        "# bench_driver: the breaker section's policy (benches/driver/policies.rs, \
         breaker_policy): `{} policy show-default`\n# with the circuit breaker's rate limit \
         lifted.\n{text}",
        bin.display()
    ))
}

/// Writes `text` to `path` and checks it with `bin policy check`.
pub(crate) fn write_policy(bin: &Path, path: &Path, text: &Res<String>) -> Res<PathBuf> {
    let text = text.clone()?;
    fs::write(path, text).map_err(err("write the policy"))?;
    check_policy(bin, path)?;
    Ok(path.to_owned())
}

/// `SENTINEL policy check FILE`: the file must load in this binary.
pub(crate) fn check_policy(bin: &Path, file: &Path) -> Res<()> {
    let out = Command::new(bin)
        .arg("policy")
        .arg("check")
        .arg(file)
        .stdin(Stdio::null())
        .output()
        .map_err(err("cannot run policy check"))?;
    if out.status.success() {
        return Ok(());
    }
    let text = String::from_utf8_lossy(&out.stderr) + String::from_utf8_lossy(&out.stdout);
    Err(format!(
        "policy check failed: {}",
        text.lines().next().unwrap_or("").trim()
    ))
}

/// The `inspect` section's `server:` block with inspection off: lists are still held and
/// parsed (a `tools/list` answer is always read), but nothing is scanned, pinned or hidden.
const SERVER_OFF: &str = "    server: {descriptions: off, pins: off, hide_refused_tools: false}\n";

/// The `inspect` section's `server:` block with description scanning alone (pins off).
const SERVER_SCAN: &str =
    "    server: {descriptions: monitor, pins: off, hide_refused_tools: true}\n";

/// The `inspect` section's `server:` block for inspected 8 MiB responses: the built-in
/// default's settings, with a cap of `MAX` on `big` (16MiB: its answers are held whole,
/// judged, and pass; 4MiB: the check that they are judged at all).
const SERVER_CAPPED: &str = r#"    server:
      descriptions: monitor
      pins: monitor
      hide_refused_tools: true
      responses:
        - {tools: [big], max_bytes: MAX, action: block}
"#;

/// The `inspect` section's policy with server-side inspection off: the baseline with its
/// `server:` block replaced by [`SERVER_OFF`].
pub(crate) fn inspect_off_policy(bin: &Path) -> Res<String> {
    server_variant(bin, SERVER_OFF, "server-side inspection off")
}

/// The `inspect` section's policy with description scanning alone: the baseline with its
/// `server:` block replaced by [`SERVER_SCAN`].
pub(crate) fn inspect_scan_policy(bin: &Path) -> Res<String> {
    server_variant(bin, SERVER_SCAN, "pinning off")
}

/// The `inspect` section's policy for inspected responses: the baseline with its `server:`
/// block replaced by [`SERVER_CAPPED`] with the cap `max` (`16MiB`).
pub(crate) fn capped_policy(bin: &Path, max: &str) -> Res<String> {
    let what = format!("a response cap of {max} on `big`");
    server_variant(bin, &SERVER_CAPPED.replace("MAX", max), &what)
}

fn server_variant(bin: &Path, server: &str, what: &str) -> Res<String> {
    let text = replace_block(&show_default(bin)?, "    breaker:", BREAKER_OFF)?;
    let text = replace_block(&text, "    server:", server)?;
    Ok(format!(
        "# bench_driver: the inspect section's policy (benches/driver/policies.rs): `{} policy \
         show-default`\n# with the circuit breaker off and {what}.\n{text}",
        bin.display()
    ))
}

/// Whether `bin --help` names `option`: what a section asks of a binary it may not have
/// (an older build, measured for comparison).
pub(crate) fn has_option(bin: &Path, option: &str) -> bool {
    Command::new(bin)
        .arg("--help")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .is_ok_and(|o| {
            String::from_utf8_lossy(&o.stdout)
                .split(|c: char| c.is_whitespace() || c == ',' || c == '[' || c == ']')
                .any(|w| w == option)
        })
}
