//! The text of the built-in default policy (`sentinel policy show-default`): a file to start
//! from, which loads to exactly `Policy::builtin`.

/// The built-in default policy as a file one can start from.
pub fn default_yaml(dialect: &str, max_rows: u64) -> String {
    format!(
        "# MCP Sentinel policy: the built-in default (`sentinel policy show-default`).
# Loading this file gives exactly the behaviour of running without --policy.
version: 1
default_profile: default
profiles:
  default:
    mode: enforce            # enforce | monitor (decide and audit, but forward)
    default_action: allow    # what happens when no rule decides: allow | block
    rules:
      # Rules are checked in order; the first that matches decides (monitor rules only
      # record and let evaluation go on).
      - id: egress           # findings are reported as egress.private, egress.secret, ...
        description: Report network destinations and secrets found in arguments.
        egress:
          allowed_domains: []    # host globs (*.corp.example), IPs or CIDRs (10.0.0.0/8)
          denied_domains: []
          checks: [denied, unlisted, private, metadata, secrets]
          entropy_threshold: 4.5 # bits per character for unknown-format secrets (0 = off)
          entropy_min_length: 32
        action: monitor        # report only; block to enforce
      - id: sql              # findings are reported as sql.unbounded_read, sql.export, ...
        description: The SQL exfiltration guard on every string argument of every tool.
        sql:
          dialect: {dialect}      # auto: the server's database if known, else every one's rules
          max_rows: {max_rows}
          # keys: [sql, query]   # arguments that carry SQL (default: decided per argument from
          # prose: [title]       # the server's tool definitions and the names); prose never does
          checks: [unbounded_read, export, destructive]
          unparseable: block   # SQL that cannot be verified: block | monitor | allow
          unrecognised: approve  # statements not proven harmless: block | monitor | approve | allow
          destructive: approve   # DROP, TRUNCATE, DELETE/UPDATE without a real WHERE, ...
        action: block          # unbounded reads and exports
        approval:              # how `approve` asks a person (README: Human approval)
          channel: any         # any: the client's prompt, else `sentinel approvals` on this
          timeout: 50s         # host | client | local; silence past the timeout is a denial
          allow_session: true  # offer: approve this exact call for the session
    breaker:                 # the circuit breaker, per session: mode enforce | monitor | off
      rate_limits:           # token buckets: `burst` calls at once, refilled at `rate`
        - tools: [\"*\"]       # all tools together
          rate: 600/minute
          burst: 200
      loop:                  # the same tool with the same arguments `repeats` times
        repeats: 5           # within `window` opens the tool's circuit (0 = off)
        window: 5s
        ignore_fields: [timestamp, nonce, request_id]   # left out when comparing calls
      consecutive_errors: 5  # failed answers in a row from one tool open its circuit (0 = off)
      cooldown: 30s          # an open circuit refuses calls this long, then lets one probe
      max_cooldown: 10m      # through; the cooldown doubles up to this while probes fail
      # max_calls: 1000      # calls per session, all tools together
      # budget: 5.00         # the session's budget, in the unit of the tools' costs
      # tools:               # per-tool call limits and costs
      #   - tools: [web_search]
      #     max_calls: 200
      #     cost: 0.02
    audit:                   # what the audit log records beyond refusals (README: Audit log)
      log_allowed: false     # true: an `allowed` entry for every call forwarded unremarked too
      redact: []             # argument paths kept out of every entry: [/password, /db/key/0]
      server_requests: false # true: record the server's requests (sampling, elicitation, roots)
    server:                  # what the server sends back (README: Server-side inspection)
      descriptions: monitor  # tool/prompt/resource texts aimed at the model, hidden characters,
      max_text: 8192         # ANSI escapes, texts longer than max_text: off | monitor | remove |
                             # sanitise (remove: the item is hidden and its calls refused)
      pins: monitor          # tool definitions pinned at first sight; a change is reported:
                             # off | monitor | enforce (changed tools hidden until
                             # `sentinel pins accept`)
      hide_refused_tools: true  # tools the rules refuse outright are left out of tools/list
      responses:             # caps, first match per tool: max_bytes (512KiB, 4MiB) and, for
        - tools: [\"*\"]      # tools that take SQL, max_rows; action: block | truncate | monitor
          max_rows: {max_rows}
          action: monitor
"
    )
}
