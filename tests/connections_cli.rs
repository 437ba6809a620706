//! `ferry connection …`, `ferry key rotate` and runs that use stored connections, end to end on
//! a SQLite file: a flow reaches only its own tenant's connections, an unknown one is a clear
//! error, credentials survive a key rotation, and the outbound guard refuses the mock on
//! 127.0.0.1 unless the operator allows it.

mod support;

use std::path::Path;

use serde_json::json;

/// Runs `ferry ARGS` with `db` and the test allow list; returns exit code and output.
fn ferry(db: &str, args: &[&str]) -> (i32, String) {
    support::ferry(db, args)
}

fn flow(dir: &Path, id: &str, tenant: Option<&str>, stored: &str) -> String {
    let mut flow = json!({
        "version": 1,
        "id": id,
        "connections": {
            "shop": {"connector": "http", "stored": stored},
            "erp": {"connector": "http", "stored": stored, "config": {"headers": {"X-Flow": id}}}
        },
        "source": {
            "connection": "shop",
            "operation": "read",
            "params": {"path": "/orders", "records_path": "orders"},
            "key": "$.id"
        },
        "steps": [{
            "id": "to_erp",
            "type": "mapping",
            "fields": [
                {"target": "external_id", "value": {"type": "jsonpath", "path": "$.id"}, "transform": "string(value)"},
                {"target": "number", "value": {"type": "jsonpath", "path": "$.name"}}
            ]
        }],
        "target": {
            "connection": "erp",
            "operation": "write",
            "params": {"path": "/sink", "method": "POST", "id_path": "id"}
        }
    });
    if let Some(tenant) = tenant {
        flow["tenant"] = json!(tenant);
    }
    let path = dir.join(format!("{id}.json"));
    std::fs::write(&path, serde_json::to_string_pretty(&flow).unwrap()).unwrap();
    path.display().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn flows_use_their_tenants_stored_connections_across_a_key_rotation() {
    let (mock, base) = support::start(3).await;
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("data/ferry.db").display());

    let (code, out) = ferry(
        &db,
        &[
            "connection",
            "add",
            "--tenant",
            "acme",
            "shop",
            "--connector",
            "http",
            "--set",
            &format!("base_url={base}"),
            "--set",
            "auth.type=bearer",
            "--set",
            "auth.token=tok-acme-123456",
        ],
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("Created the master key"), "{out}");
    let key_file = dir.path().join("data/master.key");
    assert!(key_file.exists());

    // Tenant acme's flow runs with acme's connection.
    let acme = flow(dir.path(), "acme-orders", Some("acme"), "shop");
    let (code, out) = ferry(&db, &["run", "--quiet", &acme]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("created 3"), "{out}");
    assert_eq!(mock.effects().len(), 3);

    // A flow of another tenant (or of none: `default`) cannot reach it.
    for (tenant, file) in [
        (
            "globex",
            flow(dir.path(), "globex-orders", Some("globex"), "shop"),
        ),
        ("default", flow(dir.path(), "default-orders", None, "shop")),
    ] {
        let (code, out) = ferry(&db, &["run", "--quiet", &file]);
        assert_eq!(code, 2, "{out}");
        assert!(
            out.contains(&format!(
                "tenant `{tenant}` has no stored connection `shop`"
            )),
            "{out}"
        );
    }

    // Rotation: every credential re-encrypted, the default key file replaced, runs still work.
    let new_key = dir.path().join("new.key");
    let (code, out) = ferry(
        &db,
        &["key", "rotate", "--new-key-file", new_key.to_str().unwrap()],
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("Re-encrypted 1 connection(s)"), "{out}");
    assert_eq!(
        std::fs::read_to_string(&key_file).unwrap().trim(),
        std::fs::read_to_string(&new_key).unwrap().trim()
    );
    let (code, out) = ferry(&db, &["run", "--quiet", &acme]);
    assert_eq!(code, 0, "{out}");

    // The old key no longer opens the credentials: a clear error, not garbage.
    let old_key = dir.path().join("data/master.key.old");
    let (code, out) = support::ferry_command()
        .args(["run", "--quiet", &acme])
        .env("FERRY_DATABASE_URL", &db)
        .env("FERRY_MASTER_KEY_FILE", &old_key)
        .output()
        .map(|o| {
            (
                o.status.code().unwrap_or(-1),
                String::from_utf8_lossy(&o.stderr).to_string(),
            )
        })
        .unwrap();
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("was encrypted with master key"), "{out}");

    // Update keeps the token; show never prints it.
    let (code, out) = ferry(
        &db,
        &[
            "connection",
            "update",
            "--tenant",
            "acme",
            "shop",
            "--set",
            "timeout_ms=5000",
        ],
    );
    assert_eq!(code, 0, "{out}");
    let (_, show) = ferry(&db, &["connection", "show", "--tenant", "acme", "shop"]);
    assert!(
        show.contains("\"token\": \"<set>\"") && show.contains("5000"),
        "{show}"
    );
    assert!(!show.contains("tok-acme-123456"), "{show}");
    let (code, out) = ferry(&db, &["run", "--quiet", &acme]);
    assert_eq!(code, 0, "{out}");

    let (code, out) = ferry(&db, &["connection", "remove", "--tenant", "acme", "shop"]);
    assert_eq!(code, 0, "{out}");
    let (_, list) = ferry(&db, &["connection", "list", "--tenant", "acme"]);
    assert!(list.contains("no stored connections"), "{list}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_guard_refuses_the_loopback_mock_unless_allowed() {
    let (mock, base) = support::start(2).await;
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("ferry.db").display());
    let file = support::write_flow(dir.path(), "guarded", &base, json!({"type": "manual"}))
        .display()
        .to_string();

    let out = support::ferry_command()
        .env_remove("FERRY_ALLOW_NET")
        .args(["run", "--quiet", &file])
        .env("FERRY_DATABASE_URL", &db)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_ne!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("refused to connect to 127.0.0.1"), "{text}");
    assert!(text.contains("loopback"), "{text}");
    assert!(mock.effects().is_empty());

    let (code, out) = support::ferry(&db, &["run", "--quiet", &file]);
    assert_eq!(code, 0, "with FERRY_ALLOW_NET=127.0.0.1/32: {out}");
    assert_eq!(mock.effects().len(), 2);
}
