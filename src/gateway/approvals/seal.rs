//! The sealed `requestState` of a 2026-07-28 multi round-trip approval: what Sentinel hands
//! the client with its `input_required` answer and expects back, unchanged, on the retry. It
//! binds the method, the tool, a SHA-256 digest of the canonical arguments, an expiry and a
//! random nonce (which makes it single use), under HMAC-SHA256 with a key drawn at random
//! when the process starts and never written anywhere (or, with `--state redis://`, the key
//! every Sentinel on that Redis shares: `shared`). The client cannot read anything
//! useful from it and cannot change a bit of it unnoticed.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use std::fmt::Write as _;

/// What every sealed state starts with (a version, so a later format can be told apart).
const PREFIX: &str = "sntl1.";

/// Why a `requestState` was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StateError {
    /// Not Sentinel's format, or its MAC does not verify: made up or altered.
    Forged,
    /// Sealed for another method, tool or arguments.
    Mismatched,
    /// Past its expiry.
    Expired,
    /// Already used once.
    Replayed,
}

impl StateError {
    pub fn describe(self) -> &'static str {
        match self {
            StateError::Forged => "the requestState was not issued by this Sentinel or was altered",
            StateError::Mismatched => {
                "the requestState was issued for a different tool or different arguments"
            }
            StateError::Expired => "the requestState has expired",
            StateError::Replayed => "the requestState was already used once",
        }
    }
}

/// The parts of a call a state is bound to.
pub struct Binding<'a> {
    pub method: &'a str,
    pub tool: &'a str,
    /// The call's arguments in canonical form (keys sorted, compact).
    pub canonical_args: &'a str,
}

/// Seals and opens states under this process's key.
pub struct Sealer {
    key: [u8; 32],
}

impl Sealer {
    /// A sealer with a fresh random key.
    #[cfg(test)]
    pub fn new() -> Sealer {
        Sealer::from_key(random())
    }

    /// A sealer with `key`.
    pub fn from_key(key: [u8; 32]) -> Sealer {
        Sealer { key }
    }

    fn mac(&self) -> Hmac<Sha256> {
        Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key length")
    }

    /// A state for `binding`, valid until `expires_ms` (Unix milliseconds), with `nonce`.
    pub fn seal(&self, binding: &Binding, expires_ms: u64, nonce: &[u8; 16]) -> String {
        let body = body(binding, expires_ms, nonce);
        let mut mac = self.mac();
        mac.update(body.as_bytes());
        let tag = mac.finalize().into_bytes();
        format!("{PREFIX}{body}.{}", hex(&tag))
    }

    /// Checks `state` against the retry's `binding` at `now_ms`; its nonce and expiry when
    /// valid (the caller refuses a nonce it has seen: single use).
    pub fn open(
        &self,
        state: &str,
        binding: &Binding,
        now_ms: u64,
    ) -> Result<([u8; 16], u64), StateError> {
        let rest = state.strip_prefix(PREFIX).ok_or(StateError::Forged)?;
        let (body, tag) = rest.rsplit_once('.').ok_or(StateError::Forged)?;
        let tag = unhex(tag).ok_or(StateError::Forged)?;
        let mut mac = self.mac();
        mac.update(body.as_bytes());
        // Constant-time comparison.
        mac.verify_slice(&tag).map_err(|_| StateError::Forged)?;
        let mut parts = body.split('.');
        let (Some(digest), Some(expires), Some(nonce), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(StateError::Forged);
        };
        if digest != binding_digest(binding) {
            return Err(StateError::Mismatched);
        }
        let expires: u64 = expires.parse().map_err(|_| StateError::Forged)?;
        if now_ms > expires {
            return Err(StateError::Expired);
        }
        let nonce = unhex(nonce).ok_or(StateError::Forged)?;
        let nonce = nonce.try_into().map_err(|_| StateError::Forged)?;
        Ok((nonce, expires))
    }
}

/// `DIGEST.EXPIRES.NONCE`: the binding's digest covers method, tool and arguments.
fn body(binding: &Binding, expires_ms: u64, nonce: &[u8; 16]) -> String {
    format!("{}.{expires_ms}.{}", binding_digest(binding), hex(nonce))
}

fn binding_digest(b: &Binding) -> String {
    let mut h = Sha256::new();
    // Lengths first, so no two bindings share an encoding.
    for part in [b.method, b.tool, b.canonical_args] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    hex(&h.finalize())
}

pub(super) fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

/// Random bytes from the operating system.
pub fn random<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).expect("the operating system's random source failed");
    b
}

/// Lower-case hex of random bytes.
pub fn random_hex<const N: usize>() -> String {
    hex(&random::<N>())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b<'a>(tool: &'a str, args: &'a str) -> Binding<'a> {
        Binding {
            method: "tools/call",
            tool,
            canonical_args: args,
        }
    }

    #[test]
    fn a_state_opens_only_for_its_own_call_before_its_expiry() {
        let s = Sealer::new();
        let n = [7u8; 16];
        let st = s.seal(&b("query", "{\"sql\":\"DROP TABLE t\"}"), 1000, &n);
        assert_eq!(
            s.open(&st, &b("query", "{\"sql\":\"DROP TABLE t\"}"), 999),
            Ok((n, 1000))
        );
        assert_eq!(
            s.open(&st, &b("query", "{\"sql\":\"DROP TABLE t\"}"), 1000),
            Ok((n, 1000))
        );
        assert_eq!(
            s.open(&st, &b("query", "{\"sql\":\"DROP TABLE u\"}"), 999),
            Err(StateError::Mismatched)
        );
        assert_eq!(
            s.open(&st, &b("other", "{\"sql\":\"DROP TABLE t\"}"), 999),
            Err(StateError::Mismatched)
        );
        assert_eq!(
            s.open(&st, &b("query", "{\"sql\":\"DROP TABLE t\"}"), 1001),
            Err(StateError::Expired)
        );
    }

    #[test]
    fn altered_or_foreign_states_are_forged() {
        let s = Sealer::new();
        let call = b("q", "{}");
        let st = s.seal(&call, u64::MAX, &[1; 16]);
        // Another process's key.
        assert_eq!(Sealer::new().open(&st, &call, 0), Err(StateError::Forged));
        // Every single-character change of the state is caught.
        for i in PREFIX.len()..st.len() {
            let mut bytes = st.clone().into_bytes();
            bytes[i] = if bytes[i] == b'0' { b'1' } else { b'0' };
            let altered = String::from_utf8(bytes).unwrap();
            assert!(s.open(&altered, &call, 0).is_err(), "{altered}");
        }
        for junk in ["", "sntl1.", "sntl1.a.b", "abc", "sntl1.zz.zz"] {
            assert_eq!(s.open(junk, &call, 0), Err(StateError::Forged), "{junk}");
        }
    }
}
