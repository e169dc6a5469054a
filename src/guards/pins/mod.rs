//! Pinning tool definitions per server (rug-pull detection). The first time a server identity
//! is seen, each tool's definition (`canon`: name, title, description, schemas, annotations)
//! is hashed and stored in the pins directory (`store`); every later `tools/list` result is
//! compared with the pins by [`Pins::check`]: unchanged, changed (field by field, `diff`, and
//! whether the change is "read-only to destructive"), added, removed, listed twice. Changes
//! are recorded as pending until a person accepts them ([`Pins::accept`]); [`Pins::reset`]
//! forgets a server, [`Pins::list`] and [`Pins::diff`] show what is stored. What a change
//! means for the listing (hide the tool, refuse its calls, only report) is the caller's
//! business. Stored definitions are capped: one over [`MAX_DEFINITION`] bytes, or beyond
//! [`MAX_STORED`] bytes of definitions per server, is kept by hash only; a server keeps at
//! most [`MAX_TOOLS`] tools.

mod canon;
mod diff;
mod report;
mod store;
#[cfg(test)]
mod tests;

pub use report::*;
pub use store::{default_dir, short_id};

use crate::base::clock;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;
use store::{PendingCommand, PinFile, Stored, ToolPins};

/// Largest definition (canonical JSON bytes) stored whole; larger ones are kept by hash.
pub const MAX_DEFINITION: usize = 256 << 10;
/// Most definition bytes stored per server; beyond, new definitions are kept by hash.
pub const MAX_STORED: usize = 16 << 20;
/// Most tools recorded per server; tools beyond are reported [`Status::Untracked`].
pub const MAX_TOOLS: usize = 10_000;
/// The name of the change from a read-only or non-destructive tool to a destructive one.
pub const ESCALATION: &str = "read-only to destructive";

/// Why the pins could not be read or written.
#[derive(Debug)]
pub enum PinError {
    /// Neither `--pins-dir`, `SENTINEL_PINS_DIR`, `XDG_STATE_HOME` nor `HOME` is set.
    NoDir,
    UnsafeDir {
        path: PathBuf,
        why: &'static str,
    },
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    /// Another process held the pins directory's lock for longer than [`Pins::lock_wait`].
    Busy(PathBuf),
    Corrupt {
        path: PathBuf,
        why: String,
    },
    /// No pinned server is called that or has that short id.
    NotFound(String),
    /// A short-id prefix that fits several servers: (short id, identity) of each.
    Ambiguous(String, Vec<(String, String)>),
    NoTool {
        server: String,
        tool: String,
    },
    NothingToAccept {
        server: String,
        tool: Option<String>,
    },
}

impl std::fmt::Display for PinError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PinError::NoDir => write!(
                f,
                "no pins directory: set HOME or XDG_STATE_HOME, or pass --pins-dir DIR"
            ),
            PinError::UnsafeDir { path, why } => write!(
                f,
                "refusing the pins directory {}: {why}; make it yours and `chmod 700` it, or \
                 pass another with --pins-dir",
                path.display()
            ),
            PinError::Io { path, error } => write!(f, "cannot use {}: {error}", path.display()),
            PinError::Busy(path) => write!(
                f,
                "the pins in {} stayed locked by another process; try again, or see which \
                 process holds {}/.lock",
                path.display(),
                path.display()
            ),
            PinError::Corrupt { path, why } => write!(
                f,
                "the pins file {} is damaged ({why}); restore it, or delete it to pin the \
                 server afresh at its next listing",
                path.display()
            ),
            PinError::NotFound(name) => write!(
                f,
                "no pinned server '{}'; `sentinel pins list` shows the servers and their ids",
                name.escape_debug()
            ),
            PinError::Ambiguous(name, matches) => {
                write!(f, "'{}' fits several servers:", name.escape_debug())?;
                for (id, server) in matches {
                    write!(f, " {id} ({})", server.escape_debug())?;
                }
                write!(f, "; give more of the id")
            }
            PinError::NoTool { server, tool } => write!(
                f,
                "server '{}' has no tool '{}' in its pins; `sentinel pins list` shows them",
                server.escape_debug(),
                tool.escape_debug()
            ),
            PinError::NothingToAccept { server, tool } => match tool {
                Some(t) => write!(
                    f,
                    "nothing to accept for tool '{}' of '{}': it matches its pin",
                    t.escape_debug(),
                    server.escape_debug()
                ),
                None => write!(
                    f,
                    "nothing to accept for '{}': every tool matches its pin",
                    server.escape_debug()
                ),
            },
        }
    }
}

impl std::error::Error for PinError {}

/// The pins directory.
#[derive(Clone, Debug)]
pub struct Pins {
    dir: PathBuf,
    lock_wait: std::time::Duration,
}

impl Pins {
    /// The pins in `dir`, else in [`default_dir`]. Nothing is created until something is written.
    pub fn new(dir: Option<PathBuf>) -> Result<Pins, PinError> {
        let dir = dir.or_else(default_dir).ok_or(PinError::NoDir)?;
        Ok(Pins {
            dir,
            lock_wait: store::LOCK_WAIT,
        })
    }

    /// How long a change waits for another process holding the directory's lock before it
    /// fails with [`PinError::Busy`] (default 10 s; a seam for tests).
    #[cfg(test)]
    pub fn lock_wait(mut self, wait: std::time::Duration) -> Pins {
        self.lock_wait = wait;
        self
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, identity: &str) -> PathBuf {
        self.dir.join(store::file_name(identity))
    }

    /// Compares one `tools/list` result (its `tools` array, or a page of it) with the pins
    /// of `server` (its identity: `--server-name`, else the command line) launched as
    /// `command`, records what changed, and says what it found.
    pub fn check(
        &self,
        server: &str,
        command: &str,
        tools: &[Value],
        page: Page,
        now: SystemTime,
    ) -> Result<Report, PinError> {
        let at = clock::rfc3339(now);
        let listing = Listing::read(tools);
        let path = self.path(server);
        let _lock = store::lock(&self.dir, self.lock_wait)?;
        let existing = store::load(&path)?;
        let first = existing.is_none();
        let mut pins = existing.unwrap_or_else(|| PinFile {
            version: store::VERSION,
            server: server.to_owned(),
            command: command.to_owned(),
            pinned_at: at.clone(),
            pending_command: None,
            first_listing_open: page.more,
            tools: BTreeMap::new(),
        });
        // Later pages of a first listing are still first sight; a new listing closes it.
        let pin_new = first || (pins.first_listing_open && page.continued);
        let mut dirty = first;
        if !first && pins.first_listing_open && (!page.more || !page.continued) {
            pins.first_listing_open = false;
            dirty = true;
        }
        let mut stored = pins.stored_bytes();
        let mut keep = |def: &canon::Definition| {
            let ok = def.size <= MAX_DEFINITION && stored + def.size <= MAX_STORED;
            if ok {
                stored += def.size;
            }
            ok
        };
        let mut report = Report {
            server: server.to_owned(),
            id: short_id(server),
            first_seen: first,
            tools: Vec::new(),
            removed: Vec::new(),
            malformed: listing.malformed,
            command: None,
        };
        for (name, defs) in listing.tools {
            let status = if defs.len() > 1 {
                let mut hashes: Vec<String> = defs.iter().map(|d| d.hash.clone()).collect();
                hashes.sort();
                hashes.dedup();
                Status::Duplicate {
                    count: defs.len(),
                    hashes,
                }
            } else {
                let def = &defs[0];
                let count = pins.tools.len();
                match pins.tools.get_mut(&name) {
                    None if count >= MAX_TOOLS => Status::Untracked,
                    None if pin_new => {
                        let s = Stored::new(def, keep(def), &at);
                        pins.tools.insert(
                            name.clone(),
                            ToolPins {
                                pinned: Some(s),
                                ..ToolPins::default()
                            },
                        );
                        report.first_seen = true;
                        dirty = true;
                        Status::Pinned
                    }
                    None => {
                        let s = Stored::new(def, keep(def), &at);
                        pins.tools.insert(
                            name.clone(),
                            ToolPins {
                                pending: Some(s),
                                ..ToolPins::default()
                            },
                        );
                        dirty = true;
                        Status::Added
                    }
                    Some(t) => {
                        if t.missing_since.take().is_some() {
                            dirty = true;
                        }
                        judge(t, def, &at, &mut keep, &mut dirty)
                    }
                }
            };
            report.tools.push(ToolReport { name, status });
        }
        if page.whole() && !first {
            let listed: std::collections::HashSet<&str> =
                report.tools.iter().map(|t| t.name.as_str()).collect();
            let mut gone_unpinned = Vec::new();
            for (name, t) in pins.tools.iter_mut() {
                if listed.contains(name.as_str()) {
                    continue;
                }
                if t.pinned.is_none() {
                    gone_unpinned.push(name.clone());
                    continue;
                }
                report.removed.push(name.clone());
                if t.missing_since.is_none() {
                    t.missing_since = Some(at.clone());
                    dirty = true;
                }
                // What it said before it went is no longer on offer.
                if t.pending.take().is_some() {
                    dirty = true;
                }
            }
            for name in gone_unpinned {
                pins.tools.remove(&name);
                dirty = true;
            }
        }
        if command != pins.command {
            report.command = Some(CommandChange {
                pinned: pins.command.clone(),
                now: command.to_owned(),
            });
            if pins.pending_command.as_ref().map(|p| p.command.as_str()) != Some(command) {
                pins.pending_command = Some(PendingCommand {
                    command: command.to_owned(),
                    seen_at: at.clone(),
                });
                dirty = true;
            }
        } else if pins.pending_command.take().is_some() {
            dirty = true;
        }
        if dirty {
            store::save(&path, &pins)?;
        }
        Ok(report)
    }

    /// Pins what is pending for `server` (an identity or a short-id prefix): every tool's, the
    /// command's, and forgets tools a whole listing no longer had; or, with `tool`, that one.
    pub fn accept(
        &self,
        server: &str,
        tool: Option<&str>,
        now: SystemTime,
    ) -> Result<Accepted, PinError> {
        let _lock = store::lock(&self.dir, self.lock_wait)?;
        let (path, mut pins) = self.resolve(server)?;
        let at = clock::rfc3339(now);
        let mut done = Accepted {
            server: pins.server.clone(),
            id: short_id(&pins.server),
            tools: Vec::new(),
            forgotten: Vec::new(),
            command: None,
        };
        let names: Vec<String> = match tool {
            Some(t) if !pins.tools.contains_key(t) => {
                return Err(PinError::NoTool {
                    server: pins.server,
                    tool: t.to_owned(),
                })
            }
            Some(t) => vec![t.to_owned()],
            None => pins.tools.keys().cloned().collect(),
        };
        for name in names {
            let Some(t) = pins.tools.get_mut(&name) else {
                continue;
            };
            if let Some(mut p) = t.pending.take() {
                p.at.clone_from(&at);
                t.pinned = Some(p);
                t.missing_since = None;
                done.tools.push(name);
            } else if t.missing_since.is_some() {
                pins.tools.remove(&name);
                done.forgotten.push(name);
            }
        }
        if tool.is_none() {
            if let Some(p) = pins.pending_command.take() {
                pins.command.clone_from(&p.command);
                done.command = Some(p.command);
            }
        }
        if done.tools.is_empty() && done.forgotten.is_empty() && done.command.is_none() {
            return Err(PinError::NothingToAccept {
                server: pins.server,
                tool: tool.map(str::to_owned),
            });
        }
        store::save(&path, &pins)?;
        Ok(done)
    }

    /// Forgets `server`'s pins: its next listing is pinned afresh. Returns its identity.
    pub fn reset(&self, server: &str) -> Result<String, PinError> {
        let _lock = store::lock(&self.dir, self.lock_wait)?;
        let (path, pins) = self.resolve(server)?;
        store::remove(&path)?;
        Ok(pins.server)
    }

    /// Every pinned server (a damaged file as its error), sorted by identity.
    pub fn list(&self) -> Result<Vec<Result<ServerPins, PinError>>, PinError> {
        let mut out: Vec<Result<ServerPins, PinError>> = Vec::new();
        for path in store::files(&self.dir)? {
            out.push(store::load(&path).and_then(|p| {
                p.map(|p| summary(&p))
                    .ok_or_else(|| PinError::NotFound(path.display().to_string()))
            }));
        }
        out.sort_by(|a, b| match (a, b) {
            (Ok(a), Ok(b)) => a.server.cmp(&b.server),
            (Ok(_), Err(_)) => std::cmp::Ordering::Less,
            (Err(_), Ok(_)) => std::cmp::Ordering::Greater,
            (Err(_), Err(_)) => std::cmp::Ordering::Equal,
        });
        Ok(out)
    }

    /// What is pending for `server`, field by field (only `tool`, when given).
    pub fn diff(&self, server: &str, tool: Option<&str>) -> Result<ServerDiff, PinError> {
        let (_, pins) = self.resolve(server)?;
        if let Some(t) = tool.filter(|t| !pins.tools.contains_key(*t)) {
            return Err(PinError::NoTool {
                server: pins.server,
                tool: t.to_owned(),
            });
        }
        let mut tools = Vec::new();
        for (name, t) in &pins.tools {
            if tool.is_some_and(|want| want != name) {
                continue;
            }
            let kind = match (&t.pinned, &t.pending) {
                (Some(old), Some(new)) => {
                    DiffKind::Changed(change(old, new.definition.as_ref(), new))
                }
                (None, Some(new)) => DiffKind::Added(new.definition.clone()),
                (Some(_), None) => match &t.missing_since {
                    Some(since) => DiffKind::Removed {
                        since: since.clone(),
                    },
                    None => continue,
                },
                (None, None) => continue,
            };
            tools.push(ToolDiff {
                name: name.clone(),
                kind,
            });
        }
        Ok(ServerDiff {
            id: short_id(&pins.server),
            command: pins.pending_command.as_ref().map(|p| CommandChange {
                pinned: pins.command.clone(),
                now: p.command.clone(),
            }),
            server: pins.server,
            tools,
        })
    }

    /// The pins file of `name`: an identity, else a prefix (4 or more hex digits) of short ids.
    fn resolve(&self, name: &str) -> Result<(PathBuf, PinFile), PinError> {
        let path = self.path(name);
        if store::check_dir(&self.dir)? {
            if let Some(p) = store::load(&path)? {
                return Ok((path, p));
            }
        }
        let prefix = name.len() >= 4
            && name.len() <= 12
            && name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if !prefix {
            return Err(PinError::NotFound(name.to_owned()));
        }
        let mut found: Vec<(PathBuf, PinFile)> = Vec::new();
        for path in store::files(&self.dir)? {
            let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if store::id_of_file_name(file_name).is_some_and(|id| id.starts_with(name)) {
                if let Some(p) = store::load(&path)? {
                    found.push((path, p));
                }
            }
        }
        match found.len() {
            0 => Err(PinError::NotFound(name.to_owned())),
            1 => Ok(found.remove(0)),
            _ => Err(PinError::Ambiguous(
                name.to_owned(),
                found
                    .iter()
                    .map(|(_, p)| (short_id(&p.server), p.server.clone()))
                    .collect(),
            )),
        }
    }
}

/// A listing's tools by name (in order of first appearance), each with every definition
/// listed under it, and the positions of malformed entries.
struct Listing {
    tools: Vec<(String, Vec<canon::Definition>)>,
    malformed: Vec<usize>,
}

impl Listing {
    fn read(tools: &[Value]) -> Listing {
        let mut out = Listing {
            tools: Vec::new(),
            malformed: Vec::new(),
        };
        let mut index: std::collections::HashMap<String, usize> = Default::default();
        for (i, tool) in tools.iter().enumerate() {
            let Some((obj, name)) = tool
                .as_object()
                .and_then(|o| Some((o, o.get("name")?.as_str()?)))
            else {
                out.malformed.push(i);
                continue;
            };
            let def = canon::definition(obj);
            match index.get(name) {
                Some(&k) => out.tools[k].1.push(def),
                None => {
                    index.insert(name.to_owned(), out.tools.len());
                    out.tools.push((name.to_owned(), vec![def]));
                }
            }
        }
        out
    }
}

/// Judges a listed tool against its stored pins, recording a new pending definition or
/// clearing one.
fn judge(
    t: &mut ToolPins,
    def: &canon::Definition,
    at: &str,
    keep: &mut impl FnMut(&canon::Definition) -> bool,
    dirty: &mut bool,
) -> Status {
    if t.pinned.as_ref().is_some_and(|p| p.hash == def.hash) {
        if t.pending.take().is_some() {
            *dirty = true;
        }
        return Status::Pinned;
    }
    if t.pending.as_ref().is_none_or(|p| p.hash != def.hash) {
        t.pending = Some(Stored::new(def, keep(def), at));
        *dirty = true;
    }
    match &t.pinned {
        None => Status::Added,
        Some(old) => {
            let new = t.pending.as_ref().unwrap_or_else(|| unreachable!());
            Status::Changed(change(old, Some(&def.value), new))
        }
    }
}

/// The change from `old` to `new` (whose full definition, if known, is `new_def`).
fn change(old: &Stored, new_def: Option<&Value>, new: &Stored) -> Change {
    let (fields, more, unstored) = match (&old.definition, new_def) {
        (Some(a), Some(b)) => {
            let (f, m) = diff::fields(a, b);
            (f, m, false)
        }
        _ => (Vec::new(), 0, true),
    };
    Change {
        fields,
        more,
        unstored,
        escalation: canon::escalates(old.hints(), new.hints()),
        old_hash: old.hash.clone(),
        new_hash: new.hash.clone(),
    }
}

fn summary(p: &PinFile) -> ServerPins {
    ServerPins {
        server: p.server.clone(),
        id: short_id(&p.server),
        command: p.command.clone(),
        pinned_at: p.pinned_at.clone(),
        pending_command: p.pending_command.as_ref().map(|c| c.command.clone()),
        tools: p
            .tools
            .iter()
            .map(|(name, t)| ToolPinsSummary {
                name: name.clone(),
                state: match (&t.pinned, &t.pending) {
                    (None, _) => State::Added,
                    (Some(old), Some(new)) => State::Changed {
                        escalation: canon::escalates(old.hints(), new.hints()),
                    },
                    (Some(_), None) if t.missing_since.is_some() => State::Removed,
                    (Some(_), None) => State::Pinned,
                },
                pinned_at: t.pinned.as_ref().map(|s| s.at.clone()),
                hash: t.pinned.as_ref().map(|s| s.hash.clone()),
            })
            .collect(),
    }
}
