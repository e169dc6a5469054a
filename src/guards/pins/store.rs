//! The pins directory and its files: one JSON file per server identity, named by a readable
//! slug of the identity and the first 12 hex digits of its SHA-256 (the server's short id);
//! the file format (see README "Pinning tool definitions"), read with checks (version, the
//! identity matching the file name, hashes matching definitions) that turn a damaged file
//! into a [`PinError::Corrupt`]; writes as a temporary file renamed over the old one (mode
//! 0600), under an advisory `flock` on `.lock` in the directory, so several Sentinels sharing
//! it never lose each other's changes or see half a file. The directory is created 0700 and
//! refused when another user owns it or others may write to it.

use super::canon::{self, Definition};
use super::PinError;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The format version this Sentinel writes and reads.
pub const VERSION: u32 = 1;
/// Longest [`lock`] waits for another holder, unless told otherwise.
pub const LOCK_WAIT: Duration = Duration::from_secs(10);
/// Largest pins file read (definitions are capped well below this).
const MAX_FILE: u64 = 64 << 20;

/// A server's pins file, as stored.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PinFile {
    pub version: u32,
    pub server: String,
    pub command: String,
    pub pinned_at: String,
    #[serde(default)]
    pub pending_command: Option<PendingCommand>,
    /// The first listing came in pages and its last page has not been seen yet: its later
    /// pages are still first sight.
    #[serde(default)]
    pub first_listing_open: bool,
    pub tools: BTreeMap<String, ToolPins>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct PendingCommand {
    pub command: String,
    pub seen_at: String,
}

/// One tool: what was accepted (`None` for a tool first seen after its server was pinned)
/// and what the server lists now if that differs.
#[derive(Clone, Debug, Serialize, Deserialize, Default)]
pub struct ToolPins {
    pub pinned: Option<Stored>,
    #[serde(default)]
    pub pending: Option<Stored>,
    /// When a whole listing first came without this tool (cleared when it is listed again).
    #[serde(default)]
    pub missing_since: Option<String>,
}

/// A definition as stored: its hash always, the definition itself unless it was too large.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Stored {
    pub hash: String,
    pub definition: Option<Value>,
    pub size: usize,
    pub read_only: bool,
    pub destructive: bool,
    /// When it was pinned (`pinned`) or first seen (`pending`).
    pub at: String,
}

impl Stored {
    /// `def` as stored at time `at`; the definition text itself only if `keep`.
    pub fn new(def: &Definition, keep: bool, at: &str) -> Stored {
        Stored {
            hash: def.hash.clone(),
            definition: keep.then(|| def.value.clone()),
            size: def.size,
            read_only: def.read_only,
            destructive: def.destructive,
            at: at.to_owned(),
        }
    }

    pub fn hints(&self) -> (bool, bool) {
        (self.read_only, self.destructive)
    }
}

impl PinFile {
    /// Bytes of definition text stored in the file.
    pub fn stored_bytes(&self) -> usize {
        self.tools
            .values()
            .flat_map(|t| [&t.pinned, &t.pending])
            .flatten()
            .filter(|s| s.definition.is_some())
            .map(|s| s.size)
            .sum()
    }
}

/// A server's short id: the first 12 hex digits of the SHA-256 of its identity.
pub fn short_id(identity: &str) -> String {
    canon::sha256_hex(identity.as_bytes())[..12].to_owned()
}

/// The file name for `identity`: `<slug>-<short id>.json`, the slug at most 40 characters of
/// lowercase ASCII letters, digits and single dashes.
pub fn file_name(identity: &str) -> String {
    let mut slug = String::new();
    for c in identity.chars() {
        if slug.len() >= 40 {
            break;
        }
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let slug = slug.trim_end_matches('-');
    let slug = if slug.is_empty() { "server" } else { slug };
    format!("{slug}-{}.json", short_id(identity))
}

/// The short id in a pins file name, if it is one.
pub fn id_of_file_name(name: &str) -> Option<&str> {
    let stem = name.strip_suffix(".json")?;
    let id = stem.get(stem.len().checked_sub(12)?..)?;
    let before = stem.get(..stem.len() - 12)?;
    (before.ends_with('-')
        && id
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()))
    .then_some(id)
}

/// `$XDG_STATE_HOME/mcp-sentinel/pins`, else `$HOME/.local/state/mcp-sentinel/pins`.
pub fn default_dir() -> Option<PathBuf> {
    Some(crate::base::dirs::state_dir()?.join("pins"))
}

fn io(path: &Path, error: std::io::Error) -> PinError {
    PinError::Io {
        path: path.to_path_buf(),
        error,
    }
}

/// Refuses a directory someone else could change pins in. `Ok(false)`: it does not exist.
pub fn check_dir(dir: &Path) -> Result<bool, PinError> {
    let meta = match fs::metadata(dir) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(io(dir, e)),
    };
    // SAFETY: getuid has no preconditions and cannot fail.
    let uid = unsafe { libc::getuid() };
    let why = if !meta.is_dir() {
        Some("it is not a directory")
    } else if meta.uid() != uid {
        Some("another user owns it")
    } else if meta.mode() & 0o022 != 0 {
        Some("others may write to it")
    } else {
        None
    };
    match why {
        Some(why) => Err(PinError::UnsafeDir {
            path: dir.to_path_buf(),
            why,
        }),
        None => Ok(true),
    }
}

/// Creates the directory (0700, its parents as the umask says) unless it exists.
pub fn ensure_dir(dir: &Path) -> Result<(), PinError> {
    if check_dir(dir)? {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
    }
    match fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(io(dir, e)),
    }
    check_dir(dir).map(|_| ())
}

/// The directory's advisory lock, held until dropped.
pub struct Lock(#[allow(dead_code)] File);

/// Takes the exclusive lock of `dir` (creating the directory), waiting up to `wait` for
/// another holder.
pub fn lock(dir: &Path, wait: Duration) -> Result<Lock, PinError> {
    ensure_dir(dir)?;
    let path = dir.join(".lock");
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .map_err(|e| io(&path, e))?;
    // Holders keep it for one read and one write; a bounded wait keeps a stopped process
    // from hanging every gateway that shares the directory.
    let deadline = Instant::now() + wait;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(Lock(file)),
            Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(TryLockError::WouldBlock) => return Err(PinError::Busy(dir.to_path_buf())),
            Err(TryLockError::Error(e)) => return Err(io(&path, e)),
        }
    }
}

/// Reads and checks a pins file; `Ok(None)` when there is none.
pub fn load(path: &Path) -> Result<Option<PinFile>, PinError> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(path, e)),
    };
    let mut text = Vec::new();
    file.take(MAX_FILE + 1)
        .read_to_end(&mut text)
        .map_err(|e| io(path, e))?;
    let corrupt = |why: String| PinError::Corrupt {
        path: path.to_path_buf(),
        why,
    };
    if text.len() as u64 > MAX_FILE {
        return Err(corrupt(format!("it is larger than {} MiB", MAX_FILE >> 20)));
    }
    let version = serde_json::from_slice::<Value>(&text)
        .ok()
        .and_then(|v| v.get("version").and_then(Value::as_u64));
    if let Some(v) = version.filter(|&v| v > u64::from(VERSION)) {
        return Err(corrupt(format!(
            "it has format version {v}, written by a newer Sentinel (this one reads {VERSION})"
        )));
    }
    let pins: PinFile = serde_json::from_slice(&text)
        .map_err(|e| corrupt(format!("it is not a pins file: {e}")))?;
    if pins.version != VERSION {
        return Err(corrupt(format!("unknown format version {}", pins.version)));
    }
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if name != file_name(&pins.server) {
        return Err(corrupt(format!(
            "it names server '{}', whose pins belong in {}",
            pins.server.escape_debug(),
            file_name(&pins.server)
        )));
    }
    for (tool, t) in &pins.tools {
        for s in [&t.pinned, &t.pending].into_iter().flatten() {
            check_stored(tool, s).map_err(corrupt)?;
        }
        if t.pinned.is_none() && t.pending.is_none() {
            return Err(corrupt(format!(
                "tool '{}' has neither a pinned nor a pending definition",
                tool.escape_debug()
            )));
        }
    }
    Ok(Some(pins))
}

fn check_stored(tool: &str, s: &Stored) -> Result<(), String> {
    let hex = s.hash.len() == 64
        && s.hash
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if !hex {
        return Err(format!(
            "tool '{}' has an invalid hash",
            tool.escape_debug()
        ));
    }
    if let Some(def) = &s.definition {
        let text = canon::canonical(def);
        if canon::sha256_hex(text.as_bytes()) != s.hash {
            return Err(format!(
                "tool '{}': a stored definition does not match its hash (edited by hand?)",
                tool.escape_debug()
            ));
        }
        if def.get("name").and_then(Value::as_str) != Some(tool) {
            return Err(format!(
                "tool '{}': a stored definition names another tool",
                tool.escape_debug()
            ));
        }
    }
    Ok(())
}

/// Writes `pins` to `path` atomically (temporary file, fsync, rename, fsync of the directory).
/// The caller holds the directory's [`Lock`].
pub fn save(path: &Path, pins: &PinFile) -> Result<(), PinError> {
    static N: AtomicU64 = AtomicU64::new(0);
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("pins");
    let tmp = dir.join(format!(
        ".{name}.tmp-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let mut text = serde_json::to_vec_pretty(pins).map_err(|e| PinError::Io {
        path: path.to_path_buf(),
        error: std::io::Error::other(e),
    })?;
    text.push(b'\n');
    let written = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(&text)?;
        f.sync_all()?;
        fs::set_permissions(&tmp, fs::Permissions::from_mode(0o600))?;
        fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(io(path, e));
    }
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Deletes a pins file. The caller holds the directory's [`Lock`].
pub fn remove(path: &Path) -> Result<(), PinError> {
    fs::remove_file(path).map_err(|e| io(path, e))
}

/// The pins files in `dir` (`*.json` named as [`file_name`] names them), sorted by name.
pub fn files(dir: &Path) -> Result<Vec<PathBuf>, PinError> {
    if !check_dir(dir)? {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| io(dir, e))? {
        let entry = entry.map_err(|e| io(dir, e))?;
        let name = entry.file_name();
        if name.to_str().and_then(id_of_file_name).is_some() {
            out.push(entry.path());
        }
    }
    out.sort();
    Ok(out)
}
