//! The log file shared by every session writing to it (in this process and in other
//! Sentinels): appending one line with the `prev` of the line before it, under the file's
//! advisory lock; the optional `fdatasync` per entry; size-based rotation (`FILE` becomes
//! `FILE.1`, older ones shift up, at most `keep` are kept) that carries the chain into the new
//! file; and noticing, under the lock, that another process rotated the file away (the inode
//! at the path is no longer the open file's), then reopening the path.

use super::chain::{self, Hex, GENESIS};
use super::flock;
use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// How the file is written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogOptions {
    /// `fdatasync` after every entry (`--audit-fsync`).
    pub fsync: bool,
    /// Rotate before an entry would take the file past this size (`--audit-max-bytes`).
    pub max_bytes: Option<u64>,
    /// Rotated files kept (`FILE.1` ... `FILE.keep`), at least 1 (`--audit-keep`).
    pub keep: u32,
}

impl Default for LogOptions {
    fn default() -> LogOptions {
        LogOptions {
            fsync: false,
            max_bytes: None,
            keep: DEFAULT_KEEP,
        }
    }
}

/// Rotated files kept by default.
pub const DEFAULT_KEEP: u32 = 5;

/// How often an append reopens the path before it writes to the file it has: bounds the loop
/// when something keeps replacing the file.
const REOPENS: usize = 8;

/// The open log.
pub struct Log {
    path: PathBuf,
    opts: LogOptions,
    state: Mutex<State>,
    /// Entries made durable with `fdatasync` (the tests read it).
    syncs: std::sync::atomic::AtomicU64,
}

struct State {
    file: File,
    /// The open file's device and inode.
    id: (u64, u64),
    /// The file as this process left it after its last write, and that write's hash: when the
    /// file is still exactly that (same inode, same size), the tail need not be read again.
    last: Option<Last>,
}

#[derive(Clone, Copy)]
struct Last {
    dev: u64,
    ino: u64,
    size: u64,
    hash: Hex,
}

/// How an append went, when the line was written.
#[derive(Debug, Default)]
pub struct Written {
    /// The lock could not be taken (a file system without `flock`): the line was written
    /// anyway, but another Sentinel may have broken the chain there.
    pub unlocked: Option<std::io::Error>,
}

impl Log {
    /// Opens (creating, appending to) `path`.
    pub fn open(path: &Path, opts: LogOptions) -> std::io::Result<Log> {
        Ok(Log {
            path: path.to_path_buf(),
            state: Mutex::new(State::new(open_append(path)?)?),
            opts,
            syncs: std::sync::atomic::AtomicU64::new(0),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one line. `line` gets the previous line's hash and returns the whole line with
    /// its newline; it may be called more than once (when the file was rotated meanwhile), so
    /// it must not commit anything itself: the caller does that once this returns `Ok`.
    pub fn append(&self, line: &mut dyn FnMut(&str) -> Vec<u8>) -> std::io::Result<Written> {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let mut written = Written::default();
        for attempt in 0..=REOPENS {
            let lock = match flock::lock(&st.file) {
                Ok(l) => Some(l),
                Err(e) => {
                    written.unlocked = Some(e);
                    None
                }
            };
            // One `stat` of the path tells both whether it still names the open file and, if so,
            // that file's size.
            let at_path = std::fs::metadata(&self.path)
                .ok()
                .filter(|m| (m.dev(), m.ino()) == st.id);
            let meta = match at_path {
                Some(m) => m,
                None if attempt < REOPENS => {
                    // Rotated (or removed) by someone else: write where the path is now.
                    drop(lock);
                    st.reopen(&self.path)?;
                    continue;
                }
                None => st.file.metadata()?,
            };
            let size = meta.len();
            let (prev, newline_first) = match st.last {
                Some(l) if l.dev == meta.dev() && l.ino == meta.ino() && l.size == size => {
                    (l.hash, false)
                }
                _ => match chain::tail(&st.file, size)? {
                    chain::Tail {
                        hash: Some(h),
                        ends_with_newline,
                    } => (h, !ends_with_newline),
                    chain::Tail { hash: None, .. } => (self.before_empty()?, false),
                },
            };
            let prev_str = std::str::from_utf8(&prev).unwrap_or(GENESIS);
            let mut bytes = line(prev_str);
            if newline_first {
                bytes.insert(0, b'\n');
            }
            if let Some(max) = self.opts.max_bytes {
                if size > 0 && size + bytes.len() as u64 > max && attempt < REOPENS {
                    self.rotate()?;
                    drop(lock);
                    st.reopen(&self.path)?;
                    continue;
                }
            }
            let result = st.file.write_all(&bytes);
            st.last = None;
            result?;
            if self.opts.fsync {
                st.file.sync_data()?;
                self.syncs
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            let body = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
            let body = if newline_first { &body[1..] } else { body };
            st.last = Some(Last {
                dev: meta.dev(),
                ino: meta.ino(),
                size: size + bytes.len() as u64,
                hash: chain::hash_line(body),
            });
            drop(lock);
            return Ok(written);
        }
        unreachable!("the last attempt always writes")
    }

    /// The `prev` of the first line of an empty file: the last line of `FILE.1` when there is
    /// one (the file was rotated), else [`GENESIS`].
    fn before_empty(&self) -> std::io::Result<Hex> {
        match File::open(rotated(&self.path, 1)) {
            Ok(f) => {
                let size = f.metadata()?.len();
                Ok(chain::tail(&f, size)?.hash.unwrap_or(genesis()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(genesis()),
            Err(e) => Err(e),
        }
    }

    /// `FILE.keep-1` -> `FILE.keep`, ..., `FILE` -> `FILE.1` (under the lock of `FILE`).
    fn rotate(&self) -> std::io::Result<()> {
        let keep = self.opts.keep.max(1);
        for n in (1..keep).rev() {
            match std::fs::rename(rotated(&self.path, n), rotated(&self.path, n + 1)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        std::fs::rename(&self.path, rotated(&self.path, 1))
    }
}

fn genesis() -> Hex {
    let mut g = [0u8; 64];
    g.copy_from_slice(GENESIS.as_bytes());
    g
}

/// `FILE.n`.
pub fn rotated(path: &Path, n: u32) -> PathBuf {
    suffixed(path, &n.to_string())
}

/// `FILE.suffix`.
pub fn suffixed(path: &Path, suffix: &str) -> PathBuf {
    let mut s = OsString::from(path.as_os_str());
    s.push(".");
    s.push(suffix);
    PathBuf::from(s)
}

impl State {
    fn new(file: File) -> std::io::Result<State> {
        let m = file.metadata()?;
        Ok(State {
            id: (m.dev(), m.ino()),
            file,
            last: None,
        })
    }

    fn reopen(&mut self, path: &Path) -> std::io::Result<()> {
        *self = State::new(open_append(path)?)?;
        Ok(())
    }
}

/// Opens for appending and for reading the tail (the chain needs the last line's hash).
pub fn open_append(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .read(true)
        .create(true)
        .append(true)
        .open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("sentinel-log-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn append(log: &Log, text: &str) -> String {
        let mut seen = String::new();
        log.append(&mut |prev| {
            seen = prev.to_owned();
            format!("{{\"prev\":\"{prev}\",\"t\":\"{text}\"}}\n").into_bytes()
        })
        .unwrap();
        seen
    }

    #[test]
    fn fsync_makes_every_entry_durable_and_only_when_asked() {
        let dir = scratch("fsync");
        for fsync in [false, true] {
            let path = dir.join(format!("{fsync}.log"));
            let opts = LogOptions {
                fsync,
                ..LogOptions::default()
            };
            let log = Log::open(&path, opts).unwrap();
            for i in 0..5 {
                append(&log, &format!("entry {i}"));
            }
            let synced = log.syncs.load(std::sync::atomic::Ordering::Relaxed);
            assert_eq!(synced, if fsync { 5 } else { 0 }, "fsync {fsync}");
            assert_eq!(lines(&path).len(), 5);
        }
    }

    fn lines(path: &Path) -> Vec<String> {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn hash(line: &str) -> String {
        String::from_utf8(chain::hash_line(line.as_bytes()).to_vec()).unwrap()
    }

    #[test]
    fn each_line_carries_the_hash_of_the_line_before_even_one_another_writer_added() {
        let dir = scratch("chain");
        let path = dir.join("a.log");
        let log = Log::open(&path, LogOptions::default()).unwrap();
        assert_eq!(append(&log, "one"), GENESIS);
        let first = lines(&path)[0].clone();
        assert_eq!(append(&log, "two"), hash(&first));
        // Another writer (a second Log on the same file, as another process would be).
        let other = Log::open(&path, LogOptions::default()).unwrap();
        let second = lines(&path)[1].clone();
        assert_eq!(append(&other, "three"), hash(&second));
        // The first Log's cache is stale: it must read the tail again.
        let third = lines(&path)[2].clone();
        assert_eq!(append(&log, "four"), hash(&third));
    }

    #[test]
    fn a_cut_last_line_is_closed_with_a_newline_and_chained() {
        let dir = scratch("cut");
        let path = dir.join("a.log");
        std::fs::write(&path, "{\"whole\":1}\n{\"cut").unwrap();
        let log = Log::open(&path, LogOptions::default()).unwrap();
        assert_eq!(append(&log, "next"), hash("{\"cut"));
        let l = lines(&path);
        assert_eq!(l.len(), 3, "{l:?}");
        assert_eq!(l[1], "{\"cut");
    }

    #[test]
    fn rotation_moves_the_file_keeps_a_bounded_number_and_carries_the_chain() {
        let dir = scratch("rotate");
        let path = dir.join("a.log");
        let opts = LogOptions {
            fsync: true,
            max_bytes: Some(200),
            keep: 2,
        };
        let log = Log::open(&path, opts.clone()).unwrap();
        let other = Log::open(&path, opts).unwrap();
        let mut all: Vec<String> = Vec::new();
        for i in 0..40 {
            let w = if i % 3 == 0 { &other } else { &log };
            let prev = append(w, &format!("entry {i:03}"));
            let want = all.last().map_or(GENESIS.to_owned(), |l| hash(l));
            assert_eq!(prev, want, "entry {i}");
            // The line just written is the last line of the current file.
            all.push(lines(&path).last().unwrap().clone());
        }
        assert!(rotated(&path, 1).exists() && rotated(&path, 2).exists());
        assert!(!rotated(&path, 3).exists(), "keep 2");
        for p in [rotated(&path, 2), rotated(&path, 1), path.clone()] {
            let size = std::fs::metadata(&p).unwrap().len();
            assert!(size <= 200, "{} is {size} bytes", p.display());
        }
        let kept: Vec<String> = [rotated(&path, 2), rotated(&path, 1), path.clone()]
            .iter()
            .flat_map(|p| lines(p))
            .collect();
        assert_eq!(kept[..], all[all.len() - kept.len()..]);
    }
}
