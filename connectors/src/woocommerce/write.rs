//! The write operations, one request (or a short exchange) per record, and the lookups that
//! tell the engine whether a send a crash left unanswered reached the store.
//!
//! | operation | request | target id | lookup by key |
//! |---|---|---|---|
//! | `update_stock` | `PUT products/{id}` or `PUT products/{id}/variations/{vid}` | product or variation id | none needed: absent, so it is sent again (an absolute quantity set twice is harmless) |
//! | `add_order_note` | `POST orders/{id}/notes` (then `PUT orders/{id}` to complete it) | note id | unsupported: a note cannot be told apart from a person's, so the record is held |
//! | `upsert_product` | `PUT products/{id}` or `POST products` | product id | SKU (`GET products?sku=`) |
//! | `upsert_customer` | `PUT customers/{id}` or `POST customers` | customer id | email (`GET customers?email=`) |

use ferry_engine::connector::{ConnectorError, Lookup, WriteAck, WriteAction, WriteRecord};
use reqwest::Method;
use serde_json::{Map, Value, json};

use super::KIND;
use super::config::{
    AddOrderNoteParams, UpdateStockParams, UpsertCustomerParams, UpsertProductParams,
};
use crate::http::write::encode_segment;
use crate::json_api::{JsonApi, bad_record, id_text, within};

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
    let found = match WriteOp::parse(operation, params)? {
        WriteOp::UpdateStock(_) => return Ok(Lookup::Absent),
        WriteOp::AddOrderNote(_) => return Ok(Lookup::Unsupported),
        WriteOp::UpsertProduct(_) => product_by_sku(api, key).await?.map(|(id, _)| id),
        WriteOp::UpsertCustomer(_) => customer_by_email(api, key).await?,
    };
    Ok(match found {
        Some(id) => Lookup::Found(WriteAck {
            status: Some(200),
            body: None,
            target_id: Some(id),
        }),
        None => Lookup::Absent,
    })
}

/// A write operation with its parsed params.
enum WriteOp {
    UpdateStock(UpdateStockParams),
    AddOrderNote(AddOrderNoteParams),
    UpsertProduct(UpsertProductParams),
    UpsertCustomer(UpsertCustomerParams),
}

impl WriteOp {
    fn parse(operation: &str, params: &Value) -> Result<Self, ConnectorError> {
        Ok(match operation {
            "update_stock" => WriteOp::UpdateStock(crate::parse_params(KIND, operation, params)?),
            "add_order_note" => {
                WriteOp::AddOrderNote(crate::parse_params(KIND, operation, params)?)
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
            WriteOp::UpdateStock(_) => update_stock(api, record, payload).await,
            WriteOp::AddOrderNote(p) => add_order_note(api, p, record, payload).await,
            WriteOp::UpsertProduct(p) => upsert_product(api, p, record, payload).await,
            WriteOp::UpsertCustomer(p) => upsert_customer(api, p, record, payload).await,
        }
    }
}

/// An optional id field: absent or null is `None`, anything but an id is an error naming it.
fn optional_id(
    record: &WriteRecord,
    payload: &Map<String, Value>,
    field: &str,
) -> Result<Option<String>, ConnectorError> {
    match payload.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => id_text(value).map(Some).ok_or_else(|| {
            bad_record(
                &record.key,
                format!("field `{field}` must be a numeric id, found {value}"),
            )
        }),
    }
}

/// `WriteAck` of an answer object, with its `id` (or `fallback`) as the target id.
fn with_id(ack: WriteAck, answer: &Value, fallback: Option<String>) -> WriteAck {
    WriteAck {
        target_id: id_text(&answer["id"]).or(fallback),
        ..ack
    }
}

async fn update_stock(
    api: &JsonApi,
    record: &WriteRecord,
    payload: &Map<String, Value>,
) -> Result<WriteAck, ConnectorError> {
    let quantity = payload
        .get("stock_quantity")
        .and_then(|v| v.as_i64().or_else(|| v.as_str()?.trim().parse().ok()))
        .ok_or_else(|| {
            bad_record(
                &record.key,
                format!(
                    "field `stock_quantity` must be a whole number, found {}",
                    payload
                        .get("stock_quantity")
                        .map_or("nothing".into(), Value::to_string)
                ),
            )
        })?;
    let mut product = optional_id(record, payload, "product_id")?;
    let mut variation = optional_id(record, payload, "variation_id")?;
    if product.is_none() {
        let sku = payload
            .get("sku")
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| {
                bad_record(
                    &record.key,
                    "give `product_id` (and `variation_id`) or `sku`",
                )
            })?;
        let (id, parent) = product_by_sku(api, sku).await?.ok_or_else(|| {
            bad_record(
                &record.key,
                format!("no product or variation has SKU {sku:?}"),
            )
        })?;
        match parent {
            Some(parent) => {
                product = Some(parent);
                variation = Some(id);
            }
            None => product = Some(id),
        }
    }
    let product = product.unwrap_or_default();
    let path = match &variation {
        Some(v) => format!("products/{product}/variations/{v}"),
        None => format!("products/{product}"),
    };
    let body = json!({ "manage_stock": true, "stock_quantity": quantity });
    let (ack, answer) = api.request(Method::PUT, &path, &[], Some(&body)).await?;
    Ok(with_id(ack, &answer, variation.or(Some(product))))
}

async fn add_order_note(
    api: &JsonApi,
    params: &AddOrderNoteParams,
    record: &WriteRecord,
    payload: &Map<String, Value>,
) -> Result<WriteAck, ConnectorError> {
    let order = optional_id(record, payload, "order_id")?
        .ok_or_else(|| bad_record(&record.key, "field `order_id` is missing"))?;
    let note = note_text(payload).ok_or_else(|| {
        bad_record(
            &record.key,
            "give `note`, or shipment details (`tracking_number`, `tracking_company`, `tracking_url`)",
        )
    })?;
    let customer_note = payload
        .get("customer_note")
        .and_then(Value::as_bool)
        .unwrap_or(params.customer_note);
    let body = json!({ "note": note, "customer_note": customer_note });
    let (ack, answer) = api
        .request(
            Method::POST,
            &format!("orders/{order}/notes"),
            &[],
            Some(&body),
        )
        .await?;
    let ack = with_id(ack, &answer, None);
    if params.complete_order {
        api.request(
            Method::PUT,
            &format!("orders/{order}"),
            &[],
            Some(&json!({ "status": "completed" })),
        )
        .await
        .map_err(|e| {
            within(
                e,
                &format!(
                    "note {} added, completing the order",
                    ack.target_id.as_deref().unwrap_or("?")
                ),
            )
        })?;
    }
    Ok(ack)
}

/// The note: `note` as given, or a shipment line from the tracking fields.
fn note_text(payload: &Map<String, Value>) -> Option<String> {
    let text = |field: &str| {
        payload
            .get(field)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
    };
    if let Some(note) = text("note") {
        return Some(note.to_string());
    }
    let number = text("tracking_number")?;
    let mut note = match text("tracking_company") {
        Some(company) => format!("Shipped with {company}, tracking number {number}"),
        None => format!("Shipped, tracking number {number}"),
    };
    if let Some(url) = text("tracking_url") {
        note.push_str(&format!(": {url}"));
    }
    Some(note)
}

async fn upsert_product(
    api: &JsonApi,
    params: &UpsertProductParams,
    record: &WriteRecord,
    payload: &Map<String, Value>,
) -> Result<WriteAck, ConnectorError> {
    let sku = payload
        .get("sku")
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty());
    let existing = match (&record.action, optional_id(record, payload, "id")?) {
        (WriteAction::Update { target_id }, _) => Some(target_id.clone()),
        (WriteAction::Create, Some(id)) => Some(id),
        (WriteAction::Create, None) => match (sku, params.match_by_sku) {
            (Some(sku), true) => product_by_sku(api, sku)
                .await?
                .filter(|(_, parent)| parent.is_none())
                .map(|(id, _)| id),
            _ => None,
        },
    };
    let mut product = payload.clone();
    product.remove("id");
    // `_create_only`: fields sent when the product is created, kept out of updates (so what
    // was enriched in the shop is not overwritten).
    let create_only = product.remove("_create_only");
    if existing.is_some() {
        for name in create_only
            .iter()
            .filter_map(Value::as_array)
            .flatten()
            .filter_map(Value::as_str)
        {
            product.remove(name);
        }
    }
    let (method, path) = match &existing {
        Some(id) => (Method::PUT, format!("products/{}", encode_segment(id))),
        None => (Method::POST, "products".to_string()),
    };
    let (ack, answer) = api
        .request(method, &path, &[], Some(&Value::Object(product)))
        .await?;
    Ok(with_id(ack, &answer, existing))
}

async fn upsert_customer(
    api: &JsonApi,
    params: &UpsertCustomerParams,
    record: &WriteRecord,
    payload: &Map<String, Value>,
) -> Result<WriteAck, ConnectorError> {
    let email = payload
        .get("email")
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty());
    let existing = match (&record.action, optional_id(record, payload, "id")?) {
        (WriteAction::Update { target_id }, _) => Some(target_id.clone()),
        (WriteAction::Create, Some(id)) => Some(id),
        (WriteAction::Create, None) => match (email, params.match_by_email) {
            (Some(email), true) => customer_by_email(api, email).await?,
            _ => None,
        },
    };
    let mut customer = payload.clone();
    customer.remove("id");
    let (method, path) = match &existing {
        Some(id) => (Method::PUT, format!("customers/{}", encode_segment(id))),
        None => (Method::POST, "customers".to_string()),
    };
    let (ack, answer) = api
        .request(method, &path, &[], Some(&Value::Object(customer)))
        .await?;
    Ok(with_id(ack, &answer, existing))
}

/// The product or variation with SKU `sku`: its id, and its parent's id for a variation.
async fn product_by_sku(
    api: &JsonApi,
    sku: &str,
) -> Result<Option<(String, Option<String>)>, ConnectorError> {
    let answer = api
        .get(
            "products",
            &[("sku", sku.to_string()), ("per_page", "10".into())],
        )
        .await
        .map_err(|e| within(e, &format!("looking up SKU {sku:?}")))?;
    Ok(answer.as_array().and_then(|list| {
        list.iter()
            .find(|p| p["sku"].as_str() == Some(sku))
            .and_then(|p| {
                let id = id_text(&p["id"])?;
                let parent = id_text(&p["parent_id"]).filter(|parent| parent != "0");
                let parent = parent.filter(|_| p["type"] == "variation");
                Some((id, parent))
            })
    }))
}

/// The id of the customer whose email is `email` (case-insensitive).
async fn customer_by_email(api: &JsonApi, email: &str) -> Result<Option<String>, ConnectorError> {
    let wanted = email.trim().to_lowercase();
    let answer = api
        .get(
            "customers",
            &[("email", wanted.clone()), ("role", "all".into())],
        )
        .await
        .map_err(|e| within(e, &format!("looking up customer {email:?}")))?;
    Ok(answer.as_array().and_then(|list| {
        list.iter()
            .find(|c| {
                c["email"]
                    .as_str()
                    .is_some_and(|e| e.eq_ignore_ascii_case(&wanted))
            })
            .and_then(|c| id_text(&c["id"]))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipment_details_become_the_note() {
        let payload = json!({ "tracking_number": "1Z2345", "tracking_company": "UPS", "tracking_url": "https://ups.example/1Z2345" });
        assert_eq!(
            note_text(payload.as_object().unwrap()).as_deref(),
            Some("Shipped with UPS, tracking number 1Z2345: https://ups.example/1Z2345")
        );
        let payload = json!({ "note": "Packed.", "tracking_number": "x" });
        assert_eq!(
            note_text(payload.as_object().unwrap()).as_deref(),
            Some("Packed.")
        );
        assert_eq!(note_text(json!({ "note": " " }).as_object().unwrap()), None);
    }
}
