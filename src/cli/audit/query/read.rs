//! Reading audit logs with bounded memory: forward, line by line (`stats`, `query`); backward
//! from the end, block by block, until enough entries are found (`tail`); and following a
//! file as it grows (`tail -f`), across rotation (the path names a new file) and truncation.
//! Lines that are not entries are counted and placed (file:line), never fatal; an unfinished
//! last line is a write in progress, reported apart.

use super::filter::{Filter, Head, Verdict};
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The longest line read as an entry; a longer one is malformed (skipped, not kept). Entries
/// hold at most one message (64 MiB) and some fields.
pub const MAX_ENTRY: usize = 80 * 1024 * 1024;

/// How many malformed lines are named one by one on stderr.
const NAMED: usize = 10;

/// What was wrong with the files, for the report on stderr and the exit code.
#[derive(Debug, Default)]
pub struct Problems {
    /// Lines that are not entries.
    pub malformed: u64,
    /// The first few: `FILE:LINE: why`.
    pub places: Vec<String>,
    /// Files that ended in an unfinished line that is not an entry (yet).
    pub unfinished: Vec<String>,
    /// Files that could not be read.
    pub unreadable: Vec<String>,
}

impl Problems {
    fn malformed(&mut self, file: &Path, line: u64, why: &str) {
        self.malformed_at(format!("{}:{line}", file.display()), why);
    }

    fn malformed_at(&mut self, place: String, why: &str) {
        self.malformed += 1;
        if self.places.len() < NAMED {
            self.places.push(format!("{place}: {why}"));
        }
    }

    /// Says on stderr what was wrong; whether it makes the run a failure (exit 1).
    pub fn report(&self) -> bool {
        for u in &self.unreadable {
            eprintln!("sentinel: error: {u}");
        }
        if self.malformed > 0 {
            eprintln!(
                "sentinel: warning: {} line(s) are not audit entries and were skipped{}:",
                self.malformed,
                if self.malformed as usize > self.places.len() {
                    format!(" (the first {} named)", self.places.len())
                } else {
                    String::new()
                }
            );
            for p in &self.places {
                eprintln!("  {p}");
            }
        }
        for u in &self.unfinished {
            eprintln!(
                "sentinel: note: {u}: the last line is unfinished (a write in progress, or \
                 the file was cut short); skipped"
            );
        }
        self.malformed > 0 || !self.unreadable.is_empty()
    }
}

/// One entry as read: its line (without the newline) and its fields.
pub struct Line {
    pub bytes: Vec<u8>,
    pub head: Head,
}

fn open(path: &Path, problems: &mut Problems) -> Option<File> {
    match File::open(path) {
        Ok(f) if f.metadata().is_ok_and(|m| m.is_dir()) => {
            problems.unreadable.push(format!(
                "{} is a directory, not an audit log",
                path.display()
            ));
            None
        }
        Ok(f) => Some(f),
        Err(e) => {
            problems
                .unreadable
                .push(format!("cannot read the audit log {}: {e}", path.display()));
            None
        }
    }
}

/// Reads one line into `buf` (without its newline), keeping at most [`MAX_ENTRY`] bytes.
/// Returns None at the end of the file, else (whether it ended in a newline, whether it was
/// cut).
fn read_line(r: &mut impl BufRead, buf: &mut Vec<u8>) -> std::io::Result<Option<(bool, bool)>> {
    buf.clear();
    let (mut any, mut cut) = (false, false);
    loop {
        let chunk = r.fill_buf()?;
        if chunk.is_empty() {
            return Ok(any.then_some((false, cut)));
        }
        any = true;
        let (take, done) = match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => (i, true),
            None => (chunk.len(), false),
        };
        let room = MAX_ENTRY.saturating_sub(buf.len());
        cut |= take > room;
        buf.extend_from_slice(&chunk[..take.min(room)]);
        r.consume(take + usize::from(done));
        if done {
            return Ok(Some((true, cut)));
        }
    }
}

/// What one line is: an entry, nothing (blank), or malformed (why).
fn judge_line(bytes: &[u8], cut: bool) -> Result<Option<Head>, String> {
    if cut {
        return Err(format!("longer than {} MiB", MAX_ENTRY >> 20));
    }
    let text = bytes.strip_suffix(b"\r").unwrap_or(bytes);
    if text.trim_ascii().is_empty() {
        return Ok(None);
    }
    Head::parse(text).map(Some)
}

/// Calls `each` with every entry of `paths` the filter matches, in file order; `each` returns
/// false to stop. Checkpoints left out by the filter are counted in `checkpoints`.
pub fn scan(
    paths: &[PathBuf],
    filter: &Filter,
    problems: &mut Problems,
    checkpoints: &mut u64,
    each: &mut dyn FnMut(&[u8], &Head) -> bool,
) {
    let mut buf = Vec::new();
    for path in paths {
        let Some(file) = open(path, problems) else {
            continue;
        };
        let mut r = BufReader::with_capacity(256 * 1024, file);
        let mut n = 0u64;
        loop {
            let (ended, cut) = match read_line(&mut r, &mut buf) {
                Ok(Some(x)) => x,
                Ok(None) => break,
                Err(e) => {
                    problems.unreadable.push(format!(
                        "cannot read the audit log {} after line {n}: {e}",
                        path.display()
                    ));
                    break;
                }
            };
            n += 1;
            let head = match judge_line(&buf, cut) {
                Ok(Some(h)) => h,
                Ok(None) => continue,
                Err(_) if !ended => {
                    problems.unfinished.push(format!("{}:{n}", path.display()));
                    continue;
                }
                Err(why) => {
                    problems.malformed(path, n, &why);
                    continue;
                }
            };
            match filter.judge(&head) {
                Verdict::Match => {
                    if !each(&buf, &head) {
                        return;
                    }
                }
                Verdict::Checkpoint => *checkpoints += 1,
                Verdict::NoMatch => {}
            }
        }
    }
}

/// The last `n` entries of `paths` (taken together, in order) the filter matches, read from
/// the end; and where following the last file starts (after its last complete line).
pub fn last(
    paths: &[PathBuf],
    n: usize,
    filter: &Filter,
    problems: &mut Problems,
) -> (Vec<Line>, u64) {
    let mut found: Vec<Line> = Vec::new();
    let mut resume = 0;
    for (i, path) in paths.iter().enumerate().rev() {
        let Some(mut file) = open(path, problems) else {
            continue;
        };
        let mut bad: Vec<(u64, String)> = Vec::new();
        let want = n.saturating_sub(found.len());
        let end = backward(&mut file, want, &mut |offset, bytes, ended, cut| {
            match judge_line(bytes, cut) {
                Ok(Some(head)) if filter.judge(&head) == Verdict::Match => {
                    found.push(Line {
                        bytes: bytes.to_vec(),
                        head,
                    });
                    return true;
                }
                Ok(_) => {}
                Err(_) if !ended => problems.unfinished.push(path.display().to_string()),
                Err(why) => bad.push((offset, why)),
            }
            false
        });
        match end {
            Ok(e) if i == paths.len() - 1 => resume = e,
            Ok(_) => {}
            Err(e) => problems
                .unreadable
                .push(format!("cannot read the audit log {}: {e}", path.display())),
        }
        // Line numbers are counted only when there is something to place.
        if !bad.is_empty() {
            bad.reverse();
            let lines = line_numbers(path, bad.iter().map(|b| b.0).collect());
            for ((_, why), line) in bad.iter().zip(lines) {
                problems.malformed(path, line, why);
            }
        }
        if found.len() >= n {
            break;
        }
    }
    found.reverse();
    (found, resume)
}

/// The line being assembled from blocks read backwards: its pieces, last first, up to
/// [`MAX_ENTRY`] bytes (past that it is only known to be too long).
#[derive(Default)]
struct Assembly {
    pieces: Vec<Vec<u8>>,
    len: usize,
    cut: bool,
}

impl Assembly {
    fn push(&mut self, part: &[u8]) {
        if self.len + part.len() > MAX_ENTRY {
            self.cut = true;
        } else if !part.is_empty() {
            self.pieces.push(part.to_vec());
            self.len += part.len();
        }
    }

    fn take(&mut self) -> (Vec<u8>, bool) {
        let line = self.pieces.drain(..).rev().flatten().collect();
        self.len = 0;
        (line, std::mem::take(&mut self.cut))
    }
}

/// What [`backward`] hands a line to: (start offset, bytes, ended in a newline, too long to
/// keep) -> whether it counts towards the lines wanted.
type Visit<'a> = dyn FnMut(u64, &[u8], bool, bool) -> bool + 'a;

/// Hands `each` the lines of `file` from the last backwards (each line's start offset, its
/// bytes, whether it ended in a newline, whether it was too long to keep) until `each` has
/// said true `want` times. Returns the offset just after the last newline (where an unfinished
/// last line starts). Memory: one block and the line being assembled.
fn backward(file: &mut File, want: usize, each: &mut Visit) -> std::io::Result<u64> {
    const BLOCK: u64 = 64 * 1024;
    let len = file.metadata()?.len();
    let mut pos = len;
    let mut line = Assembly::default();
    let mut got = 0usize;
    let mut resume = None;
    // The segment after the last newline: a line without its newline (unfinished).
    let mut ended = false;
    while pos > 0 {
        let size = BLOCK.min(pos);
        pos -= size;
        let mut block = vec![0; size as usize];
        file.seek(SeekFrom::Start(pos))?;
        file.read_exact(&mut block)?;
        let mut end = block.len();
        while let Some(i) = block[..end].iter().rposition(|&b| b == b'\n') {
            let start = pos + i as u64 + 1;
            resume.get_or_insert(start);
            if got >= want {
                return Ok(start); // `tail -n 0`: only where following starts
            }
            line.push(&block[i + 1..end]);
            let (bytes, cut) = line.take();
            if (ended || !bytes.is_empty()) && each(start, &bytes, ended, cut) {
                got += 1;
                if got >= want {
                    return Ok(resume.unwrap_or(len));
                }
            }
            ended = true;
            end = i;
        }
        line.push(&block[..end]);
    }
    let (bytes, cut) = line.take();
    if got < want && (!bytes.is_empty() || cut) {
        each(0, &bytes, ended, cut);
    }
    Ok(resume.unwrap_or(0))
}

/// The line numbers (from 1) of the lines starting at `offsets` (ascending), by counting
/// newlines in one pass.
fn line_numbers(path: &Path, mut offsets: Vec<u64>) -> Vec<u64> {
    offsets.sort_unstable();
    let mut out = Vec::with_capacity(offsets.len());
    let Ok(file) = File::open(path) else {
        return offsets.iter().map(|_| 0).collect();
    };
    let mut r = BufReader::with_capacity(256 * 1024, file);
    let (mut at, mut line) = (0u64, 1u64);
    let mut next = offsets.iter().peekable();
    while let Some(&&o) = next.peek() {
        let Ok(chunk) = r.fill_buf() else { break };
        if chunk.is_empty() {
            break;
        }
        let upto = usize::try_from(o.saturating_sub(at))
            .unwrap_or(usize::MAX)
            .min(chunk.len());
        line += chunk[..upto].iter().filter(|&&b| b == b'\n').count() as u64;
        at += upto as u64;
        r.consume(upto);
        if at == o {
            out.push(line);
            next.next();
        }
    }
    out.resize(offsets.len(), 0);
    out
}

/// `tail -f`: reads `path` from `offset` on as it grows, handing `each` every complete new
/// entry the filter matches; `each` returns false to stop (its output is gone). When the path
/// names a new file (rotation) the old one is read to its end first and the new one from its
/// start; when the file shrinks (truncated) it is read again from its start. Polls every
/// `interval`; never returns while `each` wants more.
pub fn follow(
    path: &Path,
    offset: u64,
    filter: &Filter,
    interval: Duration,
    each: &mut dyn FnMut(&[u8], &Head) -> bool,
) {
    use std::os::unix::fs::MetadataExt;
    let mut current: Option<(File, u64, u64)> = None; // file, inode, position
    let mut pending: Vec<u8> = Vec::new();
    let mut start = offset;
    let mut problems = Problems::default();
    loop {
        if current.is_none() {
            if let Ok(mut f) = File::open(path) {
                let ino = f.metadata().map(|m| m.ino()).unwrap_or(0);
                if f.seek(SeekFrom::Start(start)).is_ok() {
                    current = Some((f, ino, start));
                    pending.clear();
                }
            }
        }
        if let Some((f, ino, pos)) = current.as_mut() {
            if !drain(path, f, pos, &mut pending, filter, &mut problems, each) {
                return;
            }
            match std::fs::metadata(path) {
                Ok(m) if m.ino() != *ino => {
                    // Rotated: what the old file still got is read above; the new one is read
                    // from its start.
                    if !drain(path, f, pos, &mut pending, filter, &mut problems, each) {
                        return;
                    }
                    current = None;
                    start = 0;
                    continue;
                }
                Ok(m) if m.len() < *pos => {
                    current = None; // truncated: read again from the start
                    start = 0;
                    continue;
                }
                _ => {}
            }
        }
        if problems.malformed > 0 {
            problems.report();
            problems = Problems::default();
        }
        std::thread::sleep(interval);
    }
}

/// Reads what `f` has past `pos`, handing complete lines to `each`; false when `each` is done.
fn drain(
    path: &Path,
    f: &mut File,
    pos: &mut u64,
    pending: &mut Vec<u8>,
    filter: &Filter,
    problems: &mut Problems,
    each: &mut dyn FnMut(&[u8], &Head) -> bool,
) -> bool {
    let mut block = [0u8; 64 * 1024];
    loop {
        let n = match f.read(&mut block) {
            Ok(0) | Err(_) => return true,
            Ok(n) => n,
        };
        let block_start = *pos;
        *pos += n as u64;
        let mut rest = &block[..n];
        while let Some(i) = rest.iter().position(|&b| b == b'\n') {
            let line_end = block_start + (n - rest.len() + i) as u64;
            let cut = pending.len() + i > MAX_ENTRY;
            if !cut {
                pending.extend_from_slice(&rest[..i]);
            }
            rest = &rest[i + 1..];
            match judge_line(pending, cut) {
                Ok(Some(head)) if filter.judge(&head) == Verdict::Match => {
                    if !each(pending, &head) {
                        return false;
                    }
                }
                Ok(_) => {}
                Err(why) => {
                    let start = line_end.saturating_sub(pending.len() as u64);
                    let place = format!("{}: the line at byte {start}", path.display());
                    problems.malformed_at(place, &why);
                }
            }
            pending.clear();
        }
        if pending.len() + rest.len() <= MAX_ENTRY + 1 {
            pending.extend_from_slice(rest);
        }
    }
}
