//! Compiling a profile's `server:` section (server-side inspection) over the built-in
//! defaults: description scanning, pinning, hidden tools, response caps with sizes in bytes
//! or with units (`512KiB`, `4MiB`).

use super::rules::globs_or_all;
use super::schema::*;
use super::{PolicyError, PolicyFile};
use crate::policy::server::{CapAction, DescriptionAction, ResponseCap, ServerPolicy};
use crate::policy::Mode;
use serde_saphyr::Spanned;

impl PolicyFile {
    /// Compiles a `server:` section over the defaults (`doc` None: the defaults); in monitor
    /// mode nothing is enforced.
    pub(super) fn server(
        &self,
        doc: Option<&Spanned<ServerDoc>>,
        mode: Mode,
        max_rows: u64,
    ) -> Result<ServerPolicy, PolicyError> {
        let mut out = ServerPolicy::builtin(max_rows);
        if let Some(doc) = doc {
            let s = &doc.value;
            if let Some(d) = s.descriptions {
                out.descriptions = match d {
                    DescriptionsDoc::Off => DescriptionAction::Off,
                    DescriptionsDoc::Monitor => DescriptionAction::Monitor,
                    DescriptionsDoc::Remove => DescriptionAction::Remove,
                    DescriptionsDoc::Sanitise => DescriptionAction::Sanitise,
                };
            }
            if let Some(m) = &s.max_text {
                if m.value == 0 {
                    return Err(
                        self.error(&m.referenced, "server: max_text must be at least 1".into())
                    );
                }
                out.max_text = m.value;
            }
            if let Some(p) = s.pins {
                out.pins = match p {
                    PinsDoc::Off => None,
                    PinsDoc::Monitor => Some(Mode::Monitor),
                    PinsDoc::Enforce => Some(Mode::Enforce),
                };
            }
            if let Some(h) = s.hide_refused_tools {
                out.hide_refused_tools = h;
            }
            if let Some(caps) = &s.responses {
                out.responses.clear();
                for (i, c) in caps.iter().enumerate() {
                    out.responses.push(self.cap(i, c)?);
                }
            }
        }
        Ok(match mode {
            Mode::Monitor => out.in_monitor_mode(),
            Mode::Enforce => out,
        })
    }

    fn cap(&self, i: usize, doc: &Spanned<ResponseDoc>) -> Result<ResponseCap, PolicyError> {
        let c = &doc.value;
        let max_bytes = match &c.max_bytes {
            None => None,
            Some(s) => Some(parse_size(&s.value).map_err(|m| {
                self.error(
                    &s.referenced,
                    format!("server.responses[{i}].max_bytes: {m}"),
                )
            })?),
        };
        if max_bytes.is_none() && c.max_rows.is_none() {
            return Err(self.error(
                &doc.referenced,
                format!("server.responses[{i}] caps nothing: give max_bytes, max_rows or both"),
            ));
        }
        Ok(ResponseCap {
            id: format!("server.responses[{i}]"),
            tools: globs_or_all(&c.tools),
            max_bytes,
            max_rows: c.max_rows,
            action: match c.action {
                Some(CapDoc::Monitor) => CapAction::Monitor,
                Some(CapDoc::Truncate) => CapAction::Truncate,
                Some(CapDoc::Block) | None => CapAction::Block,
            },
        })
    }
}

/// A size: bytes, or a number with a unit B, KB/KiB, MB/MiB, GB/GiB (powers of 1024).
pub(super) fn parse_size(doc: &SizeDoc) -> Result<usize, String> {
    let text = match doc {
        SizeDoc::Bytes(n) => return usize::try_from(*n).map_err(|_| "too large".to_owned()),
        SizeDoc::Text(t) => t.trim(),
    };
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let n: u64 = digits.parse().map_err(|_| {
        format!("{text:?} is not a size: expected bytes, or a number with KiB/MiB/GiB")
    })?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        other => {
            return Err(format!(
                "unknown unit {other:?}: expected B, KiB, MiB or GiB"
            ))
        }
    };
    n.checked_mul(mult)
        .and_then(|b| usize::try_from(b).ok())
        .ok_or_else(|| format!("{text:?} is too large"))
}
