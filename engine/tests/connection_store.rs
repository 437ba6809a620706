//! Stored connections on both databases (SQLite file and real Postgres, each Postgres test in
//! its own schema): credentials split by the connector's declarations and sealed, public views
//! that show `"<set>"`, tenant isolation, merge-patch updates, wrong keys, copied ciphertexts
//! and key rotation.

use std::sync::Arc;

use async_trait::async_trait;
use ferry_engine::connector::{
    Connector, ConnectorContext, ConnectorError, ConnectorInstance, ConnectorSpec, ReadRequest,
    RecordReader, Registry, WriteAck, WriteRecord,
};
use ferry_engine::credential::{ConnectionError, Connections, MasterKey, NewConnection};
use ferry_engine::store::ConnectionStore;
use serde_json::{Value, json};

#[path = "support/pg_schema.rs"]
mod pg_schema;
#[path = "support/both_databases.rs"]
#[macro_use]
mod both_databases;

const CANARY: &str = "canary-5d1e0b-token";

/// A connector with one credential field and secret headers, parsed strictly like the real ones.
struct Vault;

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct VaultConfig {
    url: String,
    token: String,
    #[serde(default)]
    headers: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    timeout_ms: u64,
}

struct VaultInstance;

#[async_trait]
impl ConnectorInstance for VaultInstance {
    async fn health_check(&self) -> Result<(), ConnectorError> {
        Ok(())
    }
    async fn read(&self, _: &str, _: ReadRequest) -> Result<Box<dyn RecordReader>, ConnectorError> {
        Err(ConnectorError::Config("no reads".into()))
    }
    async fn write(
        &self,
        _: &str,
        _: &Value,
        _: &[WriteRecord],
    ) -> Result<Vec<Result<WriteAck, ConnectorError>>, ConnectorError> {
        Ok(Vec::new())
    }
}

#[async_trait]
impl Connector for Vault {
    fn spec(&self) -> ConnectorSpec {
        ConnectorSpec {
            kind: "vault",
            summary: "test connector",
            config_schema: json!({"type": "object"}),
            credentials: vec!["token", "headers.*"],
            operations: vec![],
        }
    }
    async fn build(
        &self,
        config: &Value,
        _: &ConnectorContext,
    ) -> Result<Arc<dyn ConnectorInstance>, ConnectorError> {
        serde_json::from_value::<VaultConfig>(config.clone())
            .map_err(|e| ConnectorError::Config(format!("invalid `vault` config: {e}")))?;
        Ok(Arc::new(VaultInstance))
    }
}

fn registry() -> Registry {
    Registry::default().with(Vault)
}

fn shop() -> NewConnection {
    NewConnection {
        name: "shop".into(),
        connector: "vault".into(),
        config: json!({"url": "https://shop.example.com", "token": CANARY, "headers": {"X-Key": "header-secret-1"}}),
    }
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

async fn created_sealed_and_shown_as_set(store: Arc<dyn ConnectionStore>) {
    let key = MasterKey::generate();
    let conns = Connections::new(store.clone(), Some(key.clone()), registry());
    let view = conns.create("acme", &shop()).await.unwrap();
    assert_eq!(
        view.config,
        json!({"url": "https://shop.example.com", "token": "<set>", "headers": {"X-Key": "<set>"}})
    );
    assert_eq!(view.credentials, ["headers.X-Key", "token"]);
    assert_eq!(view.key_id, key.id());
    assert_eq!(conns.get("acme", "shop").await.unwrap(), view);
    assert_eq!(conns.list("acme").await.unwrap(), [view]);

    let row = store.get_connection("acme", "shop").await.unwrap().unwrap();
    assert!(!row.config.contains(CANARY) && !row.config.contains("header-secret-1"));
    assert!(
        !contains(&row.credentials, CANARY),
        "ciphertext holds no clear copy"
    );
    assert!(!format!("{row:?}").contains(CANARY));

    let resolved = conns.resolve("acme", "shop").await.unwrap();
    assert_eq!(resolved.config, shop().config);
    assert!(!format!("{resolved:?}").contains(CANARY));
    conns
        .test(
            "acme",
            "shop",
            &ConnectorContext::new(reqwest::Client::new(), "."),
        )
        .await
        .unwrap();

    let err = conns.create("acme", &shop()).await.unwrap_err();
    assert!(matches!(err, ConnectionError::Exists { .. }), "{err}");
}

async fn other_tenants_never_see_a_connection(store: Arc<dyn ConnectionStore>) {
    let conns = Connections::new(store, Some(MasterKey::generate()), registry());
    conns.create("acme", &shop()).await.unwrap();
    for result in [
        conns.get("globex", "shop").await.map(|_| ()),
        conns.resolve("globex", "shop").await.map(|_| ()),
        conns.delete("globex", "shop").await,
        conns
            .update("globex", "shop", None, &json!({"url": "x"}))
            .await
            .map(|_| ()),
    ] {
        let err = result.unwrap_err();
        assert!(
            matches!(&err, ConnectionError::NotFound { tenant, name } if tenant == "globex" && name == "shop"),
            "{err}"
        );
        assert!(err.to_string().contains("tenant `globex`"), "{err}");
    }
    assert!(conns.list("globex").await.unwrap().is_empty());
    assert_eq!(conns.list("acme").await.unwrap().len(), 1);
}

async fn updates_merge_and_keep_credentials(store: Arc<dyn ConnectionStore>) {
    let conns = Connections::new(store, Some(MasterKey::generate()), registry());
    let created = conns.create("acme", &shop()).await.unwrap();
    let view = conns
        .update(
            "acme",
            "shop",
            None,
            &json!({"url": "https://new.example.com", "token": "<set>", "headers": {"X-Other": "second-secret"}}),
        )
        .await
        .unwrap();
    assert_eq!(
        view.credentials,
        ["headers.X-Key", "headers.X-Other", "token"]
    );
    assert_eq!(view.created_at, created.created_at);
    let resolved = conns.resolve("acme", "shop").await.unwrap();
    assert_eq!(
        resolved.config,
        json!({"url": "https://new.example.com", "token": CANARY, "headers": {"X-Key": "header-secret-1", "X-Other": "second-secret"}})
    );
    let view = conns
        .update("acme", "shop", None, &json!({"headers": {"X-Key": null}}))
        .await
        .unwrap();
    assert_eq!(view.credentials, ["headers.X-Other", "token"]);
}

async fn bad_configs_are_refused_without_echoing_credentials(store: Arc<dyn ConnectionStore>) {
    let conns = Connections::new(store, Some(MasterKey::generate()), registry());
    let mut typo = shop();
    typo.config = json!({"url": "u", "token": CANARY, "tokn": CANARY});
    let err = conns.create("acme", &typo).await.unwrap_err();
    assert!(
        matches!(err, ConnectionError::InvalidConfig { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("tokn"), "{err}");
    assert!(!err.to_string().contains(CANARY), "{err}");
    // A value of the wrong type is echoed by the parser; the redactor removes it.
    let mut wrong = shop();
    wrong.config = json!({"url": "u", "token": CANARY, "timeout_ms": CANARY});
    let err = conns.create("acme", &wrong).await.unwrap_err();
    assert!(!err.to_string().contains(CANARY), "{err}");
    assert!(conns.list("acme").await.unwrap().is_empty());

    let mut unknown = shop();
    unknown.connector = "nope".into();
    let err = conns.create("acme", &unknown).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("unknown connector `nope`; known: vault"),
        "{err}"
    );
    let err = conns.create("ac me", &shop()).await.unwrap_err();
    assert!(matches!(err, ConnectionError::InvalidName { .. }), "{err}");
}

async fn wrong_key_and_copied_ciphertext(store: Arc<dyn ConnectionStore>) {
    let key = MasterKey::generate();
    let conns = Connections::new(store.clone(), Some(key.clone()), registry());
    conns.create("acme", &shop()).await.unwrap();

    let other = Connections::new(store.clone(), Some(MasterKey::generate()), registry());
    let err = other.resolve("acme", "shop").await.unwrap_err();
    assert!(matches!(err, ConnectionError::WrongKey { .. }), "{err}");
    assert!(err.to_string().contains(key.id()), "{err}");
    // Listing needs no key.
    let keyless = Connections::new(store.clone(), None, registry());
    assert_eq!(keyless.list("acme").await.unwrap().len(), 1);
    assert!(matches!(
        keyless.resolve("acme", "shop").await.unwrap_err(),
        ConnectionError::NoMasterKey
    ));

    // The ciphertext of acme/shop copied into globex/shop does not open there.
    let mut copy = store.get_connection("acme", "shop").await.unwrap().unwrap();
    copy.tenant_id = "globex".into();
    assert!(store.insert_connection(&copy).await.unwrap());
    let err = conns.resolve("globex", "shop").await.unwrap_err();
    assert!(
        matches!(err, ConnectionError::Undecryptable { .. }),
        "{err}"
    );
    assert!(!err.to_string().contains(CANARY));
}

async fn rotation_reseals_every_tenant_in_one_go(store: Arc<dyn ConnectionStore>) {
    let old = MasterKey::generate();
    let conns = Connections::new(store.clone(), Some(old.clone()), registry());
    conns.create("acme", &shop()).await.unwrap();
    let mut erp = shop();
    erp.name = "erp".into();
    conns.create("acme", &erp).await.unwrap();
    conns.create("globex", &shop()).await.unwrap();

    let new = MasterKey::generate();
    assert_eq!(conns.rotate(&new).await.unwrap(), 3);
    assert!(matches!(
        conns.resolve("acme", "shop").await.unwrap_err(),
        ConnectionError::WrongKey { .. }
    ));
    let rotated = Connections::new(store.clone(), Some(new.clone()), registry());
    for (tenant, name) in [("acme", "shop"), ("acme", "erp"), ("globex", "shop")] {
        assert_eq!(
            rotated.resolve(tenant, name).await.unwrap().config,
            shop().config
        );
        assert_eq!(rotated.get(tenant, name).await.unwrap().key_id, new.id());
    }
    // A second rotation with the old key refuses before writing anything.
    let err = conns.rotate(&MasterKey::generate()).await.unwrap_err();
    assert!(matches!(err, ConnectionError::WrongKey { .. }), "{err}");
    assert_eq!(rotated.get("acme", "shop").await.unwrap().key_id, new.id());

    rotated.delete("acme", "erp").await.unwrap();
    assert!(matches!(
        rotated.get("acme", "erp").await.unwrap_err(),
        ConnectionError::NotFound { .. }
    ));
}

both_databases! {
    dyn ConnectionStore;
    created_connection_is_sealed_and_shown_as_set => created_sealed_and_shown_as_set;
    other_tenants_get_not_found => other_tenants_never_see_a_connection;
    update_is_a_merge_patch_that_keeps_credentials => updates_merge_and_keep_credentials;
    bad_config_is_refused_without_echoing_credentials => bad_configs_are_refused_without_echoing_credentials;
    wrong_key_and_copied_ciphertext_fail_clearly => wrong_key_and_copied_ciphertext;
    key_rotation_reseals_every_tenant => rotation_reseals_every_tenant_in_one_go;
}
