//! Policy files: the YAML (or JSON) format, its profiles and `extends:` inheritance, and its
//! validation into a compiled [`Policy`]. This module owns the file schema (unknown fields are
//! errors, so a typo never silently disables a rule), error messages with file, line and
//! column, and the text of the built-in default policy (`sentinel policy show-default`),
//! which loads to exactly [`Policy::builtin`].

use crate::base::glob::Glob;
use crate::egress::DomainList;
use crate::guards::breaker;
use crate::guards::sql::{self, Check, SqlGuard};
use crate::policy::{
    Action, Condition, EgressCheck, EgressRule, JsonPointer, Mode, Policy, Rule, SqlRule, Target,
    Test, SQL_KEYS,
};
use crate::secrets;
use serde::Deserialize;
use serde_saphyr::Spanned;
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

/// The only `version:` this build reads.
pub const VERSION: u32 = 1;

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
          dialect: {dialect}
          max_rows: {max_rows}
          keys: [{keys}]
          checks: [unbounded_read, export, destructive]
          unparseable: block   # block | monitor | allow
        action: block
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
",
        keys = SQL_KEYS.join(", ")
    )
}

/// A policy file problem, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    pub file: String,
    pub line: u64,
    pub column: u64,
    pub message: String,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(
                f,
                "{}:{}:{}: {}",
                self.file, self.line, self.column, self.message
            )
        } else {
            write!(f, "{}: {}", self.file, self.message)
        }
    }
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct FileDoc {
    version: Spanned<u32>,
    #[serde(default)]
    default_profile: Option<Spanned<String>>,
    profiles: BTreeMap<String, Spanned<ProfileDoc>>,
}

#[derive(Deserialize, Debug, Clone, Default)]
#[serde(deny_unknown_fields)]
struct ProfileDoc {
    #[serde(default)]
    extends: Option<Spanned<String>>,
    /// For people reading the file.
    #[serde(default)]
    #[allow(dead_code)]
    description: Option<String>,
    #[serde(default)]
    mode: Option<ModeDoc>,
    #[serde(default)]
    default_action: Option<DefaultActionDoc>,
    #[serde(default)]
    rules: Vec<Spanned<RuleDoc>>,
    #[serde(default)]
    remove_rules: Vec<Spanned<String>>,
    #[serde(default)]
    breaker: Option<Spanned<BreakerDoc>>,
}

/// The `breaker:` section of a profile. Every field is optional: unset ones keep the
/// defaults (see [`breaker::Config::defaults`]).
#[derive(Deserialize, Debug, Clone, Default)]
#[serde(deny_unknown_fields)]
struct BreakerDoc {
    #[serde(default)]
    mode: Option<BreakerModeDoc>,
    #[serde(default)]
    rate_limits: Option<Vec<Spanned<RateDoc>>>,
    #[serde(default, rename = "loop")]
    loop_rule: Option<Spanned<LoopDoc>>,
    #[serde(default)]
    max_calls: Option<u64>,
    #[serde(default)]
    budget: Option<Spanned<f64>>,
    #[serde(default)]
    tools: Option<Vec<Spanned<ToolBudgetDoc>>>,
    #[serde(default)]
    consecutive_errors: Option<u32>,
    #[serde(default)]
    cooldown: Option<Spanned<String>>,
    #[serde(default)]
    max_cooldown: Option<Spanned<String>>,
}

#[derive(Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum BreakerModeDoc {
    Enforce,
    Monitor,
    Off,
}

#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
struct RateDoc {
    #[serde(default)]
    tools: Option<Vec<String>>,
    rate: Spanned<String>,
    #[serde(default)]
    burst: Option<f64>,
}

#[derive(Deserialize, Debug, Clone, Default)]
#[serde(deny_unknown_fields)]
struct LoopDoc {
    #[serde(default)]
    repeats: Option<u32>,
    #[serde(default)]
    window: Option<Spanned<String>>,
    #[serde(default)]
    ignore_fields: Option<Vec<String>>,
}

#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
struct ToolBudgetDoc {
    tools: Vec<String>,
    #[serde(default)]
    max_calls: Option<u64>,
    #[serde(default)]
    cost: Option<f64>,
}

#[derive(Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum ModeDoc {
    Enforce,
    Monitor,
}

impl ModeDoc {
    /// The mode a setting stands for; unset means enforce.
    fn compile(doc: Option<ModeDoc>) -> Mode {
        match doc {
            Some(ModeDoc::Monitor) => Mode::Monitor,
            Some(ModeDoc::Enforce) | None => Mode::Enforce,
        }
    }
}

#[derive(Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum DefaultActionDoc {
    Allow,
    Block,
}

#[derive(Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum ActionDoc {
    Allow,
    Block,
    Monitor,
    Approve,
}

impl ActionDoc {
    /// The action a setting stands for; unset means block.
    fn compile(doc: Option<ActionDoc>) -> Action {
        match doc {
            Some(ActionDoc::Allow) => Action::Allow,
            Some(ActionDoc::Monitor) => Action::Monitor,
            Some(ActionDoc::Approve) => Action::Approve,
            Some(ActionDoc::Block) | None => Action::Block,
        }
    }
}

#[derive(Deserialize, Debug, Clone, Default)]
#[serde(deny_unknown_fields)]
struct RuleDoc {
    id: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    servers: Option<Vec<String>>,
    #[serde(default)]
    tools: Option<Vec<String>>,
    #[serde(default)]
    except_tools: Option<Vec<String>>,
    #[serde(default)]
    when: Option<Vec<Spanned<ConditionDoc>>>,
    #[serde(default)]
    max_argument_bytes: Option<usize>,
    #[serde(default)]
    sql: Option<SqlDoc>,
    #[serde(default)]
    egress: Option<EgressDoc>,
    #[serde(default)]
    action: Option<ActionDoc>,
    #[serde(default)]
    mode: Option<ModeDoc>,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    hint: Option<String>,
}

#[derive(Deserialize, Debug, Clone, Default)]
#[serde(deny_unknown_fields)]
struct SqlDoc {
    #[serde(default)]
    dialect: Option<Spanned<String>>,
    #[serde(default)]
    max_rows: Option<u64>,
    #[serde(default)]
    keys: Option<Vec<String>>,
    #[serde(default)]
    checks: Option<Vec<CheckDoc>>,
    #[serde(default)]
    unparseable: Option<ActionDoc>,
}

#[derive(Deserialize, Debug, Clone, Default)]
#[serde(deny_unknown_fields)]
struct EgressDoc {
    #[serde(default)]
    allowed_domains: Option<Vec<String>>,
    #[serde(default)]
    denied_domains: Option<Vec<String>>,
    #[serde(default)]
    checks: Option<Vec<EgressCheckDoc>>,
    #[serde(default)]
    entropy_threshold: Option<f64>,
    #[serde(default)]
    entropy_min_length: Option<usize>,
}

#[derive(Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum EgressCheckDoc {
    Denied,
    Unlisted,
    Private,
    Metadata,
    Secrets,
}

#[derive(Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum CheckDoc {
    UnboundedRead,
    Export,
    Destructive,
}

#[derive(Deserialize, Debug, Clone, Default)]
#[serde(deny_unknown_fields)]
struct ConditionDoc {
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    any_string: Option<bool>,
    /// `equals: null` is a test for null, not the absence of a test.
    #[serde(default, deserialize_with = "present")]
    equals: Option<serde_json::Value>,
    #[serde(default)]
    one_of: Option<Vec<serde_json::Value>>,
    #[serde(default)]
    regex: Option<String>,
    #[serde(default)]
    prefix: Option<String>,
    #[serde(default)]
    min: Option<f64>,
    #[serde(default)]
    max: Option<f64>,
    #[serde(default)]
    min_length: Option<usize>,
    #[serde(default)]
    max_length: Option<usize>,
    #[serde(default)]
    not: Option<bool>,
}

/// A field that may hold `null` on purpose: present is `Some`, whatever its value (serde's
/// default reads a null `Option` as absent).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<serde_json::Value>, D::Error> {
    serde_json::Value::deserialize(d).map(Some)
}

/// A parsed policy file: every profile, ready to compile.
#[derive(Debug)]
pub struct PolicyFile {
    name: String,
    doc: FileDoc,
}

impl PolicyFile {
    /// Reads and parses `path` (`.json` as JSON, anything else as YAML).
    pub fn load(path: &Path) -> Result<PolicyFile, PolicyError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| PolicyError {
            file: name.clone(),
            line: 0,
            column: 0,
            message: format!("cannot read the policy file: {e}"),
        })?;
        let json = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"));
        PolicyFile::parse(&name, &text, json)
    }

    /// Parses policy text; `name` is used in messages.
    pub fn parse(name: &str, text: &str, json: bool) -> Result<PolicyFile, PolicyError> {
        if json {
            // JSON is checked as JSON first (YAML text in a .json file is refused, not read as
            // YAML), then read by the same YAML reader as YAML files: JSON is YAML, and one
            // deserializer for the schema instead of two keeps the binary smaller.
            serde_json::from_str::<serde::de::IgnoredAny>(text).map_err(|e| PolicyError {
                file: name.to_owned(),
                line: e.line() as u64,
                column: e.column() as u64,
                message: e
                    .to_string()
                    .split(" at line ")
                    .next()
                    .unwrap_or("")
                    .to_owned(),
            })?;
        }
        let doc: FileDoc = serde_saphyr::from_str(text).map_err(|e| {
            let (line, column) = e.location().map_or((0, 0), |l| (l.line(), l.column()));
            PolicyError {
                file: name.to_owned(),
                line,
                column,
                message: yaml_message(&e),
            }
        })?;
        let file = PolicyFile {
            name: name.to_owned(),
            doc,
        };
        if file.doc.version.value != VERSION {
            return Err(file.error(
                &file.doc.version.referenced,
                format!(
                    "unsupported version {} (this Sentinel reads version {VERSION})",
                    file.doc.version.value
                ),
            ));
        }
        if file.doc.profiles.is_empty() {
            return Err(file.error_at(0, 0, "the file defines no profiles".into()));
        }
        Ok(file)
    }

    fn error(&self, at: &serde_saphyr::Location, message: String) -> PolicyError {
        self.error_at(at.line(), at.column(), message)
    }

    fn error_at(&self, line: u64, column: u64, message: String) -> PolicyError {
        PolicyError {
            file: self.name.clone(),
            line,
            column,
            message,
        }
    }

    /// The profile names, sorted.
    pub fn profiles(&self) -> Vec<&str> {
        self.doc.profiles.keys().map(String::as_str).collect()
    }

    /// The profile used when none is asked for: `default_profile`, else the only profile,
    /// else one named `default`.
    pub fn default_profile(&self) -> Result<String, PolicyError> {
        if let Some(p) = &self.doc.default_profile {
            if !self.doc.profiles.contains_key(&p.value) {
                return Err(self.error(
                    &p.referenced,
                    format!(
                        "default_profile {:?} is not a profile of this file",
                        p.value
                    ),
                ));
            }
            return Ok(p.value.clone());
        }
        if self.doc.profiles.len() == 1 {
            return Ok(self.doc.profiles.keys().next().cloned().unwrap_or_default());
        }
        if self.doc.profiles.contains_key("default") {
            return Ok("default".into());
        }
        Err(self.error_at(
            0,
            0,
            format!(
                "several profiles ({}) and no default_profile: choose one with --profile or \
                 SENTINEL_PROFILE",
                self.profiles().join(", ")
            ),
        ))
    }

    /// Compiles profile `name` (or the default one) after checking that every profile of the
    /// file compiles: the file is the reviewed unit, so a broken profile is never put in force
    /// next to a good one.
    pub fn compile_checked(&self, name: Option<&str>) -> Result<Policy, PolicyError> {
        if let Some(e) = self.check_all().into_iter().next() {
            return Err(e);
        }
        self.compile(name)
    }

    /// Compiles every profile, reporting the first error of each.
    pub fn check_all(&self) -> Vec<PolicyError> {
        let mut errors = Vec::new();
        if let Some(p) = &self.doc.default_profile {
            if !self.doc.profiles.contains_key(&p.value) {
                errors.push(self.error(
                    &p.referenced,
                    format!(
                        "default_profile {:?} is not a profile of this file",
                        p.value
                    ),
                ));
            }
        }
        for name in self.doc.profiles.keys() {
            if let Err(e) = self.compile(Some(name)) {
                errors.push(e);
            }
        }
        errors
    }

    /// Compiles profile `name` (or the default profile) into a policy.
    pub fn compile(&self, name: Option<&str>) -> Result<Policy, PolicyError> {
        let name = match name {
            Some(n) => n.to_owned(),
            None => self.default_profile()?,
        };
        let resolved = self.resolve(&name, &mut Vec::new())?;
        let mode = ModeDoc::compile(resolved.mode);
        let mut rules = Vec::with_capacity(resolved.rules.len());
        let mut seen = std::collections::HashSet::new();
        for r in &resolved.rules {
            if !seen.insert(r.value.id.clone()) {
                return Err(self.error(
                    &r.referenced,
                    format!("rule id {:?} appears twice in profile {name:?}", r.value.id),
                ));
            }
            rules.push(self.rule(r)?);
        }
        let breaker = match &resolved.breaker {
            Some(b) => self.breaker(b, mode)?,
            None => breaker::Config {
                mode: Some(mode),
                ..breaker::Config::defaults()
            },
        };
        Ok(Policy {
            source: format!("{} (profile {name})", self.name),
            rules,
            default_action: match resolved.default_action {
                Some(DefaultActionDoc::Block) => Action::Block,
                _ => Action::Allow,
            },
            default_mode: mode,
            breaker,
        })
    }

    /// Compiles a `breaker:` section over the defaults; `mode` is the profile's (the breaker
    /// follows it unless the section says otherwise).
    fn breaker(
        &self,
        doc: &Spanned<BreakerDoc>,
        mode: Mode,
    ) -> Result<breaker::Config, PolicyError> {
        let b = &doc.value;
        let fail =
            |at: &serde_saphyr::Location, m: String| Err(self.error(at, format!("breaker: {m}")));
        let mut cfg = breaker::Config::defaults();
        cfg.mode = match b.mode {
            Some(BreakerModeDoc::Off) => None,
            Some(BreakerModeDoc::Monitor) => Some(Mode::Monitor),
            Some(BreakerModeDoc::Enforce) => Some(Mode::Enforce),
            None => Some(mode),
        };
        if let Some(limits) = &b.rate_limits {
            cfg.rate_limits.clear();
            for r in limits {
                let (count, per_ms) = match parse_rate(&r.value.rate.value) {
                    Ok(x) => x,
                    Err(m) => return fail(&r.value.rate.referenced, m),
                };
                let burst = r.value.burst.unwrap_or(count);
                if !(burst >= 1.0 && burst.is_finite()) {
                    return fail(
                        &r.referenced,
                        format!("burst must be at least 1 (got {burst})"),
                    );
                }
                cfg.rate_limits.push(breaker::RateLimit::new(
                    globs_or_all(&r.value.tools),
                    burst,
                    per_ms,
                    r.value.rate.value.trim().to_owned(),
                ));
            }
        }
        if let Some(l) = &b.loop_rule {
            let base = cfg.loop_rule.clone().unwrap_or(breaker::LoopRule {
                repeats: 5,
                window_ms: 5000,
                ignore_fields: Vec::new(),
            });
            let repeats = l.value.repeats.unwrap_or(base.repeats);
            if repeats == 1 {
                return fail(
                    &l.referenced,
                    "loop.repeats must be 0 (off) or at least 2".into(),
                );
            }
            let window_ms = match &l.value.window {
                Some(w) => match parse_duration(&w.value) {
                    Ok(ms) => ms,
                    Err(m) => return fail(&w.referenced, m),
                },
                None => base.window_ms,
            };
            cfg.loop_rule = (repeats > 0).then(|| breaker::LoopRule {
                repeats,
                window_ms,
                ignore_fields: l.value.ignore_fields.clone().unwrap_or(base.ignore_fields),
            });
        }
        if b.max_calls.is_some() {
            cfg.max_calls = b.max_calls;
        }
        if let Some(budget) = &b.budget {
            if !(budget.value >= 0.0 && budget.value.is_finite()) {
                return fail(
                    &budget.referenced,
                    format!("budget must be a number >= 0 (got {})", budget.value),
                );
            }
            cfg.budget = Some(budget.value);
        }
        if let Some(tools) = &b.tools {
            for t in tools {
                let cost = t.value.cost.unwrap_or(0.0);
                if !(cost >= 0.0 && cost.is_finite()) {
                    return fail(
                        &t.referenced,
                        format!("cost must be a number >= 0 (got {cost})"),
                    );
                }
                if t.value.tools.is_empty() {
                    return fail(
                        &t.referenced,
                        "tools: needs at least one tool name or glob".into(),
                    );
                }
                cfg.tools.push(breaker::ToolBudget {
                    tools: t.value.tools.iter().map(|g| Glob::new(g)).collect(),
                    max_calls: t.value.max_calls,
                    cost,
                });
            }
        }
        if let Some(n) = b.consecutive_errors {
            cfg.error_threshold = (n > 0).then_some(n);
        }
        for (field, target) in [
            (&b.cooldown, &mut cfg.cooldown_ms),
            (&b.max_cooldown, &mut cfg.max_cooldown_ms),
        ] {
            if let Some(d) = field {
                match parse_duration(&d.value) {
                    Ok(ms) => *target = ms,
                    Err(m) => return fail(&d.referenced, m),
                }
            }
        }
        if b.max_cooldown.is_none() {
            // Only the cooldown was set: the cap is at least the cooldown itself.
            cfg.max_cooldown_ms = cfg.max_cooldown_ms.max(cfg.cooldown_ms);
        }
        if cfg.max_cooldown_ms < cfg.cooldown_ms {
            return fail(
                &doc.referenced,
                format!(
                    "max_cooldown ({}) is shorter than cooldown ({})",
                    breaker::duration_text(cfg.max_cooldown_ms),
                    breaker::duration_text(cfg.cooldown_ms)
                ),
            );
        }
        Ok(cfg)
    }

    /// Applies `extends:` chains: a profile overrides only what it states; its rules override
    /// the parent's rules of the same id field by field (keeping their place) and new rules go
    /// after the parent's.
    fn resolve(&self, name: &str, chain: &mut Vec<String>) -> Result<ProfileDoc, PolicyError> {
        let Some(profile) = self.doc.profiles.get(name) else {
            return Err(self.error_at(
                0,
                0,
                format!(
                    "no profile {name:?} in this file (it has: {})",
                    self.profiles().join(", ")
                ),
            ));
        };
        if chain.iter().any(|c| c == name) {
            chain.push(name.to_owned());
            return Err(self.error(
                &profile.referenced,
                format!(
                    "profiles extend each other in a cycle: {}",
                    chain.join(" -> ")
                ),
            ));
        }
        chain.push(name.to_owned());
        let own = &profile.value;
        let Some(parent_name) = &own.extends else {
            if let Some(r) = own.remove_rules.first() {
                return Err(self.error(
                    &r.referenced,
                    format!("profile {name:?} has remove_rules but extends no profile"),
                ));
            }
            return Ok(own.clone());
        };
        if !self.doc.profiles.contains_key(&parent_name.value) {
            return Err(self.error(
                &parent_name.referenced,
                format!(
                    "profile {name:?} extends unknown profile {:?}",
                    parent_name.value
                ),
            ));
        }
        let mut merged = self.resolve(&parent_name.value, chain)?;
        if own.mode.is_some() {
            merged.mode = own.mode;
        }
        if own.default_action.is_some() {
            merged.default_action = own.default_action;
        }
        match (&mut merged.breaker, &own.breaker) {
            (Some(base), Some(child)) => merge_breaker(&mut base.value, &child.value),
            (None, Some(child)) => merged.breaker = Some(child.clone()),
            _ => {}
        }
        for removed in &own.remove_rules {
            let before = merged.rules.len();
            merged.rules.retain(|r| r.value.id != removed.value);
            if merged.rules.len() == before {
                return Err(self.error(
                    &removed.referenced,
                    format!(
                        "remove_rules names {:?}, which no parent profile has",
                        removed.value
                    ),
                ));
            }
        }
        for rule in &own.rules {
            match merged
                .rules
                .iter_mut()
                .find(|r| r.value.id == rule.value.id)
            {
                Some(existing) => merge_rule(&mut existing.value, &rule.value),
                None => merged.rules.push(rule.clone()),
            }
        }
        merged.extends = None;
        Ok(merged)
    }

    fn rule(&self, spanned: &Spanned<RuleDoc>) -> Result<Rule, PolicyError> {
        let r = &spanned.value;
        let at = &spanned.referenced;
        let fail = |message: String| Err(self.error(at, format!("rule {:?}: {message}", r.id)));
        if r.id.is_empty()
            || !r
                .id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        {
            return fail("ids use only letters, digits, '_', '-' and '.'".into());
        }
        let globs = |v: &Option<Vec<String>>| -> Vec<Glob> {
            v.iter().flatten().map(|g| Glob::new(g)).collect()
        };
        let mut conditions = Vec::new();
        for c in r.when.iter().flatten() {
            match condition(&c.value) {
                Ok(cond) => conditions.push(cond),
                Err(m) => {
                    return Err(self.error(&c.referenced, format!("rule {:?}: {m}", r.id)));
                }
            }
        }
        let action = ActionDoc::compile(r.action);
        let sql = match &r.sql {
            None => None,
            Some(s) => {
                let dialect = s.dialect.as_ref().map_or("generic", |d| d.value.as_str());
                if !sql::is_dialect(dialect) {
                    let where_ = s.dialect.as_ref().map_or(at, |d| &d.referenced);
                    return Err(self.error(
                        where_,
                        format!(
                            "rule {:?}: unknown SQL dialect {dialect:?} (one of {})",
                            r.id,
                            sql::DIALECTS.join(", ")
                        ),
                    ));
                }
                if action == Action::Allow {
                    return fail("a sql rule finds problems; its action cannot be allow".into());
                }
                let checks = s.checks.clone().unwrap_or_else(|| {
                    vec![
                        CheckDoc::UnboundedRead,
                        CheckDoc::Export,
                        CheckDoc::Destructive,
                    ]
                });
                Some(SqlRule {
                    guard: SqlGuard::new(dialect, s.max_rows.unwrap_or(1000)),
                    keys: s
                        .keys
                        .clone()
                        .unwrap_or_else(|| SQL_KEYS.iter().map(|k| k.to_string()).collect()),
                    checks: checks
                        .iter()
                        .map(|c| match c {
                            CheckDoc::UnboundedRead => Check::UnboundedRead,
                            CheckDoc::Export => Check::Export,
                            CheckDoc::Destructive => Check::Destructive,
                        })
                        .collect(),
                    unparseable: ActionDoc::compile(s.unparseable),
                })
            }
        };
        let egress = match &r.egress {
            None => None,
            Some(e) => {
                if sql.is_some() {
                    return fail("a rule has either sql: or egress:, not both".into());
                }
                if action == Action::Allow {
                    return fail(
                        "an egress rule finds problems; its action cannot be allow".into(),
                    );
                }
                let list = |v: &Option<Vec<String>>, what: &str| {
                    DomainList::new(v.as_deref().unwrap_or(&[]))
                        .map_err(|m| self.error(at, format!("rule {:?}: {what}: {m}", r.id)))
                };
                let mut scanner = secrets::Scanner::default();
                if let Some(t) = e.entropy_threshold {
                    if !(0.0..=8.0).contains(&t) {
                        return fail(format!(
                            "entropy_threshold is in bits per character, 0 (off) to 8 (got {t})"
                        ));
                    }
                    scanner.entropy_threshold = t;
                }
                if let Some(n) = e.entropy_min_length {
                    scanner.min_length = n.max(8);
                }
                Some(EgressRule {
                    allowed: list(&e.allowed_domains, "allowed_domains")?,
                    denied: list(&e.denied_domains, "denied_domains")?,
                    checks: match &e.checks {
                        None => EgressCheck::ALL.to_vec(),
                        Some(cs) => cs
                            .iter()
                            .map(|c| match c {
                                EgressCheckDoc::Denied => EgressCheck::Denied,
                                EgressCheckDoc::Unlisted => EgressCheck::Unlisted,
                                EgressCheckDoc::Private => EgressCheck::Private,
                                EgressCheckDoc::Metadata => EgressCheck::Metadata,
                                EgressCheckDoc::Secrets => EgressCheck::Secrets,
                            })
                            .collect(),
                    },
                    secrets: scanner,
                })
            }
        };
        Ok(Rule {
            id: r.id.clone(),
            servers: globs(&r.servers),
            tools: globs(&r.tools),
            except_tools: globs(&r.except_tools),
            conditions,
            max_argument_bytes: r.max_argument_bytes,
            egress,
            sql,
            action,
            mode: ModeDoc::compile(r.mode),
            reason: r.reason.clone(),
            hint: r.hint.clone(),
        })
    }
}

/// `10ms`, `5s`, `2m`/`2min`, `1h` -> milliseconds (more than zero).
fn parse_duration(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{text:?} is not a duration (write e.g. 500ms, 5s, 2m or 1h)"))?;
    let scale = match unit.trim() {
        "ms" => 1.0,
        "s" | "sec" => 1000.0,
        "m" | "min" => 60_000.0,
        "h" => 3_600_000.0,
        _ => {
            return Err(format!(
                "{text:?} has no unit (write e.g. 500ms, 5s, 2m or 1h)"
            ))
        }
    };
    let ms = (n * scale).round();
    if !(1.0..1e15).contains(&ms) {
        return Err(format!("{text:?} must be at least 1ms"));
    }
    Ok(ms as u64)
}

/// `60/minute` -> (60 calls, tokens per millisecond). Periods: second, minute, hour (or s,
/// min, h).
fn parse_rate(text: &str) -> Result<(f64, f64), String> {
    let bad = || format!("{text:?} is not a rate (write e.g. 60/minute, 5/second or 1000/hour)");
    let (n, period) = text.trim().split_once('/').ok_or_else(bad)?;
    let n: f64 = n.trim().parse().map_err(|_| bad())?;
    let ms = match period.trim() {
        "second" | "s" | "sec" => 1000.0,
        "minute" | "m" | "min" => 60_000.0,
        "hour" | "h" => 3_600_000.0,
        _ => return Err(bad()),
    };
    if !(n > 0.0 && n.is_finite()) {
        return Err(format!("{text:?}: the number of calls must be more than 0"));
    }
    Ok((n, n / ms))
}

/// Tool globs, `*` when none are given.
fn globs_or_all(v: &Option<Vec<String>>) -> Vec<Glob> {
    match v {
        Some(list) if !list.is_empty() => list.iter().map(|g| Glob::new(g)).collect(),
        _ => vec![Glob::new("*")],
    }
}

/// `child` overrides the breaker fields it states.
fn merge_breaker(base: &mut BreakerDoc, child: &BreakerDoc) {
    macro_rules! take {
        ($($f:ident),*) => { $( if child.$f.is_some() { base.$f = child.$f.clone(); } )* };
    }
    take!(
        mode,
        rate_limits,
        loop_rule,
        max_calls,
        budget,
        tools,
        consecutive_errors,
        cooldown,
        max_cooldown
    );
}

/// `child` overrides the fields it states.
fn merge_rule(base: &mut RuleDoc, child: &RuleDoc) {
    macro_rules! take {
        ($($f:ident),*) => { $( if child.$f.is_some() { base.$f = child.$f.clone(); } )* };
    }
    take!(
        description,
        servers,
        tools,
        except_tools,
        when,
        max_argument_bytes,
        egress,
        action,
        mode,
        reason,
        hint
    );
    if let Some(cs) = &child.sql {
        let bs = base.sql.get_or_insert_with(SqlDoc::default);
        if cs.dialect.is_some() {
            bs.dialect = cs.dialect.clone();
        }
        if cs.max_rows.is_some() {
            bs.max_rows = cs.max_rows;
        }
        if cs.keys.is_some() {
            bs.keys = cs.keys.clone();
        }
        if cs.checks.is_some() {
            bs.checks = cs.checks.clone();
        }
        if cs.unparseable.is_some() {
            bs.unparseable = cs.unparseable;
        }
    }
}

fn condition(c: &ConditionDoc) -> Result<Condition, String> {
    let target = match (&c.path, c.any_string) {
        (Some(p), None | Some(false)) => {
            if !(p.is_empty() || p.starts_with('/')) {
                return Err(format!(
                    "path {p:?} is not a JSON Pointer (it starts with '/', e.g. /query)"
                ));
            }
            Target::Pointer(JsonPointer::new(p))
        }
        (None, Some(true)) => Target::AnyString,
        (Some(_), Some(true)) => {
            return Err("give either path or any_string: true, not both".into())
        }
        (None, _) => return Err("a condition needs path: /json/pointer or any_string: true".into()),
    };
    let mut tests = Vec::new();
    if let Some(v) = &c.equals {
        tests.push(Test::Equals(v.clone()));
    }
    if let Some(v) = &c.one_of {
        tests.push(Test::OneOf(v.clone()));
    }
    if let Some(r) = &c.regex {
        let re = regex_lite::Regex::new(r).map_err(|e| format!("invalid regex {r:?}: {e}"))?;
        tests.push(Test::Regex(re));
    }
    if let Some(p) = &c.prefix {
        tests.push(Test::Prefix(p.clone()));
    }
    if let Some(n) = c.min {
        tests.push(Test::Min(n));
    }
    if let Some(n) = c.max {
        tests.push(Test::Max(n));
    }
    if let Some(n) = c.min_length {
        tests.push(Test::MinLength(n));
    }
    if let Some(n) = c.max_length {
        tests.push(Test::MaxLength(n));
    }
    if tests.is_empty() {
        return Err(
            "a condition needs a test: equals, one_of, regex, prefix, min, max, min_length or \
             max_length"
                .into(),
        );
    }
    if matches!(target, Target::AnyString)
        && tests
            .iter()
            .any(|t| matches!(t, Test::Min(_) | Test::Max(_)))
    {
        return Err("min/max compare numbers; any_string looks at strings".into());
    }
    Ok(Condition {
        target,
        tests,
        negate: c.not.unwrap_or(false),
    })
}

/// serde-saphyr's message without its snippet and location (we print FILE:LINE:COL).
pub fn yaml_message(e: &serde_saphyr::Error) -> String {
    let text = e.to_string();
    let mut first = text.lines().next().unwrap_or("").trim();
    first = first.strip_prefix("error:").unwrap_or(first).trim_start();
    // "line 6 column 9: unknown field ..." -> "unknown field ..."
    if let Some(rest) = first.strip_prefix("line ") {
        if let Some((_, msg)) = rest.split_once(": ") {
            first = msg;
        }
    }
    if let Some(i) = first.rfind(" at line ") {
        first = &first[..i];
    }
    // Advice meant for programmers embedding the parser, not for people writing policies.
    if let Some(i) = first.find(", set DuplicateKeyPolicy") {
        first = &first[..i];
    }
    first.trim_end_matches(':').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn show_default_parses_to_the_builtin_rule() {
        let f = PolicyFile::parse("default.yaml", &default_yaml("generic", 1000), false).unwrap();
        let p = f.compile(None).unwrap();
        let b = Policy::builtin("generic", 1000);
        assert_eq!(p.rules.len(), b.rules.len());
        assert_eq!(p.rules[0].id, b.rules[0].id);
        assert_eq!(p.default_action, b.default_action);
        assert_eq!(p.breaker, b.breaker);
    }

    #[test]
    fn durations_and_rates_are_read_with_their_units() {
        assert_eq!(parse_duration("500ms"), Ok(500));
        assert_eq!(parse_duration("5s"), Ok(5000));
        assert_eq!(parse_duration("1.5 s"), Ok(1500));
        assert_eq!(parse_duration("2m"), Ok(120_000));
        assert_eq!(parse_duration("1h"), Ok(3_600_000));
        assert!(parse_duration("5").unwrap_err().contains("no unit"));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("soon").is_err());
        assert_eq!(parse_rate("60/minute"), Ok((60.0, 0.001)));
        assert_eq!(parse_rate("5/s"), Ok((5.0, 0.005)));
        assert!(parse_rate("60 per minute").is_err());
        assert!(parse_rate("0/second").is_err());
        assert!(parse_rate("10/day").is_err());
    }

    fn breaker_of(text: &str, profile: Option<&str>) -> Result<breaker::Config, PolicyError> {
        PolicyFile::parse("p.yaml", text, false)?
            .compile(profile)
            .map(|p| p.breaker)
    }

    #[test]
    fn breaker_sections_override_the_defaults_field_by_field() {
        let none = "version: 1\nprofiles:\n  a:\n    rules: []\n";
        assert_eq!(breaker_of(none, None).unwrap(), breaker::Config::defaults());
        let text = "version: 1
profiles:
  base:
    breaker:
      rate_limits: [{tools: [search], rate: 60/minute, burst: 5}]
      loop: {repeats: 3}
      budget: 2.5
      tools: [{tools: [\"paid_*\"], cost: 0.5, max_calls: 4}]
  child:
    extends: base
    mode: monitor
    breaker:
      loop: {window: 1m}
      consecutive_errors: 0
  off:
    breaker: {mode: off}
";
        let base = breaker_of(text, Some("base")).unwrap();
        assert_eq!(base.mode, Some(Mode::Enforce));
        assert_eq!(base.rate_limits.len(), 1);
        assert_eq!(base.rate_limits[0].burst, 5.0);
        let l = base.loop_rule.clone().unwrap();
        assert_eq!((l.repeats, l.window_ms), (3, 5000));
        assert_eq!(base.budget, Some(2.5));
        assert_eq!(base.tools[0].max_calls, Some(4));
        assert_eq!(base.error_threshold, Some(5));
        let child = breaker_of(text, Some("child")).unwrap();
        // The child's loop section replaces the parent's whole (repeats back to the default).
        let l = child.loop_rule.clone().unwrap();
        assert_eq!((l.repeats, l.window_ms), (5, 60_000));
        assert_eq!(
            child.mode,
            Some(Mode::Monitor),
            "follows the profile's mode"
        );
        assert_eq!(child.error_threshold, None);
        assert_eq!(child.budget, Some(2.5), "inherited");
        assert_eq!(breaker_of(text, Some("off")).unwrap().mode, None);
    }

    #[test]
    fn bad_breaker_settings_are_errors_with_their_place() {
        let bad = |section: &str| {
            let text = format!("version: 1\nprofiles:\n  a:\n    breaker:\n{section}");
            breaker_of(&text, None).unwrap_err()
        };
        let e = bad("      cooldown: 30\n");
        assert_eq!((e.line, e.message.contains("no unit")), (5, true), "{e}");
        let e = bad("      rate_limits:\n        - rate: lots\n");
        assert!(e.message.contains("is not a rate"), "{e}");
        let e = bad("      loop: {repeats: 1}\n");
        assert!(e.message.contains("at least 2"), "{e}");
        let e = bad("      cooldown: 1m\n      max_cooldown: 30s\n");
        assert!(e.message.contains("shorter than cooldown"), "{e}");
        let e = bad("      budget: -1\n");
        assert!(e.message.contains(">= 0"), "{e}");
        let e = bad("      loops: {}\n");
        assert!(e.message.contains("loops"), "{e}");
        // A cooldown alone longer than the default cap raises the cap.
        let text = "version: 1\nprofiles:\n  a:\n    breaker: {cooldown: 1h}\n";
        assert_eq!(breaker_of(text, None).unwrap().max_cooldown_ms, 3_600_000);
    }

    #[test]
    fn unknown_fields_are_errors_with_line_and_column() {
        let text =
            "version: 1\nprofiles:\n  default:\n    rules:\n      - id: x\n        acton: block\n";
        let e = PolicyFile::parse("p.yaml", text, false).unwrap_err();
        assert_eq!(e.line, 6, "{e}");
        assert!(e.message.contains("acton"), "{e}");
    }

    #[test]
    fn errors_name_their_place_only_when_they_have_one() {
        let e = |line, column| PolicyError {
            file: "p.yaml".into(),
            line,
            column,
            message: "the file defines no profiles".into(),
        };
        assert_eq!(e(0, 0).to_string(), "p.yaml: the file defines no profiles");
        assert_eq!(
            e(3, 7).to_string(),
            "p.yaml:3:7: the file defines no profiles"
        );
        assert_eq!(
            e(1, 1).to_string(),
            "p.yaml:1:1: the file defines no profiles"
        );
        let none = PolicyFile::parse("p.yaml", "version: 1\nprofiles: {}\n", false).unwrap_err();
        assert_eq!(none.to_string(), "p.yaml: the file defines no profiles");
    }

    #[test]
    fn rates_per_hour_second_and_minute() {
        assert_eq!(parse_rate("3600/hour"), Ok((3600.0, 0.001)));
        assert_eq!(parse_rate("36/h"), Ok((36.0, 0.00001)));
        assert_eq!(parse_rate(" 2 / second "), Ok((2.0, 0.002)));
        assert_eq!(parse_rate("120/min"), Ok((120.0, 0.002)));
        assert_eq!(parse_rate("30/m"), Ok((30.0, 0.0005)));
        assert_eq!(parse_rate("7/sec"), Ok((7.0, 0.007)));
    }

    #[test]
    fn the_breaker_follows_the_profile_and_its_own_section_down_the_extends_chain() {
        let text = "version: 1
profiles:
  base:
    rules: []
  trial:
    extends: base
    mode: monitor
  tuned:
    extends: base
    breaker:
      loop: {repeats: 0}
      rate_limits: [{tools: [], rate: 2/hour, burst: 1}]
      max_calls: 10
";
        // No breaker section anywhere: the defaults, in the profile's mode.
        let trial = breaker_of(text, Some("trial")).unwrap();
        assert_eq!(
            trial,
            breaker::Config {
                mode: Some(Mode::Monitor),
                ..breaker::Config::defaults()
            }
        );
        // The child's section applies though the parent has none.
        let tuned = breaker_of(text, Some("tuned")).unwrap();
        assert_eq!(tuned.max_calls, Some(10));
        // repeats 0 is no loop rule at all.
        assert_eq!(tuned.loop_rule, None);
        // A rate limit without tools covers every tool, and says so.
        assert_eq!(tuned.rate_limits.len(), 1);
        let tools: Vec<&str> = tuned.rate_limits[0]
            .tools
            .iter()
            .map(Glob::as_str)
            .collect();
        assert_eq!(tools, ["*"]);
        assert_eq!(tuned.rate_limits[0].per_ms, 2.0 / 3_600_000.0);
    }

    #[test]
    fn bad_ids_bursts_and_costs_are_errors() {
        let rule = |id: &str| {
            let text = format!(
                "version: 1\nprofiles:\n  a:\n    rules:\n      - id: {id}\n        tools: [x]\n"
            );
            PolicyFile::parse("p.yaml", &text, false)
                .unwrap()
                .compile(None)
                .map(|_| ())
        };
        assert_eq!(rule("a-b_c.9"), Ok(()));
        for bad in ["\"\"", "\"no delete\"", "a/b", "é"] {
            let e = rule(bad).unwrap_err();
            assert!(e.message.contains("ids use only"), "{bad}: {e}");
            assert_eq!((e.line, e.column), (5, 9), "{bad}: {e}");
        }
        let breaker = |section: &str| {
            let text = format!("version: 1\nprofiles:\n  a:\n    breaker: {section}\n");
            breaker_of(&text, None)
        };
        for burst in ["0.5", "0", ".inf", "-2"] {
            let e =
                breaker(&format!("{{rate_limits: [{{rate: 1/s, burst: {burst}}}]}}")).unwrap_err();
            assert!(
                e.message.contains("burst must be at least 1"),
                "{burst}: {e}"
            );
        }
        assert!(breaker("{rate_limits: [{rate: 1/s, burst: 1}]}").is_ok());
        for cost in ["-0.5", ".inf", ".nan"] {
            let e = breaker(&format!("{{tools: [{{tools: [x], cost: {cost}}}]}}")).unwrap_err();
            assert!(
                e.message.contains("cost must be a number >= 0"),
                "{cost}: {e}"
            );
        }
        assert!(breaker("{tools: [{tools: [x], cost: 0}]}").is_ok());
    }
}
