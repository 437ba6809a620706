//! The write operations: `create_sales_order`, `create_sales_invoice`, `create_account`,
//! `create_contact` and `upsert_item`, one record per request, acked with Exact's id (a GUID);
//! and `lookup` by business key for each, which the engine asks after a crash left a send
//! unanswered.
//!
//! A record with a target id in the ledger (`WriteAction::Update`) is updated with a PUT on
//! `Entity(guid'…')`; Exact answers 204 without a body. Sales order and invoice lines are not
//! updated that way (Exact takes them only on creation), so they are left out of the PUT.

use ferry_engine::connector::{ConnectorError, Lookup, WriteAck, WriteAction, WriteRecord};
use reqwest::Method;
use serde_json::{Map, Value};

use super::KIND;
use super::client::{ExactApi, odata_string};
use super::config::WriteParams;
use super::resolve::{MATCH_BY, match_account, resolve_sales_document, strip_directives};
use crate::json_api::{bad_record, within};

/// A write operation: its entity set, id field, and the field its business key is in.
pub(crate) struct WriteOp {
    pub(crate) name: &'static str,
    pub(crate) entity: &'static str,
    pub(crate) id_field: &'static str,
    /// Lines sent on creation only.
    lines: Option<&'static str>,
}

/// Every write operation.
pub(crate) const WRITE_OPS: &[WriteOp] = &[
    WriteOp {
        name: "create_sales_order",
        entity: "salesorder/SalesOrders",
        id_field: "OrderID",
        lines: Some("SalesOrderLines"),
    },
    WriteOp {
        name: "create_sales_invoice",
        entity: "salesinvoice/SalesInvoices",
        id_field: "InvoiceID",
        lines: Some("SalesInvoiceLines"),
    },
    WriteOp {
        name: "create_account",
        entity: "crm/Accounts",
        id_field: "ID",
        lines: None,
    },
    WriteOp {
        name: "create_contact",
        entity: "crm/Contacts",
        id_field: "ID",
        lines: None,
    },
    WriteOp {
        name: "upsert_item",
        entity: "logistics/Items",
        id_field: "ID",
        lines: None,
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
    api: &ExactApi,
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

async fn write_one(
    api: &ExactApi,
    op: &WriteOp,
    params: &WriteParams,
    record: &WriteRecord,
) -> Result<WriteAck, ConnectorError> {
    let Value::Object(fields) = &record.payload else {
        return Err(bad_record(
            &record.key,
            "the payload must be an object of Exact fields",
        ));
    };
    check(op, &record.key, fields)?;
    // An order or invoice already in Exact (same `YourRef`) is not created twice.
    if params.skip_existing
        && op.lines.is_some()
        && matches!(record.action, WriteAction::Create)
        && let Some(reference) = fields.get("YourRef").and_then(Value::as_str)
        && let Some(id) = find(api, op, "YourRef", reference).await?
    {
        return Ok(WriteAck {
            status: Some(200),
            body: Some(format!(
                "already in Exact: {} {id} has YourRef {reference:?}",
                op.entity
            )),
            target_id: Some(id),
        });
    }
    let target = match &record.action {
        WriteAction::Update { target_id } => Some(target_id.clone()),
        // Items are matched by code so a second run updates instead of failing on a duplicate.
        WriteAction::Create if op.name == "upsert_item" => {
            let code = fields.get("Code").and_then(Value::as_str).unwrap_or("");
            find(api, op, "Code", code).await?
        }
        // An account that already exists (same email, SIRET or VAT number) is updated.
        WriteAction::Create if op.name == "create_account" => {
            match_account(api, &record.key, fields.get(MATCH_BY), fields).await?
        }
        WriteAction::Create => None,
    };
    match target {
        Some(id) => {
            let mut fields = fields.clone();
            strip_directives(&record.key, &mut fields, true)?;
            fields.remove("Customer");
            fields.remove("OrderedByCode");
            fields.remove(op.id_field);
            if let Some(lines) = op.lines {
                fields.remove(lines);
            }
            let path = format!("{}(guid{})", api.path(op.entity), odata_string(&id));
            let (mut ack, _) = api
                .request(Method::PUT, &path, &[], Some(&Value::Object(fields)))
                .await?;
            ack.target_id = Some(id);
            Ok(ack)
        }
        None => {
            let mut fields = fields.clone();
            strip_directives(&record.key, &mut fields, false)?;
            if let Some(lines) = op.lines {
                resolve_sales_document(api, &record.key, lines, &mut fields).await?;
            }
            if op.name == "create_account" {
                // `C`: customer. Without a status Exact makes a plain relation that the sales
                // screens do not list.
                fields
                    .entry("Status")
                    .or_insert_with(|| Value::String("C".into()));
            }
            let (mut ack, answer) = api
                .request(
                    Method::POST,
                    &api.path(op.entity),
                    &[],
                    Some(&Value::Object(fields)),
                )
                .await?;
            ack.target_id = answer["d"][op.id_field].as_str().map(str::to_string);
            if ack.target_id.is_none() {
                return Err(ConnectorError::Permanent {
                    message: format!(
                        "Exact accepted the record but its answer has no `d.{}`",
                        op.id_field
                    ),
                    status: ack.status,
                    body: ack.body,
                });
            }
            Ok(ack)
        }
    }
}

/// What Exact refuses anyway, caught before sending and named by field.
fn check(op: &WriteOp, key: &str, fields: &Map<String, Value>) -> Result<(), ConnectorError> {
    let text = |name: &str| {
        fields
            .get(name)
            .and_then(Value::as_str)
            .is_some_and(|s| !s.trim().is_empty())
    };
    if let Some(lines_field) = op.lines {
        check_document(key, lines_field, fields)?;
    }
    match op.name {
        "create_sales_invoice" if !text("Journal") => {
            return Err(bad_record(
                key,
                "field `Journal` (the code of the sales journal the invoice goes in) is required",
            ));
        }
        "create_account" if !text("Name") => {
            return Err(bad_record(key, "field `Name` is required"));
        }
        "create_contact" if !text("LastName") && !text("FirstName") => {
            return Err(bad_record(
                key,
                "field `LastName` or `FirstName` is required",
            ));
        }
        "create_contact" if !text("Account") => {
            return Err(bad_record(
                key,
                "field `Account` (the account ID the contact belongs to) is required",
            ));
        }
        "upsert_item" if !text("Code") || !text("Description") => {
            return Err(bad_record(
                key,
                "fields `Code` and `Description` are required",
            ));
        }
        _ => {}
    }
    Ok(())
}

/// A sales order or invoice: its customer, and lines that name an item and a quantity.
fn check_document(
    key: &str,
    lines_field: &str,
    fields: &Map<String, Value>,
) -> Result<(), ConnectorError> {
    let text = |name: &str| {
        fields
            .get(name)
            .and_then(Value::as_str)
            .is_some_and(|s| !s.trim().is_empty())
    };
    if !text("OrderedBy")
        && !text("OrderedByCode")
        && !fields.get("Customer").is_some_and(Value::is_object)
    {
        return Err(bad_record(
            key,
            "field `OrderedBy` (the customer's account ID), `OrderedByCode` (a debtor's code) or `Customer` (to find or create) is required",
        ));
    }
    let lines = fields.get(lines_field).and_then(Value::as_array);
    let Some(lines) = lines.filter(|l| !l.is_empty()) else {
        return Err(bad_record(
            key,
            format!("field `{lines_field}` must be a non-empty list"),
        ));
    };
    for (i, line) in lines.iter().enumerate() {
        let given = |f: &str| line[f].as_str().is_some_and(|s| !s.trim().is_empty());
        if !given("Item") && !given("ItemCode") {
            return Err(bad_record(
                key,
                format!("`{lines_field}[{i}].Item` (the item's ID) or `ItemCode` is required"),
            ));
        }
        if !line["Quantity"].is_number() {
            return Err(bad_record(
                key,
                format!("`{lines_field}[{i}].Quantity` must be a number"),
            ));
        }
    }
    Ok(())
}

/// The id of the operation's entity whose `field` equals `value`, if any.
async fn find(
    api: &ExactApi,
    op: &WriteOp,
    field: &str,
    value: &str,
) -> Result<Option<String>, ConnectorError> {
    super::resolve::find_id(api, op.entity, op.id_field, field, value).await
}

/// Finds what `operation` made for business key `key`: a sales order or invoice by `YourRef`, an account
/// by email (a key with `@`) or code, a contact by email, an item by code.
pub(crate) async fn lookup(
    api: &ExactApi,
    operation: &str,
    key: &str,
) -> Result<Lookup, ConnectorError> {
    let op = write_op(operation)?;
    let found = match op.name {
        "create_sales_order" | "create_sales_invoice" => find(api, op, "YourRef", key).await?,
        "create_account" if key.contains('@') => find(api, op, "Email", key).await?,
        // Exact keeps numeric account codes right-aligned in 18 characters.
        "create_account" if key.trim().chars().all(|c| c.is_ascii_digit()) => {
            find(api, op, "Code", &format!("{:>18}", key.trim())).await?
        }
        "create_account" => find(api, op, "Code", key).await?,
        "create_contact" => find(api, op, "Email", key).await?,
        _ => find(api, op, "Code", key).await?,
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
