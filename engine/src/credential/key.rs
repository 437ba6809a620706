//! The master key: 32 random bytes, written as base64, that seal every stored credential.

use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore as _;
use sha2::{Digest, Sha256};

/// Bytes in a master key.
const KEY_LEN: usize = 32;

/// A master key and its id. The id is derived from the key (a truncated hash): stored beside
/// each ciphertext, it tells which key sealed a value without revealing the key.
#[derive(Clone)]
pub struct MasterKey {
    bytes: [u8; KEY_LEN],
    id: String,
}

/// The key never appears in debug output.
impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKey").field("id", &self.id).finish()
    }
}

/// A master key that cannot be read or made.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Not base64 of exactly 32 bytes.
    #[error(
        "{origin}: a master key is base64 of exactly 32 bytes (make one with `ferry key generate`)"
    )]
    Malformed {
        /// Where it came from (`FERRY_MASTER_KEY`, a file path).
        origin: String,
    },
    /// The key file could not be read or written.
    #[error("master key file {path}: {error}")]
    Io {
        /// The key file.
        path: PathBuf,
        /// Cause.
        error: std::io::Error,
    },
}

impl MasterKey {
    /// A new random key.
    pub fn generate() -> MasterKey {
        let mut bytes = [0u8; KEY_LEN];
        rand::rng().fill_bytes(&mut bytes);
        MasterKey::from_bytes(bytes)
    }

    fn from_bytes(bytes: [u8; KEY_LEN]) -> MasterKey {
        let digest = Sha256::new()
            .chain_update(b"ferry master key id\0")
            .chain_update(bytes)
            .finalize();
        let id = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
        MasterKey { bytes, id }
    }

    /// Parses base64 text (surrounding whitespace ignored); `origin` names it in errors.
    pub fn from_base64(text: &str, origin: &str) -> Result<MasterKey, KeyError> {
        let malformed = || KeyError::Malformed {
            origin: origin.to_string(),
        };
        let decoded = STANDARD.decode(text.trim()).map_err(|_| malformed())?;
        let bytes: [u8; KEY_LEN] = decoded.try_into().map_err(|_| malformed())?;
        Ok(MasterKey::from_bytes(bytes))
    }

    /// The key as base64, for a key file.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.bytes)
    }

    /// The key's id (12 hex digits).
    pub fn id(&self) -> &str {
        &self.id
    }

    pub(super) fn bytes(&self) -> &[u8; KEY_LEN] {
        &self.bytes
    }

    /// Reads a key file.
    pub fn read_file(path: &Path) -> Result<MasterKey, KeyError> {
        let text = std::fs::read_to_string(path).map_err(|error| KeyError::Io {
            path: path.to_path_buf(),
            error,
        })?;
        MasterKey::from_base64(&text, &path.display().to_string())
    }

    /// Writes the key to a new file readable by its owner only (mode 0600); refuses to
    /// overwrite an existing file.
    pub fn write_new_file(&self, path: &Path) -> Result<(), KeyError> {
        use std::io::Write as _;
        let io = |error| KeyError::Io {
            path: path.to_path_buf(),
            error,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(path).map_err(io)?;
        file.write_all(format!("{}\n", self.to_base64()).as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(io)
    }

    /// Reads the key file at `path`, creating it with a new key when it does not exist yet
    /// (the embedded SQLite default, so `ferry serve` works without set-up). The boolean says
    /// whether it was created.
    pub fn read_or_create_file(path: &Path) -> Result<(MasterKey, bool), KeyError> {
        match MasterKey::read_file(path) {
            Ok(key) => Ok((key, false)),
            Err(KeyError::Io { error, .. }) if error.kind() == std::io::ErrorKind::NotFound => {
                let key = MasterKey::generate();
                match key.write_new_file(path) {
                    Ok(()) => Ok((key, true)),
                    // Another process created it first: use theirs.
                    Err(KeyError::Io { error, .. })
                        if error.kind() == std::io::ErrorKind::AlreadyExists =>
                    {
                        Ok((MasterKey::read_file(path)?, false))
                    }
                    Err(e) => Err(e),
                }
            }
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trip_and_stable_id() {
        let key = MasterKey::generate();
        let again = MasterKey::from_base64(&format!(" {}\n", key.to_base64()), "test").unwrap();
        assert_eq!(again.id(), key.id());
        assert_eq!(key.id().len(), 12);
        assert_ne!(MasterKey::generate().id(), key.id());
        assert!(!format!("{key:?}").contains(&key.to_base64()));
    }

    #[test]
    fn malformed_keys_are_refused_naming_their_origin() {
        for text in ["", "not base64!", &STANDARD.encode([1u8; 16])] {
            let err = MasterKey::from_base64(text, "FERRY_MASTER_KEY").unwrap_err();
            assert!(err.to_string().starts_with("FERRY_MASTER_KEY: "), "{err}");
        }
    }

    #[test]
    fn key_file_is_created_once_with_owner_only_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/master.key");
        let (key, created) = MasterKey::read_or_create_file(&path).unwrap();
        assert!(created);
        let (again, created) = MasterKey::read_or_create_file(&path).unwrap();
        assert!(!created);
        assert_eq!(again.id(), key.id());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(key.write_new_file(&path).is_err(), "never overwrites");
    }
}
