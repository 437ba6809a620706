//! Ferry's connectors: one module per kind of system, each built on the engine's connector API
//! ([`ferry_engine::connector`]).
//!
//! A connector module owns its configuration type (a `XxxConfig` struct whose doc comments become
//! the UI help text), its operations and their parameter types, and the translation of the
//! system's failures into [`ConnectorError`](ferry_engine::connector::ConnectorError) variants,
//! which carry the retry decision. Connectors never retry themselves: the engine owns retries and
//! reads them from the error variant. The one wait allowed is a client-side rate limit in front
//! of requests (Shopify's leaky bucket; ADR 0004).
//!
//! The binary registers the connectors explicitly with [`registry`].

pub mod eaccounting;
pub mod exact_online;
pub mod file;
pub mod http;
mod json_api;
pub mod oauth2;
pub mod shopify;
#[cfg(test)]
mod test_support;
mod wall_clock;
mod webhook;
pub mod woocommerce;

use ferry_engine::connector::Registry;

/// Every connector of this crate, registered by kind (`eaccounting`, `exact_online`, `file`, `http`,
/// `shopify`, `woocommerce`).
pub fn registry() -> Registry {
    Registry::default()
        .with(eaccounting::EAccounting)
        .with(exact_online::ExactOnline)
        .with(file::File)
        .with(http::Http)
        .with(shopify::Shopify)
        .with(woocommerce::WooCommerce)
}

/// Request or option parameters, where `null` (absent from the flow) means "all defaults".
///
/// Parse errors become [`ConnectorError::Config`](ferry_engine::connector::ConnectorError::Config)
/// naming the operation, because wrong params are fixed in the flow.
fn parse_params<T: serde::de::DeserializeOwned>(
    kind: &str,
    operation: &str,
    params: &serde_json::Value,
) -> Result<T, ferry_engine::connector::ConnectorError> {
    let params = match params {
        serde_json::Value::Null => serde_json::Value::Object(serde_json::Map::new()),
        other => other.clone(),
    };
    serde_json::from_value(params).map_err(|e| {
        ferry_engine::connector::ConnectorError::Config(format!(
            "invalid params for `{kind}` operation `{operation}`: {e}"
        ))
    })
}

/// Parses a connection config, mapping errors to `Config` naming the connector kind.
fn parse_config<T: serde::de::DeserializeOwned>(
    kind: &str,
    config: &serde_json::Value,
) -> Result<T, ferry_engine::connector::ConnectorError> {
    serde_json::from_value(config.clone()).map_err(|e| {
        ferry_engine::connector::ConnectorError::Config(format!(
            "invalid `{kind}` connection config: {e}"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_knows_file_and_http_with_read_and_write() {
        let registry = registry();
        assert_eq!(
            registry.kinds().collect::<Vec<_>>(),
            [
                "eaccounting",
                "exact_online",
                "file",
                "http",
                "shopify",
                "woocommerce"
            ]
        );
        for kind in ["file", "http"] {
            let spec = registry
                .spec(kind)
                .unwrap_or_else(|| panic!("{kind} registered"));
            assert!(spec.operation("read").is_some(), "{kind} has read");
            assert!(spec.operation("write").is_some(), "{kind} has write");
            assert_eq!(spec.config_schema["type"], "object", "{kind} schema");
        }
    }

    #[test]
    fn null_params_mean_defaults_and_bad_params_are_config_errors() {
        #[derive(serde::Deserialize, Debug, PartialEq)]
        #[serde(deny_unknown_fields)]
        struct P {
            #[serde(default)]
            n: u32,
        }
        let p: P = parse_params("k", "op", &serde_json::Value::Null).unwrap();
        assert_eq!(p, P { n: 0 });
        let err = parse_params::<P>("k", "op", &serde_json::json!({"m": 1})).unwrap_err();
        assert!(
            matches!(&err, ferry_engine::connector::ConnectorError::Config(m) if m.contains("`op`") && m.contains("unknown field")),
            "{err}"
        );
    }
}
