//! Stock templates: flows with holes (connections and settings) that a merchant switches on.
//!
//! A template lives in a folder `flows/templates/<template-id>/`: `template.json` (the
//! metadata, [`TemplateMeta`]), `flow.json` (the flow, whose scripts read `settings.name`), a
//! sample input and the expected output. [`load_template`] reads and checks a folder;
//! [`Template::instantiate`] binds the connection slots, merges the setting overrides and
//! returns the tenant's [`Flow`](crate::flow::Flow).

mod instantiate;
mod load;
mod meta;
mod settings;

pub use instantiate::{Enable, InstantiateError};
pub use load::{
    FLOW_FILE, META_FILE, Template, TemplateError, find_template, load_all, load_template,
};
pub use meta::{Category, SettingSpec, SettingType, Slot, TEMPLATE_FORMAT_VERSION, TemplateMeta};
pub use settings::{parse_setting_text, settings_read_by};
