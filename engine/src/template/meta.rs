//! `template.json`: what a template is, which connections it needs and which settings a
//! merchant may change.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The `template.json` format version this build reads.
pub const TEMPLATE_FORMAT_VERSION: u32 = 1;

/// The metadata of a template (`template.json`).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateMeta {
    /// Format version; always 1 for now.
    pub version: u32,
    /// Stable id, the folder's name (`shopify-orders-to-exact-online`).
    pub id: String,
    /// Name shown in the template gallery.
    pub name: String,
    /// What the flow does, for the merchant.
    pub description: String,
    /// What kind of data it moves.
    pub category: Category,
    /// Connection slots by name (the names of the flow's `connections`).
    pub slots: BTreeMap<String, Slot>,
    /// Settings by name; scripts read them as `settings.name`.
    #[serde(default)]
    pub settings: BTreeMap<String, SettingSpec>,
    /// Sample source records (a JSON array), relative to the folder.
    #[serde(default = "default_sample_input")]
    pub sample_input: String,
    /// What the target receives for the sample input (a JSON array), relative to the folder.
    #[serde(default = "default_expected_output")]
    pub expected_output: String,
}

fn default_sample_input() -> String {
    "sample-input.json".into()
}

fn default_expected_output() -> String {
    "expected-output.json".into()
}

/// What kind of data a template moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// Product data (ERP → shop).
    Products,
    /// Stock levels (ERP → shop).
    Stock,
    /// Orders (shop → ERP).
    Orders,
    /// Customers (shop → ERP).
    Customers,
    /// Shipments (ERP → shop).
    Shipments,
}

impl Category {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Products => "products",
            Category::Stock => "stock",
            Category::Orders => "orders",
            Category::Customers => "customers",
            Category::Shipments => "shipments",
        }
    }
}

/// A connection the template needs.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Slot {
    /// The connector kind a connection must have to fill the slot (`shopify`).
    pub connector: String,
    /// What the slot is for ("the webshop orders are read from").
    #[serde(default)]
    pub description: String,
}

/// A setting a merchant may change.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingSpec {
    /// Its type; overrides are checked against it.
    #[serde(rename = "type")]
    pub kind: SettingType,
    /// Value when the merchant gives none. A `value_map` setting without default starts from
    /// the flow's map of the same name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,
    /// What the setting changes.
    pub description: String,
    /// The only values allowed (for `string`, `integer`, `number`; for `string_list`, each
    /// element), when the setting is a choice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed: Option<Vec<Value>>,
}

/// The type of a setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SettingType {
    /// Text.
    String,
    /// A whole number.
    Integer,
    /// A number.
    Number,
    /// `true` or `false`.
    Boolean,
    /// A list of texts.
    StringList,
    /// A JSON object (fields copied into records, such as a template customer's).
    Object,
    /// A value map (`{"entries": {…}, "default": …, "fail_if_unmapped": …}`) that replaces the
    /// flow's value map of the same name; scripts read it with `lookup("name", key)`.
    ValueMap,
}

impl SettingType {
    /// The name used in `template.json`.
    pub fn as_str(self) -> &'static str {
        match self {
            SettingType::String => "string",
            SettingType::Integer => "integer",
            SettingType::Number => "number",
            SettingType::Boolean => "boolean",
            SettingType::StringList => "string_list",
            SettingType::Object => "object",
            SettingType::ValueMap => "value_map",
        }
    }
}
