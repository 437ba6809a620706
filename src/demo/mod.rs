//! `ferry demo`: a local mock webshop and ERP, the demo flow run against them twice, and what
//! the activity log says. The README's "start Ferry" command until `ferry serve` exists.
//!
//! Nothing to set up: the mock listens on a free port of 127.0.0.1 inside this process, and the
//! flow's `${FERRY_DEMO_URL}` is resolved to it by the placeholder lookup (the process
//! environment is not changed). The runs go to the store given on the command line, so
//! `ferry runs` shows them afterwards.

mod data;
pub mod mock;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use ferry_engine::run::RunSummary;
use ferry_engine::store::{Outcome, RecordEntry, RecordFilter, RunCounts, Store};
use serde_json::Value;

use crate::cli::{
    ConnectWith, http_client_allowing, print_record_table, print_run_list, print_summary,
    process_env, run_file,
};

/// The demo flow, as shipped with the examples (relative to the repository root).
const DEMO_FLOW: &str = "flows/examples/demo-shop-orders-to-erp.json";
/// The same flow, built in, for a `ferry` binary run away from the repository.
const DEMO_FLOW_TEXT: &str = include_str!("../../flows/examples/demo-shop-orders-to-erp.json");
/// The flow's id.
const DEMO_FLOW_ID: &str = "demo-shop-orders-to-erp";
/// The placeholder the demo flow reads its base URL from.
pub const DEMO_URL_VAR: &str = "FERRY_DEMO_URL";
/// How many orders the merchant edits between the two runs.
const EDITS: usize = 3;

/// Runs the demo; prints what happened and which commands to try next. Exits with 0: the
/// records that fail are meant to.
pub async fn run_demo(store: &Arc<dyn Store>) -> anyhow::Result<ExitCode> {
    let flow = demo_flow()?;
    let earlier = store.list_runs(Some(DEMO_FLOW_ID), 1).await?;
    let mock = mock::start().await?;
    let url = mock.url.clone();
    let env = move |var: &str| {
        if var == DEMO_URL_VAR {
            Some(url.clone())
        } else {
            process_env(var)
        }
    };

    // The mock is on loopback, which the outbound guard refuses: the demo allows its own
    // address, and only that one.
    let http = http_client_allowing(mock.addr.ip())?;
    let with = ConnectWith {
        http: &http,
        env: &env,
        connections: None,
    };

    println!("Ferry demo");
    println!(
        "  A mock webshop (Shopify Admin REST API style) and a mock ERP are listening on {}.",
        mock.url
    );
    println!(
        "  The shop has {} orders from EU customers; two are broken on purpose.",
        data::ORDER_COUNT
    );
    println!("  Flow: {}", flow.display());
    if let Some(last) = earlier.first() {
        println!(
            "\n  This store already has runs of the demo flow (the latest is run {}). Its ledger \
             remembers the sales orders they sent, so they are not created again now. For a fresh \
             start, give another store: `ferry demo --database-url sqlite://ferry-data/demo-2.db`.",
            last.id
        );
    }

    println!("\n1/2  Reading the shop's orders and sending them to the ERP…");
    let first = run_file(&flow, store, "manual", true, with).await?;
    print_summary(&first);
    explain(&first.counts);

    let changes = mock.touch(EDITS);
    println!("\nMeanwhile, in the shop:");
    for change in &changes {
        println!("  {change}");
    }

    println!("\n2/2  Running the flow again: only what changed is sent…");
    let second = run_file(&flow, store, "manual", true, with).await?;
    print_summary(&second);
    explain(&second.counts);

    println!("\nRuns of the demo flow (`ferry runs`):");
    print_run_list(&store.list_runs(Some(DEMO_FLOW_ID), 10).await?);

    let failed = store
        .run_records(
            second.run_id,
            &RecordFilter {
                outcome: Some(Outcome::Failed),
                ..Default::default()
            },
        )
        .await?;
    if !failed.is_empty() {
        println!(
            "\nFailed records of run {} (`ferry runs show {} --outcome failed`):",
            second.run_id, second.run_id
        );
        print_record_table(&failed);
        println!("\nWhy: the demo shop has broken orders on purpose.");
        for record in &failed {
            println!("  {}", why(record));
        }
        println!(
            "Failed records are expected here, so `ferry demo` exits with 0 \
             (`ferry run` exits with 1 when records fail). Fix the data or the flow, and the next \
             run sends them."
        );
    }
    let erp = mock.erp_counts();
    println!(
        "\nThe mock ERP received {} create(s) and {} update(s), and refused {} request(s).",
        erp.creates, erp.updates, erp.refusals
    );
    print_next(&flow, &first, &second, &failed);
    Ok(ExitCode::SUCCESS)
}

/// Starts the demo's mock shop and ERP on a free port of 127.0.0.1.
pub async fn start_mock() -> anyhow::Result<mock::Mock> {
    mock::start().await
}

/// The tenant `ferry serve --demo` creates.
const DEMO_TENANT: &str = "demo";

/// `ferry serve --demo`: the `demo` tenant, its merchant user (`FERRY_DEMO_EMAIL`, default
/// `demo@localhost`; password from `FERRY_DEMO_PASSWORD` or generated and printed once), the
/// demo flow in that tenant, and one run of it queued, so the API and UI show something real.
pub async fn set_up_service(
    rt: &ferry_engine::runtime::Runtime,
    mock: &mock::Mock,
) -> anyhow::Result<()> {
    use ferry_engine::http::auth::{MIN_PASSWORD_LEN, hash_password, new_secret};
    use ferry_engine::store::{NewUser, Role};

    let store = &rt.store;
    if store.get_tenant(DEMO_TENANT).await?.is_none() {
        store.create_tenant(DEMO_TENANT, "Demo shop").await?;
    }
    let email = std::env::var("FERRY_DEMO_EMAIL").unwrap_or_else(|_| "demo@localhost".into());
    if store.user_by_email(&email).await?.is_none() {
        let (password, shown) = match std::env::var("FERRY_DEMO_PASSWORD") {
            Ok(p) if p.chars().count() >= MIN_PASSWORD_LEN => (p, false),
            Ok(_) => {
                anyhow::bail!("FERRY_DEMO_PASSWORD needs at least {MIN_PASSWORD_LEN} characters")
            }
            Err(_) => (new_secret("")[..20].to_string(), true),
        };
        store
            .create_user(&NewUser {
                email: email.clone(),
                password_hash: hash_password(&password),
                role: Role::Merchant,
                tenants: vec![DEMO_TENANT.to_string()],
            })
            .await?;
        if shown {
            println!("Created the demo merchant {email} with password {password} (shown once)");
        } else {
            println!("Created the demo merchant {email} (password from FERRY_DEMO_PASSWORD)");
        }
    }
    match store.get_flow(DEMO_FLOW_ID).await? {
        Some(existing) if existing.tenant != DEMO_TENANT => println!(
            "The demo flow is already stored for tenant `{}`; the `demo` tenant does not get its own.",
            existing.tenant
        ),
        _ => {
            let mut doc: Value = serde_json::from_str(DEMO_FLOW_TEXT)?;
            doc["tenant"] = Value::String(DEMO_TENANT.into());
            let text = serde_json::to_string_pretty(&doc)?;
            let registry = crate::cli::registry();
            rt.import_flow(&text, DEMO_FLOW, Path::new("."), |flow, text| {
                ferry_engine::flow::validate(flow, Some(&registry), Some(text))
                    .iter()
                    .map(|issue| format!("{DEMO_FLOW}:{issue}"))
                    .collect()
            })
            .await?;
            let run_id = rt.trigger(DEMO_FLOW_ID, "manual", &[]).await?;
            println!(
                "Demo: mock shop and ERP on {}; flow `{DEMO_FLOW_ID}` in tenant `{DEMO_TENANT}`, run {run_id} queued.",
                mock.url
            );
        }
    }
    Ok(())
}

/// The demo flow file: the one under the working directory (so the printed commands work as
/// typed), else the one in the source tree this binary was built from, else the built-in copy
/// written to a temporary folder.
fn demo_flow() -> anyhow::Result<PathBuf> {
    let here = Path::new(DEMO_FLOW);
    if here.is_file() {
        return Ok(here.to_path_buf());
    }
    let source_tree = Path::new(env!("CARGO_MANIFEST_DIR")).join(DEMO_FLOW);
    if source_tree.is_file() {
        return Ok(source_tree);
    }
    let dir = std::env::temp_dir().join(format!("ferry-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join("demo-shop-orders-to-erp.json");
    std::fs::write(&path, DEMO_FLOW_TEXT).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// What a run's counts mean, one line each.
fn explain(c: &RunCounts) {
    let lines = [
        (c.created, "sales order(s) created in the ERP"),
        (
            c.updated,
            "sales order(s) updated: the shop order changed since it was sent",
        ),
        (
            c.skipped,
            "skipped: unchanged since they were sent, as the ledger knows",
        ),
        (c.filtered, "pending order(s) left out by the flow's filter"),
        (c.failed, "failed, on purpose (see below)"),
    ];
    for (count, meaning) in lines {
        if count > 0 {
            println!("  → {count} {meaning}");
        }
    }
}

/// The order number and key of a logged record: `#1014 (key 5923180001881)`.
fn order_label(record: &RecordEntry) -> String {
    let name = record
        .input
        .as_deref()
        .and_then(|input| serde_json::from_str::<Value>(input).ok())
        .and_then(|order| order["name"].as_str().map(str::to_string));
    let key = record.source_key.as_deref().unwrap_or("?");
    match name {
        Some(name) => format!("{name} (key {key})"),
        None => format!("key {key}"),
    }
}

/// One line on why a record failed: refused by the ERP, or stopped in a step.
fn why(record: &RecordEntry) -> String {
    let label = order_label(record);
    match (record.response_status, record.step_id.as_deref()) {
        (Some(status), _) => format!(
            "{label}: the ERP refused it with HTTP {status}; its answer is kept with the record."
        ),
        (None, Some(step)) => format!(
            "{label}: step `{step}` could not map it (the error above names the field and \
             why), so it was never sent."
        ),
        (None, None) => format!(
            "{label}: {}",
            record.error.as_deref().unwrap_or("no error recorded")
        ),
    }
}

/// The commands to try next, with this demo's run ids and keys.
fn print_next(flow: &Path, first: &RunSummary, second: &RunSummary, failed: &[RecordEntry]) {
    println!("\nNext:");
    println!("  ferry runs");
    println!("      every run, newest first");
    println!("  ferry runs show {} --json --limit 1", first.run_id);
    println!("      a record as read from the shop, as sent to the ERP, and the ERP's answer");
    if !failed.is_empty() {
        println!("  ferry runs show {} --outcome failed", second.run_id);
        println!("      what failed and why");
    }
    let unmapped = failed
        .iter()
        .find(|r| r.response_status.is_none() && r.step_id.is_some());
    match unmapped.and_then(|r| r.source_key.as_deref()) {
        Some(key) => {
            println!(
                "  ferry runs show {} --key {key} --json | ferry jsonpath '$.input' - | ferry map {} --input -",
                second.run_id,
                flow.display()
            );
            println!(
                "      replay a failed order through the mapping; fix the flow (e.g. add the \
                 country to a value map) and replay again"
            );
        }
        None => {
            println!("  ferry map {} --input ORDERS.json", flow.display());
            println!("      what the mapping makes of your own sample orders");
        }
    }
}
