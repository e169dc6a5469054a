//! Time as a seam: the [`Clock`] trait that everything needing "now" goes through (audit
//! timestamps, the circuit breaker's buckets, windows and cooldowns), the real system clock, a
//! manual clock that tests of the real binary drive through a file (`SENTINEL_TEST_CLOCK`),
//! and RFC 3339 UTC formatting (hand-rolled: it is a dozen lines of civil-calendar arithmetic,
//! not worth a dependency).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The environment variable that switches on the manual clock (for tests).
pub const TEST_CLOCK_ENV: &str = "SENTINEL_TEST_CLOCK";

/// A source of wall-clock time.
pub trait Clock: Send + Sync {
    fn now(&self) -> SystemTime;
}

/// The operating system's clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// Milliseconds since the Unix epoch (0 before it).
pub fn millis(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The instant `ms` milliseconds after the Unix epoch.
pub fn from_millis(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

/// A clock whose time is read from a file holding seconds since the Unix epoch (a decimal
/// number, e.g. `1767225600.250`). Tests write the file, then send the next message: time moves
/// only when they say so, and nothing sleeps. An unreadable or invalid file keeps the last
/// good time (the epoch before the first).
pub struct FileClock {
    path: PathBuf,
    last: Mutex<SystemTime>,
}

impl FileClock {
    pub fn new(path: PathBuf) -> FileClock {
        FileClock {
            path,
            last: Mutex::new(UNIX_EPOCH),
        }
    }
}

impl Clock for FileClock {
    fn now(&self) -> SystemTime {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(t) = std::fs::read_to_string(&self.path)
            .ok()
            .and_then(|t| parse_seconds(t.trim()))
        {
            *last = t;
        }
        *last
    }
}

/// `1767225670.8` -> that instant, exactly (whole and fractional parts are read separately:
/// going through `f64` would turn .800 into .799999).
fn parse_seconds(text: &str) -> Option<SystemTime> {
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let secs: u64 = whole.parse().ok()?;
    let nanos: u32 = format!("{frac:0<9}").parse().ok()?;
    UNIX_EPOCH.checked_add(Duration::new(secs, nanos))
}

/// The clock the binary uses: the manual [`FileClock`] when `SENTINEL_TEST_CLOCK` names a
/// file, else the system clock.
pub fn from_env() -> Arc<dyn Clock> {
    match std::env::var_os(TEST_CLOCK_ENV).filter(|v| !v.is_empty()) {
        Some(path) => Arc::new(FileClock::new(PathBuf::from(path))),
        None => Arc::new(SystemClock),
    }
}

/// A clock that always says the same time (tests).
#[cfg(test)]
pub struct FixedClock(pub SystemTime);

#[cfg(test)]
impl Clock for FixedClock {
    fn now(&self) -> SystemTime {
        self.0
    }
}

/// Formats `t` as RFC 3339 UTC with microseconds, e.g. `2026-01-13T10:11:36.279646Z`.
pub fn rfc3339(t: SystemTime) -> String {
    let mut out = Vec::with_capacity(27);
    push_rfc3339(&mut out, t);
    String::from_utf8(out).unwrap_or_default()
}

/// Appends `t` as [`rfc3339`] does, digit by digit (every audit entry carries one).
pub fn push_rfc3339(out: &mut Vec<u8>, t: SystemTime) {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    let (y, m, day) = civil_from_days(days);
    let mut digits = |v: u64, width: usize, after: u8| {
        let mut buf = [b'0'; 20];
        let mut v = v;
        for b in buf[20 - width..].iter_mut().rev() {
            *b = b'0' + (v % 10) as u8;
            v /= 10;
        }
        out.extend_from_slice(&buf[20 - width..]);
        if after != 0 {
            out.push(after);
        }
    };
    // Years before 0 or after 9999 do not occur in a system clock's reading.
    digits(y.clamp(0, 9999) as u64, 4, b'-');
    digits(u64::from(m), 2, b'-');
    digits(u64::from(day), 2, b'T');
    digits(rem / 3600, 2, b':');
    digits(rem % 3600 / 60, 2, b':');
    digits(rem % 60, 2, b'.');
    digits(u64::from(d.subsec_micros()), 6, b'Z');
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn formats_known_instants() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000000Z");
        let t = UNIX_EPOCH + Duration::from_micros(1_768_299_096_279_646);
        assert_eq!(rfc3339(t), "2026-01-13T10:11:36.279646Z");
        // A leap day.
        let t = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(rfc3339(t), "2000-02-29T00:00:00.000000Z");
        assert_eq!(rfc3339(FixedClock(t).now()), "2000-02-29T00:00:00.000000Z");
    }

    /// The digit-by-digit writer agrees with the formatter it replaced, over many instants.
    #[test]
    fn rfc3339_digits_are_padded_and_placed_like_format() {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Up to the year 9999, microseconds apart.
            let t = UNIX_EPOCH + Duration::from_micros(x % 253_402_300_799_000_000);
            let d = t.duration_since(UNIX_EPOCH).unwrap();
            let secs = d.as_secs();
            let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
            let (y, m, day) = civil_from_days(days);
            let want = format!(
                "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:06}Z",
                rem / 3600,
                rem % 3600 / 60,
                rem % 60,
                d.subsec_micros()
            );
            assert_eq!(rfc3339(t), want);
        }
    }

    #[test]
    fn the_file_clock_reads_its_file_and_keeps_the_last_good_time() {
        let path = std::env::temp_dir().join(format!("sentinel-clock-{}", std::process::id()));
        let clock = FileClock::new(path.clone());
        assert_eq!(clock.now(), UNIX_EPOCH);
        std::fs::write(&path, "1000.25\n").unwrap();
        assert_eq!(millis(clock.now()), 1_000_250);
        std::fs::write(&path, "1767225670.8").unwrap();
        assert_eq!(millis(clock.now()), 1_767_225_670_800);
        std::fs::write(&path, "1000.25\n").unwrap();
        assert_eq!(millis(clock.now()), 1_000_250);
        std::fs::write(&path, "not a number").unwrap();
        assert_eq!(millis(clock.now()), 1_000_250);
        std::fs::remove_file(&path).unwrap();
        assert_eq!(millis(clock.now()), 1_000_250);
        assert_eq!(
            from_millis(1_000_250),
            UNIX_EPOCH + Duration::from_millis(1_000_250)
        );
    }
}
