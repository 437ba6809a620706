//! Webhook signatures shared by the shop connectors: Shopify (`X-Shopify-Hmac-Sha256`) and
//! WooCommerce (`X-WC-Webhook-Signature`) both sign the raw request body with HMAC-SHA256 and
//! send the digest base64-encoded.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Whether `header_value` is the base64 HMAC-SHA256 of `raw_body` under `secret`. The
/// comparison is constant-time (`hmac`'s `verify_slice`); a header that is not base64, or an
/// empty secret, never verifies.
pub(crate) fn verify_base64_hmac_sha256(
    secret: &[u8],
    raw_body: &[u8],
    header_value: &str,
) -> bool {
    if secret.is_empty() {
        return false;
    }
    let Ok(expected) = STANDARD.decode(header_value.trim()) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return false;
    };
    mac.update(raw_body);
    mac.verify_slice(&expected).is_ok()
}

/// The base64 HMAC-SHA256 of `raw_body` under `secret`, as the shops send it.
#[cfg(test)]
pub(crate) fn sign_base64_hmac_sha256(secret: &[u8], raw_body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
    mac.update(raw_body);
    STANDARD.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vector_verifies_and_tampering_does_not() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let body = b"what do ya want for nothing?";
        let expected_hex = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
        let bytes: Vec<u8> = (0..expected_hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&expected_hex[i..i + 2], 16).unwrap())
            .collect();
        let header = STANDARD.encode(bytes);
        assert_eq!(sign_base64_hmac_sha256(b"Jefe", body), header);
        assert!(verify_base64_hmac_sha256(b"Jefe", body, &header));
        assert!(!verify_base64_hmac_sha256(b"jefe", body, &header));
        assert!(!verify_base64_hmac_sha256(
            b"Jefe",
            b"what do ya want for nothing!",
            &header
        ));
        assert!(!verify_base64_hmac_sha256(b"Jefe", body, "not base64!"));
        assert!(!verify_base64_hmac_sha256(b"", body, &header));
        assert!(!verify_base64_hmac_sha256(b"Jefe", body, &header[..20]));
    }
}
