//! The per-user runtime directory of the local approval channel and the identity checks that
//! guard it: where it is (`$XDG_RUNTIME_DIR/mcp-sentinel/`, else `/tmp/mcp-sentinel-<uid>/`,
//! as tmux does), creating it owner-only and refusing one that is a symlink, not a directory,
//! someone else's or open to other users ([`DirError`] says what is wrong and what to do), the
//! names of what lives in it (`<pid>.sock` for each Sentinel, `watch-<pid>.sock` for each
//! `sentinel approvals watch`), and the platform calls the channel needs: our effective uid, a
//! socket peer's uid and pid (`SO_PEERCRED`, `getpeereid`), user names, and a connection
//! attempt that never blocks ([`poke`]). Unix only; other platforms get
//! [`DirError::Unsupported`].

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// The directory's name under `$XDG_RUNTIME_DIR`.
pub const DIR_NAME: &str = "mcp-sentinel";

/// How old a socket nobody listens on must be to be removed as stale.
pub const SETTLED: std::time::Duration = std::time::Duration::from_millis(500);

/// Why the runtime directory cannot be used. Each message names the path, what is wrong with
/// it and what to do.
#[derive(Debug)]
pub enum DirError {
    /// Not a Unix system: there are no Unix-domain sockets to listen on.
    #[cfg_attr(unix, allow(dead_code))]
    Unsupported,
    /// `$XDG_RUNTIME_DIR` (or `/tmp`) is missing or unreadable.
    Parent { path: PathBuf, error: io::Error },
    /// The parent lets any user replace entries in it (world-writable without the sticky bit).
    ParentUnsafe { path: PathBuf, mode: u32 },
    /// The directory could not be created.
    Create { path: PathBuf, error: io::Error },
    /// The path is a symbolic link.
    Symlink { path: PathBuf },
    /// The path is not a directory.
    NotDirectory { path: PathBuf },
    /// The directory belongs to another user.
    NotOwned { path: PathBuf, owner: u32, uid: u32 },
    /// Other users may read, write or enter it.
    Permissions { path: PathBuf, mode: u32 },
}

impl fmt::Display for DirError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DirError::Unsupported => write!(
                f,
                "the local approval channel needs Unix-domain sockets, which this platform \
                 does not have"
            ),
            DirError::Parent { path, error } => write!(
                f,
                "cannot use {} for the runtime directory ({error}); set XDG_RUNTIME_DIR to an \
                 existing directory of yours",
                path.display()
            ),
            DirError::ParentUnsafe { path, mode } => write!(
                f,
                "{} is writable by every user without the sticky bit (mode {mode:04o}), so \
                 anyone could replace the runtime directory in it; set XDG_RUNTIME_DIR to a \
                 directory only you can write",
                path.display()
            ),
            DirError::Create { path, error } => write!(
                f,
                "cannot create the runtime directory {} ({error}); set XDG_RUNTIME_DIR to a \
                 writable directory of yours",
                path.display()
            ),
            DirError::Symlink { path } => write!(
                f,
                "the runtime directory {} is a symbolic link, which is refused (it could point \
                 anywhere); remove it and Sentinel creates a private directory there",
                path.display()
            ),
            DirError::NotDirectory { path } => write!(
                f,
                "the runtime directory {} is not a directory; remove it and Sentinel creates \
                 a private directory there",
                path.display()
            ),
            DirError::NotOwned { path, owner, uid } => write!(
                f,
                "the runtime directory {} belongs to uid {owner}, not to you (uid {uid}); \
                 remove it, or set XDG_RUNTIME_DIR to a directory of yours",
                path.display()
            ),
            DirError::Permissions { path, mode } => write!(
                f,
                "the runtime directory {} is open to other users (mode {mode:04o}); it must \
                 be yours alone: run `chmod 700 {}`",
                path.display(),
                path.display()
            ),
        }
    }
}

impl std::error::Error for DirError {}

/// What a file in the directory is, by its name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry {
    /// `<pid>.sock`: a running (or dead) Sentinel's listener.
    Sentinel(u32),
    /// `watch-<pid>.sock`: a running (or dead) `sentinel approvals watch`.
    Watch(u32),
}

impl Entry {
    /// Reads a file name; anything else in the directory is not ours and is left alone.
    pub fn parse(name: &str) -> Option<Entry> {
        let stem = name.strip_suffix(".sock")?;
        let (watch, digits) = match stem.strip_prefix("watch-") {
            Some(d) => (true, d),
            None => (false, stem),
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let pid: u32 = digits.parse().ok()?;
        Some(if watch {
            Entry::Watch(pid)
        } else {
            Entry::Sentinel(pid)
        })
    }

    /// The file name.
    pub fn file_name(&self) -> String {
        match self {
            Entry::Sentinel(pid) => format!("{pid}.sock"),
            Entry::Watch(pid) => format!("watch-{pid}.sock"),
        }
    }
}

/// The checked runtime directory.
#[derive(Clone, Debug)]
pub struct RunDir {
    path: PathBuf,
}

impl RunDir {
    /// The directory for this user: created if missing, checked if present.
    pub fn open() -> Result<RunDir, DirError> {
        let xdg = std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from);
        let (parent, path) = location(xdg, euid());
        RunDir::at(&parent, path)
    }

    /// `path` (whose parent is `parent`), created owner-only if missing, then checked.
    pub fn at(parent: &Path, path: PathBuf) -> Result<RunDir, DirError> {
        platform::prepare(parent, &path)?;
        Ok(RunDir { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The path of an entry.
    pub fn entry(&self, entry: &Entry) -> PathBuf {
        self.path.join(entry.file_name())
    }

    /// The entries in the directory now, Sentinels in pid order, then watchers.
    pub fn entries(&self) -> Vec<Entry> {
        let mut found: Vec<Entry> = match std::fs::read_dir(&self.path) {
            Ok(rd) => rd
                .filter_map(|e| e.ok())
                .filter_map(|e| Entry::parse(e.file_name().to_str()?))
                .collect(),
            Err(_) => Vec::new(),
        };
        found.sort_by_key(|e| match e {
            Entry::Sentinel(p) => (0, *p),
            Entry::Watch(p) => (1, *p),
        });
        found
    }

    /// Removes the socket file of an entry nobody listens on: only a socket (never a
    /// directory or a file someone gave such a name), and only one at least [`SETTLED`] old,
    /// so a socket between its `bind` and its `listen` is not taken for a dead one.
    pub fn remove_stale(&self, entry: &Entry) {
        use std::os::unix::fs::FileTypeExt;
        let path = self.entry(entry);
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            return;
        };
        let age = meta
            .modified()
            .ok()
            .and_then(|t| t.elapsed().ok())
            .unwrap_or_default();
        if meta.file_type().is_socket() && age >= SETTLED {
            let _ = std::fs::remove_file(&path);
        }
    }
}

/// Where the directory is: `$XDG_RUNTIME_DIR/mcp-sentinel` when the variable names an
/// absolute path (the XDG spec says to ignore a relative one), else `/tmp/mcp-sentinel-<uid>`.
/// Returns (parent, directory).
pub fn location(xdg_runtime_dir: Option<PathBuf>, uid: u32) -> (PathBuf, PathBuf) {
    match xdg_runtime_dir.filter(|p| p.is_absolute()) {
        Some(xdg) => {
            let dir = xdg.join(DIR_NAME);
            (xdg, dir)
        }
        None => {
            let tmp = PathBuf::from("/tmp");
            let dir = tmp.join(format!("{DIR_NAME}-{uid}"));
            (tmp, dir)
        }
    }
}

/// The checks on an existing directory, as a pure function of its metadata (unit-tested).
/// `symlink`, `dir`: its type as `lstat` sees it; `owner`, `mode`: its owner and permissions.
pub fn check(
    path: &Path,
    symlink: bool,
    dir: bool,
    owner: u32,
    mode: u32,
    uid: u32,
) -> Result<(), DirError> {
    let path = path.to_path_buf();
    if symlink {
        return Err(DirError::Symlink { path });
    }
    if !dir {
        return Err(DirError::NotDirectory { path });
    }
    if owner != uid {
        return Err(DirError::NotOwned { path, owner, uid });
    }
    if mode & 0o077 != 0 {
        return Err(DirError::Permissions {
            path,
            mode: mode & 0o7777,
        });
    }
    Ok(())
}

/// The check on the parent: it must not let other users replace our directory in it.
pub fn check_parent(path: &Path, mode: u32) -> Result<(), DirError> {
    if mode & 0o002 != 0 && mode & 0o1000 == 0 {
        return Err(DirError::ParentUnsafe {
            path: path.to_path_buf(),
            mode: mode & 0o7777,
        });
    }
    Ok(())
}

/// A socket peer's identity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Peer {
    pub uid: u32,
    /// Unknown where the platform does not say.
    pub pid: Option<u32>,
}

/// What a connection attempt to a socket file found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Poke {
    /// Something listens there (the connection was made, or is queued).
    Live,
    /// A socket file nobody listens on: its process is gone.
    Stale,
    /// No such file, or it could not be tried.
    Absent,
}

pub use platform::{euid, peer, poke, user_name};

#[cfg(unix)]
mod platform {
    use super::{check, check_parent, DirError, Peer, Poke};
    use std::io;
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    use std::os::unix::io::AsRawFd;
    use std::os::unix::net::UnixStream;
    use std::path::Path;

    /// Our effective uid.
    pub fn euid() -> u32 {
        // SAFETY: geteuid has no preconditions and cannot fail.
        unsafe { libc::geteuid() }
    }

    pub(super) fn prepare(parent: &Path, path: &Path) -> Result<(), DirError> {
        let parent_meta = std::fs::metadata(parent).map_err(|error| DirError::Parent {
            path: parent.to_path_buf(),
            error,
        })?;
        if !parent_meta.is_dir() {
            return Err(DirError::Parent {
                path: parent.to_path_buf(),
                error: io::Error::other("not a directory"),
            });
        }
        check_parent(parent, parent_meta.mode())?;
        match std::fs::DirBuilder::new().mode(0o700).create(path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(error) => {
                return Err(DirError::Create {
                    path: path.to_path_buf(),
                    error,
                })
            }
        }
        let meta = std::fs::symlink_metadata(path).map_err(|error| DirError::Create {
            path: path.to_path_buf(),
            error,
        })?;
        let ft = meta.file_type();
        check(
            path,
            ft.is_symlink(),
            ft.is_dir(),
            meta.uid(),
            meta.mode(),
            euid(),
        )
    }

    /// The uid and pid of the process at the other end of `stream`.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    pub fn peer(stream: &UnixStream) -> io::Result<Peer> {
        let mut cred = libc::ucred {
            pid: 0,
            uid: 0,
            gid: 0,
        };
        let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
        // SAFETY: cred and len are valid out-pointers of the sizes the call expects.
        let rc = unsafe {
            libc::getsockopt(
                stream.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_PEERCRED,
                (&mut cred as *mut libc::ucred).cast(),
                &mut len,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Peer {
            uid: cred.uid,
            pid: u32::try_from(cred.pid).ok().filter(|p| *p != 0),
        })
    }

    /// The uid (and on macOS the pid) of the process at the other end of `stream`.
    #[cfg(any(
        target_os = "macos",
        target_os = "ios",
        target_os = "freebsd",
        target_os = "openbsd",
        target_os = "netbsd",
        target_os = "dragonfly"
    ))]
    pub fn peer(stream: &UnixStream) -> io::Result<Peer> {
        let (mut uid, mut gid): (libc::uid_t, libc::gid_t) = (0, 0);
        // SAFETY: uid and gid are valid out-pointers.
        if unsafe { libc::getpeereid(stream.as_raw_fd(), &mut uid, &mut gid) } != 0 {
            return Err(io::Error::last_os_error());
        }
        #[cfg(any(target_os = "macos", target_os = "ios"))]
        let pid = {
            let mut pid: libc::pid_t = 0;
            let mut len = std::mem::size_of::<libc::pid_t>() as libc::socklen_t;
            // SAFETY: pid and len are valid out-pointers of the sizes the call expects.
            let rc = unsafe {
                libc::getsockopt(
                    stream.as_raw_fd(),
                    libc::SOL_LOCAL,
                    libc::LOCAL_PEERPID,
                    (&mut pid as *mut libc::pid_t).cast(),
                    &mut len,
                )
            };
            if rc == 0 {
                u32::try_from(pid).ok()
            } else {
                None
            }
        };
        #[cfg(not(any(target_os = "macos", target_os = "ios")))]
        let pid = None;
        Ok(Peer { uid, pid })
    }

    /// No way to learn a peer's uid here: every connection is refused.
    #[cfg(not(any(
        target_os = "linux",
        target_os = "android",
        target_os = "macos",
        target_os = "ios",
        target_os = "freebsd",
        target_os = "openbsd",
        target_os = "netbsd",
        target_os = "dragonfly"
    )))]
    pub fn peer(_stream: &UnixStream) -> io::Result<Peer> {
        Err(io::Error::other(
            "this platform does not tell a socket's peer",
        ))
    }

    /// The login name of `uid` (the password database, else `$USER`, else `uid N`).
    pub fn user_name(uid: u32) -> String {
        let mut buf = vec![0u8; 1024];
        loop {
            // SAFETY: pwd, buf and result are valid for the call; buf's length is passed.
            let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
            let mut result: *mut libc::passwd = std::ptr::null_mut();
            let rc = unsafe {
                libc::getpwuid_r(
                    uid,
                    &mut pwd,
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    &mut result,
                )
            };
            if rc == libc::ERANGE && buf.len() < 1 << 16 {
                buf.resize(buf.len() * 4, 0);
                continue;
            }
            if rc == 0 && !result.is_null() && !pwd.pw_name.is_null() {
                // SAFETY: pw_name points into buf, NUL-terminated by getpwuid_r.
                let name = unsafe { std::ffi::CStr::from_ptr(pwd.pw_name) };
                if let Ok(s) = name.to_str() {
                    if !s.is_empty() {
                        return s.to_owned();
                    }
                }
            }
            break;
        }
        match std::env::var("USER") {
            Ok(u) if !u.is_empty() => u,
            _ => format!("uid {uid}"),
        }
    }

    /// Tries to connect to the socket at `path` without ever blocking (a stopped listener's
    /// full backlog counts as live), and closes the connection at once: a watcher reads a
    /// connection to its marker as "rescan now".
    pub fn poke(path: &Path) -> Poke {
        let bytes = path.as_os_str().as_bytes();
        // SAFETY: sockaddr_un is a plain C struct; all zeroes is a valid value.
        let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
        if bytes.len() >= addr.sun_path.len() || bytes.contains(&0) {
            return Poke::Absent;
        }
        addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
        for (d, s) in addr.sun_path.iter_mut().zip(bytes) {
            *d = *s as libc::c_char;
        }
        // SAFETY: plain socket calls on a descriptor we own and close; addr is initialised and
        // its size is passed.
        unsafe {
            let fd = libc::socket(libc::AF_UNIX, libc::SOCK_STREAM, 0);
            if fd < 0 {
                return Poke::Absent;
            }
            libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
            let flags = libc::fcntl(fd, libc::F_GETFL);
            libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
            let rc = libc::connect(
                fd,
                (&addr as *const libc::sockaddr_un).cast(),
                std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t,
            );
            let errno = io::Error::last_os_error().raw_os_error();
            libc::close(fd);
            if rc == 0 {
                return Poke::Live;
            }
            match errno {
                Some(libc::EINPROGRESS) | Some(libc::EAGAIN) => Poke::Live,
                Some(libc::ECONNREFUSED) => Poke::Stale,
                _ => Poke::Absent,
            }
        }
    }
}

#[cfg(not(unix))]
mod platform {
    use super::{DirError, Peer, Poke};
    use std::path::Path;

    pub fn euid() -> u32 {
        0
    }

    pub(super) fn prepare(_parent: &Path, _path: &Path) -> Result<(), DirError> {
        Err(DirError::Unsupported)
    }

    pub fn peer<T>(_stream: &T) -> std::io::Result<Peer> {
        Err(std::io::Error::other("no Unix-domain sockets"))
    }

    pub fn user_name(uid: u32) -> String {
        format!("uid {uid}")
    }

    pub fn poke(_path: &Path) -> Poke {
        Poke::Absent
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("sentinel-rundir-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        dir
    }

    #[test]
    fn location_follows_xdg_runtime_dir_else_tmp() {
        let (p, d) = location(Some("/run/user/1000".into()), 1000);
        assert_eq!(p, Path::new("/run/user/1000"));
        assert_eq!(d, Path::new("/run/user/1000/mcp-sentinel"));
        let (p, d) = location(None, 1000);
        assert_eq!(p, Path::new("/tmp"));
        assert_eq!(d, Path::new("/tmp/mcp-sentinel-1000"));
        // A relative XDG_RUNTIME_DIR is ignored, as the XDG spec says.
        let (_, d) = location(Some("run".into()), 7);
        assert_eq!(d, Path::new("/tmp/mcp-sentinel-7"));
    }

    #[test]
    fn check_refuses_what_is_not_private() {
        let p = Path::new("/x/mcp-sentinel");
        assert!(check(p, false, true, 5, 0o40700, 5).is_ok());
        assert!(matches!(
            check(p, true, false, 5, 0o700, 5),
            Err(DirError::Symlink { .. })
        ));
        assert!(matches!(
            check(p, false, false, 5, 0o700, 5),
            Err(DirError::NotDirectory { .. })
        ));
        assert!(matches!(
            check(p, false, true, 6, 0o700, 5),
            Err(DirError::NotOwned {
                owner: 6,
                uid: 5,
                ..
            })
        ));
        for mode in [0o777, 0o770, 0o750, 0o701, 0o710] {
            let e = check(p, false, true, 5, mode, 5).unwrap_err();
            assert!(matches!(e, DirError::Permissions { .. }), "{mode:o}");
            let text = e.to_string();
            assert!(text.contains("chmod 700 /x/mcp-sentinel"), "{text}");
            assert!(text.contains(&format!("{mode:04o}")), "{text}");
        }
    }

    #[test]
    fn parent_must_not_be_world_writable_without_sticky_bit() {
        let p = Path::new("/x");
        assert!(check_parent(p, 0o41777).is_ok()); // /tmp
        assert!(check_parent(p, 0o40755).is_ok());
        assert!(check_parent(p, 0o40775).is_ok());
        assert!(matches!(
            check_parent(p, 0o40777),
            Err(DirError::ParentUnsafe { .. })
        ));
    }

    #[test]
    fn open_creates_an_owner_only_directory_and_accepts_it_again() {
        let parent = scratch("create");
        let dir = parent.join(DIR_NAME);
        let rd = RunDir::at(&parent, dir.clone()).unwrap();
        assert_eq!(rd.path(), dir);
        let meta = std::fs::symlink_metadata(&dir).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o700);
        assert!(RunDir::at(&parent, dir).is_ok());
        std::fs::remove_dir_all(&parent).unwrap();
    }

    #[test]
    fn open_refuses_a_symlink_a_file_and_an_open_directory() {
        let parent = scratch("refuse");
        let dir = parent.join(DIR_NAME);
        let target = parent.join("elsewhere");
        std::fs::create_dir(&target).unwrap();
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o700)).unwrap();
        std::os::unix::fs::symlink(&target, &dir).unwrap();
        assert!(matches!(
            RunDir::at(&parent, dir.clone()),
            Err(DirError::Symlink { .. })
        ));
        std::fs::remove_file(&dir).unwrap();
        std::fs::write(&dir, "").unwrap();
        assert!(matches!(
            RunDir::at(&parent, dir.clone()),
            Err(DirError::NotDirectory { .. })
        ));
        std::fs::remove_file(&dir).unwrap();
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(matches!(
            RunDir::at(&parent, dir.clone()),
            Err(DirError::Permissions { mode: 0o777, .. })
        ));
        let missing = parent.join("missing");
        assert!(matches!(
            RunDir::at(&missing, missing.join(DIR_NAME)),
            Err(DirError::Parent { .. })
        ));
        std::fs::remove_dir_all(&parent).unwrap();
    }

    #[test]
    fn entries_are_read_by_name() {
        assert_eq!(Entry::parse("123.sock"), Some(Entry::Sentinel(123)));
        assert_eq!(Entry::parse("watch-9.sock"), Some(Entry::Watch(9)));
        for other in [
            "x.sock",
            ".sock",
            "watch-.sock",
            "12",
            "12.sock.tmp",
            "-1.sock",
            "+1.sock",
            "99999999999.sock",
        ] {
            assert_eq!(Entry::parse(other), None, "{other}");
        }
        assert_eq!(Entry::Watch(4).file_name(), "watch-4.sock");
    }

    #[test]
    fn poke_tells_live_stale_and_absent_sockets_apart() {
        let parent = scratch("poke");
        let path = parent.join("1.sock");
        assert_eq!(poke(&path), Poke::Absent);
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        assert_eq!(poke(&path), Poke::Live);
        assert!(listener.accept().is_ok());
        drop(listener);
        assert_eq!(poke(&path), Poke::Stale);
        std::fs::remove_dir_all(&parent).unwrap();
    }

    #[test]
    fn only_a_settled_socket_is_removed_as_stale() {
        let parent = scratch("stale");
        let rd = RunDir::at(&parent, parent.join(DIR_NAME)).unwrap();
        let entry = Entry::Sentinel(5);
        let path = rd.entry(&entry);
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        rd.remove_stale(&entry);
        assert!(path.exists(), "a socket younger than SETTLED was removed");
        std::thread::sleep(SETTLED);
        rd.remove_stale(&entry);
        assert!(!path.exists());
        // Never a file that only has a socket's name.
        std::fs::write(&path, "x").unwrap();
        std::thread::sleep(SETTLED);
        rd.remove_stale(&entry);
        assert!(path.exists());
        std::fs::remove_dir_all(&parent).unwrap();
    }

    #[test]
    fn peer_is_this_process_and_names_resolve() {
        let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        let p = peer(&a).unwrap();
        assert_eq!(p.uid, euid());
        #[cfg(target_os = "linux")]
        assert_eq!(p.pid, Some(std::process::id()));
        assert!(!user_name(euid()).is_empty());
    }
}
