//! Reading a template folder and checking it: the metadata, the flow (which must validate),
//! the slots against the flow's connections, and the settings against what the flow reads.

use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::meta::{SettingType, TEMPLATE_FORMAT_VERSION, TemplateMeta};
use super::settings::{check_value, settings_read_by};
use crate::connector::Registry;
use crate::flow::{Flow, load_flow, validate};

/// The metadata file of a template folder.
pub const META_FILE: &str = "template.json";
/// The flow file of a template folder.
pub const FLOW_FILE: &str = "flow.json";

/// A loaded, checked template.
#[derive(Debug, Clone)]
pub struct Template {
    /// Its metadata.
    pub meta: TemplateMeta,
    /// Its flow, with the connections as placeholders and no settings.
    pub flow: Flow,
    /// The folder it was read from.
    pub dir: PathBuf,
}

impl Template {
    /// The sample input file.
    pub fn sample_input_path(&self) -> PathBuf {
        self.dir.join(&self.meta.sample_input)
    }

    /// The expected output file.
    pub fn expected_output_path(&self) -> PathBuf {
        self.dir.join(&self.meta.expected_output)
    }
}

/// A template that cannot be used: every problem, each naming its file and field.
#[derive(Debug, Clone, thiserror::Error)]
pub struct TemplateError {
    /// `file: field: what is wrong`, one per problem.
    pub problems: Vec<String>,
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.problems.join("\n"))
    }
}

/// Reads the template in `dir` and checks it; with a registry, the flow's connector kinds and
/// operations are checked too.
pub fn load_template(dir: &Path, registry: Option<&Registry>) -> Result<Template, TemplateError> {
    let meta_path = dir.join(META_FILE);
    let meta_file = meta_path.display().to_string();
    let fail = |problem: String| TemplateError {
        problems: vec![problem],
    };
    let text =
        std::fs::read_to_string(&meta_path).map_err(|e| fail(format!("{meta_file}: {e}")))?;
    let meta: TemplateMeta = {
        let de = &mut serde_json::Deserializer::from_str(&text);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let at = e.path().to_string();
            fail(format!("{meta_file}: {at}: {}", e.into_inner()))
        })?
    };
    let flow_path = dir.join(FLOW_FILE);
    let flow_file = flow_path.display().to_string();
    let (flow, flow_text) = load_flow(&flow_path).map_err(|e| fail(e.to_string()))?;

    let mut problems = Vec::new();
    let mut meta_problem = |field: &str, message: String| {
        problems.push(format!("{meta_file}: {field}: {message}"));
    };
    if meta.version != TEMPLATE_FORMAT_VERSION {
        meta_problem(
            "version",
            format!(
                "unknown version {}; this build reads {TEMPLATE_FORMAT_VERSION}",
                meta.version
            ),
        );
    }
    let folder = dir.file_name().map(|n| n.to_string_lossy().to_string());
    if folder.as_deref() != Some(meta.id.as_str()) {
        meta_problem(
            "id",
            format!(
                "`{}` must be the folder's name ({})",
                meta.id,
                folder.unwrap_or_default()
            ),
        );
    }
    if meta.name.trim().is_empty() {
        meta_problem("name", "a template needs a name".into());
    }
    for (name, slot) in &meta.slots {
        match flow.connections.get(name) {
            None => meta_problem(
                &format!("slots.{name}"),
                format!("the flow has no connection `{name}` for this slot"),
            ),
            Some(c) if c.connector != slot.connector => meta_problem(
                &format!("slots.{name}.connector"),
                format!(
                    "`{}`, but the flow's connection `{name}` is `{}`",
                    slot.connector, c.connector
                ),
            ),
            Some(_) => {}
        }
    }
    for (name, spec) in &meta.settings {
        let field = format!("settings.{name}");
        if spec.kind == SettingType::ValueMap {
            if !flow.value_maps.contains_key(name) {
                meta_problem(
                    &field,
                    format!("a value_map setting needs a value map `{name}` in the flow"),
                );
            }
        } else if spec.default.is_none() {
            meta_problem(
                &format!("{field}.default"),
                "a setting needs a default".into(),
            );
        }
        if let Some(default) = &spec.default
            && let Err(e) = check_value(spec, default)
        {
            meta_problem(&format!("{field}.default"), e);
        }
    }
    for (file, field) in [
        (&meta.sample_input, "sample_input"),
        (&meta.expected_output, "expected_output"),
    ] {
        match std::fs::read_to_string(dir.join(file)) {
            Err(e) => meta_problem(field, format!("{file}: {e}")),
            Ok(text) => match serde_json::from_str::<Value>(&text) {
                Ok(Value::Array(_)) => {}
                Ok(_) => meta_problem(field, format!("{file} must hold a JSON array")),
                Err(e) => meta_problem(field, format!("{file}: {e}")),
            },
        }
    }

    let mut flow_problem = |field: &str, message: String| {
        problems.push(format!("{flow_file}: {field}: {message}"));
    };
    if flow.id != meta.id {
        flow_problem(
            "id",
            format!("`{}` must be the template's id `{}`", flow.id, meta.id),
        );
    }
    if flow.tenant.is_some() {
        flow_problem(
            "tenant",
            "a template has no tenant; enabling it sets one".into(),
        );
    }
    if !flow.settings.is_empty() {
        flow_problem(
            "settings",
            format!("declare settings and their defaults in {META_FILE}, not in the flow"),
        );
    }
    for name in flow.connections.keys() {
        if !meta.slots.contains_key(name) {
            flow_problem(
                &format!("connections.{name}"),
                format!("no slot `{name}` in {META_FILE}: every connection is a slot"),
            );
        }
    }
    for name in settings_read_by(&flow) {
        match meta.settings.get(&name) {
            None => flow_problem(
                "settings",
                format!("the flow reads `settings.{name}`, which {META_FILE} does not declare"),
            ),
            Some(spec) if spec.kind == SettingType::ValueMap => flow_problem(
                "settings",
                format!("`settings.{name}` is a value map; read it with lookup(\"{name}\", key)"),
            ),
            Some(_) => {}
        }
    }
    // The flow must validate as it will run: with the defaults in place.
    let mut with_defaults = flow.clone();
    with_defaults.settings = super::instantiate::defaults(&meta);
    for issue in validate(&with_defaults, registry, Some(&flow_text)) {
        problems.push(format!("{flow_file}:{issue}"));
    }
    if !problems.is_empty() {
        return Err(TemplateError { problems });
    }
    Ok(Template {
        meta,
        flow,
        dir: dir.to_path_buf(),
    })
}

/// The template `id` under `root`: `None` when there is no such folder (ids are folder names;
/// anything but `[A-Za-z0-9_-]` is no template), else the loaded, checked template.
pub fn find_template(
    root: &Path,
    id: &str,
    registry: Option<&Registry>,
) -> Result<Option<Template>, TemplateError> {
    let plain = !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    let dir = root.join(id);
    if !plain || !dir.join(META_FILE).is_file() {
        return Ok(None);
    }
    load_template(&dir, registry).map(Some)
}

/// Loads every template folder under `root` (folders with a `template.json`), in id order.
/// Every problem of every template is reported.
pub fn load_all(root: &Path, registry: Option<&Registry>) -> Result<Vec<Template>, TemplateError> {
    let entries = std::fs::read_dir(root).map_err(|e| TemplateError {
        problems: vec![format!("{}: {e}", root.display())],
    })?;
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join(META_FILE).is_file())
        .collect();
    dirs.sort();
    let mut templates = Vec::new();
    let mut problems = Vec::new();
    for dir in dirs {
        match load_template(&dir, registry) {
            Ok(t) => templates.push(t),
            Err(e) => problems.extend(e.problems),
        }
    }
    if problems.is_empty() {
        Ok(templates)
    } else {
        Err(TemplateError { problems })
    }
}
