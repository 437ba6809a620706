//! `ferry demo`: a local mock webshop and ERP, the demo flow run against them twice, and what
//! the activity log says. The README's "start Ferry" command until `ferry serve` exists.

mod mock;

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use ferry_engine::store::{Outcome, RecordFilter, Store};

use crate::cli::{print_summary, run_file};

/// The demo flow, shipped with the examples.
const DEMO_FLOW: &str = "flows/examples/demo-shop-orders-to-erp.json";
/// The placeholder the demo flow reads its base URL from.
const DEMO_URL_VAR: &str = "FERRY_DEMO_URL";

/// Runs the demo; prints what happened and which commands to try next.
pub async fn run_demo(store: &Arc<dyn Store>) -> anyhow::Result<ExitCode> {
    let flow = Path::new(env!("CARGO_MANIFEST_DIR")).join(DEMO_FLOW);
    let flow = if flow.exists() {
        flow
    } else {
        Path::new(DEMO_FLOW).to_path_buf()
    };
    let shop = mock::start().await?;
    let url = shop.url.clone();
    let env = move |var: &str| {
        if var == DEMO_URL_VAR {
            Some(url.clone())
        } else {
            std::env::var(var).ok()
        }
    };
    println!(
        "Mock webshop and ERP listening on {} ({} orders).",
        shop.url,
        mock::ORDER_COUNT
    );
    println!("Flow: {}\n", flow.display());

    println!("First run: every paid order becomes an ERP sales order.");
    let first = run_file(&flow, store, "manual", true, &env).await?;
    print_summary(&first);

    shop.touch(3);
    println!("\nThree orders changed in the shop. Second run: only those are sent, as updates.");
    let second = run_file(&flow, store, "manual", true, &env).await?;
    print_summary(&second);

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
        println!("\nRecords that failed (on purpose: the demo shop has broken orders), and why:");
        for record in failed {
            let answer = record
                .response_body
                .as_deref()
                .map(|b| format!("\n      the ERP answered: {b}"))
                .unwrap_or_default();
            println!(
                "  order {}: {}{answer}",
                record.source_key.as_deref().unwrap_or("?"),
                record.error.as_deref().unwrap_or("no error recorded")
            );
        }
    }
    println!(
        "\nThe ERP received {} create(s) and {} update(s) in all.",
        shop.creates(),
        shop.updates()
    );
    println!("\nNext:");
    println!("  ferry runs                                  all runs");
    println!(
        "  ferry runs show {} --outcome failed          what failed and why",
        second.run_id
    );
    println!(
        "  ferry runs show {} --json                    input, output and ERP answer per record",
        first.run_id
    );
    println!("  ferry map {DEMO_FLOW} --input FILE   try the mapping on your own sample");
    Ok(ExitCode::SUCCESS)
}
