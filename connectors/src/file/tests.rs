//! Tests of the `file` connector against real files in temporary directories.

use std::path::Path;
use std::sync::Arc;

use ferry_engine::connector::{
    Connector, ConnectorContext, ConnectorError, ConnectorInstance, Page, ReadRequest, WriteAction,
    WriteRecord,
};
use serde_json::{Value, json};

use super::{File, FileConfig, FileFormat};

fn cx(dir: &Path) -> ConnectorContext {
    ConnectorContext::new(reqwest::Client::new(), dir.to_path_buf())
}

async fn connect(dir: &Path, config: Value) -> Arc<dyn ConnectorInstance> {
    File.build(&config, &cx(dir)).await.unwrap()
}

/// Every page of a read, in order.
async fn read_pages(
    conn: &dyn ConnectorInstance,
    page_size: usize,
) -> Result<Vec<Page>, ConnectorError> {
    let mut reader = conn
        .read(
            "read",
            ReadRequest {
                params: json!({ "page_size": page_size }),
                cursor: None,
                ..ReadRequest::default()
            },
        )
        .await?;
    let mut pages = Vec::new();
    while let Some(page) = reader.next_page().await? {
        pages.push(page);
    }
    Ok(pages)
}

fn sizes(pages: &[Page]) -> Vec<usize> {
    pages.iter().map(|p| p.records.len()).collect()
}

fn all(pages: Vec<Page>) -> Vec<Value> {
    pages.into_iter().flat_map(|p| p.records).collect()
}

fn rec(key: &str, payload: Value) -> WriteRecord {
    WriteRecord {
        key: key.into(),
        action: WriteAction::Create,
        payload,
        text: None,
    }
}

#[test]
fn example_config_round_trips_and_rejects_unknown_fields() {
    let example = FileConfig::example();
    let value = serde_json::to_value(&example).unwrap();
    assert_eq!(
        value,
        json!({ "path": "orders.ndjson", "format": "ndjson", "csv_delimiter": "," })
    );
    assert_eq!(
        serde_json::from_value::<FileConfig>(value).unwrap(),
        example
    );

    let defaults: FileConfig = serde_json::from_value(json!({ "path": "a.csv" })).unwrap();
    assert_eq!(defaults.format, None);
    assert_eq!(defaults.csv_delimiter, ',');

    let err = serde_json::from_value::<FileConfig>(json!({ "path": "a.csv", "delimiter": ";" }))
        .unwrap_err();
    assert!(
        err.to_string().contains("unknown field `delimiter`"),
        "{err}"
    );
}

#[test]
fn spec_schema_carries_field_docs_for_the_ui() {
    let spec = File.spec();
    assert_eq!(spec.kind, "file");
    let path_help = spec.config_schema["properties"]["path"]["description"]
        .as_str()
        .unwrap();
    assert!(path_help.contains("relative path"), "{path_help}");
    assert_eq!(spec.config_schema["additionalProperties"], false);
    let read = spec.operation("read").unwrap();
    assert_eq!(
        read.params_schema["properties"]["page_size"]["default"],
        500
    );
}

#[test]
fn format_comes_from_the_extension_unless_set() {
    assert_eq!(
        FileFormat::from_extension(Path::new("a/b.JSONL")),
        Some(FileFormat::Ndjson)
    );
    assert_eq!(
        FileFormat::from_extension(Path::new("b.csv")),
        Some(FileFormat::Csv)
    );
    assert_eq!(
        FileFormat::from_extension(Path::new("b.json")),
        Some(FileFormat::Json)
    );
    assert_eq!(FileFormat::from_extension(Path::new("b.txt")), None);
}

#[tokio::test]
async fn unknown_extension_without_format_is_a_config_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = File
        .build(&json!({ "path": "orders.txt" }), &cx(dir.path()))
        .await
        .err()
        .unwrap();
    assert!(
        matches!(&err, ConnectorError::Config(m) if m.contains("set `format`")),
        "{err}"
    );
    let err = File
        .build(
            &json!({ "path": "o.csv", "csv_delimiter": "é" }),
            &cx(dir.path()),
        )
        .await
        .err()
        .unwrap();
    assert!(
        matches!(&err, ConnectorError::Config(m) if m.contains("csv_delimiter")),
        "{err}"
    );
}

#[tokio::test]
async fn reads_ndjson_in_pages_skipping_blank_lines() {
    let dir = tempfile::tempdir().unwrap();
    let lines: Vec<String> = (1..=5)
        .map(|i| json!({ "id": i, "nested": { "n": i } }).to_string())
        .collect();
    std::fs::write(
        dir.path().join("orders.ndjson"),
        format!("{}\n\n{}\n", lines[..2].join("\n"), lines[2..].join("\n")),
    )
    .unwrap();
    let conn = connect(dir.path(), json!({ "path": "orders.ndjson" })).await;
    let pages = read_pages(conn.as_ref(), 2).await.unwrap();
    assert_eq!(sizes(&pages), [2, 2, 1]);
    let ids: Vec<i64> = all(pages)
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [1, 2, 3, 4, 5]);
}

#[tokio::test]
async fn malformed_ndjson_line_is_permanent_and_names_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bad.ndjson"),
        "{\"id\":1}\n{\"id\":2}\n{\"id\": 3,,}\n{\"id\":4}\n",
    )
    .unwrap();
    let conn = connect(dir.path(), json!({ "path": "bad.ndjson" })).await;
    let mut reader = conn
        .read(
            "read",
            ReadRequest {
                params: json!({ "page_size": 10 }),
                cursor: None,
                ..ReadRequest::default()
            },
        )
        .await
        .unwrap();
    // The good records before the bad line come first, then the error.
    let page = reader.next_page().await.unwrap().unwrap();
    assert_eq!(page.records, [json!({"id": 1}), json!({"id": 2})]);
    let err = reader.next_page().await.unwrap_err();
    match &err {
        ConnectorError::Permanent { message, .. } => {
            assert!(message.contains("bad.ndjson"), "{message}");
            assert!(message.contains("line 3"), "{message}");
        }
        other => panic!("expected Permanent, got {other:?}"),
    }
    assert!(!err.is_retryable());
    // The read stays failed instead of pretending the file ended.
    assert!(reader.next_page().await.is_err());
}

#[tokio::test]
async fn reads_csv_rows_as_string_objects_keyed_by_header() {
    let dir = tempfile::tempdir().unwrap();
    let text = "\u{feff}id;name;note\n1;Ada;\"semi; colon\"\n2;Bob;\"two\nlines\"\n3;Cy;\n4;Di;x\n5;Ed;y\n";
    std::fs::write(dir.path().join("people.csv"), text).unwrap();
    let conn = connect(
        dir.path(),
        json!({ "path": "people.csv", "csv_delimiter": ";" }),
    )
    .await;
    let pages = read_pages(conn.as_ref(), 2).await.unwrap();
    assert_eq!(sizes(&pages), [2, 2, 1]);
    let records = all(pages);
    assert_eq!(
        records[0],
        json!({ "id": "1", "name": "Ada", "note": "semi; colon" })
    );
    assert_eq!(records[1]["note"], "two\nlines");
    assert_eq!(records[2]["note"], "");
    assert_eq!(records[4], json!({ "id": "5", "name": "Ed", "note": "y" }));
}

#[tokio::test]
async fn ragged_csv_row_names_the_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("r.csv"), "a,b\n1,2\n3\n").unwrap();
    let conn = connect(dir.path(), json!({ "path": "r.csv" })).await;
    let mut reader = conn
        .read(
            "read",
            ReadRequest {
                params: json!({ "page_size": 1 }),
                cursor: None,
                ..ReadRequest::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        reader.next_page().await.unwrap().unwrap().records,
        [json!({ "a": "1", "b": "2" })]
    );
    let err = reader.next_page().await.unwrap_err();
    assert!(
        matches!(&err, ConnectorError::Permanent { message, .. } if message.contains("line 3")),
        "{err}"
    );
}

#[tokio::test]
async fn reads_json_array_in_pages_and_single_object_as_one_record() {
    let dir = tempfile::tempdir().unwrap();
    // WooCommerce's documented list response: a real array of full order objects.
    let samples = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src/woocommerce/fixtures/orders.json"
    );
    let woo: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(samples).unwrap()).unwrap();
    let mut orders = Vec::new();
    for i in 0..5 {
        let mut order = woo[i % woo.len()].clone();
        order["id"] = json!(1000 + i);
        orders.push(order);
    }
    std::fs::write(
        dir.path().join("orders.json"),
        serde_json::to_string_pretty(&orders).unwrap(),
    )
    .unwrap();
    let conn = connect(dir.path(), json!({ "path": "orders.json" })).await;
    let pages = read_pages(conn.as_ref(), 2).await.unwrap();
    assert_eq!(sizes(&pages), [2, 2, 1]);
    assert_eq!(all(pages), orders);

    std::fs::write(
        dir.path().join("one.json"),
        r#" {"id": 7, "lines": [1, 2]} "#,
    )
    .unwrap();
    let conn = connect(dir.path(), json!({ "path": "one.json" })).await;
    assert_eq!(
        all(read_pages(conn.as_ref(), 10).await.unwrap()),
        [json!({ "id": 7, "lines": [1, 2] })]
    );

    std::fs::write(dir.path().join("none.json"), "[ ]").unwrap();
    let conn = connect(dir.path(), json!({ "path": "none.json" })).await;
    assert!(read_pages(conn.as_ref(), 10).await.unwrap().is_empty());
}

#[tokio::test]
async fn truncated_json_array_is_permanent_after_the_good_elements() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("cut.json"),
        "[{\"id\":1},\n{\"id\":2},\n{\"id\":",
    )
    .unwrap();
    let conn = connect(dir.path(), json!({ "path": "cut.json" })).await;
    let mut reader = conn
        .read(
            "read",
            ReadRequest {
                params: json!({ "page_size": 5 }),
                cursor: None,
                ..ReadRequest::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(reader.next_page().await.unwrap().unwrap().records.len(), 2);
    let err = reader.next_page().await.unwrap_err();
    assert!(
        matches!(&err, ConnectorError::Permanent { message, .. } if message.contains("cut.json") && message.contains("line 3")),
        "{err}"
    );
}

#[tokio::test]
async fn missing_source_file_is_not_connected() {
    let dir = tempfile::tempdir().unwrap();
    let conn = connect(dir.path(), json!({ "path": "later.ndjson" })).await;
    let err = read_pages(conn.as_ref(), 10).await.unwrap_err();
    assert!(
        matches!(&err, ConnectorError::NotConnected(m) if m.contains("later.ndjson")),
        "{err}"
    );
    assert!(err.is_retryable());
}

#[tokio::test]
async fn zero_page_size_and_unknown_params_are_config_errors() {
    let dir = tempfile::tempdir().unwrap();
    let conn = connect(dir.path(), json!({ "path": "a.ndjson" })).await;
    let err = conn
        .read(
            "read",
            ReadRequest {
                params: json!({ "page_size": 0 }),
                cursor: None,
                ..ReadRequest::default()
            },
        )
        .await
        .err()
        .unwrap();
    assert!(matches!(err, ConnectorError::Config(_)));
    let err = conn
        .read(
            "read",
            ReadRequest {
                params: json!({ "pages": 2 }),
                cursor: None,
                ..ReadRequest::default()
            },
        )
        .await
        .err()
        .unwrap();
    assert!(matches!(err, ConnectorError::Config(_)));
    let err = conn
        .read("get_orders", ReadRequest::default())
        .await
        .err()
        .unwrap();
    assert!(
        matches!(&err, ConnectorError::Config(m) if m.contains("get_orders")),
        "{err}"
    );
}

#[tokio::test]
async fn ndjson_write_appends_lines_and_acks_with_the_key() {
    let dir = tempfile::tempdir().unwrap();
    // An existing file without a final newline must not glue the next record onto its line.
    std::fs::write(dir.path().join("out.ndjson"), "{\"id\":0}").unwrap();
    let conn = connect(dir.path(), json!({ "path": "out.ndjson" })).await;
    let acks = conn
        .write(
            "write",
            &Value::Null,
            &[rec("1", json!({ "id": 1 })), rec("2", json!({ "id": 2 }))],
        )
        .await
        .unwrap();
    let acks: Vec<_> = acks.into_iter().map(Result::unwrap).collect();
    assert_eq!(acks[0].target_id.as_deref(), Some("1"));
    assert_eq!(acks[1].target_id.as_deref(), Some("2"));
    assert_eq!(acks[0].status, None);
    conn.write(
        "write",
        &json!({}),
        &[rec("3", json!({ "id": 3, "tags": ["a"] }))],
    )
    .await
    .unwrap();

    let text = std::fs::read_to_string(dir.path().join("out.ndjson")).unwrap();
    assert_eq!(
        text,
        "{\"id\":0}\n{\"id\":1}\n{\"id\":2}\n{\"id\":3,\"tags\":[\"a\"]}\n"
    );
    let back = all(read_pages(conn.as_ref(), 2).await.unwrap());
    assert_eq!(back.len(), 4);
    assert_eq!(back[3], json!({ "id": 3, "tags": ["a"] }));
}

#[tokio::test]
async fn json_write_keeps_a_valid_array_across_calls() {
    let dir = tempfile::tempdir().unwrap();
    let conn = connect(dir.path(), json!({ "path": "out.json" })).await;
    conn.write("write", &Value::Null, &[rec("a", json!({ "id": "a" }))])
        .await
        .unwrap();
    let after_one: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("out.json")).unwrap())
            .unwrap();
    assert_eq!(after_one, json!([{ "id": "a" }]));
    conn.write(
        "write",
        &Value::Null,
        &[rec("b", json!({ "id": "b" })), rec("c", json!([1, 2]))],
    )
    .await
    .unwrap();

    let text = std::fs::read_to_string(dir.path().join("out.json")).unwrap();
    assert_eq!(text, "[\n{\"id\":\"a\"},\n{\"id\":\"b\"},\n[1,2]\n]\n");
    // A second connection (a later run) appends to the same array.
    let later = connect(dir.path(), json!({ "path": "out.json" })).await;
    later
        .write("write", &Value::Null, &[rec("d", json!({ "id": "d" }))])
        .await
        .unwrap();
    let back = all(read_pages(later.as_ref(), 3).await.unwrap());
    assert_eq!(
        back,
        [
            json!({ "id": "a" }),
            json!({ "id": "b" }),
            json!([1, 2]),
            json!({ "id": "d" })
        ]
    );
}

#[tokio::test]
async fn json_write_appends_to_hand_written_arrays_and_refuses_objects() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("empty.json"), "  [ \n ]  \n\n").unwrap();
    std::fs::write(dir.path().join("full.json"), "[{\"id\": 1}]").unwrap();
    std::fs::write(dir.path().join("object.json"), "{\"id\": 1}").unwrap();
    for (name, expected) in [
        ("empty.json", json!([{ "id": 9 }])),
        ("full.json", json!([{ "id": 1 }, { "id": 9 }])),
    ] {
        let conn = connect(dir.path(), json!({ "path": name })).await;
        conn.write("write", &Value::Null, &[rec("9", json!({ "id": 9 }))])
            .await
            .unwrap();
        let text = std::fs::read_to_string(dir.path().join(name)).unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(&text).unwrap(),
            expected,
            "{name}: {text}"
        );
    }
    let conn = connect(dir.path(), json!({ "path": "object.json" })).await;
    let err = conn
        .write("write", &Value::Null, &[rec("9", json!({ "id": 9 }))])
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ConnectorError::Permanent { message, .. } if message.contains("not a JSON array")),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("object.json")).unwrap(),
        "{\"id\": 1}"
    );
}

#[tokio::test]
async fn csv_write_uses_first_record_keys_as_header_and_json_text_for_nested_values() {
    let dir = tempfile::tempdir().unwrap();
    let conn = connect(dir.path(), json!({ "path": "out.csv" })).await;
    let results = conn
        .write(
            "write",
            &Value::Null,
            &[
                rec("1", json!({ "id": 1, "name": "Ada, Countess", "address": { "city": "London" }, "vip": true })),
                rec("2", json!({ "id": 2, "name": "Bob \"B\"", "vip": null })),
                rec("3", json!({ "id": 3, "surprise": "x" })),
                rec("4", json!("not an object")),
            ],
        )
        .await
        .unwrap();
    assert!(results[0].is_ok() && results[1].is_ok());
    assert!(
        matches!(&results[2], Err(ConnectorError::Permanent { message, .. }) if message.contains("surprise"))
    );
    assert!(
        matches!(&results[3], Err(ConnectorError::Permanent { message, .. }) if message.contains("not a JSON object"))
    );

    let text = std::fs::read_to_string(dir.path().join("out.csv")).unwrap();
    // The header follows the first record's key order (insertion order only when serde_json's
    // `preserve_order` is on, so compare with what the map yields).
    let first =
        json!({ "id": 1, "name": "Ada, Countess", "address": { "city": "London" }, "vip": true });
    let header: Vec<&str> = first
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(text.lines().next(), Some(header.join(",").as_str()));
    assert_eq!(text.lines().count(), 3, "{text}");
    for cell in [
        "\"Ada, Countess\"",
        "\"{\"\"city\"\":\"\"London\"\"}\"",
        "\"Bob \"\"B\"\"\"",
    ] {
        assert!(text.contains(cell), "{cell} in {text}");
    }
    let back = all(read_pages(conn.as_ref(), 10).await.unwrap());
    assert_eq!(
        back[0],
        json!({ "id": "1", "name": "Ada, Countess", "address": "{\"city\":\"London\"}", "vip": "true" })
    );
    assert_eq!(
        back[1],
        json!({ "id": "2", "name": "Bob \"B\"", "address": "", "vip": "" })
    );
}

#[tokio::test]
async fn csv_write_to_existing_file_keeps_its_header_and_column_order() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("out.csv"), "sku;qty\nA;1\n").unwrap();
    let conn = connect(
        dir.path(),
        json!({ "path": "out.csv", "csv_delimiter": ";" }),
    )
    .await;
    conn.write(
        "write",
        &Value::Null,
        &[rec("B", json!({ "qty": 2, "sku": "B" }))],
    )
    .await
    .unwrap();
    conn.write("write", &Value::Null, &[rec("C", json!({ "sku": "C" }))])
        .await
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(dir.path().join("out.csv")).unwrap(),
        "sku;qty\nA;1\nB;2\nC;\n"
    );
}

#[tokio::test]
async fn concurrent_writes_never_interleave() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["c.ndjson", "c.json", "c.csv"] {
        let conn = connect(dir.path(), json!({ "path": name })).await;
        let mut tasks = Vec::new();
        for t in 0..16 {
            let conn = conn.clone();
            tasks.push(tokio::spawn(async move {
                let batch: Vec<_> = (0..5)
                    .map(|i| {
                        rec(
                            &format!("{t}-{i}"),
                            json!({ "t": t, "i": i, "pad": "x".repeat(200) }),
                        )
                    })
                    .collect();
                conn.write("write", &Value::Null, &batch).await.unwrap()
            }));
        }
        for task in tasks {
            assert!(task.await.unwrap().iter().all(Result::is_ok));
        }
        let mut back = all(read_pages(conn.as_ref(), 7).await.unwrap());
        assert_eq!(back.len(), 80, "{name}");
        back.sort_by_key(|r| (r["t"].to_string(), r["i"].to_string()));
        back.dedup();
        assert_eq!(back.len(), 80, "{name}: every record exactly once");
    }
}

#[tokio::test]
async fn relative_paths_resolve_against_base_dir() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("data")).unwrap();
    std::fs::write(dir.path().join("data/in.ndjson"), "{\"id\":1}\n").unwrap();
    let conn = connect(dir.path(), json!({ "path": "data/in.ndjson" })).await;
    assert_eq!(
        all(read_pages(conn.as_ref(), 10).await.unwrap()),
        [json!({ "id": 1 })]
    );
}

#[tokio::test]
async fn health_check_needs_a_readable_file_or_a_writable_directory() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("in.csv"), "a\n1\n").unwrap();
    connect(dir.path(), json!({ "path": "in.csv" }))
        .await
        .health_check()
        .await
        .unwrap();
    // A target that does not exist yet is fine when its directory can take it; no probe is left.
    connect(dir.path(), json!({ "path": "new.ndjson" }))
        .await
        .health_check()
        .await
        .unwrap();
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);

    let err = connect(dir.path(), json!({ "path": "nowhere/new.ndjson" }))
        .await
        .health_check()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ConnectorError::NotConnected(m) if m.contains("nowhere")),
        "{err}"
    );
    std::fs::create_dir(dir.path().join("sub.json")).unwrap();
    let err = connect(dir.path(), json!({ "path": "sub.json" }))
        .await
        .health_check()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ConnectorError::Config(m) if m.contains("not a regular file")),
        "{err}"
    );
}
