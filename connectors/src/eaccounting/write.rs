//! The write operations: `upsert_customer`, `upsert_article`, `create_order` and
//! `create_invoice_draft`, one record per request, acked with eAccounting's `Id`; and
//! `lookup` by business key, which the engine asks after a crash left a send unanswered.
//!
//! A record with a target id in the ledger (`WriteAction::Update`) is sent with a PUT on
//! `<path>/<id>`. Customers and articles without one are first looked for by number (a
//! customer also by email) when `match_existing` is on, so a second run updates instead of
//! creating a duplicate.

use ferry_engine::connector::{ConnectorError, Lookup, WriteAck, WriteAction, WriteRecord};
use reqwest::Method;
use serde_json::{Map, Value};

use super::KIND;
use super::client::EAccountingApi;
use super::config::WriteParams;
use super::resolve::resolve_order;
use crate::json_api::{bad_record, within};

/// A write operation: its path, and the fields its business key may be in.
struct WriteOp {
    name: &'static str,
    path: &'static str,
    /// Fields an object is found by, tried in order; `@` keys only match email fields.
    keys: &'static [&'static str],
}

const WRITE_OPS: &[WriteOp] = &[
    WriteOp {
        name: "upsert_customer",
        path: "customers",
        keys: &["CustomerNumber", "EmailAddress"],
    },
    WriteOp {
        name: "upsert_article",
        path: "articles",
        keys: &["Number"],
    },
    WriteOp {
        name: "create_order",
        path: "orders",
        keys: &["YourReference"],
    },
    WriteOp {
        name: "create_invoice_draft",
        path: "customerinvoicedrafts",
        keys: &["YourReference"],
    },
];

fn write_op(name: &str) -> Result<&'static WriteOp, ConnectorError> {
    WRITE_OPS
        .iter()
        .find(|op| op.name == name)
        .ok_or_else(|| super::unknown_operation(name))
}

/// Sends `records` with `operation`, one request each.
pub(crate) async fn write(
    api: &EAccountingApi,
    operation: &str,
    params: &Value,
    records: &[WriteRecord],
) -> Result<Vec<Result<WriteAck, ConnectorError>>, ConnectorError> {
    let op = write_op(operation)?;
    let params: WriteParams = crate::parse_params(KIND, operation, params)?;
    let mut results = Vec::with_capacity(records.len());
    for record in records {
        let result = write_one(api, op, &params, record)
            .await
            .map_err(|e| within(e, &format!("record `{}`", record.key)));
        results.push(result);
    }
    Ok(results)
}

/// The directive listing fields sent only on creation; never sent to eAccounting.
const CREATE_ONLY: &str = "_create_only";

async fn write_one(
    api: &EAccountingApi,
    op: &WriteOp,
    params: &WriteParams,
    record: &WriteRecord,
) -> Result<WriteAck, ConnectorError> {
    let Value::Object(fields) = &record.payload else {
        return Err(bad_record(
            &record.key,
            "the payload must be an object of eAccounting fields",
        ));
    };
    check(op, &record.key, fields)?;
    let upsert = matches!(op.name, "upsert_customer" | "upsert_article");
    let document = matches!(op.name, "create_order" | "create_invoice_draft");
    // An order already in eAccounting (same `YourReference`) is not created twice.
    if params.skip_existing
        && document
        && matches!(record.action, WriteAction::Create)
        && let Some(reference) = fields.get("YourReference").and_then(Value::as_str)
        && let Some(id) = find(api, op, "YourReference", reference).await?
    {
        return Ok(WriteAck {
            status: Some(200),
            body: Some(format!(
                "already in eAccounting: {id} has YourReference {reference:?}"
            )),
            target_id: Some(id),
        });
    }
    let target = match &record.action {
        WriteAction::Update { target_id } => Some(target_id.clone()),
        WriteAction::Create if upsert && params.match_existing => {
            let mut found = None;
            for field in op.keys {
                if let Some(value) = fields.get(*field).and_then(Value::as_str)
                    && !value.trim().is_empty()
                {
                    found = find(api, op, field, value).await?;
                    if found.is_some() {
                        break;
                    }
                }
            }
            found
        }
        WriteAction::Create => None,
    };
    // `_create_only`: fields sent when the object is created, kept out of updates (so what was
    // edited in eAccounting is not overwritten).
    let mut fields = fields.clone();
    let create_only = fields.remove(CREATE_ONLY);
    let (method, path, body) = match &target {
        Some(id) => {
            let mut body = fields;
            for name in create_only
                .iter()
                .filter_map(Value::as_array)
                .flatten()
                .filter_map(Value::as_str)
            {
                body.remove(name);
            }
            if matches!(op.name, "create_order" | "create_invoice_draft") {
                body.remove("Customer");
                body.remove("CustomerNumber");
            }
            body.insert("Id".into(), Value::String(id.clone()));
            (Method::PUT, format!("{}/{id}", op.path), body)
        }
        None => {
            if matches!(op.name, "create_order" | "create_invoice_draft") {
                resolve_order(api, &record.key, &mut fields).await?;
            }
            (Method::POST, op.path.to_string(), fields)
        }
    };
    let (mut ack, answer) = api
        .request(method, &path, &[], Some(&Value::Object(body)))
        .await?;
    ack.target_id = answer["Id"].as_str().map(str::to_string).or(target);
    if ack.target_id.is_none() {
        return Err(ConnectorError::Permanent {
            message: "eAccounting accepted the record but its answer has no `Id`".into(),
            status: ack.status,
            body: ack.body,
        });
    }
    Ok(ack)
}

/// What eAccounting refuses anyway, caught before sending and named by field.
fn check(op: &WriteOp, key: &str, fields: &Map<String, Value>) -> Result<(), ConnectorError> {
    let text = |name: &str| {
        fields
            .get(name)
            .and_then(Value::as_str)
            .is_some_and(|s| !s.trim().is_empty())
    };
    match op.name {
        "upsert_customer" if !text("Name") => Err(bad_record(key, "field `Name` is required")),
        "upsert_article" if !text("Number") || !text("Name") => {
            Err(bad_record(key, "fields `Number` and `Name` are required"))
        }
        "create_order" | "create_invoice_draft" => {
            if !text("CustomerId")
                && !text("CustomerNumber")
                && !fields.get("Customer").is_some_and(Value::is_object)
            {
                return Err(bad_record(
                    key,
                    "field `CustomerId` (the customer's Id), `CustomerNumber` (a customer's number) or `Customer` (to find or create) is required",
                ));
            }
            let rows = fields.get("Rows").and_then(Value::as_array);
            let Some(rows) = rows.filter(|r| !r.is_empty()) else {
                return Err(bad_record(key, "field `Rows` must be a non-empty list"));
            };
            for (i, row) in rows.iter().enumerate() {
                let has_article = ["ArticleId", "ArticleNumber"]
                    .iter()
                    .any(|f| row[*f].as_str().is_some_and(|s| !s.is_empty()));
                let has_text = row["Text"].as_str().is_some_and(|s| !s.is_empty());
                if !has_article && !has_text {
                    return Err(bad_record(
                        key,
                        format!("`Rows[{i}]` needs `ArticleId` or `Text`"),
                    ));
                }
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// The `Id` of the object of `op` whose `field` equals `value`, if any.
async fn find(
    api: &EAccountingApi,
    op: &WriteOp,
    field: &str,
    value: &str,
) -> Result<Option<String>, ConnectorError> {
    let literal = format!("'{}'", value.trim().replace('\'', "''"));
    let answer = api
        .get(
            op.path,
            &[
                ("$filter", format!("{field} eq {literal}")),
                ("$page", "1".into()),
                ("$pagesize", "1".into()),
            ],
        )
        .await?;
    Ok(answer["Data"][0]["Id"].as_str().map(str::to_string))
}

/// Finds what `operation` made for business key `key`: a customer by number or email (a key
/// with `@`), an article by number, an order or invoice draft by `YourReference`.
pub(crate) async fn lookup(
    api: &EAccountingApi,
    operation: &str,
    key: &str,
) -> Result<Lookup, ConnectorError> {
    let op = write_op(operation)?;
    let field = match op.name {
        "upsert_customer" if key.contains('@') => "EmailAddress",
        _ => op.keys[0],
    };
    Ok(match find(api, op, field, key).await? {
        Some(id) => Lookup::Found(WriteAck {
            status: Some(200),
            body: None,
            target_id: Some(id),
        }),
        None => Lookup::Absent,
    })
}
