//! The `Origin` allow-list (the transport chapter's DNS-rebinding protection: a server "MUST
//! validate the Origin header"; a present, invalid one gets 403). A request without `Origin`
//! is not from a browser page and goes on; one with an `Origin` goes on only when it is on the
//! list, or is a loopback page (`http://localhost:*`, `http://127.0.0.1:*`, `http://[::1]:*`)
//! and loopback pages are allowed (the default, for a listener on loopback).

/// The origins a listener accepts.
#[derive(Clone, Debug)]
pub struct Origins {
    /// Exact origins, normalised (scheme and host in lower case, no trailing `/`).
    allowed: Vec<String>,
    any: bool,
    loopback: bool,
}

impl Origins {
    /// `allowed`: exact origins such as `https://app.example.com` (or `*` for any);
    /// `loopback`: whether pages served from this host's loopback addresses are allowed too.
    pub fn new(allowed: &[String], loopback: bool) -> Origins {
        Origins {
            any: allowed.iter().any(|a| a == "*"),
            allowed: allowed
                .iter()
                .filter(|a| *a != "*")
                .map(|a| normalise(a))
                .collect(),
            loopback,
        }
    }

    /// Whether a request with this `Origin` header (none: not from a browser) may go on.
    pub fn check(&self, origin: Option<&str>) -> bool {
        let Some(origin) = origin else { return true };
        if self.any {
            return true;
        }
        let origin = normalise(origin);
        if self.allowed.contains(&origin) {
            return true;
        }
        self.loopback && is_loopback(&origin)
    }
}

/// Scheme and host are case-insensitive; a trailing `/` is not part of an origin.
fn normalise(origin: &str) -> String {
    origin.trim().trim_end_matches('/').to_ascii_lowercase()
}

/// `http(s)://localhost`, `127.0.0.1` or `[::1]`, with or without a port, and nothing else
/// (`http://localhost.evil.com` and `http://127.0.0.1.nip.io` are not loopback).
fn is_loopback(origin: &str) -> bool {
    let Some(rest) = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
    else {
        return false;
    };
    let host = if let Some(v6) = rest.strip_prefix('[') {
        match v6.split_once(']') {
            Some((h, port)) if port.is_empty() || valid_port(port) => return h == "::1",
            _ => return false,
        }
    } else {
        match rest.split_once(':') {
            Some((h, port)) if valid_port(&format!(":{port}")) => h,
            Some(_) => return false,
            None => rest,
        }
    };
    host == "localhost" || host == "127.0.0.1"
}

fn valid_port(port: &str) -> bool {
    port.strip_prefix(':')
        .is_some_and(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::Origins;

    #[test]
    fn no_origin_is_not_a_browser_and_goes_on() {
        assert!(Origins::new(&[], false).check(None));
    }

    #[test]
    fn listed_origins_go_on_case_and_trailing_slash_aside() {
        let o = Origins::new(&["https://App.Example.com".into()], false);
        assert!(o.check(Some("https://app.example.com")));
        assert!(o.check(Some("HTTPS://APP.EXAMPLE.COM/")));
        assert!(!o.check(Some("https://app.example.com.evil.net")));
        assert!(!o.check(Some("http://app.example.com")));
        assert!(!o.check(Some("null")));
    }

    #[test]
    fn loopback_pages_only_when_allowed_and_only_real_loopback_names() {
        let o = Origins::new(&[], true);
        for ok in [
            "http://localhost",
            "http://localhost:6274",
            "https://127.0.0.1:8443",
            "http://[::1]:3000",
        ] {
            assert!(o.check(Some(ok)), "{ok}");
        }
        for bad in [
            "http://localhost.evil.com",
            "http://127.0.0.1.nip.io",
            "http://localhost:80x",
            "http://[::1]evil",
            "http://attacker.example",
            "file://localhost",
            "null",
        ] {
            assert!(!o.check(Some(bad)), "{bad}");
        }
        assert!(!Origins::new(&[], false).check(Some("http://localhost:6274")));
    }

    #[test]
    fn a_star_allows_any_origin() {
        assert!(Origins::new(&["*".into()], false).check(Some("https://anything.example")));
    }
}
