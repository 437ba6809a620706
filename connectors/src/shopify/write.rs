//! The write operations, one request (or a short exchange) per record, and the lookups that
//! tell the engine whether a send a crash left unanswered reached the store.
//!
//! | operation | request | target id | lookup by key |
//! |---|---|---|---|
//! | `set_inventory_level` | `POST inventory_levels/set.json` | `inventory_item_id` | none needed: absent, so it is sent again (setting an absolute quantity twice is harmless) |
//! | `create_fulfillment` | `GET orders/{id}/fulfillment_orders.json`, then `POST fulfillments.json`; for a fulfillment sent before, `POST fulfillments/{id}/update_tracking.json` | fulfillment id | order id or name (`#1001`): its fulfillments |
//! | `upsert_product` | `PUT products/{id}.json` or `POST products.json` | product id | SKU (GraphQL `productVariants`) |
//! | `upsert_customer` | `PUT customers/{id}.json` or `POST customers.json` | customer id | email (`customers/search.json`) |

use ferry_engine::connector::{ConnectorError, Lookup, WriteAck, WriteAction, WriteRecord};
use reqwest::Method;
use serde_json::{Map, Value, json};

use super::KIND;
use super::client::{order_id, variant_by_sku};
use super::config::{
    CreateFulfillmentParams, SetInventoryLevelParams, UpsertCustomerParams, UpsertProductParams,
};
use crate::http::write::encode_segment;
use crate::json_api::{JsonApi, bad_record, id_text, within};

/// Fulfillment order states that can still be fulfilled.
const FULFILLABLE: [&str; 2] = ["open", "in_progress"];

/// Sends `records` with write operation `operation`; one result per record.
pub(crate) async fn write(
    api: &JsonApi,
    operation: &str,
    params: &Value,
    records: &[WriteRecord],
) -> Result<Vec<Result<WriteAck, ConnectorError>>, ConnectorError> {
    let op = WriteOp::parse(operation, params)?;
    let mut results = Vec::with_capacity(records.len());
    for record in records {
        let result = op
            .send(api, record)
            .await
            .map_err(|e| within(e, &format!("record `{}`", record.key)));
        results.push(result);
    }
    Ok(results)
}

/// What the store holds for business key `key` of write operation `operation`.
pub(crate) async fn lookup(
    api: &JsonApi,
    operation: &str,
    params: &Value,
    key: &str,
) -> Result<Lookup, ConnectorError> {
    match WriteOp::parse(operation, params)? {
        WriteOp::SetInventoryLevel(_) => Ok(Lookup::Absent),
        WriteOp::CreateFulfillment(_) => {
            let Some(order) = order_id(api, key).await? else {
                return Ok(Lookup::Absent);
            };
            let answer = api
                .get(
                    &format!("orders/{}/fulfillments.json", encode_segment(&order)),
                    &[],
                )
                .await?;
            let found = answer["fulfillments"].as_array().and_then(|list| {
                list.iter()
                    .rev()
                    .find(|f| f["status"] != "cancelled" && f["status"] != "error")
            });
            Ok(match found {
                Some(f) => Lookup::Found(ack_for(f, None)),
                None => Lookup::Absent,
            })
        }
        WriteOp::UpsertProduct(_) => Ok(match variant_by_sku(api, key).await? {
            Some(variant) => Lookup::Found(WriteAck {
                status: Some(200),
                body: None,
                target_id: Some(variant.product_id),
            }),
            None => Lookup::Absent,
        }),
        WriteOp::UpsertCustomer(_) => Ok(match customer_by_email(api, key).await? {
            Some(id) => Lookup::Found(WriteAck {
                status: Some(200),
                body: None,
                target_id: Some(id),
            }),
            None => Lookup::Absent,
        }),
    }
}

/// A write operation with its parsed params.
enum WriteOp {
    SetInventoryLevel(SetInventoryLevelParams),
    CreateFulfillment(CreateFulfillmentParams),
    UpsertProduct(UpsertProductParams),
    UpsertCustomer(UpsertCustomerParams),
}

impl WriteOp {
    fn parse(operation: &str, params: &Value) -> Result<Self, ConnectorError> {
        Ok(match operation {
            "set_inventory_level" => {
                WriteOp::SetInventoryLevel(crate::parse_params(KIND, operation, params)?)
            }
            "create_fulfillment" => {
                WriteOp::CreateFulfillment(crate::parse_params(KIND, operation, params)?)
            }
            "upsert_product" => {
                WriteOp::UpsertProduct(crate::parse_params(KIND, operation, params)?)
            }
            "upsert_customer" => {
                WriteOp::UpsertCustomer(crate::parse_params(KIND, operation, params)?)
            }
            other => return Err(super::unknown_operation(other)),
        })
    }

    async fn send(&self, api: &JsonApi, record: &WriteRecord) -> Result<WriteAck, ConnectorError> {
        let payload = record
            .payload
            .as_object()
            .ok_or_else(|| bad_record(&record.key, "the payload is not a JSON object"))?;
        match self {
            WriteOp::SetInventoryLevel(p) => set_inventory_level(api, p, record, payload).await,
            WriteOp::CreateFulfillment(p) => create_fulfillment(api, p, record, payload).await,
            WriteOp::UpsertProduct(p) => upsert_product(api, p, record, payload).await,
            WriteOp::UpsertCustomer(p) => upsert_customer(api, p, record, payload).await,
        }
    }
}

/// A required id field of the payload, or an error naming it.
fn required_id(
    record: &WriteRecord,
    payload: &Map<String, Value>,
    field: &str,
) -> Result<String, ConnectorError> {
    payload.get(field).and_then(id_text).ok_or_else(|| {
        bad_record(
            &record.key,
            format!(
                "field `{field}` must be a numeric id, found {}",
                payload
                    .get(field)
                    .map_or("nothing".into(), Value::to_string)
            ),
        )
    })
}

/// The ack for an answer object, its `id` as the target id.
fn ack_for(object: &Value, status: Option<u16>) -> WriteAck {
    WriteAck {
        status: status.or(Some(200)),
        body: Some(crate::http::status::excerpt(object.to_string().as_bytes())),
        target_id: id_text(&object["id"]),
    }
}

async fn set_inventory_level(
    api: &JsonApi,
    params: &SetInventoryLevelParams,
    record: &WriteRecord,
    payload: &Map<String, Value>,
) -> Result<WriteAck, ConnectorError> {
    // A stock list from an ERP knows SKUs, not Shopify's inventory items.
    let sku = payload
        .get("sku")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty());
    let item = match (payload.get("inventory_item_id"), sku) {
        (None | Some(Value::Null), Some(sku)) => variant_by_sku(api, sku)
            .await?
            .and_then(|v| v.inventory_item_id)
            .ok_or_else(|| {
                bad_record(
                    &record.key,
                    format!("no variant with an inventory item has SKU {sku:?}"),
                )
            })?,
        _ => required_id(record, payload, "inventory_item_id")?,
    };
    let location = match payload.get("location_id") {
        Some(value) if !value.is_null() => required_id(record, payload, "location_id")?,
        _ => params.location_id.map(|l| l.to_string()).ok_or_else(|| {
            bad_record(
                &record.key,
                "field `location_id` is missing and the operation params set none",
            )
        })?,
    };
    let available = payload
        .get("available")
        .and_then(|v| v.as_i64().or_else(|| v.as_str()?.trim().parse().ok()))
        .ok_or_else(|| {
            bad_record(
                &record.key,
                format!(
                    "field `available` must be a whole number, found {}",
                    payload
                        .get("available")
                        .map_or("nothing".into(), Value::to_string)
                ),
            )
        })?;
    let body = json!({
        "location_id": location.parse::<u64>().unwrap_or_default(),
        "inventory_item_id": item.parse::<u64>().unwrap_or_default(),
        "available": available,
    });
    let (ack, _) = api
        .request(Method::POST, "inventory_levels/set.json", &[], Some(&body))
        .await?;
    Ok(WriteAck {
        target_id: Some(item),
        ..ack
    })
}

async fn create_fulfillment(
    api: &JsonApi,
    params: &CreateFulfillmentParams,
    record: &WriteRecord,
    payload: &Map<String, Value>,
) -> Result<WriteAck, ConnectorError> {
    let tracking = tracking_info(payload);
    let notify = payload
        .get("notify_customer")
        .and_then(Value::as_bool)
        .unwrap_or(params.notify_customer);
    // A fulfillment Ferry made earlier: only its tracking can change.
    if let WriteAction::Update { target_id } = &record.action {
        let body =
            json!({ "fulfillment": { "tracking_info": tracking, "notify_customer": notify } });
        let (ack, answer) = api
            .request(
                Method::POST,
                &format!(
                    "fulfillments/{}/update_tracking.json",
                    encode_segment(target_id)
                ),
                &[],
                Some(&body),
            )
            .await?;
        return Ok(WriteAck {
            target_id: id_text(&answer["fulfillment"]["id"]).or(Some(target_id.clone())),
            ..ack
        });
    }
    // An ERP knows the order by its name (`#1001`, the reference it was imported with).
    let name = payload
        .get("order_name")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty());
    let order = match (payload.get("order_id"), name) {
        (None | Some(Value::Null), Some(name)) => order_id(api, name).await?.ok_or_else(|| {
            bad_record(
                &record.key,
                format!("no order is named {name:?} (`order_name`)"),
            )
        })?,
        _ => required_id(record, payload, "order_id")?,
    };
    let answer = api
        .get(&format!("orders/{order}/fulfillment_orders.json"), &[])
        .await?;
    let open: Vec<Value> = answer["fulfillment_orders"]
        .as_array()
        .map(|list| {
            list.iter()
                .filter(|fo| FULFILLABLE.iter().any(|s| fo["status"] == *s))
                .filter(|fo| {
                    params
                        .location_id
                        .is_none_or(|l| fo["assigned_location_id"].as_u64() == Some(l))
                })
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    if open.is_empty() {
        return Err(bad_record(
            &record.key,
            format!(
                "order {order} has no open fulfillment order to fulfill (already fulfilled or cancelled?)"
            ),
        ));
    }
    let by_fulfillment_order = match payload.get("line_items") {
        None | Some(Value::Null) => open
            .iter()
            .map(|fo| json!({ "fulfillment_order_id": fo["id"] }))
            .collect(),
        Some(Value::Array(wanted)) => partial_lines(api, record, &order, wanted, &open).await?,
        Some(other) => {
            return Err(bad_record(
                &record.key,
                format!(
                    "field `line_items` must be a list of {{sku or line_item_id, quantity}}, found {other}"
                ),
            ));
        }
    };
    let body = json!({ "fulfillment": {
        "line_items_by_fulfillment_order": by_fulfillment_order,
        "tracking_info": tracking,
        "notify_customer": notify,
    }});
    let (ack, answer) = api
        .request(Method::POST, "fulfillments.json", &[], Some(&body))
        .await?;
    Ok(WriteAck {
        target_id: id_text(&answer["fulfillment"]["id"]),
        ..ack
    })
}

/// The lines of a partial shipment (`line_items: [{sku or line_item_id, quantity}]`) spread
/// over the open fulfillment orders' lines, as `line_items_by_fulfillment_order` entries.
async fn partial_lines(
    api: &JsonApi,
    record: &WriteRecord,
    order: &str,
    wanted: &[Value],
    open: &[Value],
) -> Result<Vec<Value>, ConnectorError> {
    // SKUs are on the order's lines, not on the fulfillment orders'.
    let by_sku: Vec<(String, String)> = if wanted.iter().any(|w| w.get("sku").is_some()) {
        let answer = api
            .get(
                &format!("orders/{order}.json"),
                &[("fields", "id,line_items".into())],
            )
            .await?;
        answer["order"]["line_items"]
            .as_array()
            .map(|lines| {
                lines
                    .iter()
                    .filter_map(|l| Some((l["sku"].as_str()?.to_string(), id_text(&l["id"])?)))
                    .collect()
            })
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    // What is left to fulfill on each fulfillment order line, in order.
    let mut left: Vec<(Value, Value, String, i64)> = open
        .iter()
        .flat_map(|fo| {
            fo["line_items"]
                .as_array()
                .into_iter()
                .flatten()
                .map(move |line| {
                    (
                        fo["id"].clone(),
                        line["id"].clone(),
                        id_text(&line["line_item_id"]).unwrap_or_default(),
                        line["fulfillable_quantity"].as_i64().unwrap_or(0),
                    )
                })
        })
        .collect();
    let mut taken: Vec<(Value, Value, i64)> = Vec::new();
    for (i, item) in wanted.iter().enumerate() {
        let field = |name: &str| format!("`line_items[{i}].{name}`");
        let quantity = item["quantity"]
            .as_i64()
            .filter(|q| *q > 0)
            .ok_or_else(|| {
                bad_record(
                    &record.key,
                    format!("{} must be a whole number above 0", field("quantity")),
                )
            })?;
        let (what, line_ids): (String, Vec<String>) =
            if let Some(id) = id_text(&item["line_item_id"]) {
                (format!("line item {id}"), vec![id])
            } else if let Some(sku) = item["sku"].as_str() {
                let ids = by_sku
                    .iter()
                    .filter(|(s, _)| s == sku)
                    .map(|(_, id)| id.clone())
                    .collect();
                (format!("SKU {sku:?}"), ids)
            } else {
                return Err(bad_record(
                    &record.key,
                    format!("`line_items[{i}]` needs `sku` or `line_item_id`"),
                ));
            };
        let mut needed = quantity;
        for (fo, fo_line, line_item, available) in left.iter_mut() {
            if needed == 0 {
                break;
            }
            if *available > 0 && line_ids.contains(line_item) {
                let n = needed.min(*available);
                *available -= n;
                needed -= n;
                taken.push((fo.clone(), fo_line.clone(), n));
            }
        }
        if needed > 0 {
            return Err(bad_record(
                &record.key,
                format!(
                    "{what}: {quantity} to ship but only {} left to fulfill on order {order}",
                    quantity - needed
                ),
            ));
        }
    }
    let mut grouped: Vec<(Value, Vec<Value>)> = Vec::new();
    for (fo, fo_line, quantity) in taken {
        let line = json!({ "id": fo_line, "quantity": quantity });
        match grouped.iter_mut().find(|(id, _)| *id == fo) {
            Some((_, lines)) => lines.push(line),
            None => grouped.push((fo, vec![line])),
        }
    }
    Ok(grouped
        .into_iter()
        .map(|(fo, lines)| json!({ "fulfillment_order_id": fo, "fulfillment_order_line_items": lines }))
        .collect())
}

/// Shopify's `tracking_info` from the record's `tracking_number`, `tracking_company` and
/// `tracking_url`.
fn tracking_info(payload: &Map<String, Value>) -> Map<String, Value> {
    let mut tracking = Map::new();
    for (field, name) in [
        ("tracking_number", "number"),
        ("tracking_company", "company"),
        ("tracking_url", "url"),
    ] {
        if let Some(value) = payload.get(field).and_then(Value::as_str) {
            tracking.insert(name.into(), Value::String(value.to_string()));
        }
    }
    tracking
}

async fn upsert_product(
    api: &JsonApi,
    params: &UpsertProductParams,
    record: &WriteRecord,
    payload: &Map<String, Value>,
) -> Result<WriteAck, ConnectorError> {
    let mut product = payload.clone();
    let create_only = product.remove(CREATE_ONLY);
    let first_sku = product
        .get("variants")
        .and_then(|v| v.get(0))
        .and_then(|v| v["sku"].as_str())
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    let existing = match (&record.action, product.get("id").and_then(id_text)) {
        (WriteAction::Update { target_id }, _) => Some(target_id.clone()),
        (WriteAction::Create, Some(id)) => Some(id),
        (WriteAction::Create, None) => match (&first_sku, params.match_by_sku) {
            (Some(sku), true) => variant_by_sku(api, sku).await?.map(|v| v.product_id),
            _ => None,
        },
    };
    let Some(id) = existing else {
        let (ack, answer) = api
            .request(
                Method::POST,
                "products.json",
                &[],
                Some(&json!({ "product": product })),
            )
            .await?;
        return Ok(WriteAck {
            target_id: id_text(&answer["product"]["id"]),
            ..ack
        });
    };
    drop_create_only(record, &mut product, create_only)?;
    keep_variant_ids(api, &id, &mut product).await?;
    product.insert(
        "id".into(),
        id.parse::<u64>()
            .map_or(Value::String(id.clone()), Value::from),
    );
    let (ack, answer) = api
        .request(
            Method::PUT,
            &format!("products/{}.json", encode_segment(&id)),
            &[],
            Some(&json!({ "product": product })),
        )
        .await?;
    Ok(WriteAck {
        target_id: id_text(&answer["product"]["id"]).or(Some(id)),
        ..ack
    })
}

/// The directive listing the fields sent only when a product is created (the product's and its
/// variants'), so data enriched in the shop is not overwritten by updates.
const CREATE_ONLY: &str = "_create_only";

fn drop_create_only(
    record: &WriteRecord,
    product: &mut Map<String, Value>,
    create_only: Option<Value>,
) -> Result<(), ConnectorError> {
    let Some(list) = create_only.filter(|v| !v.is_null()) else {
        return Ok(());
    };
    let names: Vec<&str> = list
        .as_array()
        .map(|l| l.iter().filter_map(Value::as_str).collect())
        .ok_or_else(|| {
            bad_record(
                &record.key,
                format!("`{CREATE_ONLY}` must be a list of field names, found {list}"),
            )
        })?;
    for name in &names {
        product.remove(*name);
    }
    if let Some(Value::Array(variants)) = product.get_mut("variants") {
        for variant in variants.iter_mut().filter_map(Value::as_object_mut) {
            for name in &names {
                variant.remove(*name);
            }
        }
    }
    Ok(())
}

/// Gives variants without an `id` the id of the product's existing variant with the same SKU.
/// Without it, Shopify would replace those variants (and lose their stock and history).
async fn keep_variant_ids(
    api: &JsonApi,
    product_id: &str,
    product: &mut Map<String, Value>,
) -> Result<(), ConnectorError> {
    let Some(variants) = product.get_mut("variants").and_then(Value::as_array_mut) else {
        return Ok(());
    };
    if variants
        .iter()
        .all(|v| v.get("id").is_some_and(|id| !id.is_null()))
    {
        return Ok(());
    }
    let answer = api
        .get(
            &format!("products/{}.json", encode_segment(product_id)),
            &[("fields", "id,variants".into())],
        )
        .await?;
    let existing = answer["product"]["variants"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for variant in variants.iter_mut() {
        let Some(object) = variant.as_object_mut() else {
            continue;
        };
        if object.get("id").is_some_and(|id| !id.is_null()) {
            continue;
        }
        let sku = object
            .get("sku")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if let Some(id) = existing
            .iter()
            .find(|e| !sku.is_empty() && e["sku"].as_str() == Some(sku))
            .map(|e| e["id"].clone())
        {
            object.insert("id".into(), id);
        }
    }
    Ok(())
}

async fn upsert_customer(
    api: &JsonApi,
    params: &UpsertCustomerParams,
    record: &WriteRecord,
    payload: &Map<String, Value>,
) -> Result<WriteAck, ConnectorError> {
    let mut customer = payload.clone();
    let email = customer
        .get("email")
        .and_then(Value::as_str)
        .filter(|e| !e.trim().is_empty())
        .map(str::to_string);
    let existing = match (&record.action, customer.get("id").and_then(id_text)) {
        (WriteAction::Update { target_id }, _) => Some(target_id.clone()),
        (WriteAction::Create, Some(id)) => Some(id),
        (WriteAction::Create, None) => match (&email, params.match_by_email) {
            (Some(email), true) => customer_by_email(api, email).await?,
            _ => None,
        },
    };
    let (method, path) = match &existing {
        Some(id) => {
            customer.insert(
                "id".into(),
                id.parse::<u64>()
                    .map_or(Value::String(id.clone()), Value::from),
            );
            (
                Method::PUT,
                format!("customers/{}.json", encode_segment(id)),
            )
        }
        None => (Method::POST, "customers.json".to_string()),
    };
    let (ack, answer) = api
        .request(method, &path, &[], Some(&json!({ "customer": customer })))
        .await?;
    Ok(WriteAck {
        target_id: id_text(&answer["customer"]["id"]).or(existing),
        ..ack
    })
}

/// The id of the customer whose email is `email` (case-insensitive).
async fn customer_by_email(api: &JsonApi, email: &str) -> Result<Option<String>, ConnectorError> {
    let escaped = email.trim().to_lowercase().replace('"', "");
    let answer = api
        .get(
            "customers/search.json",
            &[
                ("query", format!("email:\"{escaped}\"")),
                ("fields", "id,email".into()),
            ],
        )
        .await
        .map_err(|e| within(e, &format!("looking up customer {email:?}")))?;
    Ok(answer["customers"].as_array().and_then(|list| {
        list.iter()
            .find(|c| {
                c["email"]
                    .as_str()
                    .is_some_and(|e| e.eq_ignore_ascii_case(email.trim()))
            })
            .and_then(|c| id_text(&c["id"]))
    }))
}
