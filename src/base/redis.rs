//! One Redis server as Sentinel uses it for shared state (`--state redis://HOST:PORT/DB`):
//! the URL checked and named without its password, one connection behind a mutex (made on
//! first use with connect, read and write timeouts, dropped on any failure and made again on
//! the next call, so a broken connection is never kept), failures told apart (unreachable or
//! refused by the server), and the [`Outage`] flag that lets callers say "the store is down"
//! and "it is back" once per outage instead of once per call. What is kept there (the breaker's
//! sessions, the approvals' key and nonces) is the business of the layers above.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// How long a connection may take to open, and one command to be written or answered.
pub const TIMEOUT: Duration = Duration::from_millis(500);

/// Why a Redis command failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The server could not be reached or stopped answering (refused, reset, timed out), as
    /// opposed to an error the server itself returned.
    pub unreachable: bool,
    pub detail: String,
}

/// Whether a store is in an outage: flipped by the first failure and the first success after
/// it, so each is reported once.
#[derive(Default, Debug)]
pub struct Outage {
    down: AtomicBool,
    /// The store it is about, as messages name it.
    name: String,
}

impl Outage {
    pub fn new(name: String) -> Outage {
        Outage {
            down: AtomicBool::new(false),
            name,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Notes a failure: true if it starts an outage.
    pub fn went_down(&self) -> bool {
        !self.down.swap(true, Ordering::AcqRel)
    }

    /// Notes a success: true if it ends an outage.
    pub fn came_back(&self) -> bool {
        self.down.load(Ordering::Acquire) && self.down.swap(false, Ordering::AcqRel)
    }
}

/// A Redis server and this process's connection to it.
pub struct Redis {
    client: redis::Client,
    name: String,
    conn: Mutex<Option<redis::Connection>>,
    outage: Outage,
}

impl Redis {
    /// Checks `url` (`redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]`); connects only when used.
    pub fn open(url: &str) -> Result<Redis, String> {
        let name = check(url)?;
        let client =
            redis::Client::open(url).map_err(|e| format!("invalid --state {url:?}: {e}"))?;
        Ok(Redis {
            client,
            outage: Outage::new(name.clone()),
            name,
            conn: Mutex::new(None),
        })
    }

    /// `redis://HOST:PORT/DB`, without user or password: what messages name.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn outage(&self) -> &Outage {
        &self.outage
    }

    /// Runs `f` on the connection (made first if there is none). On a failure the connection
    /// is dropped: the next call makes a new one.
    pub fn run<T>(
        &self,
        mut f: impl FnMut(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> Result<T, Failure> {
        let mut slot = self.lock();
        if slot.is_none() {
            *slot = Some(self.connect().map_err(failure)?);
        }
        let conn = slot
            .as_mut()
            .unwrap_or_else(|| unreachable!("connected above"));
        match f(conn) {
            Ok(v) => Ok(v),
            Err(e) => {
                *slot = None;
                Err(failure(e))
            }
        }
    }

    /// `PING`, to see at start whether the server is there.
    pub fn ping(&self) -> Result<(), Failure> {
        self.run(|c| redis::cmd("PING").query::<String>(c))
            .map(drop)
    }

    fn connect(&self) -> redis::RedisResult<redis::Connection> {
        let conn = self.client.get_connection_with_timeout(TIMEOUT)?;
        conn.set_read_timeout(Some(TIMEOUT))?;
        conn.set_write_timeout(Some(TIMEOUT))?;
        Ok(conn)
    }

    fn lock(&self) -> MutexGuard<'_, Option<redis::Connection>> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn failure(e: redis::RedisError) -> Failure {
    Failure {
        unreachable: e.is_io_error()
            || e.is_timeout()
            || e.is_connection_dropped()
            || e.is_connection_refusal(),
        detail: e.to_string(),
    }
}

/// The URL's name without credentials, or why it is not one Sentinel takes.
pub fn check(url: &str) -> Result<String, String> {
    if url.starts_with("rediss://") {
        return Err(format!(
            "invalid --state {url:?}: rediss:// (TLS) is not supported (Sentinel's Redis client \
             is built without TLS); use redis:// on a trusted network, or a TLS tunnel"
        ));
    }
    let parsed = url::Url::parse(url).map_err(|e| format!("invalid --state {url:?}: {e}"))?;
    if parsed.scheme() != "redis" {
        return Err(format!(
            "invalid --state {url:?}: expected memory or redis://HOST:PORT/DB"
        ));
    }
    let host = match parsed.host_str() {
        Some(h) if !h.is_empty() => h.to_owned(),
        _ => return Err(format!("invalid --state {url:?}: no host")),
    };
    let db = parsed.path().trim_start_matches('/');
    let db = if db.is_empty() { "0" } else { db };
    if !db.bytes().all(|b| b.is_ascii_digit()) || db.len() > 9 {
        return Err(format!(
            "invalid --state {url:?}: the path is the database number, e.g. redis://{host}:6379/0"
        ));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(format!(
            "invalid --state {url:?}: no query or fragment is taken (a password goes in \
             redis://:PASSWORD@HOST:PORT/DB)"
        ));
    }
    Ok(format!(
        "redis://{host}:{}/{}",
        parsed.port().unwrap_or(6379),
        db.parse::<u32>().unwrap_or(0)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_named_without_credentials_and_bad_ones_refused() {
        assert_eq!(
            check("redis://127.0.0.1:7000/3").unwrap(),
            "redis://127.0.0.1:7000/3"
        );
        assert_eq!(check("redis://cache").unwrap(), "redis://cache:6379/0");
        assert_eq!(
            check("redis://:s3cret@cache:6380/1").unwrap(),
            "redis://cache:6380/1"
        );
        for bad in [
            "rediss://cache/0",
            "http://cache/0",
            "redis:///0",
            "redis://cache/x",
            "redis://cache/0?password=x",
            "cache:6379",
        ] {
            assert!(check(bad).is_err(), "{bad}");
        }
        assert!(check("rediss://c").unwrap_err().contains("TLS"));
    }

    #[test]
    fn an_outage_is_reported_once_and_so_is_its_end() {
        let o = Outage::default();
        assert!(!o.came_back());
        assert!(o.went_down());
        assert!(!o.went_down());
        assert!(o.came_back());
        assert!(!o.came_back());
        assert!(o.went_down());
    }

    #[test]
    fn a_server_that_is_not_there_is_unreachable() {
        // A port nothing listens on (bound, then closed).
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let r = Redis::open(&format!("redis://127.0.0.1:{port}/0")).unwrap();
        let e = r.ping().unwrap_err();
        assert!(e.unreachable, "{e:?}");
    }
}
