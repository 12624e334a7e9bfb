//! Keyed hashes of the ids the store must match on but never hold: patient, encounter and
//! order ids become HMAC-SHA256 under the site's secret (`store.patient_key_secret`, or a
//! random secret kept in a file beside the SQLite database).

use std::path::Path;

use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};

/// Shortest secret accepted, in bytes.
pub const MIN_SECRET_BYTES: usize = 16;

#[derive(Clone)]
pub struct Keys(hmac::Key);

impl Keys {
    pub fn new(secret: &[u8]) -> Self {
        Self(hmac::Key::new(hmac::HMAC_SHA256, secret))
    }

    pub fn patient(&self, id: &str) -> String {
        self.digest("patient", id)
    }

    pub fn encounter(&self, id: &str) -> String {
        self.digest("encounter", id)
    }

    pub fn order(&self, id: &str) -> String {
        self.digest("order", id)
    }

    /// The kind is part of what is hashed, so a patient and an order with the same id differ.
    fn digest(&self, kind: &str, id: &str) -> String {
        let mut context = hmac::Context::with_key(&self.0);
        context.update(kind.as_bytes());
        context.update(b"\0");
        context.update(id.as_bytes());
        hex(context.sign().as_ref())
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The secret of `store.patient_key_secret` (at least 16 bytes).
pub fn given_secret(secret: &str) -> Result<Vec<u8>, String> {
    if secret.len() < MIN_SECRET_BYTES {
        return Err(format!("store.patient_key_secret: at least {MIN_SECRET_BYTES} bytes"));
    }
    Ok(secret.as_bytes().to_vec())
}

/// The per-install secret in `path`, created (32 random bytes, hex, readable by the owner only)
/// when the file does not exist.
pub fn install_secret(path: &Path) -> Result<Vec<u8>, String> {
    let describe = |e: std::io::Error| format!("patient-key secret {}: {e}", path.display());
    match std::fs::read_to_string(path) {
        Ok(text) => return given_secret(text.trim()),
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(describe(e)),
        Err(_) => {}
    }
    let mut bytes = [0u8; 32];
    SystemRandom::new().fill(&mut bytes).map_err(|_| "no system randomness for the patient-key secret".to_owned())?;
    let secret = hex(&bytes);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(describe)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(mut file) => std::io::Write::write_all(&mut file, secret.as_bytes()).map_err(describe)?,
        // Another process created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return given_secret(std::fs::read_to_string(path).map_err(describe)?.trim());
        }
        Err(e) => return Err(describe(e)),
    }
    Ok(secret.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_keyed_and_kinded() {
        let a = Keys::new(b"0123456789abcdef");
        let b = Keys::new(b"fedcba9876543210");
        assert_eq!(a.patient("p1"), a.patient("p1"));
        assert_ne!(a.patient("p1"), b.patient("p1"));
        assert_ne!(a.patient("p1"), a.order("p1"));
        assert_eq!(a.patient("p1").len(), 64);
        assert!(!a.patient("p1").contains("p1"));
    }

    #[test]
    fn install_secret_is_created_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/store.sqlite.key");
        let first = install_secret(&path).unwrap();
        assert_eq!(first.len(), 64);
        assert_eq!(install_secret(&path).unwrap(), first);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        assert!(given_secret("short").is_err());
    }
}
