//! What a shop order names by business key and eAccounting wants as an `Id`, resolved before
//! an order or invoice draft is created: the customer (`CustomerNumber` of a default customer,
//! or `Customer`: found by the fields in its `_match_by`, in order, or created) and each row's
//! article (`ArticleNumber`).

use ferry_engine::connector::ConnectorError;
use reqwest::Method;
use serde_json::{Map, Value};

use super::client::EAccountingApi;
use crate::json_api::bad_record;

/// The `Id` of the object in `list` whose `field` equals `value`, if any.
pub(crate) async fn find_id(
    api: &EAccountingApi,
    list: &str,
    field: &str,
    value: &str,
) -> Result<Option<String>, ConnectorError> {
    if value.trim().is_empty() {
        return Ok(None);
    }
    let literal = format!("'{}'", value.trim().replace('\'', "''"));
    let answer = api
        .get(
            list,
            &[
                ("$filter", format!("{field} eq {literal}")),
                ("$page", "1".into()),
                ("$pagesize", "1".into()),
            ],
        )
        .await?;
    Ok(answer["Data"][0]["Id"].as_str().map(str::to_string))
}

/// Fills `CustomerId` and the rows' `ArticleId` of a new order or invoice draft.
pub(crate) async fn resolve_order(
    api: &EAccountingApi,
    key: &str,
    order: &mut Map<String, Value>,
) -> Result<(), ConnectorError> {
    // Items first: an order that cannot be sent creates no customer.
    if let Some(Value::Array(rows)) = order.get_mut("Rows") {
        for (i, row) in rows.iter_mut().enumerate() {
            let Some(row) = row.as_object_mut() else {
                continue;
            };
            let Some(Value::String(number)) = row.remove("ArticleNumber") else {
                continue;
            };
            // A line without a SKU stays a text row.
            if number.trim().is_empty() {
                continue;
            }
            if row
                .get("ArticleId")
                .and_then(Value::as_str)
                .is_some_and(|s| !s.is_empty())
            {
                continue;
            }
            let id = find_id(api, "articles", "Number", &number).await?.ok_or_else(|| {
                bad_record(key, format!("`Rows[{i}].ArticleNumber`: no article has number `{number}` in eAccounting"))
            })?;
            row.insert("ArticleId".into(), Value::String(id));
        }
    }
    let customer = order.remove("Customer");
    let number = order.remove("CustomerNumber");
    let given = order
        .get("CustomerId")
        .and_then(Value::as_str)
        .is_some_and(|s| !s.trim().is_empty());
    if !given {
        let id = match (number.as_ref().and_then(Value::as_str), customer) {
            (Some(n), _) if !n.trim().is_empty() => find_id(api, "customers", "CustomerNumber", n)
                .await?
                .ok_or_else(|| {
                    bad_record(
                        key,
                        format!("the default customer `{n}` (`CustomerNumber`) does not exist in eAccounting; fix the setting"),
                    )
                })?,
            (_, Some(Value::Object(customer))) => find_or_create_customer(api, key, customer).await?,
            _ => {
                return Err(bad_record(
                    key,
                    "field `CustomerId`, `CustomerNumber` or `Customer` is required",
                ));
            }
        };
        order.insert("CustomerId".into(), Value::String(id));
    }
    Ok(())
}

async fn find_or_create_customer(
    api: &EAccountingApi,
    key: &str,
    mut customer: Map<String, Value>,
) -> Result<String, ConnectorError> {
    let match_by = customer.remove("_match_by");
    for field in match_by.iter().filter_map(Value::as_array).flatten() {
        let Some(field) = field.as_str() else {
            continue;
        };
        let value = customer.get(field).and_then(Value::as_str).unwrap_or("");
        if let Some(id) = find_id(api, "customers", field, value).await? {
            return Ok(id);
        }
    }
    if customer
        .get("Name")
        .and_then(Value::as_str)
        .is_none_or(|s| s.trim().is_empty())
    {
        return Err(bad_record(
            key,
            "`Customer.Name` is required to create the customer",
        ));
    }
    let (_, answer) = api
        .request(
            Method::POST,
            "customers",
            &[],
            Some(&Value::Object(customer)),
        )
        .await?;
    answer["Id"].as_str().map(str::to_string).ok_or_else(|| {
        bad_record(
            key,
            "eAccounting created the customer but its answer has no `Id`",
        )
    })
}
