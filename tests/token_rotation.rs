//! A stored Exact Online connection, whose token endpoint (like Exact's) accepts a refresh token
//! once and answers with the next one: the rotated tokens go back into the stored connection,
//! sealed, so the next `ferry run` (a new process) refreshes with them instead of being locked
//! out; and two processes refreshing at once adopt each other's token.

mod support;

use std::collections::HashMap;
use std::path::Path;

use serde_json::json;
use support::vendors;

/// `ferry ARGS` in `dir`, on `dir/ferry.db`; exit code and output.
async fn ferry(dir: &Path, args: &[&str]) -> (i32, String) {
    support::ferry_in(dir, args, &[]).await
}

/// A flow reading the Exact items of `acme`'s stored connection into `out/{id}.ndjson`.
fn write_flow(dir: &Path, id: &str) -> String {
    let flow = json!({
        "version": 1,
        "id": id,
        "name": "Exact items to a file",
        "tenant": "acme",
        "trigger": { "type": "manual" },
        "connections": {
            "erp": { "connector": "exact_online", "stored": "acme-exact", "config": {} },
            "export": { "connector": "file", "config": { "path": format!("out/{id}.ndjson") } }
        },
        "source": { "connection": "erp", "operation": "get_items", "key": "$.ID" },
        "steps": [{ "id": "code", "type": "mapping", "fields": [
            { "target": "code", "value": { "type": "jsonpath", "path": "$.Code", "cardinality": "required" } }
        ] }],
        "target": { "connection": "export", "operation": "write" }
    });
    let file = format!("{id}.json");
    std::fs::write(
        dir.join(&file),
        serde_json::to_string_pretty(&flow).unwrap(),
    )
    .unwrap();
    file
}

#[tokio::test]
async fn rotated_refresh_tokens_are_kept_sealed_in_the_stored_connection() {
    let (exact, url) = vendors::exact(HashMap::from([(
        "logistics/Items".to_string(),
        vec![
            json!({ "ID": "b2000000-0000-4000-8000-000000000001", "Code": "CONF-FRAISE-370" }),
            json!({ "ID": "b2000000-0000-4000-8000-000000000002", "Code": "TABLIER-LIN" }),
        ],
    )]))
    .await;
    // Shorter than the refresh margin: every run has to refresh before its first request.
    exact.lock().unwrap().token_lifetime = 30;
    let dir = tempfile::tempdir().unwrap();
    // No access token: the first run starts from the refresh token alone.
    let mut connection = vendors::exact_connection(&url);
    let config = connection["config"].as_object_mut().unwrap();
    config.remove("access_token");
    config.remove("expires_at");
    support::add_connection(dir.path(), "acme", "acme-exact", &connection).await;
    let one = write_flow(dir.path(), "items-one");
    let two = write_flow(dir.path(), "items-two");

    // Each run is a new process; each refresh invalidates the token the run started from.
    for run in 1..=3 {
        let (code, out) = ferry(dir.path(), &["run", &one]).await;
        assert_eq!(code, 0, "run {run}:\n{out}");
        assert_eq!(exact.lock().unwrap().refreshes, run, "run {run}:\n{out}");
    }
    assert_eq!(
        exact.lock().unwrap().refresh_tokens_seen,
        ["refresh-0", "refresh-1", "refresh-2"],
        "each run refreshed with the token the run before received"
    );
    let lines = std::fs::read_to_string(dir.path().join("out/items-one.ndjson")).unwrap();
    assert!(lines.contains("CONF-FRAISE-370"), "{lines}");

    // Sealed at rest: no token in the database file, and shown as set.
    let db = std::fs::read(dir.path().join("ferry.db")).unwrap();
    let db = String::from_utf8_lossy(&db);
    for token in ["refresh-3", "access-3"] {
        assert!(!db.contains(token), "`{token}` is stored in the clear");
    }
    let (code, out) = ferry(
        dir.path(),
        &["connection", "show", "--tenant", "acme", "acme-exact"],
    )
    .await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("<set>") && !out.contains("refresh-3"), "{out}");

    // Two processes sharing the connection refresh at the same moment: the token endpoint
    // accepts one; the other adopts the token its neighbour saved instead of failing.
    let (run_one, run_two) = (["run", one.as_str()], ["run", two.as_str()]);
    let (a, b) = tokio::join!(ferry(dir.path(), &run_one), ferry(dir.path(), &run_two));
    assert_eq!(a.0, 0, "first process:\n{}", a.1);
    assert_eq!(b.0, 0, "second process:\n{}", b.1);
    let (code, out) = ferry(dir.path(), &["run", &two]).await;
    assert_eq!(code, 0, "after the race:\n{out}");
    // One refresh per process, and at most one refusal: the race's loser, which then
    // refreshed with its neighbour's token.
    let exact = exact.lock().unwrap();
    assert_eq!(exact.refreshes, 6, "{:?}", exact.refresh_tokens_seen);
    assert!(
        (6..=7).contains(&exact.refresh_tokens_seen.len()),
        "{:?}",
        exact.refresh_tokens_seen
    );
}

#[tokio::test]
async fn validate_warns_about_a_rotated_refresh_token_written_in_the_flow_file() {
    let dir = tempfile::tempdir().unwrap();
    let flow = |id: &str, operation: &str, erp: serde_json::Value| {
        let flow = json!({
            "version": 1,
            "id": id,
            "connections": {
                "erp": erp,
                "export": { "connector": "file", "config": { "path": "out.ndjson" } }
            },
            "source": { "connection": "erp", "operation": operation, "key": "$.ID" },
            "target": { "connection": "export", "operation": "write" }
        });
        let file = format!("{id}.json");
        std::fs::write(
            dir.path().join(&file),
            serde_json::to_string_pretty(&flow).unwrap(),
        )
        .unwrap();
        file
    };
    let inline = flow(
        "inline",
        "get_items",
        json!({ "connector": "exact_online", "config": {
            "division": 123456, "client_id": "${EXACT_CLIENT_ID}",
            "client_secret": "${EXACT_CLIENT_SECRET}", "refresh_token": "${EXACT_REFRESH_TOKEN}" } }),
    );
    let overriding = flow(
        "overriding",
        "get_articles",
        json!({ "connector": "eaccounting", "stored": "visma",
            "config": { "refresh_token": "${VISMA_REFRESH_TOKEN}" } }),
    );
    let stored = flow(
        "stored",
        "get_items",
        json!({ "connector": "exact_online", "stored": "acme-exact", "config": {} }),
    );

    // Warnings, not problems: the files are valid and the verdict is ok.
    let (code, out) = ferry(dir.path(), &["validate", &inline, &overriding, &stored]).await;
    assert_eq!(code, 0, "{out}");
    let warnings: Vec<&str> = out.lines().filter(|l| l.contains("warning")).collect();
    assert_eq!(warnings.len(), 2, "{out}");
    assert!(
        warnings[0].starts_with("inline.json:")
            && warnings[0].contains(
                ": warning: connections.erp.config.refresh_token: `exact_online` rotates"
            )
            && warnings[0].contains("\"stored\": \"erp\""),
        "{out}"
    );
    // With its line and column in the file.
    let position: Vec<&str> = warnings[0].splitn(4, ':').collect();
    assert!(position[1].parse::<usize>().unwrap() > 1, "{out}");
    assert!(
        warnings[1].starts_with("overriding.json:")
            && warnings[1].contains("overrides the refresh token of stored connection `visma`"),
        "{out}"
    );
    assert!(out.contains("stored.json: ok"), "{out}");
}
