//! The stock templates end to end: `ferry template enable … --out flow.json`, then `ferry run
//! flow.json` (the real binary and connector code) against local mocks of Shopify and Exact
//! Online, comparing what the mock target received with each template's expected output.
//! Also: a second run sends nothing new, a changed record is updated (not duplicated), and an
//! order with an unmapped VAT country fails alone naming the value map to fix.
//!
//! `FERRY_BLESS_TEMPLATES=1` rewrites the expected outputs from what the mocks received (then
//! review the diff).

mod support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use support::vendors::{self, Shop};

fn templates_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("flows/templates")
}

fn template_json(id: &str, file: &str) -> Value {
    let path = templates_dir().join(id).join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// Compares what a target received with the template's expected output.
fn assert_expected(id: &str, received: &[Value]) {
    let path = templates_dir().join(id).join("expected-output.json");
    if std::env::var_os("FERRY_BLESS_TEMPLATES").is_some() {
        let text = serde_json::to_string_pretty(received).unwrap();
        std::fs::write(&path, text + "\n").unwrap();
    }
    let expected = template_json(id, "expected-output.json");
    assert_eq!(
        Value::Array(received.to_vec()),
        expected,
        "what the target received differs from {}",
        path.display()
    );
}

/// Runs `ferry ARGS` in `dir` with a SQLite store there.
async fn ferry(dir: &Path, args: &[&str]) -> (i32, String) {
    let templates = templates_dir().display().to_string();
    support::ferry_in(dir, args, &[("FERRY_TEMPLATES", templates)]).await
}

/// `ferry run FLOW`, with the failed records appended to the output.
async fn run(dir: &Path, flow: &str) -> (i32, String) {
    let (code, mut out) = ferry(dir, &["run", flow]).await;
    if out.contains("failed records:") {
        let run = out.split_whitespace().nth(1).unwrap_or("1").to_string();
        let (_, failed) = ferry(dir, &["runs", "show", &run, "--outcome", "failed"]).await;
        out += &failed;
    }
    (code, out)
}

/// [`run`] that must succeed and print `expect` (a summary such as `"created 2"`); returns the output.
async fn run_ok(dir: &Path, flow: &str, expect: &str) -> String {
    let (code, out) = run(dir, flow).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(expect), "expected `{expect}` in:\n{out}");
    out
}

/// `ferry template enable ID --tenant acme --connection SLOT=@file … --set … --out flow.json`.
async fn enable(dir: &Path, id: &str, slots: &[(&str, Value)], sets: &[&str]) -> String {
    let mut args = vec![
        "template".to_string(),
        "enable".into(),
        id.into(),
        "--tenant".into(),
        "acme".into(),
        "--out".into(),
        "flow.json".into(),
    ];
    for (slot, connection) in slots {
        let file = dir.join(format!("{slot}.json"));
        std::fs::write(&file, connection.to_string()).unwrap();
        args.push("--connection".into());
        args.push(format!("{slot}=@{}", file.display()));
    }
    for set in sets {
        args.push("--set".into());
        args.push(set.to_string());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, out) = ferry(dir, &args).await;
    assert_eq!(code, 0, "enable failed:\n{out}");
    let flow: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("flow.json")).unwrap()).unwrap();
    assert_eq!(flow["id"], format!("acme-{id}"));
    assert_eq!(flow["tenant"], "acme");
    dir.join("flow.json").display().to_string()
}

fn rows(entity: &str, list: Value) -> (String, Vec<Value>) {
    (entity.to_string(), list.as_array().unwrap().clone())
}

// ---------------------------------------------------------------------------------------------

#[test]
fn every_template_loads_and_validates() {
    let templates =
        ferry_engine::template::load_all(&templates_dir(), Some(&ferry_connectors::registry()))
            .unwrap_or_else(|e| panic!("{e}"));
    let ids: Vec<&str> = templates.iter().map(|t| t.meta.id.as_str()).collect();
    for id in [
        "shopify-orders-to-exact-online",
        "shopify-customers-to-exact-online",
        "exact-online-products-to-shopify",
        "exact-online-stock-to-shopify",
        "exact-online-shipments-to-shopify",
        "woocommerce-customers-to-eaccounting",
        "eaccounting-products-to-woocommerce",
        "eaccounting-stock-to-woocommerce",
        "woocommerce-orders-to-eaccounting",
        "exact-online-stock-to-woocommerce",
        "eaccounting-stock-to-shopify",
        "exact-online-products-to-woocommerce",
        "eaccounting-products-to-shopify",
        "shopify-orders-to-eaccounting",
        "woocommerce-orders-to-exact-online",
        "shopify-customers-to-eaccounting",
        "woocommerce-customers-to-exact-online",
        "exact-online-shipments-to-woocommerce",
        "shopify-orders-to-exact-online-invoices",
        "woocommerce-orders-to-exact-online-invoices",
    ] {
        assert!(ids.contains(&id), "{id} missing from {ids:?}");
    }
    for t in &templates {
        // Every sample input is a list of source records, every expected output a list.
        let sample = std::fs::read_to_string(t.sample_input_path()).unwrap();
        assert!(
            serde_json::from_str::<Vec<Value>>(&sample).unwrap().len() > 1,
            "{}",
            t.meta.id
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn template_list_show_and_enable_into_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out) = ferry(dir.path(), &["template", "list"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("shopify-orders-to-exact-online")
            && out.contains("orders")
            && out.contains("exact_online, shopify"),
        "{out}"
    );
    let (code, out) = ferry(
        dir.path(),
        &["template", "show", "exact-online-stock-to-shopify"],
    )
    .await;
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("stock_formula (string) = \"current_minus_reserved\""),
        "{out}"
    );
    // Into the store: stored connections by name; enabling again updates the same flow.
    for (name, connection) in [
        (
            "exact-main",
            vendors::exact_connection("https://start.exactonline.nl"),
        ),
        (
            "shop-fr",
            vendors::shopify_connection("https://shop-fr.myshopify.com"),
        ),
    ] {
        support::add_connection(dir.path(), "acme", name, &connection).await;
    }
    for formula in ["current", "projected"] {
        let (code, out) = ferry(
            dir.path(),
            &[
                "template",
                "enable",
                "exact-online-stock-to-shopify",
                "--tenant",
                "acme",
                "--connection",
                "erp=exact-main",
                "--connection",
                "shop=shop-fr",
                "--set",
                "location_id=905684977",
                "--set",
                &format!("stock_formula={formula}"),
            ],
        )
        .await;
        assert_eq!(code, 0, "{out}");
        assert!(
            out.contains("enabled acme-exact-online-stock-to-shopify"),
            "{out}"
        );
    }
    let (code, out) = ferry(dir.path(), &["flows", "list"]).await;
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        out.matches("acme-exact-online-stock-to-shopify").count(),
        1,
        "{out}"
    );
    // A stored connection is named, not copied: its settings and secrets stay in the store.
    let (code, out) = ferry(
        dir.path(),
        &[
            "template",
            "enable",
            "exact-online-stock-to-shopify",
            "--tenant",
            "acme",
            "--connection",
            "erp=exact-main",
            "--connection",
            "shop=shop-fr",
            "--set",
            "location_id=905684977",
            "--out",
            "stock.json",
        ],
    )
    .await;
    assert_eq!(code, 0, "{out}");
    let flow: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("stock.json")).unwrap())
            .unwrap();
    assert_eq!(
        flow["connections"]["shop"],
        json!({ "connector": "shopify", "stored": "shop-fr", "config": {} })
    );
    assert_eq!(flow["settings"]["location_id"], 905684977);
    assert_eq!(flow["settings"]["stock_formula"], "current_minus_reserved");
    // Wrong bindings and settings are refused, each named.
    let (code, out) = ferry(
        dir.path(),
        &[
            "template",
            "enable",
            "exact-online-stock-to-shopify",
            "--tenant",
            "acme",
            "--connection",
            "erp=exact-main",
            "--set",
            "stock_formula=magic",
            "--out",
            "x.json",
        ],
    )
    .await;
    assert_ne!(code, 0);
    assert!(
        out.contains("connection slot `shop` is not bound; give a `shopify` connection"),
        "{out}"
    );
    assert!(
        out.contains("setting `stock_formula`: \"magic\" is not allowed"),
        "{out}"
    );
}

// ---------------------------------------------------------------------------------------------
// Orders

fn exact_items() -> (String, Vec<Value>) {
    rows(
        "logistics/Items",
        json!([
            { "ID": "b2000000-0000-4000-8000-000000000001", "Code": "CONF-FRAISE-370" },
            { "ID": "b2000000-0000-4000-8000-000000000002", "Code": "TABLIER-LIN" },
            { "ID": "b2000000-0000-4000-8000-0000000000f1", "Code": "SHIPPING" },
            { "ID": "b2000000-0000-4000-8000-0000000000f2", "Code": "DISCOUNT" },
        ]),
    )
}

/// The Exact mock with the samples' items, where Épicerie Leroy is already a customer under
/// another email (found by SIRET).
async fn exact_knowing_leroy() -> (vendors::SharedExact, String) {
    vendors::exact(HashMap::from([
        exact_items(),
        rows("crm/Accounts", json!([{ "ID": "a1000000-0000-4000-8000-000000000005", "Code": format!("{:>18}", "1005"), "Name": "EPICERIE LEROY", "Email": "compta@epicerie-leroy.fr", "ChamberOfCommerce": "81234567800012" }])),
    ]))
    .await
}

/// The first run of an orders template on its sample: 8 read, 6 created, the pending order
/// filtered, and the Luxembourg order (`lu_key`) failing alone, naming the VAT map to fix.
async fn run_orders_sample(dir: &Path, flow: &str, lu_key: &str) {
    let (code, out) = run(dir, flow).await;
    assert_eq!(code, 1, "the Luxembourg order fails:\n{out}");
    assert!(out.contains("read 8 · created 6"), "{out}");
    assert!(out.contains("filtered 1 · failed 1"), "{out}");
    assert!(out.contains(lu_key), "{out}");
    assert!(
        out.contains("value map `vat_codes` has no entry for \"LU:17\""),
        "{out}"
    );
}

/// A second run of an orders template creates nothing (every order is in the ledger); the
/// Luxembourg order still fails until the map is fixed.
async fn rerun_orders_sample(dir: &Path, flow: &str) {
    let (code, out) = run(dir, flow).await;
    assert!(out.contains("created 0"), "{out}");
    assert_eq!(
        code, 1,
        "the Luxembourg order still fails until the map is fixed:\n{out}"
    );
}

/// The accounts the orders sample creates in Exact: Leroy was found; the others are new:
/// persons, and a company with its contact.
fn assert_new_exact_customers(exact: &vendors::Exact) {
    let accounts = exact.posted_to("crm/Accounts");
    let names: Vec<&str> = accounts
        .iter()
        .map(|a| a["Name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "Chloé Durand",
            "Brasserie Wout",
            "Lotte Janssens",
            "Jonas Müller",
            "Anna Meier"
        ]
    );
    assert_eq!(accounts[0]["Code"], "WEB000530");
    let contacts = exact.posted_to("crm/Contacts");
    assert_eq!(contacts.len(), 1, "{contacts:?}");
    assert_eq!(contacts[0]["LastName"], "Peeters");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_template_creates_sales_orders_once_and_fails_an_unmapped_vat_country_alone() {
    const ID: &str = "shopify-orders-to-exact-online";
    let orders: Vec<Value> =
        serde_json::from_value(template_json(ID, "sample-input.json")).unwrap();
    let (shop, shop_url) = vendors::shopify(Shop {
        orders,
        ..Shop::default()
    })
    .await;
    let (exact, exact_url) = exact_knowing_leroy().await;
    let dir = tempfile::tempdir().unwrap();
    let flow = enable(
        dir.path(),
        ID,
        &[
            ("shop", vendors::shopify_connection(&shop_url)),
            ("erp", vendors::exact_connection(&exact_url)),
        ],
        &["match_by_siret=true"],
    )
    .await;

    run_orders_sample(dir.path(), &flow, "#1007").await;
    let sales_orders = exact.lock().unwrap().posted_to("salesorder/SalesOrders");
    assert_expected(ID, &sales_orders);
    assert_new_exact_customers(&exact.lock().unwrap());

    rerun_orders_sample(dir.path(), &flow).await;
    assert_eq!(
        exact
            .lock()
            .unwrap()
            .posted_to("salesorder/SalesOrders")
            .len(),
        6
    );
    drop(shop);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_template_settings_default_debtor_separate_discount_and_shipping_without_vat() {
    const ID: &str = "shopify-orders-to-exact-online";
    let orders: Vec<Value> =
        serde_json::from_value(template_json(ID, "sample-input.json")).unwrap();
    // #1001: a French person with a discount code and shipping.
    let (_shop, shop_url) = vendors::shopify(Shop {
        orders: orders[..1].to_vec(),
        ..Shop::default()
    })
    .await;
    let (exact, exact_url) = vendors::exact(HashMap::from([
        exact_items(),
        rows("crm/Accounts", json!([{ "ID": "a1000000-0000-4000-8000-0000000000aa", "Code": format!("{:>18}", "9000"), "Name": "Clients web" }])),
    ]))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let flow = enable(
        dir.path(),
        ID,
        &[
            ("shop", vendors::shopify_connection(&shop_url)),
            ("erp", vendors::exact_connection(&exact_url)),
        ],
        &[
            "default_debtor_code=9000",
            "discount_mode=separate_line",
            "shipping_with_vat=false",
            "use_shop_order_number=true",
            r#"payment_methods={"entries": {}, "default": "WEB"}"#,
        ],
    )
    .await;
    run_ok(dir.path(), &flow, "").await;
    let exact = exact.lock().unwrap();
    assert!(
        exact.posted_to("crm/Accounts").is_empty(),
        "no customer is created"
    );
    let order = &exact.posted_to("salesorder/SalesOrders")[0];
    assert_eq!(order["OrderedBy"], "a1000000-0000-4000-8000-0000000000aa");
    assert_eq!(order["OrderNumber"], 1001);
    assert_eq!(order["PaymentCondition"], "WEB");
    assert_eq!(
        order["SalesOrderLines"],
        json!([
            { "Description": "Tablier en lin", "Item": "b2000000-0000-4000-8000-000000000002", "NetPrice": 30.0, "Quantity": 1, "VATCode": "FR20" },
            { "Description": "Discount BIENVENUE", "Item": "b2000000-0000-4000-8000-0000000000f2", "NetPrice": -5.0, "Quantity": 1, "VATCode": "FR20" },
            { "Description": "Colissimo", "Item": "b2000000-0000-4000-8000-0000000000f1", "NetPrice": 6.0, "Quantity": 1, "VATCode": "0" },
        ])
    );
}

/// Revenue G/L accounts of the Exact administration the invoices templates book on.
fn exact_revenue_accounts() -> (String, Vec<Value>) {
    rows(
        "financial/GLAccounts",
        json!([
            { "ID": "c3000000-0000-4000-8000-000000007071", "Code": "7071", "Description": "Ventes France" },
            { "ID": "c3000000-0000-4000-8000-000000007072", "Code": "7072", "Description": "Ventes Belgique (OSS)" },
            { "ID": "c3000000-0000-4000-8000-000000007073", "Code": "7073", "Description": "Ventes Allemagne (OSS)" },
            { "ID": "c3000000-0000-4000-8000-000000007078", "Code": "7078", "Description": "Livraisons intracommunautaires" },
            { "ID": "c3000000-0000-4000-8000-000000007079", "Code": "7079", "Description": "Ventes à l'export" },
            { "ID": "c3000000-0000-4000-8000-000000007085", "Code": "7085", "Description": "Ports et frais accessoires facturés" },
        ]),
    )
}

/// Runs an orders → Exact sales invoices template (`id`, shop slot `shop`) on its sample:
/// FR 20 %, BE B2B (intra-EU), BE 21 %, DE 19 %, FR 5.5 %, CH (export) are invoiced, each line
/// on its revenue account, shipping on `7085`; the Luxembourg order (`lu_key`) fails alone as
/// the revenue map has no `LU`. A second run sends nothing new.
async fn invoices_sample_books_revenue_per_country(id: &str, shop: Value, lu_key: &str) {
    let (exact, exact_url) = vendors::exact(HashMap::from([
        exact_items(),
        exact_revenue_accounts(),
        rows("crm/Accounts", json!([{ "ID": "a1000000-0000-4000-8000-000000000005", "Code": format!("{:>18}", "1005"), "Name": "EPICERIE LEROY", "Email": "compta@epicerie-leroy.fr", "ChamberOfCommerce": "81234567800012" }])),
    ]))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let flow = enable(
        dir.path(),
        id,
        &[
            ("shop", shop),
            ("erp", vendors::exact_connection(&exact_url)),
        ],
        &["match_by_siret=true", "shipping_revenue_account=7085"],
    )
    .await;

    let (code, out) = run(dir.path(), &flow).await;
    assert_eq!(code, 1, "the Luxembourg order fails:\n{out}");
    assert!(out.contains("read 8 · created 6"), "{out}");
    assert!(out.contains("filtered 1 · failed 1"), "{out}");
    assert!(out.contains(lu_key), "{out}");
    assert!(
        out.contains("value map `revenue_account_by_country` has no entry for \"LU\""),
        "{out}"
    );
    let invoices = exact
        .lock()
        .unwrap()
        .posted_to("salesinvoice/SalesInvoices");
    assert_expected(id, &invoices);
    assert!(invoices.iter().all(|i| i["Journal"] == "70"));
    assert_new_exact_customers(&exact.lock().unwrap());
    assert!(
        exact
            .lock()
            .unwrap()
            .posted_to("salesorder/SalesOrders")
            .is_empty(),
        "invoices, not orders"
    );

    // Luxembourg fails until the map is fixed.
    rerun_orders_sample(dir.path(), &flow).await;
    assert_eq!(
        exact
            .lock()
            .unwrap()
            .posted_to("salesinvoice/SalesInvoices")
            .len(),
        6
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shopify_invoices_template_books_each_country_on_its_revenue_account_once() {
    let orders: Vec<Value> = serde_json::from_value(template_json(
        "shopify-orders-to-exact-online",
        "sample-input.json",
    ))
    .unwrap();
    let (_shop, shop_url) = vendors::shopify(Shop {
        orders,
        ..Shop::default()
    })
    .await;
    invoices_sample_books_revenue_per_country(
        "shopify-orders-to-exact-online-invoices",
        vendors::shopify_connection(&shop_url),
        "#1007",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn woocommerce_invoices_template_books_each_country_on_its_revenue_account_once() {
    let orders: Vec<Value> = serde_json::from_value(template_json(
        "woocommerce-orders-to-exact-online",
        "sample-input.json",
    ))
    .unwrap();
    let (_woo, woo_url) = vendors::woocommerce(vendors::Woo {
        orders,
        ..Default::default()
    })
    .await;
    invoices_sample_books_revenue_per_country(
        "woocommerce-orders-to-exact-online-invoices",
        vendors::woocommerce_connection(&woo_url),
        "747",
    )
    .await;
}

// ---------------------------------------------------------------------------------------------
// Customers

/// The accounts a customers template wrote to Exact: the created ones, then the updates.
fn account_writes(exact: &vendors::Exact) -> Vec<Value> {
    let mut writes = exact.posted_to("crm/Accounts");
    writes.extend(
        exact
            .put
            .iter()
            .map(|(_, id, body)| json!({ "PUT": id, "body": body })),
    );
    writes
}

/// The settings both customers → Exact tests enable their template with.
const CUSTOMERS_TO_EXACT_SETTINGS: &[&str] = &[
    "upper_case=true",
    "strip_accents=true",
    "update_address=false",
    "match_by_siret=true",
    r#"template_customer={"Language": "FR", "PaymentConditionSales": "30"}"#,
];

/// Enables customers → Exact template `id` with the `shop` connection and
/// [`CUSTOMERS_TO_EXACT_SETTINGS`] against the Exact mock at `exact_url`; runs it twice (see
/// [`run_twice`], `sent` being what Exact received). Returns the flow.
async fn customers_to_exact(
    dir: &Path,
    id: &str,
    shop: Value,
    exact_url: &str,
    expect: &str,
    sent: impl Fn() -> Vec<Value>,
) -> String {
    let flow = enable(
        dir,
        id,
        &[
            ("shop", shop),
            ("erp", vendors::exact_connection(exact_url)),
        ],
        CUSTOMERS_TO_EXACT_SETTINGS,
    )
    .await;
    run_twice(dir, id, &flow, expect, sent).await;
    flow
}

/// After Chloé Durand was renamed in the shop: her account is updated (the `created` accounts
/// stay as many), with the new name but neither the address (`update_address=false`) nor the code.
fn assert_renamed_without_address(exact: &vendors::Exact, created: usize) {
    assert_eq!(exact.posted_to("crm/Accounts").len(), created);
    let (_, _, last) = exact.put.last().unwrap();
    assert_eq!(last["Name"], "CHLOE DURAND-PETIT");
    assert!(
        last.get("AddressLine1").is_none() && last.get("Code").is_none(),
        "{last}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customers_template_creates_coded_accounts_and_updates_the_known_one_without_its_address() {
    const ID: &str = "shopify-customers-to-exact-online";
    let customers: Vec<Value> =
        serde_json::from_value(template_json(ID, "sample-input.json")).unwrap();
    let (shop, shop_url) = vendors::shopify(Shop {
        customers,
        ..Shop::default()
    })
    .await;
    let (exact, exact_url) = vendors::exact(HashMap::from([rows(
        "crm/Accounts",
        json!([{ "ID": "a1000000-0000-4000-8000-000000000002", "Code": "WB-OLD", "Name": "Brasserie Wout BV", "Email": "inkoop@brasserie-wout.be" }]),
    )]))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let flow = customers_to_exact(
        dir.path(),
        ID,
        vendors::shopify_connection(&shop_url),
        &exact_url,
        "read 3 · created 3",
        || account_writes(&exact.lock().unwrap()),
    )
    .await;
    // A changed customer is updated, not created twice.
    shop.lock().unwrap().customers[0]["last_name"] = json!("Durand-Petit");
    run_ok(dir.path(), &flow, "updated 1").await;
    assert_renamed_without_address(&exact.lock().unwrap(), 2);
}

// ---------------------------------------------------------------------------------------------
// Products

fn shop_product(id: u64, sku: &str, title: &str, body: &str) -> Value {
    json!({ "id": id, "title": title, "body_html": body, "status": "active",
            "variants": [{ "id": id * 10, "sku": sku, "price": "1.00", "inventory_item_id": id * 100 }] })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn products_template_creates_or_updates_by_sku_keeping_shop_descriptions() {
    const ID: &str = "exact-online-products-to-shopify";
    let items = template_json(ID, "sample-input.json");
    let (shop, shop_url) = vendors::shopify(Shop {
        products: vec![shop_product(
            7001,
            "TABLIER-LIN",
            "Tablier",
            "<p>Written in the shop</p>",
        )],
        ..Shop::default()
    })
    .await;
    let (exact, exact_url) = vendors::exact(HashMap::from([rows("logistics/Items", items)])).await;
    let dir = tempfile::tempdir().unwrap();
    let flow = enable(
        dir.path(),
        ID,
        &[
            ("erp", vendors::exact_connection(&exact_url)),
            ("shop", vendors::shopify_connection(&shop_url)),
        ],
        &[],
    )
    .await;
    run_ok(dir.path(), &flow, "read 2 · created 2").await;
    let writes: Vec<Value> = shop
        .lock()
        .unwrap()
        .product_writes
        .iter()
        .map(|(m, b)| json!({ m.as_str(): b }))
        .collect();
    assert_expected(ID, &writes);

    run_ok(dir.path(), &flow, "created 0").await;
    assert_eq!(
        shop.lock().unwrap().product_writes.len(),
        2,
        "nothing sent again"
    );

    // A new price in Exact updates the product made by the first run; no second product.
    {
        let mut exact = exact.lock().unwrap();
        let item = &mut exact.rows.get_mut("logistics/Items").unwrap()[0];
        item["StandardSalesPrice"] = json!(5.5);
        item["Modified"] = json!("2026-02-01T08:00:00.000");
    }
    run_ok(dir.path(), &flow, "updated 1").await;
    let shop = shop.lock().unwrap();
    assert_eq!(shop.products.len(), 2);
    let (method, body) = shop.product_writes.last().unwrap();
    assert_eq!(method, "PUT");
    assert_eq!(body["product"]["variants"][0]["price"], "5.80");
    assert!(body["product"].get("body_html").is_none(), "{body}");
}

// ---------------------------------------------------------------------------------------------
// Stock

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stock_template_sends_available_minus_reserved_and_only_changes() {
    const ID: &str = "exact-online-stock-to-shopify";
    let positions = template_json(ID, "sample-input.json");
    let (shop, shop_url) = vendors::shopify(Shop {
        products: vec![
            shop_product(7001, "TABLIER-LIN", "Tablier", ""),
            shop_product(7002, "CONF-FRAISE-370", "Confiture", ""),
            shop_product(7003, "SAVON-LAVANDE", "Savon", ""),
        ],
        ..Shop::default()
    })
    .await;
    let (exact, exact_url) =
        vendors::exact(HashMap::from([rows("inventory/ItemWarehouses", positions)])).await;
    let dir = tempfile::tempdir().unwrap();
    let flow = enable(
        dir.path(),
        ID,
        &[
            ("erp", vendors::exact_connection(&exact_url)),
            ("shop", vendors::shopify_connection(&shop_url)),
        ],
        &["location_id=905684977"],
    )
    .await;
    run_ok(dir.path(), &flow, "read 4 · created 3").await;
    let sets = shop.lock().unwrap().inventory_sets.clone();
    assert_expected(ID, &sets);

    let out = run_ok(dir.path(), &flow, "").await;
    assert_eq!(
        shop.lock().unwrap().inventory_sets.len(),
        3,
        "unchanged stock is not sent:\n{out}"
    );
    exact
        .lock()
        .unwrap()
        .rows
        .get_mut("inventory/ItemWarehouses")
        .unwrap()[1]["ReservedStock"] = json!(7.0);
    let out = run_ok(dir.path(), &flow, "").await;
    let shop = shop.lock().unwrap();
    assert_eq!(shop.inventory_sets.len(), 4, "{out}");
    assert_eq!(
        shop.inventory_sets[3],
        json!({ "location_id": 905684977, "inventory_item_id": 700100, "available": 28 })
    );
}

// ---------------------------------------------------------------------------------------------
// Shipments

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shipments_template_fulfills_split_deliveries_with_tracking() {
    const ID: &str = "exact-online-shipments-to-shopify";
    let deliveries = template_json(ID, "sample-input.json");
    let order = |n: u64, sku: &str, qty: u64| {
        json!({ "id": 450789469 + n, "name": format!("#{}", 1000 + n),
                "line_items": [{ "id": 466157049 + n * 10, "sku": sku, "quantity": qty }] })
    };
    let (shop, shop_url) = vendors::shopify(Shop {
        orders: vec![order(1, "TABLIER-LIN", 1), order(2, "CONF-FRAISE-370", 24)],
        ..Shop::default()
    })
    .await;
    let (exact, exact_url) = vendors::exact(HashMap::from([rows(
        "salesorder/GoodsDeliveries",
        deliveries,
    )]))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let flow = enable(
        dir.path(),
        ID,
        &[
            ("erp", vendors::exact_connection(&exact_url)),
            ("shop", vendors::shopify_connection(&shop_url)),
        ],
        &[],
    )
    .await;
    let out = run_ok(dir.path(), &flow, "read 4 · created 3").await;
    assert!(out.contains("filtered 1"), "{out}");
    let fulfillments = shop.lock().unwrap().fulfillments.clone();
    assert_expected(ID, &fulfillments);

    let out = run_ok(dir.path(), &flow, "").await;
    assert_eq!(
        shop.lock().unwrap().fulfillments.len(),
        3,
        "nothing sent again:\n{out}"
    );
    // A corrected tracking number updates the fulfillment's tracking.
    {
        let mut exact = exact.lock().unwrap();
        let d = &mut exact.rows.get_mut("salesorder/GoodsDeliveries").unwrap()[0];
        d["TrackingNumber"] = json!("6A99999999999");
        d["Modified"] = json!("2026-01-08T09:00:00.000");
    }
    run_ok(dir.path(), &flow, "updated 1").await;
    let shop = shop.lock().unwrap();
    assert_eq!(
        shop.fulfillments[3]["fulfillment"]["tracking_info"]["number"],
        "6A99999999999"
    );
}

// ---------------------------------------------------------------------------------------------
// WooCommerce ↔ Visma eAccounting

fn writes_of(list: &[(String, String, Value)]) -> Vec<Value> {
    list.iter()
        .map(|(method, path, body)| json!({ "request": format!("{method} {path}"), "body": body }))
        .collect()
}

/// Runs `flow` twice: the first run prints `expect` and what `sent` returns after it is the
/// template's expected output; the second run sends nothing new.
async fn run_twice(dir: &Path, id: &str, flow: &str, expect: &str, sent: impl Fn() -> Vec<Value>) {
    run_ok(dir, flow, expect).await;
    let first = sent();
    assert_expected(id, &first);
    let out = run_ok(dir, flow, "created 0").await;
    assert_eq!(sent(), first, "nothing sent again:\n{out}");
}

/// The eAccounting articles the orders templates' samples name.
fn eaccounting_articles() -> (String, Vec<Value>) {
    rows(
        "articles",
        json!([
            { "Id": "a7000000-0000-4000-8000-000000000001", "Number": "CONF-FRAISE-370" },
            { "Id": "a7000000-0000-4000-8000-000000000002", "Number": "TABLIER-LIN" },
            { "Id": "a7000000-0000-4000-8000-0000000000f1", "Number": "SHIPPING" },
        ]),
    )
}

/// The eAccounting mock with the orders samples' articles and one known `customer`.
async fn eaccounting_knowing(customer: Value) -> (vendors::SharedEAccounting, String) {
    vendors::eaccounting(HashMap::from([
        rows("customers", json!([customer])),
        eaccounting_articles(),
    ]))
    .await
}

/// Enables customers → eAccounting template `id` with the `shop` connection, `sets` and a
/// template customer's terms of payment, against an eAccounting mock where Brasserie Wout is
/// already a customer (same email: updated, not duplicated); runs it twice (see [`run_twice`]).
async fn customers_to_eaccounting(
    dir: &Path,
    id: &str,
    shop: Value,
    sets: &[&str],
    expect: &str,
) -> (vendors::SharedEAccounting, String) {
    let (ea, ea_url) = eaccounting_knowing(json!({ "Id": "0f1e0000-0000-4000-8000-000000000031", "CustomerNumber": "1031", "Name": "Brasserie Wout BV", "EmailAddress": "inkoop@brasserie-wout.be" })).await;
    let mut sets = sets.to_vec();
    sets.push(r#"template_customer={"TermsOfPaymentId": "7e000000-0000-4000-8000-000000000030"}"#);
    let flow = enable(
        dir,
        id,
        &[
            ("shop", shop),
            ("accounting", vendors::eaccounting_connection(&ea_url)),
        ],
        &sets,
    )
    .await;
    run_twice(dir, id, &flow, expect, || {
        writes_of(&ea.lock().unwrap().writes)
    })
    .await;
    (ea, flow)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn woocommerce_customers_template_numbers_new_customers_and_updates_the_known_one() {
    const ID: &str = "woocommerce-customers-to-eaccounting";
    let customers: Vec<Value> =
        serde_json::from_value(template_json(ID, "sample-input.json")).unwrap();
    let (woo, woo_url) = vendors::woocommerce(vendors::Woo {
        customers,
        ..Default::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let (ea, flow) = customers_to_eaccounting(
        dir.path(),
        ID,
        vendors::woocommerce_connection(&woo_url),
        &["strip_accents=true"],
        "read 3 · created 3",
    )
    .await;
    woo.lock().unwrap().customers[0]["billing"]["address_1"] = json!("14 rue des Lilas");
    run_ok(dir.path(), &flow, "updated 1").await;
    let ea = ea.lock().unwrap();
    let (method, _, body) = ea.writes.last().unwrap();
    assert_eq!(method, "PUT");
    assert_eq!(body["InvoiceAddress1"], "14 rue des Lilas");
    // The delivery address, the number and the template fields stay as they are in eAccounting.
    for kept in ["DeliveryAddress1", "CustomerNumber", "TermsOfPaymentId"] {
        assert!(body.get(kept).is_none(), "{kept} sent in {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eaccounting_products_template_creates_or_updates_by_sku_keeping_shop_names() {
    const ID: &str = "eaccounting-products-to-woocommerce";
    let articles = template_json(ID, "sample-input.json");
    let (woo, woo_url) = vendors::woocommerce(vendors::Woo {
        products: vec![json!({ "id": 794, "parent_id": 0, "type": "simple", "sku": "TABLIER-LIN", "name": "Tablier en lin lavé (shop)", "regular_price": "40.00" })],
        ..Default::default()
    })
    .await;
    let (ea, ea_url) = vendors::eaccounting(HashMap::from([rows("articles", articles)])).await;
    let dir = tempfile::tempdir().unwrap();
    let flow = enable(
        dir.path(),
        ID,
        &[
            ("accounting", vendors::eaccounting_connection(&ea_url)),
            ("shop", vendors::woocommerce_connection(&woo_url)),
        ],
        &[],
    )
    .await;
    run_ok(dir.path(), &flow, "read 2 · created 2").await;
    let writes = writes_of(&woo.lock().unwrap().writes);
    assert_expected(ID, &writes);

    let out = run_ok(dir.path(), &flow, "").await;
    assert_eq!(
        woo.lock().unwrap().writes.len(),
        2,
        "nothing sent again:\n{out}"
    );
    {
        let mut ea = ea.lock().unwrap();
        let article = &mut ea.rows.get_mut("articles").unwrap()[0];
        article["GrossPrice"] = json!(5.49);
        article["ChangedUtc"] = json!("2026-02-01T08:00:00Z");
    }
    run_ok(dir.path(), &flow, "updated 1").await;
    let woo = woo.lock().unwrap();
    assert_eq!(woo.products.len(), 2, "updated, not duplicated");
    let (method, path, body) = woo.writes.last().unwrap();
    assert_eq!((method.as_str(), path.as_str()), ("PUT", "products/901"));
    assert_eq!(
        body,
        &json!({ "sku": "CONF-FRAISE-370", "regular_price": "5.49" })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eaccounting_stock_template_sends_available_stock_by_sku_and_only_changes() {
    const ID: &str = "eaccounting-stock-to-woocommerce";
    let articles = template_json(ID, "sample-input.json");
    let product =
        |id: u64, sku: &str| json!({ "id": id, "parent_id": 0, "type": "simple", "sku": sku });
    let (woo, woo_url) = vendors::woocommerce(vendors::Woo {
        products: vec![
            product(794, "TABLIER-LIN"),
            product(795, "CONF-FRAISE-370"),
            product(796, "SAVON-LAVANDE"),
        ],
        ..Default::default()
    })
    .await;
    let (ea, ea_url) = vendors::eaccounting(HashMap::from([rows("articles", articles)])).await;
    let dir = tempfile::tempdir().unwrap();
    let flow = enable(
        dir.path(),
        ID,
        &[
            ("accounting", vendors::eaccounting_connection(&ea_url)),
            ("shop", vendors::woocommerce_connection(&woo_url)),
        ],
        &[],
    )
    .await;
    run_ok(dir.path(), &flow, "read 3 · created 3").await;
    let writes = writes_of(&woo.lock().unwrap().writes);
    assert_expected(ID, &writes);

    let out = run_ok(dir.path(), &flow, "").await;
    assert_eq!(
        woo.lock().unwrap().writes.len(),
        3,
        "unchanged stock is not sent:\n{out}"
    );
    ea.lock().unwrap().rows.get_mut("articles").unwrap()[1]["StockBalanceReserved"] = json!(5.0);
    let out = run_ok(dir.path(), &flow, "").await;
    let woo = woo.lock().unwrap();
    assert_eq!(woo.writes.len(), 4, "{out}");
    assert_eq!(
        woo.writes[3].2,
        json!({ "manage_stock": true, "stock_quantity": 30 })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn woocommerce_orders_template_creates_orders_once_and_fails_an_unknown_article_alone() {
    const ID: &str = "woocommerce-orders-to-eaccounting";
    let orders: Vec<Value> =
        serde_json::from_value(template_json(ID, "sample-input.json")).unwrap();
    let (_woo, woo_url) = vendors::woocommerce(vendors::Woo {
        orders,
        ..Default::default()
    })
    .await;
    // Brasserie Wout is a customer under another email and number: found by VAT number.
    let (ea, ea_url) = eaccounting_knowing(json!({ "Id": "0f1e0000-0000-4000-8000-000000000031", "CustomerNumber": "1031", "Name": "Brasserie Wout BV", "EmailAddress": "compta@brasserie-wout.be", "VatNumber": "BE0123456789" })).await;
    let dir = tempfile::tempdir().unwrap();
    let flow = enable(
        dir.path(),
        ID,
        &[
            ("shop", vendors::woocommerce_connection(&woo_url)),
            ("accounting", vendors::eaccounting_connection(&ea_url)),
        ],
        &["match_by_vat_number=true"],
    )
    .await;
    let (code, out) = run(dir.path(), &flow).await;
    assert_eq!(code, 1, "the order with an unknown article fails:\n{out}");
    assert!(out.contains("read 5 · created 3"), "{out}");
    assert!(out.contains("filtered 1 · failed 1"), "{out}");
    assert!(out.contains("no article has number `UNKNOWN-SKU`"), "{out}");
    let writes = writes_of(&ea.lock().unwrap().writes);
    assert_expected(ID, &writes);

    let (_, out) = run(dir.path(), &flow).await;
    assert!(out.contains("created 0"), "{out}");
    let ea = ea.lock().unwrap();
    assert_eq!(
        ea.writes.iter().filter(|(_, p, _)| p == "orders").count(),
        3,
        "no order sent twice"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_template_skips_an_order_already_in_exact() {
    const ID: &str = "shopify-orders-to-exact-online";
    let orders: Vec<Value> =
        serde_json::from_value(template_json(ID, "sample-input.json")).unwrap();
    // #1004 was keyed into Exact by hand before the flow was enabled.
    let (_shop, shop_url) = vendors::shopify(Shop {
        orders: orders[3..4].to_vec(),
        ..Shop::default()
    })
    .await;
    let (exact, exact_url) = vendors::exact(HashMap::from([
        exact_items(),
        rows(
            "salesorder/SalesOrders",
            json!([{ "OrderID": "5f1c9a6e-0b7d-4b8a-9d2e-1a2b3c4d5e04", "YourRef": "#1004" }]),
        ),
    ]))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let flow = enable(
        dir.path(),
        ID,
        &[
            ("shop", vendors::shopify_connection(&shop_url)),
            ("erp", vendors::exact_connection(&exact_url)),
        ],
        &[],
    )
    .await;
    run_ok(dir.path(), &flow, "").await;
    let posted = exact.lock().unwrap().posted.clone();
    assert!(posted.is_empty(), "nothing created: {posted:?}");
    let (_, shown) = ferry(dir.path(), &["runs", "show", "1"]).await;
    assert!(
        shown.contains("5f1c9a6e-0b7d-4b8a-9d2e-1a2b3c4d5e04"),
        "{shown}"
    );
}

// ---------------------------------------------------------------------------------------------
// Cross pairs

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exact_stock_to_woocommerce_template_sets_stock_by_sku() {
    const ID: &str = "exact-online-stock-to-woocommerce";
    let positions = template_json(ID, "sample-input.json");
    let product =
        |id: u64, sku: &str| json!({ "id": id, "parent_id": 0, "type": "simple", "sku": sku });
    let (woo, woo_url) = vendors::woocommerce(vendors::Woo {
        products: vec![
            product(794, "TABLIER-LIN"),
            product(795, "CONF-FRAISE-370"),
            product(796, "SAVON-LAVANDE"),
        ],
        ..Default::default()
    })
    .await;
    let (_exact, exact_url) =
        vendors::exact(HashMap::from([rows("inventory/ItemWarehouses", positions)])).await;
    let dir = tempfile::tempdir().unwrap();
    let flow = enable(
        dir.path(),
        ID,
        &[
            ("erp", vendors::exact_connection(&exact_url)),
            ("shop", vendors::woocommerce_connection(&woo_url)),
        ],
        &["stock_formula=current_minus_planned_out"],
    )
    .await;
    run_ok(dir.path(), &flow, "read 4 · created 3").await;
    let writes = writes_of(&woo.lock().unwrap().writes);
    assert_expected(ID, &writes);
    let (_, out) = run(dir.path(), &flow).await;
    assert!(out.contains("created 0"), "{out}");
    assert_eq!(
        woo.lock().unwrap().writes.len(),
        3,
        "unchanged stock is not sent"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eaccounting_stock_to_shopify_template_sets_inventory_by_sku() {
    const ID: &str = "eaccounting-stock-to-shopify";
    let articles = template_json(ID, "sample-input.json");
    let (shop, shop_url) = vendors::shopify(Shop {
        products: vec![
            shop_product(7001, "TABLIER-LIN", "Tablier", ""),
            shop_product(7002, "CONF-FRAISE-370", "Confiture", ""),
            shop_product(7003, "SAVON-LAVANDE", "Savon", ""),
        ],
        ..Shop::default()
    })
    .await;
    let (_ea, ea_url) = vendors::eaccounting(HashMap::from([rows("articles", articles)])).await;
    let dir = tempfile::tempdir().unwrap();
    let flow = enable(
        dir.path(),
        ID,
        &[
            ("accounting", vendors::eaccounting_connection(&ea_url)),
            ("shop", vendors::shopify_connection(&shop_url)),
        ],
        &["location_id=905684977"],
    )
    .await;
    run_ok(dir.path(), &flow, "read 3 · created 3").await;
    let sets = shop.lock().unwrap().inventory_sets.clone();
    assert_expected(ID, &sets);
    let (_, out) = run(dir.path(), &flow).await;
    assert!(out.contains("created 0"), "{out}");
    assert_eq!(
        shop.lock().unwrap().inventory_sets.len(),
        3,
        "unchanged stock is not sent"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customer_codes_take_the_chosen_parts_between_prefix_and_padded_id() {
    // `ferry map` shows what the steps make of the sample, without any connection.
    let dir = tempfile::tempdir().unwrap();
    let flow = enable(
        dir.path(),
        "shopify-customers-to-exact-online",
        &[
            ("shop", vendors::shopify_connection("http://127.0.0.1:9")),
            ("erp", vendors::exact_connection("http://127.0.0.1:9")),
        ],
        &[
            "customer_code_parts=name,postal_code",
            "customer_code_length=16",
        ],
    )
    .await;
    let sample = templates_dir().join("shopify-customers-to-exact-online/sample-input.json");
    let (code, out) = ferry(
        dir.path(),
        &["map", &flow, "--input", sample.to_str().unwrap()],
    )
    .await;
    assert_eq!(code, 0, "{out}");
    let mapped: Vec<Value> = serde_json::from_str(&out).unwrap();
    let codes: Vec<&str> = mapped
        .iter()
        .map(|m| m["output"]["Code"].as_str().unwrap())
        .collect();
    // Prefix, three letters of the name, postal code, then the id padded to 16 in all.
    assert_eq!(
        codes,
        ["WEBCHL6900300530", "WEBBRA2000000531", "WEBEPI3500000534"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exact_products_to_woocommerce_template_creates_or_updates_by_sku() {
    const ID: &str = "exact-online-products-to-woocommerce";
    let items = template_json(ID, "sample-input.json");
    let (woo, woo_url) = vendors::woocommerce(vendors::Woo {
        products: vec![json!({ "id": 794, "parent_id": 0, "type": "simple", "sku": "TABLIER-LIN", "name": "Tablier", "description": "Written in the shop" })],
        ..Default::default()
    })
    .await;
    let (_exact, exact_url) = vendors::exact(HashMap::from([rows("logistics/Items", items)])).await;
    let dir = tempfile::tempdir().unwrap();
    let flow = enable(
        dir.path(),
        ID,
        &[
            ("erp", vendors::exact_connection(&exact_url)),
            ("shop", vendors::woocommerce_connection(&woo_url)),
        ],
        &["update_title=false"],
    )
    .await;
    run_ok(dir.path(), &flow, "read 2 · created 2").await;
    let writes = writes_of(&woo.lock().unwrap().writes);
    assert_expected(ID, &writes);
    let (_, out) = run(dir.path(), &flow).await;
    assert!(out.contains("created 0"), "{out}");
    assert_eq!(woo.lock().unwrap().writes.len(), 2, "nothing sent again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eaccounting_products_to_shopify_template_creates_or_updates_by_sku() {
    const ID: &str = "eaccounting-products-to-shopify";
    let articles = template_json(ID, "sample-input.json");
    let (shop, shop_url) = vendors::shopify(Shop {
        products: vec![shop_product(
            7001,
            "TABLIER-LIN",
            "Tablier (shop title)",
            "",
        )],
        ..Shop::default()
    })
    .await;
    let (_ea, ea_url) = vendors::eaccounting(HashMap::from([rows("articles", articles)])).await;
    let dir = tempfile::tempdir().unwrap();
    let flow = enable(
        dir.path(),
        ID,
        &[
            ("accounting", vendors::eaccounting_connection(&ea_url)),
            ("shop", vendors::shopify_connection(&shop_url)),
        ],
        &[],
    )
    .await;
    run_ok(dir.path(), &flow, "read 2 · created 2").await;
    let writes: Vec<Value> = shop
        .lock()
        .unwrap()
        .product_writes
        .iter()
        .map(|(m, b)| json!({ m.as_str(): b }))
        .collect();
    assert_expected(ID, &writes);
    let (_, out) = run(dir.path(), &flow).await;
    assert!(out.contains("created 0"), "{out}");
    assert_eq!(
        shop.lock().unwrap().product_writes.len(),
        2,
        "nothing sent again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shopify_orders_to_eaccounting_template_creates_orders_once_and_fails_an_unmapped_vat_country_alone()
 {
    const ID: &str = "shopify-orders-to-eaccounting";
    let orders: Vec<Value> =
        serde_json::from_value(template_json(ID, "sample-input.json")).unwrap();
    let (_shop, shop_url) = vendors::shopify(Shop {
        orders,
        ..Shop::default()
    })
    .await;
    // Épicerie Leroy is already a customer, under another email: found by SIRET.
    let (ea, ea_url) = eaccounting_knowing(json!({ "Id": "0f1e0000-0000-4000-8000-000000000035", "CustomerNumber": "1035", "Name": "EPICERIE LEROY", "EmailAddress": "compta@epicerie-leroy.fr", "CorporateIdentityNumber": "81234567800012" })).await;
    let dir = tempfile::tempdir().unwrap();
    let flow = enable(
        dir.path(),
        ID,
        &[
            ("shop", vendors::shopify_connection(&shop_url)),
            ("accounting", vendors::eaccounting_connection(&ea_url)),
        ],
        &["match_by_siret=true", "shipping_article_number=SHIPPING"],
    )
    .await;
    run_orders_sample(dir.path(), &flow, "#1007").await;
    let writes = writes_of(&ea.lock().unwrap().writes);
    assert_expected(ID, &writes);

    rerun_orders_sample(dir.path(), &flow).await;
    assert_eq!(
        ea.lock().unwrap().writes.len(),
        writes.len(),
        "nothing sent again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn woocommerce_orders_to_exact_template_creates_sales_orders_once_and_fails_an_unmapped_vat_country_alone()
 {
    const ID: &str = "woocommerce-orders-to-exact-online";
    let orders: Vec<Value> =
        serde_json::from_value(template_json(ID, "sample-input.json")).unwrap();
    let (_woo, woo_url) = vendors::woocommerce(vendors::Woo {
        orders,
        ..Default::default()
    })
    .await;
    let (exact, exact_url) = exact_knowing_leroy().await;
    let dir = tempfile::tempdir().unwrap();
    let flow = enable(
        dir.path(),
        ID,
        &[
            ("shop", vendors::woocommerce_connection(&woo_url)),
            ("erp", vendors::exact_connection(&exact_url)),
        ],
        &["match_by_siret=true"],
    )
    .await;
    run_orders_sample(dir.path(), &flow, "747").await;
    assert_expected(
        ID,
        &exact.lock().unwrap().posted_to("salesorder/SalesOrders"),
    );
    assert_new_exact_customers(&exact.lock().unwrap());
    rerun_orders_sample(dir.path(), &flow).await;
    assert_eq!(
        exact
            .lock()
            .unwrap()
            .posted_to("salesorder/SalesOrders")
            .len(),
        6
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shopify_customers_to_eaccounting_template_numbers_new_customers_and_updates_the_known_one()
{
    const ID: &str = "shopify-customers-to-eaccounting";
    let customers: Vec<Value> =
        serde_json::from_value(template_json(ID, "sample-input.json")).unwrap();
    let (shop, shop_url) = vendors::shopify(Shop {
        customers,
        ..Shop::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let (ea, flow) = customers_to_eaccounting(
        dir.path(),
        ID,
        vendors::shopify_connection(&shop_url),
        &["strip_accents=true", "update_address=false"],
        "read 5 · created 5",
    )
    .await;
    {
        let mut shop = shop.lock().unwrap();
        shop.customers[0]["last_name"] = json!("Durand-Petit");
        shop.customers[0]["default_address"]["address1"] = json!("14 rue des Lilas");
    }
    run_ok(dir.path(), &flow, "updated 1").await;
    let ea = ea.lock().unwrap();
    let (method, path, body) = ea.writes.last().unwrap();
    assert_eq!(method, "PUT");
    assert_eq!(path, "customers/0e000000-0000-4000-8000-000000000001");
    assert_eq!(body["Name"], "Chloe Durand-Petit");
    // The address (switched off), the number and the template fields stay as they are.
    for kept in ["InvoiceAddress1", "CustomerNumber", "TermsOfPaymentId"] {
        assert!(body.get(kept).is_none(), "{kept} sent in {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn woocommerce_customers_to_exact_template_codes_new_accounts_and_updates_known_ones() {
    const ID: &str = "woocommerce-customers-to-exact-online";
    let customers: Vec<Value> =
        serde_json::from_value(template_json(ID, "sample-input.json")).unwrap();
    let (woo, woo_url) = vendors::woocommerce(vendors::Woo {
        customers,
        ..Default::default()
    })
    .await;
    // Brasserie Wout is known by email, Épicerie Leroy by SIRET: both updated, not duplicated.
    let (exact, exact_url) = vendors::exact(HashMap::from([rows(
        "crm/Accounts",
        json!([
            { "ID": "a1000000-0000-4000-8000-000000000002", "Code": "WB-OLD", "Name": "Brasserie Wout BV", "Email": "inkoop@brasserie-wout.be" },
            { "ID": "a1000000-0000-4000-8000-000000000005", "Code": format!("{:>18}", "1005"), "Name": "EPICERIE LEROY", "Email": "compta@epicerie-leroy.fr", "ChamberOfCommerce": "81234567800012" },
        ]),
    )]))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let flow = customers_to_exact(
        dir.path(),
        ID,
        vendors::woocommerce_connection(&woo_url),
        &exact_url,
        "read 5 · created 5",
        || account_writes(&exact.lock().unwrap()),
    )
    .await;
    // A changed customer is updated, not created twice.
    woo.lock().unwrap().customers[0]["last_name"] = json!("Durand-Petit");
    run_ok(dir.path(), &flow, "updated 1").await;
    assert_renamed_without_address(&exact.lock().unwrap(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exact_shipments_to_woocommerce_template_notes_each_delivery_and_completes_the_order() {
    const ID: &str = "exact-online-shipments-to-woocommerce";
    let deliveries = template_json(ID, "sample-input.json");
    let order = |id: u64| json!({ "id": id, "number": id.to_string(), "status": "processing" });
    let (woo, woo_url) = vendors::woocommerce(vendors::Woo {
        orders: vec![order(741), order(742)],
        ..Default::default()
    })
    .await;
    let (exact, exact_url) = vendors::exact(HashMap::from([rows(
        "salesorder/GoodsDeliveries",
        deliveries,
    )]))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let flow = enable(
        dir.path(),
        ID,
        &[
            ("erp", vendors::exact_connection(&exact_url)),
            ("shop", vendors::woocommerce_connection(&woo_url)),
        ],
        &[],
    )
    .await;
    // Three deliveries (742 shipped in two parts), the counter sale filtered.
    let out = run_ok(dir.path(), &flow, "read 4 · created 3").await;
    assert!(out.contains("filtered 1"), "{out}");
    let writes = writes_of(&woo.lock().unwrap().writes);
    assert_expected(ID, &writes);
    assert_eq!(woo.lock().unwrap().orders[1]["status"], "completed");

    let out = run_ok(dir.path(), &flow, "").await;
    assert_eq!(
        woo.lock().unwrap().writes.len(),
        writes.len(),
        "nothing sent again:\n{out}"
    );
    // A corrected tracking number adds a note with the new one.
    {
        let mut exact = exact.lock().unwrap();
        let d = &mut exact.rows.get_mut("salesorder/GoodsDeliveries").unwrap()[0];
        d["TrackingNumber"] = json!("6A99999999999");
        d["Modified"] = json!("2026-01-08T09:00:00.000");
    }
    run_ok(dir.path(), &flow, "updated 1").await;
    let woo = woo.lock().unwrap();
    let (_, path, note) = &woo.writes[woo.writes.len() - 2];
    assert_eq!(path, "orders/741/notes");
    assert!(
        note["note"].as_str().unwrap().contains("6A99999999999"),
        "{note}"
    );
}

/// What a merchant does: the tenant's connections are stored (credentials encrypted), the
/// template is enabled with them by name, and the run reads them from the store.
/// Enables customers template `id` with `payment_terms_by_country` set to `entries` and
/// `fail_if_unmapped`, and runs it once: `expect` (`read 3 · created 2`), and the one customer
/// from a country not listed (`missing`, with key `key`) fails alone, naming the map.
async fn assert_unmapped_country_fails_alone(
    dir: &Path,
    id: &str,
    slots: &[(&str, Value)],
    entries: Value,
    expect: &str,
    (missing, key): (&str, &str),
) {
    let terms = format!(
        "payment_terms_by_country={}",
        json!({ "entries": entries, "fail_if_unmapped": true })
    );
    let flow = enable(dir, id, slots, &[&terms]).await;
    let (code, out) = run(dir, &flow).await;
    assert_eq!(code, 1, "the customer from {missing} fails:\n{out}");
    assert!(out.contains(expect), "{out}");
    assert!(out.contains("failed 1"), "{out}");
    assert!(out.contains(key), "{out}");
    assert!(
        out.contains(&format!(
            "value map `payment_terms_by_country` has no entry for \"{missing}\""
        )),
        "{out}"
    );
}

/// The connection of a shop mock (Shopify or WooCommerce, as template `id` reads) serving
/// `customers`.
async fn shop_serving_customers(id: &str, customers: Vec<Value>) -> Value {
    if id.starts_with("shopify") {
        let (_, url) = vendors::shopify(Shop {
            customers,
            ..Shop::default()
        })
        .await;
        vendors::shopify_connection(&url)
    } else {
        let (_, url) = vendors::woocommerce(vendors::Woo {
            customers,
            ..Default::default()
        })
        .await;
        vendors::woocommerce_connection(&url)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customers_templates_to_exact_set_payment_terms_by_country_and_fail_an_unmapped_country_alone()
 {
    for (id, entries, expect, missing) in [
        (
            "shopify-customers-to-exact-online",
            json!({ "FR": "30" }),
            "read 3 · created 2",
            ("BE", "inkoop@brasserie-wout.be"),
        ),
        (
            "woocommerce-customers-to-exact-online",
            json!({ "FR": "30", "BE": "14", "DE": "14" }),
            "read 5 · created 4",
            ("CH", "anna.meier@example.ch"),
        ),
    ] {
        let customers: Vec<Value> =
            serde_json::from_value(template_json(id, "sample-input.json")).unwrap();
        let shop = shop_serving_customers(id, customers).await;
        let (exact, exact_url) = vendors::exact(HashMap::new()).await;
        let dir = tempfile::tempdir().unwrap();
        assert_unmapped_country_fails_alone(
            dir.path(),
            id,
            &[
                ("shop", shop),
                ("erp", vendors::exact_connection(&exact_url)),
            ],
            entries.clone(),
            expect,
            missing,
        )
        .await;
        for account in exact.lock().unwrap().posted_to("crm/Accounts") {
            let country = account["Country"].as_str().unwrap();
            assert_eq!(
                account["PaymentConditionSales"], entries[country],
                "{id}: {account}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customers_templates_to_eaccounting_set_payment_terms_by_country_and_fail_an_unmapped_country_alone()
 {
    const TERMS_30: &str = "7e000000-0000-4000-8000-000000000030";
    for (id, entries, expect, missing) in [
        (
            "woocommerce-customers-to-eaccounting",
            json!({ "FR": TERMS_30 }),
            "read 3 · created 2",
            ("BE", "inkoop@brasserie-wout.be"),
        ),
        (
            "shopify-customers-to-eaccounting",
            json!({ "FR": TERMS_30, "BE": TERMS_30, "DE": TERMS_30 }),
            "read 5 · created 4",
            ("CH", "anna.meier@example.ch"),
        ),
    ] {
        let customers: Vec<Value> =
            serde_json::from_value(template_json(id, "sample-input.json")).unwrap();
        let shop = shop_serving_customers(id, customers).await;
        let (ea, ea_url) = vendors::eaccounting(HashMap::new()).await;
        let dir = tempfile::tempdir().unwrap();
        assert_unmapped_country_fails_alone(
            dir.path(),
            id,
            &[
                ("shop", shop),
                ("accounting", vendors::eaccounting_connection(&ea_url)),
            ],
            entries,
            expect,
            missing,
        )
        .await;
        let ea = ea.lock().unwrap();
        assert!(!ea.writes.is_empty(), "{id}");
        for (_, _, customer) in &ea.writes {
            assert_eq!(customer["TermsOfPaymentId"], TERMS_30, "{id}: {customer}");
        }
    }
}

/// `carriers` with `fail_if_unmapped` and DHL only: the shipments templates' Colissimo
/// delivery (`Shopify #1001` / `WooCommerce 741`) fails alone, naming the map to fix.
const DHL_ONLY_CARRIERS: &str = r#"carriers={"entries": {"c7000000-0000-4000-8000-000000000002": "DHL Express"}, "fail_if_unmapped": true}"#;

/// A shipments run with [`DHL_ONLY_CARRIERS`]: the two DHL deliveries are sent, the Colissimo
/// one fails naming `carriers`.
async fn assert_unmapped_carrier_fails_alone(dir: &Path, flow: &str) {
    let (code, out) = run(dir, flow).await;
    assert_eq!(code, 1, "the Colissimo delivery fails:\n{out}");
    assert!(out.contains("read 4 · created 2"), "{out}");
    assert!(out.contains("filtered 1 · failed 1"), "{out}");
    assert!(
        out.contains(
            "value map `carriers` has no entry for \"c7000000-0000-4000-8000-000000000001\""
        ),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shipments_template_fails_a_delivery_with_an_unmapped_carrier_alone() {
    const ID: &str = "exact-online-shipments-to-shopify";
    let order = |n: u64, sku: &str, qty: u64| {
        json!({ "id": 450789469 + n, "name": format!("#{}", 1000 + n),
                "line_items": [{ "id": 466157049 + n * 10, "sku": sku, "quantity": qty }] })
    };
    let (shop, shop_url) = vendors::shopify(Shop {
        orders: vec![order(1, "TABLIER-LIN", 1), order(2, "CONF-FRAISE-370", 24)],
        ..Shop::default()
    })
    .await;
    let (_exact, exact_url) = vendors::exact(HashMap::from([rows(
        "salesorder/GoodsDeliveries",
        template_json(ID, "sample-input.json"),
    )]))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let flow = enable(
        dir.path(),
        ID,
        &[
            ("erp", vendors::exact_connection(&exact_url)),
            ("shop", vendors::shopify_connection(&shop_url)),
        ],
        &[DHL_ONLY_CARRIERS],
    )
    .await;
    assert_unmapped_carrier_fails_alone(dir.path(), &flow).await;
    let shop = shop.lock().unwrap();
    let companies: Vec<&Value> = shop
        .fulfillments
        .iter()
        .map(|f| &f["fulfillment"]["tracking_info"]["company"])
        .collect();
    assert_eq!(companies, [&json!("DHL Express"), &json!("DHL Express")]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exact_shipments_to_woocommerce_template_fails_a_delivery_with_an_unmapped_carrier_alone() {
    const ID: &str = "exact-online-shipments-to-woocommerce";
    let order = |id: u64| json!({ "id": id, "number": id.to_string(), "status": "processing" });
    let (woo, woo_url) = vendors::woocommerce(vendors::Woo {
        orders: vec![order(741), order(742)],
        ..Default::default()
    })
    .await;
    let (_exact, exact_url) = vendors::exact(HashMap::from([rows(
        "salesorder/GoodsDeliveries",
        template_json(ID, "sample-input.json"),
    )]))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let flow = enable(
        dir.path(),
        ID,
        &[
            ("erp", vendors::exact_connection(&exact_url)),
            ("shop", vendors::woocommerce_connection(&woo_url)),
        ],
        &[DHL_ONLY_CARRIERS],
    )
    .await;
    assert_unmapped_carrier_fails_alone(dir.path(), &flow).await;
    let woo = woo.lock().unwrap();
    assert!(
        woo.writes.iter().all(|(_, path, _)| !path.contains("741")),
        "nothing sent for order 741: {:?}",
        woo.writes
    );
    assert_eq!(woo.orders[0]["status"], "processing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_enabled_template_runs_on_the_tenants_stored_connections() {
    const ID: &str = "shopify-orders-to-exact-online";
    let orders: Vec<Value> =
        serde_json::from_value(template_json(ID, "sample-input.json")).unwrap();
    let (_shop, shop_url) = vendors::shopify(Shop {
        orders,
        ..Shop::default()
    })
    .await;
    let (exact, exact_url) = exact_knowing_leroy().await;
    let dir = tempfile::tempdir().unwrap();
    for (name, connection) in [
        ("acme-shop", vendors::shopify_connection(&shop_url)),
        ("acme-exact", vendors::exact_connection(&exact_url)),
    ] {
        support::add_connection(dir.path(), "acme", name, &connection).await;
    }
    // A slot bound to a connection of another kind, or to one the tenant lacks, is refused.
    let (code, out) = ferry(
        dir.path(),
        &[
            "template",
            "enable",
            ID,
            "--tenant",
            "acme",
            "--connection",
            "shop=acme-exact",
            "--connection",
            "erp=nope",
            "--out",
            "flow.json",
        ],
    )
    .await;
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains(
            "connection slot `shop`: takes a `shopify` connection; `acme-exact` is `exact_online`"
        ),
        "{out}"
    );
    assert!(
        out.contains("connection slot `erp`: tenant `acme` has no stored connection `nope`"),
        "{out}"
    );
    let (code, out) = ferry(
        dir.path(),
        &[
            "template",
            "enable",
            ID,
            "--tenant",
            "acme",
            "--connection",
            "shop=acme-shop",
            "--connection",
            "erp=acme-exact",
            "--set",
            "match_by_siret=true",
            "--out",
            "flow.json",
        ],
    )
    .await;
    assert_eq!(code, 0, "{out}");
    let flow_text = std::fs::read_to_string(dir.path().join("flow.json")).unwrap();
    let flow: Value = serde_json::from_str(&flow_text).unwrap();
    assert_eq!(flow["connections"]["shop"]["stored"], "acme-shop");
    assert!(
        !flow_text.contains("shpat_templates"),
        "no credential in the flow"
    );

    let flow = dir.path().join("flow.json").display().to_string();
    let (code, out) = run(dir.path(), &flow).await;
    assert_eq!(code, 1, "the Luxembourg order fails:\n{out}");
    assert!(out.contains("read 8 · created 6"), "{out}");
    assert_expected(
        ID,
        &exact.lock().unwrap().posted_to("salesorder/SalesOrders"),
    );

    // Another tenant's flow cannot use acme's connection.
    let other = flow_text.replace("\"tenant\": \"acme\"", "\"tenant\": \"globex\"");
    assert_ne!(other, flow_text);
    std::fs::write(dir.path().join("other.json"), other).unwrap();
    let (code, out) = ferry(dir.path(), &["run", "other.json"]).await;
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("globex") && out.contains("acme-shop"), "{out}");
}
