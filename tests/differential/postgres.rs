//! A real PostgreSQL for the differential harness: a private cluster in a temporary directory
//! (initdb, then `postgres` on a Unix socket there and no TCP port), run as `nobody` when the
//! tests run as root (PostgreSQL refuses root), killed with its parent, stopped and removed
//! when dropped. It is spoken to by a minimal client of the frontend/backend protocol v3
//! (startup with trust authentication, the simple query protocol that MCP servers use for a
//! statement string, COPY in and out) written here: the `postgres` crate would bring tokio and
//! a dozen crates into the test build and cannot read COPY results, and `psql` would read the
//! statement with its own lexer (backslash commands) first. [`PgOracle`] runs each statement
//! in a transaction that is rolled back and observes it for `sql_oracle`'s judgement.

use crate::sql_oracle::{Fixture, Observation, Row, ROW_CAP, TABLES};
use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The largest message kept whole; longer ones are read and cut.
const MESSAGE_CAP: usize = 16 << 20;

/// The directory of the newest installed PostgreSQL's programs.
fn bin_dir() -> PathBuf {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, b)| b).unwrap_or_else(|| {
        panic!("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): apt-get install -y postgresql")
    })
}

/// The uid and gid the server runs as: `nobody` when we are root, else ourselves.
fn server_ids() -> Option<(u32, u32)> {
    // SAFETY: getuid has no preconditions; getpwnam returns a pointer into static storage
    // that is read at once.
    unsafe {
        if libc::getuid() != 0 {
            return None;
        }
        let pw = libc::getpwnam(c"nobody".as_ptr());
        if pw.is_null() {
            Some((65534, 65534))
        } else {
            Some(((*pw).pw_uid, (*pw).pw_gid))
        }
    }
}

/// A command that runs as the server user and dies with the thread that started it.
fn as_server(program: PathBuf, ids: Option<(u32, u32)>) -> Command {
    let mut cmd = Command::new(program);
    // SAFETY: the closure runs between fork and exec and calls only async-signal-safe
    // functions (setgroups, setgid, setuid, prctl).
    unsafe {
        cmd.pre_exec(move || {
            if let Some((uid, gid)) = ids {
                if libc::setgroups(0, std::ptr::null()) != 0
                    || libc::setgid(gid) != 0
                    || libc::setuid(uid) != 0
                {
                    return Err(io::Error::last_os_error());
                }
            }
            // After the uid change, which would clear it.
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGQUIT);
            Ok(())
        });
    }
    cmd
}

/// A running private cluster.
pub struct Server {
    child: Child,
    pub dir: PathBuf,
    pub files: PathBuf,
}

impl Server {
    pub fn start() -> Server {
        let bin = bin_dir();
        let ids = server_ids();
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        // Under /tmp: short enough for a socket path, and every parent is traversable.
        let dir = std::env::temp_dir().join(format!("sentinel-pg-{}-{stamp}", std::process::id()));
        let files = dir.join("files");
        std::fs::create_dir_all(&files).expect("create the cluster directory");
        if let Some((uid, gid)) = ids {
            for d in [&dir, &files] {
                std::os::unix::fs::chown(d, Some(uid), Some(gid)).expect("chown to nobody");
            }
        }
        let log = std::fs::File::create(dir.join("initdb.log")).expect("initdb log");
        let status = as_server(bin.join("initdb"), ids)
            .args(["-D", "data", "-U", "postgres", "--auth=trust", "--no-sync"])
            .args(["-E", "UTF8", "--locale=C", "--no-instructions"])
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .status()
            .expect("run initdb");
        let initdb_log = std::fs::read_to_string(dir.join("initdb.log")).unwrap_or_default();
        assert!(status.success(), "initdb failed: {initdb_log}");
        let log = std::fs::File::create(dir.join("server.log")).expect("server log");
        let child = as_server(bin.join("postgres"), ids)
            .args(["-D", "data", "-k"])
            .arg(&dir)
            .args(["-p", "5432", "-c", "listen_addresses=", "-F"])
            .args(["-c", "full_page_writes=off", "-c", "synchronous_commit=off"])
            .args(["-c", "shared_buffers=16MB", "-c", "max_connections=8"])
            .args(["-c", "statement_timeout=3000", "-c", "lock_timeout=3000"])
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start postgres");
        let server = Server { child, dir, files };
        let deadline = Instant::now() + Duration::from_secs(30);
        while server.connect().is_err() {
            let log = std::fs::read_to_string(server.dir.join("server.log")).unwrap_or_default();
            assert!(Instant::now() < deadline, "postgres did not start: {log}");
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }

    pub fn connect(&self) -> io::Result<Client> {
        Client::connect(&self.dir.join(".s.PGSQL.5432"))
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let pid = self.child.id() as i32;
        // SAFETY: signals our own child. SIGINT is PostgreSQL's fast shutdown.
        unsafe { libc::kill(pid, libc::SIGINT) };
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The results of one simple query.
#[derive(Debug, Default)]
pub struct Reply {
    /// Per statement that returned rows or completed: its rows (capped) and true count.
    pub results: Vec<(Vec<Row>, usize)>,
    pub error: Option<String>,
    /// The ReadyForQuery status: b'I' idle, b'T' in a transaction, b'E' failed transaction.
    pub status: u8,
}

pub struct Client {
    s: UnixStream,
}

impl Client {
    fn connect(socket: &Path) -> io::Result<Client> {
        let s = UnixStream::connect(socket)?;
        s.set_read_timeout(Some(Duration::from_secs(30)))?;
        let mut c = Client { s };
        let mut body = 196608i32.to_be_bytes().to_vec();
        for part in ["user", "postgres", "database", "postgres", ""] {
            body.extend_from_slice(part.as_bytes());
            body.push(0);
        }
        let mut msg = ((body.len() + 4) as i32).to_be_bytes().to_vec();
        msg.extend(body);
        c.s.write_all(&msg)?;
        loop {
            let (tag, body) = c.message()?;
            match tag {
                b'R' if body.get(..4) != Some(&[0, 0, 0, 0]) => {
                    return Err(io::Error::other("the server asked for a password"))
                }
                b'E' => return Err(io::Error::other(error_text(&body))),
                b'Z' => return Ok(c),
                _ => {}
            }
        }
    }

    fn message(&mut self) -> io::Result<(u8, Vec<u8>)> {
        let mut head = [0u8; 5];
        self.s.read_exact(&mut head)?;
        let len = i32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
        let len = len
            .checked_sub(4)
            .ok_or_else(|| io::Error::other("bad length"))?;
        let mut body = vec![0u8; len.min(MESSAGE_CAP)];
        self.s.read_exact(&mut body)?;
        if len > MESSAGE_CAP {
            io::copy(
                &mut (&mut self.s).take((len - MESSAGE_CAP) as u64),
                &mut io::sink(),
            )?;
        }
        Ok((head[0], body))
    }

    fn send(&mut self, tag: u8, body: &[u8]) -> io::Result<()> {
        let mut msg = vec![tag];
        msg.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
        msg.extend_from_slice(body);
        self.s.write_all(&msg)
    }

    /// Sends `sql` as one simple query and reads everything until ReadyForQuery.
    pub fn query(&mut self, sql: &str) -> io::Result<Reply> {
        let mut body = sql.as_bytes().to_vec();
        body.push(0);
        self.send(b'Q', &body)?;
        let mut reply = Reply::default();
        let mut rows: Vec<Row> = Vec::new();
        let mut count = 0;
        loop {
            let (tag, body) = self.message()?;
            match tag {
                b'T' | b'H' => {
                    rows.clear();
                    count = 0;
                }
                b'D' => {
                    count += 1;
                    if count <= ROW_CAP {
                        rows.push(data_row(&body));
                    }
                }
                b'd' => {
                    count += 1;
                    if count <= ROW_CAP {
                        rows.push(vec![Some(String::from_utf8_lossy(&body).into_owned())]);
                    }
                }
                b'C' => reply
                    .results
                    .push((std::mem::take(&mut rows), std::mem::take(&mut count))),
                b'G' => self.send(b'f', b"the oracle sends no COPY data\0")?,
                b'W' => return Err(io::Error::other("COPY BOTH is not supported")),
                b'E' => reply.error = Some(error_text(&body)),
                b'Z' => {
                    reply.status = body.first().copied().unwrap_or(b'I');
                    return Ok(reply);
                }
                _ => {}
            }
        }
    }
}

fn data_row(body: &[u8]) -> Row {
    let mut row = Vec::new();
    let n = body
        .get(..2)
        .map_or(0, |b| i16::from_be_bytes([b[0], b[1]]).max(0) as usize);
    let mut p = 2;
    for _ in 0..n {
        let Some(len) = body.get(p..p + 4) else { break };
        let len = i32::from_be_bytes([len[0], len[1], len[2], len[3]]);
        p += 4;
        if len < 0 {
            row.push(None);
            continue;
        }
        let end = (p + len as usize).min(body.len());
        row.push(Some(String::from_utf8_lossy(&body[p..end]).into_owned()));
        p = end;
    }
    row
}

fn error_text(body: &[u8]) -> String {
    body.split(|b| *b == 0)
        .filter_map(|f| f.split_first())
        .filter(|(t, _)| matches!(t, b'C' | b'M'))
        .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
        .collect::<Vec<_>>()
        .join(": ")
}

/// The oracle on PostgreSQL: one connection, each statement in a transaction rolled back.
pub struct PgOracle<'s> {
    pub fixture: Fixture,
    server: &'s Server,
    client: Client,
}

impl<'s> PgOracle<'s> {
    pub fn new(server: &'s Server, max_rows: usize) -> PgOracle<'s> {
        let client = server.connect().expect("connect to postgres");
        let mut o = PgOracle {
            fixture: Fixture::new(max_rows),
            server,
            client,
        };
        o.rebuild();
        o
    }

    /// Creates the fixture afresh in an empty `public` schema.
    fn rebuild(&mut self) {
        if let Ok(c) = self.server.connect() {
            self.client = c;
        }
        let sql = format!(
            "DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public; {}",
            self.fixture.setup_sql()
        );
        let r = self.client.query(&sql).expect("create the fixture");
        assert!(r.error.is_none(), "fixture: {:?}", r.error);
    }

    fn q(&mut self, sql: &str) -> io::Result<Reply> {
        self.client.query(sql)
    }

    fn tables(&mut self) -> Vec<Result<Vec<Row>, String>> {
        (0..TABLES.len())
            .map(|t| match self.q(&Fixture::select_sql(t, "public")) {
                Ok(Reply { error: Some(e), .. }) => Err(e),
                Ok(r) => Ok(r
                    .results
                    .into_iter()
                    .next()
                    .map(|r| r.0)
                    .unwrap_or_default()),
                Err(e) => Err(e.to_string()),
            })
            .collect()
    }

    /// Runs `sql` (with `@DIR@` and `@PROGRAM@` filled in) and records what happened.
    pub fn observe(&mut self, sql: &str) -> Observation {
        let files = self.server.files.clone();
        let flag = files.join("program-ran");
        for e in std::fs::read_dir(&files).into_iter().flatten().flatten() {
            let _ = std::fs::remove_file(e.path());
        }
        let sql = sql
            .replace("@PROGRAM@", &format!("touch {}", flag.display()))
            .replace("@DIR@", &files.display().to_string());
        let mut obs = Observation::default();
        if sql.contains('\0') {
            obs.error = Some("the protocol cannot carry a NUL byte".into());
            return obs;
        }
        // PostgreSQL 15's "transaction" counters include the backend's not yet flushed counts
        // of earlier transactions; none are flushed inside one, so the difference is exact.
        let _ = self.q("BEGIN");
        let before = self.scans();
        let reply = self.q(&sql);
        let status = match reply {
            Ok(r) => {
                for (rows, count) in r.results {
                    obs.results.push(rows);
                    obs.counts.push(count);
                }
                obs.error = r.error;
                r.status
            }
            Err(e) => {
                obs.error = Some(format!("connection lost: {e}"));
                self.rebuild();
                0
            }
        };
        if status == b'T' {
            obs.read_fixture = match (before, self.scans()) {
                (Some(b), Some(a)) => a != b,
                _ => true,
            };
        } else {
            // The statement ended our transaction (or failed): what it committed is still in
            // the tables, which are read in a transaction of their own; where it read is
            // unknown, so it counts as reading the fixture.
            obs.read_fixture = true;
            let _ = self.q("ROLLBACK");
            let _ = self.q("BEGIN");
        }
        obs.after = self.tables();
        if matches!(
            self.q(&self.fixture.probe_sql("public")),
            Ok(Reply { error: None, .. })
        ) {
            obs.after_probe = self.tables();
        }
        let _ = self.q("ROLLBACK");
        let _ = self.q("DISCARD ALL");
        obs.program_ran = flag.exists();
        obs.files = std::fs::read_dir(&files)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.path() != flag)
            .map(|e| e.path().display().to_string())
            .collect();
        if status != b'T' || self.fixture.judge_write(&obs).is_err() || self.damaged() {
            self.rebuild();
        }
        obs
    }

    /// The scans of the fixture's tables counted in this backend.
    fn scans(&mut self) -> Option<String> {
        let sql = "SELECT CAST(coalesce(sum(seq_scan + coalesce(idx_scan, 0)), 0) AS TEXT) \
            FROM pg_stat_xact_user_tables WHERE schemaname = 'public'";
        let r = self.q(sql).ok()?;
        r.results.first()?.0.first()?.first()?.clone()
    }

    /// Whether the committed fixture differs from the original.
    fn damaged(&mut self) -> bool {
        let tables = self.tables();
        tables.iter().enumerate().any(|(t, state)| match state {
            Ok(rows) => *rows != self.fixture.table(t),
            Err(_) => true,
        })
    }
}
