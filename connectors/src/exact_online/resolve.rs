//! What a record from a shop names by business key and Exact wants as a GUID, resolved before
//! sending: a sales order's or invoice's customer (`Customer`: found by email, SIRET or VAT
//! number, or created as an account with its contact), a default debtor (`OrderedByCode`), each
//! line's item (`ItemCode`) and revenue account (`GLAccountCode`). And the directives of `create_account`: `_match_by` (find an existing
//! account to update) and `_create_only` (fields kept out of updates).

use ferry_engine::connector::ConnectorError;
use reqwest::Method;
use serde_json::{Map, Value};

use super::client::{ExactApi, odata_string};
use crate::json_api::bad_record;

/// Directive fields: read by the connector, never sent to Exact.
pub(crate) const MATCH_BY: &str = "_match_by";
pub(crate) const CREATE_ONLY: &str = "_create_only";

/// The id of the entity of `entity` whose `field` equals `value`, if any.
pub(crate) async fn find_id(
    api: &ExactApi,
    entity: &str,
    id_field: &str,
    field: &str,
    value: &str,
) -> Result<Option<String>, ConnectorError> {
    if value.trim().is_empty() {
        return Ok(None);
    }
    let answer = api
        .get(
            &api.path(entity),
            &[
                (
                    "$filter",
                    format!("{field} eq {}", odata_string(value.trim_end())),
                ),
                ("$select", id_field.to_string()),
                ("$top", "1".into()),
            ],
        )
        .await?;
    Ok(answer["d"]["results"][0][id_field]
        .as_str()
        .map(str::to_string))
}

/// An account code as Exact stores it: numeric codes right-aligned in 18 characters.
pub(crate) fn account_code(code: &str) -> String {
    let code = code.trim();
    if !code.is_empty() && code.chars().all(|c| c.is_ascii_digit()) {
        format!("{code:>18}")
    } else {
        code.to_string()
    }
}

/// The first account whose field named in `match_by` (in order) equals the account's own
/// value of that field; fields without a value are passed over.
pub(crate) async fn match_account(
    api: &ExactApi,
    key: &str,
    match_by: Option<&Value>,
    account: &Map<String, Value>,
) -> Result<Option<String>, ConnectorError> {
    let Some(match_by) = match_by.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let fields = match_by.as_array().ok_or_else(|| {
        bad_record(
            key,
            format!("`{MATCH_BY}` must be a list of account fields, found {match_by}"),
        )
    })?;
    for field in fields {
        let Some(field) = field.as_str() else {
            return Err(bad_record(
                key,
                format!("`{MATCH_BY}` holds {field}, not a field name"),
            ));
        };
        let value = account.get(field).and_then(Value::as_str).unwrap_or("");
        let value = if field == "Code" {
            account_code(value)
        } else {
            value.to_string()
        };
        if let Some(id) = find_id(api, "crm/Accounts", "ID", field, &value).await? {
            return Ok(Some(id));
        }
    }
    Ok(None)
}

/// Removes the directives from `fields`; on an update, the `_create_only` fields go too.
pub(crate) fn strip_directives(
    key: &str,
    fields: &mut Map<String, Value>,
    updating: bool,
) -> Result<(), ConnectorError> {
    fields.remove(MATCH_BY);
    let create_only = fields.remove(CREATE_ONLY);
    if updating && let Some(list) = create_only.filter(|v| !v.is_null()) {
        let names = list.as_array().ok_or_else(|| {
            bad_record(
                key,
                format!("`{CREATE_ONLY}` must be a list of field names, found {list}"),
            )
        })?;
        for name in names.iter().filter_map(Value::as_str) {
            fields.remove(name);
        }
    }
    Ok(())
}

/// Fills a new sales order's or invoice's `OrderedBy` (from `OrderedByCode` or `Customer`) and
/// its lines' (`lines_field`) `Item` (from `ItemCode`) and `GLAccount` (from `GLAccountCode`).
pub(crate) async fn resolve_sales_document(
    api: &ExactApi,
    key: &str,
    lines_field: &str,
    order: &mut Map<String, Value>,
) -> Result<(), ConnectorError> {
    // Lines first: an order that cannot be sent creates no customer.
    if let Some(Value::Array(lines)) = order.get_mut(lines_field) {
        let mut items = Known::new("logistics/Items", "ItemCode", "Item", "no item has code");
        let mut accounts = Known::new(
            "financial/GLAccounts",
            "GLAccountCode",
            "GLAccount",
            "no G/L account has code",
        );
        for (i, line) in lines.iter_mut().enumerate() {
            let Some(line) = line.as_object_mut() else {
                continue;
            };
            let at = format!("{lines_field}[{i}]");
            items.resolve(api, key, &at, line).await?;
            accounts.resolve(api, key, &at, line).await?;
        }
    }
    let customer = order.remove("Customer");
    let debtor = order.remove("OrderedByCode");
    let has_ordered_by = order
        .get("OrderedBy")
        .and_then(Value::as_str)
        .is_some_and(|s| !s.trim().is_empty());
    if !has_ordered_by {
        let ordered_by = match (debtor.as_ref().and_then(Value::as_str), customer) {
            (Some(code), _) if !code.trim().is_empty() => {
                find_id(api, "crm/Accounts", "ID", "Code", &account_code(code))
                    .await?
                    .ok_or_else(|| {
                        bad_record(
                            key,
                            format!("the default debtor `{code}` (`OrderedByCode`) is not an account in Exact; fix the setting"),
                        )
                    })?
            }
            (_, Some(Value::Object(customer))) => find_or_create_customer(api, key, &customer).await?,
            _ => {
                return Err(bad_record(
                    key,
                    "field `OrderedBy` (the customer's account ID), `OrderedByCode` or `Customer` is required",
                ));
            }
        };
        order.insert("OrderedBy".into(), Value::String(ordered_by));
    }
    Ok(())
}

/// Codes in a document's lines turned into the GUIDs Exact wants, each code asked once.
struct Known {
    entity: &'static str,
    code_field: &'static str,
    id_field: &'static str,
    missing: &'static str,
    found: Vec<(String, String)>,
}

impl Known {
    fn new(
        entity: &'static str,
        code_field: &'static str,
        id_field: &'static str,
        missing: &'static str,
    ) -> Self {
        Known {
            entity,
            code_field,
            id_field,
            missing,
            found: Vec::new(),
        }
    }

    /// Replaces `line`'s code field by the id field, unless the id is given already.
    async fn resolve(
        &mut self,
        api: &ExactApi,
        key: &str,
        at: &str,
        line: &mut Map<String, Value>,
    ) -> Result<(), ConnectorError> {
        let Some(Value::String(code)) = line.remove(self.code_field) else {
            return Ok(());
        };
        if line
            .get(self.id_field)
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty())
        {
            return Ok(());
        }
        let id = match self.found.iter().find(|(c, _)| *c == code) {
            Some((_, id)) => id.clone(),
            None => {
                let id = find_id(api, self.entity, "ID", "Code", &code)
                    .await?
                    .ok_or_else(|| {
                        bad_record(
                            key,
                            format!(
                                "`{at}.{}`: {} `{code}` in Exact",
                                self.code_field, self.missing
                            ),
                        )
                    })?;
                self.found.push((code, id.clone()));
                id
            }
        };
        line.insert(self.id_field.into(), Value::String(id));
        Ok(())
    }
}

/// `Customer: {"_match_by": [...], "Account": {...}, "Contact": {...}}`: the matching account,
/// or a new one (with the contact, when given).
async fn find_or_create_customer(
    api: &ExactApi,
    key: &str,
    customer: &Map<String, Value>,
) -> Result<String, ConnectorError> {
    let Some(Value::Object(account)) = customer.get("Account") else {
        return Err(bad_record(
            key,
            "`Customer.Account` must be an object of account fields",
        ));
    };
    if let Some(id) = match_account(api, key, customer.get(MATCH_BY), account).await? {
        return Ok(id);
    }
    if account
        .get("Name")
        .and_then(Value::as_str)
        .is_none_or(|s| s.trim().is_empty())
    {
        return Err(bad_record(
            key,
            "`Customer.Account.Name` is required to create the customer",
        ));
    }
    let mut account = account.clone();
    account
        .entry("Status")
        .or_insert_with(|| Value::String("C".into()));
    let (_, answer) = api
        .request(
            Method::POST,
            &api.path("crm/Accounts"),
            &[],
            Some(&Value::Object(account)),
        )
        .await?;
    let id = answer["d"]["ID"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| {
            bad_record(
                key,
                "Exact created the customer but its answer has no `d.ID`",
            )
        })?;
    if let Some(Value::Object(contact)) = customer.get("Contact") {
        let mut contact = contact.clone();
        contact.insert("Account".into(), Value::String(id.clone()));
        api.request(
            Method::POST,
            &api.path("crm/Contacts"),
            &[],
            Some(&Value::Object(contact)),
        )
        .await?;
    }
    Ok(id)
}
