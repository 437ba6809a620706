//! Sealing: XChaCha20-Poly1305 with a random 24-byte nonce per value (random nonces of that
//! size never repeat in practice) and the row's tenant and name as associated data, so a
//! ciphertext copied into another row does not open.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore as _;

use super::key::MasterKey;

const NONCE_LEN: usize = 24;

/// A sealed value that does not open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// Wrong key, altered bytes, or a ciphertext of another row.
    #[error(
        "does not decrypt with master key {key_id} (wrong key, or the value was altered or copied from another row)"
    )]
    Undecryptable {
        /// The key tried.
        key_id: String,
    },
}

/// The associated data of a connection's credentials: binds them to their row.
pub fn associated_data(tenant: &str, name: &str) -> Vec<u8> {
    format!("ferry/connection/v1\0{tenant}\0{name}").into_bytes()
}

/// Seals `plaintext`: the nonce, then the ciphertext with its tag.
pub fn seal(key: &MasterKey, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let cipher = XChaCha20Poly1305::new(key.bytes().into());
    let mut nonce = [0u8; NONCE_LEN];
    rand::rng().fill_bytes(&mut nonce);
    let sealed = cipher
        .encrypt(
            &XNonce::from(nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        // Encryption fails only for messages over 256 GiB.
        .unwrap_or_default();
    let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&sealed);
    out
}

/// Opens what [`seal`] made with the same key and associated data.
pub fn open(key: &MasterKey, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, SealError> {
    let fail = || SealError::Undecryptable {
        key_id: key.id().to_string(),
    };
    if sealed.len() < NONCE_LEN {
        return Err(fail());
    }
    let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
    let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| fail())?;
    XChaCha20Poly1305::new(key.bytes().into())
        .decrypt(
            &XNonce::from(nonce),
            Payload {
                msg: ciphertext,
                aad,
            },
        )
        .map_err(|_| fail())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_value_opens_only_with_its_key_and_row() {
        let key = MasterKey::generate();
        let aad = associated_data("acme", "shop");
        let sealed = seal(&key, &aad, b"shpat_secret");
        assert!(!sealed.windows(12).any(|w| w == b"shpat_secret"));
        assert_eq!(open(&key, &aad, &sealed).unwrap(), b"shpat_secret");
        // Same plaintext, new nonce.
        assert_ne!(seal(&key, &aad, b"shpat_secret"), sealed);
        assert!(open(&MasterKey::generate(), &aad, &sealed).is_err());
        assert!(open(&key, &associated_data("other", "shop"), &sealed).is_err());
        assert!(open(&key, &associated_data("acme", "erp"), &sealed).is_err());
        let mut altered = sealed.clone();
        *altered.last_mut().unwrap() ^= 1;
        assert!(open(&key, &aad, &altered).is_err());
        assert!(open(&key, &aad, &sealed[..10]).is_err());
    }
}
