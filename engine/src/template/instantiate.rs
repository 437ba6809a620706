//! Enabling a template for a tenant: connection slots bound, settings merged over the
//! defaults, and the tenant's flow returned.

use std::collections::BTreeMap;

use serde_json::Value;

use super::load::Template;
use super::meta::{SettingType, TemplateMeta};
use super::settings::check_value;
use crate::credential::{ConnectionError, Connections};
use crate::flow::{Connection, Flow, ValueMap};

/// What a merchant chose when enabling a template.
#[derive(Debug, Clone, Default)]
pub struct Enable {
    /// The tenant the flow is for.
    pub tenant: String,
    /// A connection per slot: a stored one (`{"connector", "stored"}`) or inline
    /// (`{"connector", "config"}`).
    pub connections: BTreeMap<String, Connection>,
    /// Setting values that replace the defaults.
    pub settings: BTreeMap<String, Value>,
}

/// Why a template could not be enabled: every problem, each naming the slot or setting.
#[derive(Debug, Clone, thiserror::Error)]
#[error("template `{template}` cannot be enabled:\n{}", problems.join("\n"))]
pub struct InstantiateError {
    /// The template's id.
    pub template: String,
    /// `connection slot `shop`: …`, `setting `order_statuses`: …`.
    pub problems: Vec<String>,
}

/// The defaults of the settings scripts read (value map settings go to the flow's maps).
pub(crate) fn defaults(meta: &TemplateMeta) -> BTreeMap<String, Value> {
    meta.settings
        .iter()
        .filter(|(_, spec)| spec.kind != SettingType::ValueMap)
        .filter_map(|(name, spec)| Some((name.clone(), spec.default.clone()?)))
        .collect()
}

impl Template {
    /// What is wrong with binding slots to the tenant's stored connections (`slot` → name):
    /// a connection the tenant does not have, or one of another kind than the slot takes.
    /// Each problem names the slot, like [`Template::instantiate`]'s.
    pub async fn check_stored(
        &self,
        tenant: &str,
        stored: &BTreeMap<String, String>,
        connections: &Connections,
    ) -> Result<Vec<String>, ConnectionError> {
        let mut problems = Vec::new();
        for (slot, name) in stored {
            match connections.get(tenant, name).await {
                Ok(view) => {
                    if let Some(spec) = self.meta.slots.get(slot)
                        && spec.connector != view.connector
                    {
                        problems.push(format!(
                            "connection slot `{slot}`: takes a `{}` connection; `{name}` is `{}`",
                            spec.connector, view.connector
                        ));
                    }
                }
                Err(ConnectionError::NotFound { .. } | ConnectionError::InvalidName { .. }) => {
                    problems.push(format!(
                        "connection slot `{slot}`: tenant `{tenant}` has no stored connection `{name}`"
                    ))
                }
                Err(e) => return Err(e),
            }
        }
        Ok(problems)
    }

    /// A binding of `slot` to the tenant's stored connection `name`. It carries the slot's kind
    /// and no config of its own: the stored connection's is used as it is (that it exists and
    /// is of the slot's kind is [`Template::check_stored`]'s job). An unknown slot gets an empty kind, which
    /// [`Template::instantiate`] reports naming the slot.
    pub fn stored_binding(&self, slot: &str, name: &str) -> Connection {
        Connection {
            connector: self
                .meta
                .slots
                .get(slot)
                .map(|s| s.connector.clone())
                .unwrap_or_default(),
            stored: Some(name.to_string()),
            config: Value::Object(serde_json::Map::new()),
        }
    }

    /// The tenant's flow: id `<tenant>-<template-id>`, `tenant` set, every slot bound to a
    /// connection of the slot's kind, settings checked and merged over the defaults.
    pub fn instantiate(&self, enable: &Enable) -> Result<Flow, InstantiateError> {
        let mut problems = Vec::new();
        if !valid_tenant(&enable.tenant) {
            problems.push(format!(
                "tenant `{}`: use letters, digits, `-` and `_` only",
                enable.tenant
            ));
        }
        let mut flow = self.flow.clone();
        for (name, slot) in &self.meta.slots {
            match enable.connections.get(name) {
                None => problems.push(format!(
                    "connection slot `{name}` is not bound; give a `{}` connection",
                    slot.connector
                )),
                Some(c) if c.connector != slot.connector => problems.push(format!(
                    "connection slot `{name}` takes a `{}` connection, not `{}`",
                    slot.connector, c.connector
                )),
                Some(c) if c.stored.is_none() && c.config.is_null() => problems.push(format!(
                    "connection slot `{name}`: give a stored connection's name or a config"
                )),
                Some(c) => {
                    flow.connections.insert(name.clone(), c.clone());
                }
            }
        }
        for name in enable.connections.keys() {
            if !self.meta.slots.contains_key(name) {
                let slots: Vec<&str> = self.meta.slots.keys().map(String::as_str).collect();
                problems.push(format!(
                    "connection slot `{name}` does not exist; the slots are {}",
                    slots.join(", ")
                ));
            }
        }
        let mut settings = defaults(&self.meta);
        for (name, value) in &enable.settings {
            let Some(spec) = self.meta.settings.get(name) else {
                let names: Vec<&str> = self.meta.settings.keys().map(String::as_str).collect();
                problems.push(format!(
                    "setting `{name}` does not exist; the settings are {}",
                    names.join(", ")
                ));
                continue;
            };
            if let Err(e) = check_value(spec, value) {
                problems.push(format!("setting `{name}`: {e}"));
                continue;
            }
            if spec.kind == SettingType::ValueMap {
                // Checked above, so it parses.
                if let Ok(map) = serde_json::from_value::<ValueMap>(value.clone()) {
                    flow.value_maps.insert(name.clone(), map);
                }
            } else {
                settings.insert(name.clone(), value.clone());
            }
        }
        if !problems.is_empty() {
            return Err(InstantiateError {
                template: self.meta.id.clone(),
                problems,
            });
        }
        flow.id = format!("{}-{}", enable.tenant, self.meta.id);
        flow.tenant = Some(enable.tenant.clone());
        flow.settings = settings;
        Ok(flow)
    }
}

fn valid_tenant(tenant: &str) -> bool {
    !tenant.is_empty()
        && tenant
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::template::load_template;

    /// A small template written to a temporary folder.
    fn template() -> (tempfile::TempDir, Template) {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("shop-orders-to-file");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(
            dir.join("template.json"),
            json!({
                "version": 1, "id": "shop-orders-to-file", "name": "Orders to a file",
                "description": "test", "category": "orders",
                "slots": {
                    "shop": {"connector": "http", "description": "the shop"},
                    "out": {"connector": "file"}
                },
                "settings": {
                    "prefix": {"type": "string", "default": "WEB", "description": "code prefix"},
                    "length": {"type": "integer", "default": 9, "description": "code length"},
                    "statuses": {"type": "string_list", "default": ["paid"], "description": "s",
                                 "allowed": ["paid", "pending", "refunded"]},
                    "vat_codes": {"type": "value_map", "description": "VAT code per country"}
                }
            })
            .to_string(),
        )
        .unwrap();
        std::fs::write(
            dir.join("flow.json"),
            json!({
                "version": 1, "id": "shop-orders-to-file",
                "connections": {
                    "shop": {"connector": "http", "config": {"base_url": "http://example.invalid"}},
                    "out": {"connector": "file", "config": {"path": "out.ndjson"}}
                },
                "source": {"connection": "shop", "operation": "read", "params": {"path": "/orders"}},
                "steps": [
                    {"id": "wanted", "type": "filter", "condition": "settings.statuses.contains(record.status)"},
                    {"id": "map", "type": "mapping", "fields": [
                        {"target": "code", "value": {"type": "rhai",
                         "script": "settings.prefix + pad_left(record.id, settings.length - settings.prefix.len(), \"0\")"}},
                        {"target": "vat", "value": {"type": "value_map", "path": "$.country", "map": "vat_codes"}}
                    ]}
                ],
                "value_maps": {"vat_codes": {"entries": {"FR": "FR20"}, "fail_if_unmapped": true}},
                "target": {"connection": "out", "operation": "write"}
            })
            .to_string(),
        )
        .unwrap();
        std::fs::write(dir.join("sample-input.json"), "[]").unwrap();
        std::fs::write(dir.join("expected-output.json"), "[]").unwrap();
        let t = load_template(&dir, None).unwrap();
        (root, t)
    }

    fn bind(kind: &str, stored: &str) -> Connection {
        Connection {
            connector: kind.into(),
            stored: Some(stored.into()),
            config: Value::Null,
        }
    }

    #[test]
    fn enabling_binds_slots_and_merges_settings() {
        let (_root, t) = template();
        let flow = t
            .instantiate(&Enable {
                tenant: "acme".into(),
                connections: [
                    ("shop".to_string(), bind("http", "acme-shop")),
                    ("out".to_string(), bind("file", "exports")),
                ]
                .into(),
                settings: [
                    ("length".to_string(), json!(10)),
                    (
                        "vat_codes".to_string(),
                        json!({"entries": {"FR": "F1", "BE": "B1"}, "default": "X"}),
                    ),
                ]
                .into(),
            })
            .unwrap();
        assert_eq!(flow.id, "acme-shop-orders-to-file");
        assert_eq!(flow.tenant.as_deref(), Some("acme"));
        assert_eq!(
            flow.connections["shop"].stored.as_deref(),
            Some("acme-shop")
        );
        assert_eq!(
            serde_json::to_value(&flow.settings).unwrap(),
            json!({"length": 10, "prefix": "WEB", "statuses": ["paid"]})
        );
        assert_eq!(flow.value_maps["vat_codes"].entries["BE"], json!("B1"));
        assert_eq!(flow.value_maps["vat_codes"].default, Some(json!("X")));
    }

    #[test]
    fn enabling_reports_every_wrong_slot_and_setting() {
        let (_root, t) = template();
        let err = t
            .instantiate(&Enable {
                tenant: "acme".into(),
                connections: [
                    ("shop".to_string(), bind("shopify", "s")),
                    ("erp".to_string(), bind("file", "x")),
                ]
                .into(),
                settings: [
                    ("statuses".to_string(), json!(["paid", "voided"])),
                    ("length".to_string(), json!("nine")),
                    ("colour".to_string(), json!("red")),
                ]
                .into(),
            })
            .unwrap_err();
        assert_eq!(
            err.problems,
            [
                "connection slot `out` is not bound; give a `file` connection",
                "connection slot `shop` takes a `http` connection, not `shopify`",
                "connection slot `erp` does not exist; the slots are out, shop",
                "setting `colour` does not exist; the settings are length, prefix, statuses, vat_codes",
                "setting `length`: expected a whole number, found \"nine\"",
                "setting `statuses`: \"voided\" is not allowed; choose one of \"paid\", \"pending\", \"refunded\"",
            ]
        );
    }

    #[test]
    fn loading_names_the_file_and_field_of_each_problem() {
        let (root, _) = template();
        let dir = root.path().join("shop-orders-to-file");
        let flow = std::fs::read_to_string(dir.join("flow.json"))
            .unwrap()
            .replace("settings.length", "settings.size");
        std::fs::write(dir.join("flow.json"), flow).unwrap();
        let meta = std::fs::read_to_string(dir.join("template.json"))
            .unwrap()
            .replace(r#""default":["paid"]"#, r#""default":["shipped"]"#)
            .replace(r#""connector":"file""#, r#""connector":"csv""#);
        std::fs::write(dir.join("template.json"), meta).unwrap();
        let err = load_template(&dir, None).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("template.json: slots.out.connector: `csv`, but the flow's connection `out` is `file`"),
            "{text}"
        );
        assert!(
            text.contains("template.json: settings.statuses.default: \"shipped\" is not allowed"),
            "{text}"
        );
        assert!(
            text.contains("flow.json: settings: the flow reads `settings.size`, which template.json does not declare"),
            "{text}"
        );
    }
}
