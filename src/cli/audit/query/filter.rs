//! What `sentinel audit stats|tail|query` know of an entry and how they choose entries: the
//! fields read from a line (everything else, `details` above all, is skipped unread), the
//! filters (`--since`/`--until` as RFC 3339 or "that long ago", and `*`/`?` globs on rule,
//! reason, tool, server, session, action, method), and what to do with checkpoint entries
//! (left out unless `--action` asks for them).

use crate::base::clock::{self, Clock};
use crate::base::glob::{self, Glob};
use serde::Deserialize;
use serde_json::Value;
use std::time::{Duration, UNIX_EPOCH};

/// A field entries are filtered and grouped by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    Action,
    Rule,
    Reason,
    Tool,
    Server,
    Session,
    Method,
    /// The hour of the timestamp, in UTC (`2026-01-13T10:00Z`).
    Hour,
}

impl Field {
    /// Every field, in the order `stats` prints its groups (actions are its totals).
    pub const GROUPS: [Field; 6] = [
        Field::Reason,
        Field::Rule,
        Field::Tool,
        Field::Server,
        Field::Session,
        Field::Hour,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Field::Action => "action",
            Field::Rule => "rule",
            Field::Reason => "reason",
            Field::Tool => "tool",
            Field::Server => "server",
            Field::Session => "session",
            Field::Method => "method",
            Field::Hour => "hour",
        }
    }

    pub fn parse(name: &str) -> Option<Field> {
        [
            Field::Action,
            Field::Rule,
            Field::Reason,
            Field::Tool,
            Field::Server,
            Field::Session,
            Field::Method,
            Field::Hour,
        ]
        .into_iter()
        .find(|f| f.name() == name)
    }
}

/// The action of checkpoint entries (the signed hash-chain checkpoints).
pub const CHECKPOINT: &str = "checkpoint";

/// The fields of one entry the commands use.
#[derive(Debug, Default)]
pub struct Head {
    pub timestamp: Option<String>,
    /// The timestamp in microseconds since the Unix epoch, when it is one.
    pub micros: Option<i64>,
    pub action: Option<String>,
    pub rule: Option<String>,
    pub reason: Option<String>,
    pub tool: Option<String>,
    pub server: Option<String>,
    pub session: Option<String>,
    pub method: Option<String>,
    pub explanation: Option<String>,
}

/// An entry as serde reads it: the fields we want, as any JSON value (a number where a
/// string was expected is shown, not refused); every other field is skipped unread.
#[derive(Deserialize)]
struct Raw {
    #[serde(default)]
    timestamp: Option<Value>,
    #[serde(default)]
    action: Option<Value>,
    #[serde(default)]
    rule: Option<Value>,
    #[serde(default)]
    reason: Option<Value>,
    #[serde(default)]
    tool: Option<Value>,
    #[serde(default)]
    server: Option<Value>,
    #[serde(default)]
    session: Option<Value>,
    #[serde(default)]
    method: Option<Value>,
    #[serde(default)]
    explanation: Option<Value>,
}

fn text(v: Option<Value>) -> Option<String> {
    match v? {
        Value::Null => None,
        Value::String(s) => Some(s),
        other => Some(other.to_string()),
    }
}

impl Head {
    /// Reads one line (without its newline). `Err` says why it is not an entry.
    pub fn parse(line: &[u8]) -> Result<Head, String> {
        if line.trim_ascii_start().first() != Some(&b'{') {
            return Err("not a JSON object".into());
        }
        let raw: Raw = serde_json::from_slice(line).map_err(|e| {
            let mut m = e.to_string();
            if let Some(i) = m.find(" at line ") {
                m.truncate(i);
            }
            m
        })?;
        let timestamp = text(raw.timestamp);
        Ok(Head {
            micros: timestamp.as_deref().and_then(|t| parse_rfc3339(t).ok()),
            timestamp,
            action: text(raw.action),
            rule: text(raw.rule),
            reason: text(raw.reason),
            tool: text(raw.tool),
            server: text(raw.server),
            session: text(raw.session),
            method: text(raw.method),
            explanation: text(raw.explanation),
        })
    }

    /// The value of `field` (None when the entry has none).
    pub fn get(&self, field: Field) -> Option<String> {
        let s = |v: &Option<String>| v.clone();
        match field {
            Field::Action => s(&self.action),
            Field::Rule => s(&self.rule),
            Field::Reason => s(&self.reason),
            Field::Tool => s(&self.tool),
            Field::Server => s(&self.server),
            Field::Session => s(&self.session),
            Field::Method => s(&self.method),
            Field::Hour => self.micros.map(|m| {
                let t = UNIX_EPOCH + Duration::from_micros(u64::try_from(m).unwrap_or(0));
                let mut h = clock::rfc3339(t);
                h.truncate(13);
                h.push_str(":00Z");
                h
            }),
        }
    }

    pub fn is_checkpoint(&self) -> bool {
        self.action.as_deref() == Some(CHECKPOINT)
    }
}

/// Which entries a command looks at.
#[derive(Debug, Default)]
pub struct Filter {
    /// At or after (microseconds since the epoch).
    pub since: Option<i64>,
    /// Before.
    pub until: Option<i64>,
    /// Per field, the globs of which one must match (every field listed must match).
    pub globs: Vec<(Field, Vec<Glob>)>,
}

/// What a filter makes of an entry.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Match,
    NoMatch,
    /// A checkpoint entry that matches the other filters, left out because `--action` did not
    /// ask for checkpoints.
    Checkpoint,
}

impl Filter {
    /// Adds `--FIELD VALUE`: a comma-separated list of globs, adding to earlier ones.
    /// False when `value` names nothing.
    pub fn add(&mut self, field: Field, value: &str) -> bool {
        let globs: Vec<Glob> = value
            .split(',')
            .filter(|g| !g.is_empty())
            .map(Glob::new)
            .collect();
        if globs.is_empty() {
            return false;
        }
        match self.globs.iter_mut().find(|(f, _)| *f == field) {
            Some((_, list)) => list.extend(globs),
            None => self.globs.push((field, globs)),
        }
        true
    }

    pub fn judge(&self, e: &Head) -> Verdict {
        if self.since.is_some() || self.until.is_some() {
            let Some(t) = e.micros else {
                return Verdict::NoMatch; // no readable time: not shown to be in the range
            };
            if self.since.is_some_and(|s| t < s) || self.until.is_some_and(|u| t >= u) {
                return Verdict::NoMatch;
            }
        }
        for (field, globs) in &self.globs {
            match e.get(*field) {
                Some(v) if glob::any(globs, &v) => {}
                _ => return Verdict::NoMatch,
            }
        }
        if e.is_checkpoint() && !self.asks_for_checkpoints() {
            return Verdict::Checkpoint;
        }
        Verdict::Match
    }

    fn asks_for_checkpoints(&self) -> bool {
        self.globs
            .iter()
            .any(|(f, g)| *f == Field::Action && glob::any(g, CHECKPOINT))
    }
}

/// `--since`/`--until`: RFC 3339 (`2026-01-13T10:00:00Z`, `...+02:00`, a date alone meaning
/// its midnight UTC), or a duration meaning that long before now (`90s`, `15m`, `2h`, `7d`,
/// `2w`). Now is the clock's (`SENTINEL_TEST_CLOCK` in tests).
pub fn parse_time(text: &str, clock: &dyn Clock) -> Result<i64, String> {
    let t = text.trim();
    if let Some(ago) = parse_ago(t) {
        let now = i64::try_from(clock::millis(clock.now())).unwrap_or(i64::MAX) * 1000;
        return Ok(now.saturating_sub(ago));
    }
    parse_rfc3339(t).map_err(|why| {
        format!(
            "{text:?} is not a time: {why} (give RFC 3339 like 2026-01-13T10:00:00Z or \
             2026-01-13, or how long ago like 90s, 15m, 2h, 7d)"
        )
    })
}

/// `15m` -> 15 minutes in microseconds.
fn parse_ago(t: &str) -> Option<i64> {
    let split = t.find(|c: char| !c.is_ascii_digit())?;
    let (digits, unit) = t.split_at(split);
    let n: i64 = digits.parse().ok()?;
    let secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return None,
    };
    n.checked_mul(secs)?.checked_mul(1_000_000)
}

/// An RFC 3339 timestamp (or a date alone, at midnight UTC) in microseconds since the epoch.
pub fn parse_rfc3339(t: &str) -> Result<i64, String> {
    let b = t.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Result<i64, String> {
        let s = t.get(r).ok_or("it is too short")?;
        if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
            return Err(format!("{s:?} is not a number"));
        }
        s.parse().map_err(|_| format!("{s:?} is not a number"))
    };
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return Err("it does not start with a date YYYY-MM-DD".into());
    }
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) {
        return Err("there is no such date".into());
    }
    let days = days_from_civil(y, m, d);
    if b.len() == 10 {
        return Ok(days * 86_400_000_000);
    }
    if !matches!(b[10], b'T' | b't' | b' ') || b.len() < 19 || b[13] != b':' || b[16] != b':' {
        return Err("the time of day is not HH:MM:SS".into());
    }
    let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if hh > 23 || mm > 59 || ss > 60 {
        return Err("there is no such time of day".into());
    }
    let mut i = 19;
    let mut micros = 0;
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        i = start;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return Err("a '.' with no digits after it".into());
        }
        let frac = &t[start..i.min(start + 6)];
        micros = format!("{frac:0<6}").parse::<i64>().unwrap_or(0);
    }
    let offset = match &t[i..] {
        "Z" | "z" => 0,
        o if o.len() == 6 && matches!(o.as_bytes()[0], b'+' | b'-') && o.as_bytes()[3] == b':' => {
            let (oh, om) = (num(i + 1..i + 3)?, num(i + 4..i + 6)?);
            let sign = if o.starts_with('-') { -1 } else { 1 };
            sign * (oh * 3600 + om * 60)
        }
        "" => return Err("it has no time zone (add Z for UTC)".into()),
        o => return Err(format!("{o:?} is not a time zone (Z, +HH:MM or -HH:MM)")),
    };
    let secs = days * 86_400 + hh * 3600 + mm * 60 + ss - offset;
    Ok(secs * 1_000_000 + micros)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_read_as_rfc_3339_and_agree_with_the_writer() {
        let at = |s: &str| parse_rfc3339(s).unwrap();
        assert_eq!(at("1970-01-01T00:00:00Z"), 0);
        assert_eq!(at("2026-01-13T10:11:36.279646Z"), 1_768_299_096_279_646);
        assert_eq!(
            at("2026-01-13T12:11:36.279646+02:00"),
            1_768_299_096_279_646
        );
        assert_eq!(at("2026-01-13t10:11:36.2796469z"), 1_768_299_096_279_646);
        assert_eq!(at("2000-02-29"), 951_782_400_000_000);
        for bad in [
            "2026-02-30",
            "2026-13-01",
            "2026-01-13T10:11:36",
            "yesterday",
            "2026-01-13T25:00:00Z",
            "2026-01-13T10:11:36.Z",
        ] {
            assert!(parse_rfc3339(bad).is_err(), "{bad}");
        }
        // Every instant the audit writer prints reads back as itself.
        for micros in [
            0u64,
            951_782_400_000_001,
            1_768_299_096_279_646,
            4_102_444_799_999_999,
        ] {
            let t = UNIX_EPOCH + Duration::from_micros(micros);
            assert_eq!(at(&clock::rfc3339(t)), micros as i64);
        }
    }

    #[test]
    fn relative_times_count_back_from_the_clock() {
        let clock = clock::FixedClock(UNIX_EPOCH + Duration::from_secs(1_000_000));
        assert_eq!(parse_time("90s", &clock), Ok(999_910_000_000));
        assert_eq!(parse_time("15m", &clock), Ok(999_100_000_000));
        assert_eq!(parse_time("2h", &clock), Ok((1_000_000 - 7200) * 1_000_000));
        assert_eq!(
            parse_time("7d", &clock),
            Ok((1_000_000 - 604_800) * 1_000_000)
        );
        for bad in ["15", "m", "15 minutes", "-5m", "1.5h"] {
            assert!(parse_time(bad, &clock).is_err(), "{bad}");
        }
    }

    #[test]
    fn filters_match_globs_and_leave_checkpoints_out_unless_asked() {
        let e = Head::parse(br#"{"timestamp":"2026-01-13T10:11:36Z","action":"blocked","rule":"sql.export","tool":"q","session":7}"#).unwrap();
        assert_eq!(e.get(Field::Session).as_deref(), Some("7"));
        assert_eq!(e.get(Field::Hour).as_deref(), Some("2026-01-13T10:00Z"));
        let mut f = Filter::default();
        assert!(f.add(Field::Rule, "sql.*,egress.*"));
        assert!(!f.add(Field::Rule, ",,"));
        assert_eq!(f.judge(&e), Verdict::Match);
        assert!(f.add(Field::Tool, "other"));
        assert_eq!(f.judge(&e), Verdict::NoMatch);
        let c = Head::parse(br#"{"action":"checkpoint"}"#).unwrap();
        assert_eq!(Filter::default().judge(&c), Verdict::Checkpoint);
        let mut f = Filter::default();
        assert!(f.add(Field::Action, "check*"));
        assert_eq!(f.judge(&c), Verdict::Match);
        assert!(Head::parse(b"[1]").is_err());
        assert!(Head::parse(br#"{"rule":"a","rule":"b"}"#).is_err());
    }
}
