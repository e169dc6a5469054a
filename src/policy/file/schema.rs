//! The policy file's schema: what a file, a profile, a rule and each section may hold, as
//! typed structs read by serde (`deny_unknown_fields`: a typo is an error with its place, never
//! a silently disabled rule). Compiling them into a `Policy` is the other modules' work.

use crate::policy::{Action, Mode};
use serde::Deserialize;
use serde_saphyr::Spanned;
use std::collections::BTreeMap;

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub(super) struct FileDoc {
    pub(super) version: Spanned<u32>,
    #[serde(default)]
    pub(super) default_profile: Option<Spanned<String>>,
    pub(super) profiles: BTreeMap<String, Spanned<ProfileDoc>>,
}

#[derive(Deserialize, Debug, Clone, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct ProfileDoc {
    #[serde(default)]
    pub(super) extends: Option<Spanned<String>>,
    /// For people reading the file.
    #[serde(default)]
    #[allow(dead_code)]
    pub(super) description: Option<String>,
    #[serde(default)]
    pub(super) mode: Option<ModeDoc>,
    #[serde(default)]
    pub(super) default_action: Option<DefaultActionDoc>,
    #[serde(default)]
    pub(super) rules: Vec<Spanned<RuleDoc>>,
    #[serde(default)]
    pub(super) remove_rules: Vec<Spanned<String>>,
    #[serde(default)]
    pub(super) breaker: Option<Spanned<BreakerDoc>>,
    #[serde(default)]
    pub(super) server: Option<Spanned<ServerDoc>>,
    #[serde(default)]
    pub(super) audit: Option<Spanned<AuditDoc>>,
}

/// The `audit:` section of a profile: what the log records beyond refusals. Every field is
/// optional; a child profile's field replaces its parent's (a `redact` list whole).
#[derive(Deserialize, Debug, Clone, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct AuditDoc {
    #[serde(default)]
    pub(super) log_allowed: Option<bool>,
    /// JSON Pointers into a `tools/call`'s `arguments`.
    #[serde(default)]
    pub(super) redact: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    pub(super) server_requests: Option<bool>,
}

/// The `server:` section of a profile: server-side inspection. Unset fields keep the
/// built-in defaults (see `policy::server::ServerPolicy`).
#[derive(Deserialize, Debug, Clone, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct ServerDoc {
    #[serde(default)]
    pub(super) descriptions: Option<DescriptionsDoc>,
    #[serde(default)]
    pub(super) max_text: Option<Spanned<usize>>,
    #[serde(default)]
    pub(super) pins: Option<PinsDoc>,
    #[serde(default)]
    pub(super) hide_refused_tools: Option<bool>,
    #[serde(default)]
    pub(super) responses: Option<Vec<Spanned<ResponseDoc>>>,
}

#[derive(Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub(super) enum DescriptionsDoc {
    Off,
    Monitor,
    Remove,
    #[serde(alias = "sanitize")]
    Sanitise,
}

#[derive(Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub(super) enum PinsDoc {
    Off,
    Monitor,
    Enforce,
}

/// One entry of `server.responses`.
#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub(super) struct ResponseDoc {
    #[serde(default)]
    pub(super) tools: Option<Vec<String>>,
    /// Bytes: a number, or a string with a unit (`512KiB`, `4MiB`).
    #[serde(default)]
    pub(super) max_bytes: Option<Spanned<SizeDoc>>,
    #[serde(default)]
    pub(super) max_rows: Option<u64>,
    #[serde(default)]
    pub(super) action: Option<CapDoc>,
}

#[derive(Deserialize, Debug, Clone)]
#[serde(untagged)]
pub(super) enum SizeDoc {
    Bytes(u64),
    Text(String),
}

#[derive(Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub(super) enum CapDoc {
    Monitor,
    Block,
    Truncate,
}

/// The `breaker:` section of a profile. Every field is optional: unset ones keep the
/// defaults (see [`breaker::Config::defaults`]).
#[derive(Deserialize, Debug, Clone, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct BreakerDoc {
    #[serde(default)]
    pub(super) mode: Option<BreakerModeDoc>,
    #[serde(default)]
    pub(super) rate_limits: Option<Vec<Spanned<RateDoc>>>,
    #[serde(default, rename = "loop")]
    pub(super) loop_rule: Option<Spanned<LoopDoc>>,
    #[serde(default)]
    pub(super) max_calls: Option<u64>,
    #[serde(default)]
    pub(super) budget: Option<Spanned<f64>>,
    #[serde(default)]
    pub(super) tools: Option<Vec<Spanned<ToolBudgetDoc>>>,
    #[serde(default)]
    pub(super) consecutive_errors: Option<u32>,
    #[serde(default)]
    pub(super) cooldown: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) max_cooldown: Option<Spanned<String>>,
}

#[derive(Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub(super) enum BreakerModeDoc {
    Enforce,
    Monitor,
    Off,
}

#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub(super) struct RateDoc {
    #[serde(default)]
    pub(super) tools: Option<Vec<String>>,
    pub(super) rate: Spanned<String>,
    #[serde(default)]
    pub(super) burst: Option<f64>,
}

#[derive(Deserialize, Debug, Clone, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct LoopDoc {
    #[serde(default)]
    pub(super) repeats: Option<u32>,
    #[serde(default)]
    pub(super) window: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) ignore_fields: Option<Vec<String>>,
}

#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub(super) struct ToolBudgetDoc {
    pub(super) tools: Vec<String>,
    #[serde(default)]
    pub(super) max_calls: Option<u64>,
    #[serde(default)]
    pub(super) cost: Option<f64>,
}

#[derive(Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub(super) enum ModeDoc {
    Enforce,
    Monitor,
}

impl ModeDoc {
    /// The mode a setting stands for; unset means enforce.
    pub(super) fn compile(doc: Option<ModeDoc>) -> Mode {
        match doc {
            Some(ModeDoc::Monitor) => Mode::Monitor,
            Some(ModeDoc::Enforce) | None => Mode::Enforce,
        }
    }
}

#[derive(Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub(super) enum DefaultActionDoc {
    Allow,
    Block,
}

#[derive(Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub(super) enum ActionDoc {
    Allow,
    Block,
    Monitor,
    Approve,
}

impl ActionDoc {
    /// The action a setting stands for; unset means block.
    pub(super) fn compile(doc: Option<ActionDoc>) -> Action {
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
pub(super) struct RuleDoc {
    pub(super) id: String,
    #[serde(default)]
    pub(super) description: Option<String>,
    #[serde(default)]
    pub(super) servers: Option<Vec<String>>,
    #[serde(default)]
    pub(super) tools: Option<Vec<String>>,
    #[serde(default)]
    pub(super) except_tools: Option<Vec<String>>,
    #[serde(default)]
    pub(super) when: Option<Vec<Spanned<ConditionDoc>>>,
    #[serde(default)]
    pub(super) max_argument_bytes: Option<usize>,
    #[serde(default)]
    pub(super) sql: Option<SqlDoc>,
    #[serde(default)]
    pub(super) egress: Option<EgressDoc>,
    #[serde(default)]
    pub(super) action: Option<ActionDoc>,
    #[serde(default)]
    pub(super) mode: Option<ModeDoc>,
    #[serde(default)]
    pub(super) reason: Option<String>,
    #[serde(default)]
    pub(super) hint: Option<String>,
    #[serde(default)]
    pub(super) approval: Option<Spanned<ApprovalDoc>>,
}

/// How a rule's `approve` is asked for: `channel: any | client | local`, `timeout: 50s`,
/// `allow_session: true`.
#[derive(Deserialize, Debug, Clone, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct ApprovalDoc {
    #[serde(default)]
    pub(super) channel: Option<ChannelDoc>,
    #[serde(default)]
    pub(super) timeout: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) allow_session: Option<bool>,
}

#[derive(Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub(super) enum ChannelDoc {
    Any,
    Client,
    Local,
}

#[derive(Deserialize, Debug, Clone, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct SqlDoc {
    #[serde(default)]
    pub(super) dialect: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) max_rows: Option<u64>,
    #[serde(default)]
    pub(super) keys: Option<Vec<String>>,
    #[serde(default)]
    pub(super) checks: Option<Vec<CheckDoc>>,
    #[serde(default)]
    pub(super) unparseable: Option<ActionDoc>,
    #[serde(default)]
    pub(super) prose: Option<Vec<String>>,
    #[serde(default)]
    pub(super) unrecognised: Option<ActionDoc>,
    #[serde(default)]
    pub(super) destructive: Option<ActionDoc>,
}

#[derive(Deserialize, Debug, Clone, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct EgressDoc {
    #[serde(default)]
    pub(super) allowed_domains: Option<Vec<String>>,
    #[serde(default)]
    pub(super) denied_domains: Option<Vec<String>>,
    #[serde(default)]
    pub(super) checks: Option<Vec<EgressCheckDoc>>,
    #[serde(default)]
    pub(super) entropy_threshold: Option<f64>,
    #[serde(default)]
    pub(super) entropy_min_length: Option<usize>,
}

#[derive(Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub(super) enum EgressCheckDoc {
    Denied,
    Unlisted,
    Private,
    Metadata,
    Secrets,
}

#[derive(Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub(super) enum CheckDoc {
    UnboundedRead,
    Export,
    Destructive,
}

#[derive(Deserialize, Debug, Clone, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct ConditionDoc {
    #[serde(default)]
    pub(super) path: Option<String>,
    #[serde(default)]
    pub(super) any_string: Option<bool>,
    /// `equals: null` is a test for null, not the absence of a test.
    #[serde(default, deserialize_with = "present")]
    pub(super) equals: Option<serde_json::Value>,
    #[serde(default)]
    pub(super) one_of: Option<Vec<serde_json::Value>>,
    #[serde(default)]
    pub(super) regex: Option<String>,
    #[serde(default)]
    pub(super) prefix: Option<String>,
    #[serde(default)]
    pub(super) min: Option<f64>,
    #[serde(default)]
    pub(super) max: Option<f64>,
    #[serde(default)]
    pub(super) min_length: Option<usize>,
    #[serde(default)]
    pub(super) max_length: Option<usize>,
    #[serde(default)]
    pub(super) not: Option<bool>,
    /// `absent: true` holds when the path finds nothing; `absent: false` when it finds a value.
    #[serde(default)]
    pub(super) absent: Option<bool>,
    /// The value tested when the path finds nothing (the server's default); may be null.
    #[serde(default, deserialize_with = "present")]
    pub(super) default: Option<serde_json::Value>,
    /// The tests apply to each element of the array at `path`; all must pass.
    #[serde(default)]
    pub(super) every_element: Option<bool>,
    /// The tests apply to each element of the array at `path`; one passing is enough.
    #[serde(default)]
    pub(super) any_element: Option<bool>,
    /// How strings are read before the tests (`path`: as a file path, normalised).
    #[serde(default)]
    pub(super) normalize: Option<NormalizeDoc>,
}

#[derive(Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub(super) enum NormalizeDoc {
    Path,
}

/// A field that may hold `null` on purpose: present is `Some`, whatever its value (serde's
/// default reads a null `Option` as absent).
pub(super) fn present<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<serde_json::Value>, D::Error> {
    serde_json::Value::deserialize(d).map(Some)
}
