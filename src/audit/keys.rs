//! The checkpoint signing keys: Ed25519 (ed25519-dalek), their files (a private key file only
//! its owner may read, and `FILE.pub`), the key id checkpoints name, and what exactly a
//! checkpoint's signature covers. The private key never leaves this module except as a
//! signature; nothing here writes it to the log or to stderr.
//!
//! Files, one line each: the private key `sentinel-audit-ed25519-private-key <64 hex: the
//! 32-byte seed>`, the public key `sentinel-audit-ed25519-public-key <64 hex>`.

use super::chain::{hex, unhex};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};
use std::fmt;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

const PRIVATE_TAG: &str = "sentinel-audit-ed25519-private-key";
const PUBLIC_TAG: &str = "sentinel-audit-ed25519-public-key";

/// What a checkpoint signature is over: this, then the checkpoint line up to (not including)
/// its `,"signature":"` field.
pub const SIGNED_PREFIX: &[u8] = b"sentinel audit checkpoint v1\n";

/// Where a checkpoint line's signature starts; it ends the line: `,"signature":"<128 hex>"}`.
pub const SIGNATURE_FIELD: &[u8] = b",\"signature\":\"";

/// A key Sentinel signs checkpoints with.
pub struct Key {
    signing: SigningKey,
    id: String,
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key({})", self.id)
    }
}

/// A key `verify` checks checkpoints with.
#[derive(Clone, Debug)]
pub struct PublicKey {
    key: VerifyingKey,
    pub id: String,
}

/// The first 16 hex digits of SHA-256 of the public key: what checkpoints name as `key_id`.
fn key_id(public: &VerifyingKey) -> String {
    hex(&Sha256::digest(public.as_bytes())[..8])
}

impl Key {
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The public half.
    pub fn public(&self) -> PublicKey {
        let key = self.signing.verifying_key();
        PublicKey {
            key,
            id: self.id.clone(),
        }
    }

    /// The signature of a checkpoint line's bytes before its signature field, as hex.
    pub fn sign(&self, unsigned_line: &[u8]) -> String {
        let mut msg = Vec::with_capacity(SIGNED_PREFIX.len() + unsigned_line.len());
        msg.extend_from_slice(SIGNED_PREFIX);
        msg.extend_from_slice(unsigned_line);
        hex(&self.signing.sign(&msg).to_bytes())
    }

    pub(super) fn from_seed(seed: [u8; 32]) -> Key {
        let signing = SigningKey::from_bytes(&seed);
        let id = key_id(&signing.verifying_key());
        Key { signing, id }
    }
}

impl PublicKey {
    /// The public key as 64 hex digits.
    pub fn hex(&self) -> String {
        hex(self.key.as_bytes())
    }

    /// Reads `text`: 64 hex digits, or a public key file's line.
    pub fn parse(text: &str) -> Option<PublicKey> {
        let t = text.trim();
        let t = t.strip_prefix(PUBLIC_TAG).map_or(t, str::trim);
        let key = VerifyingKey::from_bytes(&unhex::<32>(t)?).ok()?;
        Some(PublicKey {
            id: key_id(&key),
            key,
        })
    }

    /// Whether `signature` (128 hex digits) is this key's over `unsigned_line`.
    pub fn verifies(&self, unsigned_line: &[u8], signature: &str) -> bool {
        let Some(sig) = unhex::<64>(signature) else {
            return false;
        };
        let mut msg = Vec::with_capacity(SIGNED_PREFIX.len() + unsigned_line.len());
        msg.extend_from_slice(SIGNED_PREFIX);
        msg.extend_from_slice(unsigned_line);
        self.key
            .verify_strict(&msg, &Signature::from_bytes(&sig))
            .is_ok()
    }
}

/// Whether `text` is a private key file's content (so `verify --key` can refuse it by name).
pub fn is_private(text: &str) -> bool {
    text.trim_start().starts_with(PRIVATE_TAG)
}

/// Why a key file could not be used; the text says what to do.
#[derive(Debug)]
pub struct KeyError(pub String);

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Loads the private key from `path`, refusing a file other users may read or write.
pub fn load(path: &Path) -> Result<Key, KeyError> {
    let shown = path.display();
    let file = std::fs::File::open(path).map_err(|e| {
        KeyError(format!(
            "cannot read the audit key {shown} ({e}); make one with sentinel audit keygen --out FILE"
        ))
    })?;
    let meta = file
        .metadata()
        .map_err(|e| KeyError(format!("cannot read the audit key {shown} ({e})")))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyError(format!(
            "the audit key {shown} is open to other users (mode {mode:04o}); a signing key must \
             be readable by its owner only: chmod 600 {shown}"
        )));
    }
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    if meta.uid() != me {
        return Err(KeyError(format!(
            "the audit key {shown} belongs to uid {}, not to this user (uid {me}); use a key \
             of your own",
            meta.uid()
        )));
    }
    let mut text = String::new();
    std::io::Read::read_to_string(&mut std::io::Read::take(&file, 4096), &mut text)
        .map_err(|e| KeyError(format!("cannot read the audit key {shown} ({e})")))?;
    let seed = text
        .trim()
        .strip_prefix(PRIVATE_TAG)
        .and_then(|h| unhex::<32>(h.trim()));
    match seed {
        Some(seed) => Ok(Key::from_seed(seed)),
        None if text.trim_start().starts_with(PUBLIC_TAG) => Err(KeyError(format!(
            "{shown} is a public key; --audit-key takes the private key file sentinel audit \
             keygen wrote (the one without .pub)"
        ))),
        None => Err(KeyError(format!(
            "{shown} is not an audit key file (expected one line '{PRIVATE_TAG} <64 hex \
             digits>', as sentinel audit keygen writes)"
        ))),
    }
}

/// What `keygen` wrote.
pub struct Generated {
    pub private: PathBuf,
    pub public_file: PathBuf,
    pub public: PublicKey,
}

/// Makes a key: `out` (mode 0600, created new unless `force`) and `out.pub`.
pub fn generate(out: &Path, force: bool) -> Result<Generated, KeyError> {
    let public_file = super::log::suffixed(out, "pub");
    if !force {
        for p in [out, &public_file] {
            if p.symlink_metadata().is_ok() {
                return Err(KeyError(format!(
                    "{} exists; not overwriting a key (checkpoints signed with it could no \
                     longer be checked): pass --force to replace it, or choose --out FILE",
                    p.display()
                )));
            }
        }
    }
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed)
        .map_err(|e| KeyError(format!("the operating system's random source failed: {e}")))?;
    let key = Key::from_seed(seed);
    let private_line = format!("{PRIVATE_TAG} {}\n", hex(&seed));
    seed.fill(0);
    let write = |path: &Path, text: &str, mode: u32| -> Result<(), KeyError> {
        let fail = |e: std::io::Error| KeyError(format!("cannot write {} ({e})", path.display()));
        if force {
            match std::fs::remove_file(path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(fail(e)),
                _ => {}
            }
        }
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(path)
            .map_err(fail)?;
        // The mode asked for is cut by the umask; the private key's must be exactly 0600.
        f.set_permissions(std::fs::Permissions::from_mode(mode))
            .map_err(fail)?;
        f.write_all(text.as_bytes()).map_err(fail)?;
        f.sync_all().map_err(fail)
    };
    write(out, &private_line, 0o600)?;
    let public = key.public();
    write(
        &public_file,
        &format!("{PUBLIC_TAG} {}\n", public.hex()),
        0o644,
    )?;
    Ok(Generated {
        private: out.to_path_buf(),
        public_file,
        public,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_covers_every_byte_and_only_the_right_key_verifies_it() {
        let key = Key::from_seed([7; 32]);
        let other = Key::from_seed([8; 32]);
        let line = b"{\"timestamp\":\"t\",\"seq\":3}";
        let sig = key.sign(line);
        assert_eq!(sig.len(), 128);
        assert!(key.public().verifies(line, &sig));
        assert!(!other.public().verifies(line, &sig));
        assert!(!key
            .public()
            .verifies(b"{\"timestamp\":\"t\",\"seq\":4}", &sig));
        assert!(!key.public().verifies(line, &sig[..126]));
        assert_ne!(key.id(), other.id());
        assert_eq!(key.id().len(), 16);
        let parsed = PublicKey::parse(&format!("{PUBLIC_TAG} {}\n", key.public().hex())).unwrap();
        assert_eq!(parsed.id, key.id());
        assert!(PublicKey::parse("not hex").is_none());
    }
}
