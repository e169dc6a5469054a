//! Policy files: the YAML (or JSON) format, its profiles and `extends:` inheritance, and its
//! validation into a compiled [`Policy`]. This module owns the file schema (unknown fields are
//! errors, so a typo never silently disables a rule), error messages with file, line and
//! column, and the text of the built-in default policy (`sentinel policy show-default`),
//! which loads to exactly [`Policy::builtin`].

use crate::guards::breaker;
use crate::policy::audit_policy::AuditPolicy;
use crate::policy::{Action, Policy};
use serde_saphyr::Spanned;
use std::fmt;
use std::path::Path;

mod default;
mod limits;
mod profiles;
mod rules;
mod schema;
mod server_section;

pub use default::default_yaml;
use schema::*;

/// The only `version:` this build reads.
pub const VERSION: u32 = 1;

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
            audit: self.audit(resolved.audit.as_ref())?,
            server: self.server(resolved.server.as_ref(), mode, 1000)?,
        })
    }

    /// Compiles an `audit:` section: each `redact` entry must be a JSON Pointer (RFC 6901)
    /// into the arguments, starting with '/', with `~` only as `~0` or `~1`.
    fn audit(&self, doc: Option<&Spanned<AuditDoc>>) -> Result<AuditPolicy, PolicyError> {
        let Some(doc) = doc.map(|d| &d.value) else {
            return Ok(AuditPolicy::default());
        };
        let mut redact = Vec::new();
        for p in doc.redact.iter().flatten() {
            if let Some(problem) = crate::policy::audit_policy::pointer_problem(&p.value) {
                return Err(self.error(
                    &p.referenced,
                    format!("audit.redact entry {:?} {problem}", p.value),
                ));
            }
            redact.push(p.value.clone());
        }
        Ok(AuditPolicy {
            log_allowed: doc.log_allowed.unwrap_or(false),
            redact,
            server_requests: doc.server_requests.unwrap_or(false),
        })
    }
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
    use super::limits::{parse_duration, parse_rate};
    use super::*;
    use crate::base::glob::Glob;
    use crate::policy::Mode;

    #[test]
    fn show_default_parses_to_the_builtin_rule() {
        let f = PolicyFile::parse("default.yaml", &default_yaml("generic", 1000), false).unwrap();
        let p = f.compile(None).unwrap();
        let b = Policy::builtin("generic", 1000);
        assert_eq!(p.rules.len(), b.rules.len());
        assert_eq!(p.rules[0].id, b.rules[0].id);
        assert_eq!(p.default_action, b.default_action);
        assert_eq!(p.breaker, b.breaker);
        assert_eq!(p.audit, b.audit);
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
