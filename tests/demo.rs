//! `ferry demo` end to end: the mock shop and ERP, two runs, and what the activity log shows.

mod support;

use std::process::Command;

fn ferry(db: &str, args: &[&str]) -> String {
    // Without FERRY_ALLOW_NET: the demo must allow its own mock address by itself.
    let out = Command::new(support::ferry_bin())
        .env_remove("FERRY_ALLOW_NET")
        .args(args)
        .env("FERRY_DATABASE_URL", db)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ferry {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[test]
fn demo_creates_then_updates_only_changed_orders_and_explains_failures() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("ferry.db").display());
    let out = ferry(&db, &["demo"]);
    assert!(
        out.contains("read 40 · created 30 · updated 0 · skipped 0 · filtered 8 · failed 2"),
        "{out}"
    );
    assert!(
        out.contains("read 40 · created 0 · updated 3 · skipped 27 · filtered 8 · failed 2"),
        "{out}"
    );
    assert!(
        out.contains(
            "The mock ERP received 30 create(s) and 3 update(s), and refused 2 request(s)."
        ),
        "{out}"
    );
    assert!(
        out.contains("#1014 (key 5923180001881): the ERP refused it with HTTP 422"),
        "{out}"
    );
    assert!(
        out.contains("missing_email"),
        "the ERP's answer is shown: {out}"
    );
    assert!(out.contains("step `to_sales_order`: field `customer.country`: value map `erp_country` has no entry for \"XX\""), "{out}");
    assert!(out.contains("#1027 (key 5923180003662)"), "{out}");

    let runs = ferry(&db, &["runs"]);
    assert_eq!(
        runs.lines()
            .filter(|l| l.contains("demo-shop-orders-to-erp"))
            .count(),
        2,
        "{runs}"
    );
    let json = ferry(&db, &["runs", "show", "1", "--json", "--limit", "1"]);
    let record: serde_json::Value = serde_json::from_str(json.lines().next().unwrap()).unwrap();
    assert_eq!(record["input"]["name"], "#1001");
    assert_eq!(record["outcome"], "created");
    assert_eq!(record["output"]["customer"]["country"], "FRA");
    assert_eq!(record["output"]["vat_rate"], 20);
    assert_eq!(record["response"]["status"], 201);
    assert!(
        record["response"]["target_id"]
            .as_str()
            .unwrap()
            .starts_with("SO-")
    );
}
