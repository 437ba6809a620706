//! Target field paths (`customer.address.city`, `lines[*].sku`, `tags[0]`) and writing values at
//! them into the record being built.

use serde_json::{Map, Value};

/// One segment of a target path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetSeg {
    /// Object member.
    Key(String),
    /// Array element at a fixed position.
    Index(usize),
    /// Every element: the value must be a list, spread one item per element.
    Each,
}

/// A parsed target path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetPath {
    /// The path as written.
    pub text: String,
    /// Its segments; never empty.
    pub segs: Vec<TargetSeg>,
}

impl TargetPath {
    /// Parses a target path; errors say what is wrong with it.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut segs = Vec::new();
        for part in text.split('.') {
            let (name, mut rest) = match part.find('[') {
                Some(at) => (&part[..at], &part[at..]),
                None => (part, ""),
            };
            if name.is_empty() && (segs.is_empty() || rest.is_empty()) {
                return Err(format!("target path `{text}` has an empty field name"));
            }
            if !name.is_empty() {
                segs.push(TargetSeg::Key(name.to_string()));
            }
            while !rest.is_empty() {
                let close = rest
                    .find(']')
                    .ok_or_else(|| format!("target path `{text}` has an unclosed `[`"))?;
                let inner = &rest[1..close];
                segs.push(match inner {
                    "*" => TargetSeg::Each,
                    n => TargetSeg::Index(n.parse().map_err(|_| {
                        format!("target path `{text}`: `[{n}]` is neither `[*]` nor an index")
                    })?),
                });
                rest = &rest[close + 1..];
                if !rest.is_empty() && !rest.starts_with('[') {
                    return Err(format!(
                        "target path `{text}`: unexpected `{rest}` after `]`"
                    ));
                }
            }
        }
        if segs.is_empty() {
            return Err("target path is empty".to_string());
        }
        Ok(TargetPath {
            text: text.to_string(),
            segs,
        })
    }

    /// Writes `value` at this path under `root` (an object), creating what is missing.
    pub fn write(&self, root: &mut Map<String, Value>, value: Value) -> Result<(), String> {
        let (TargetSeg::Key(first), rest) = self
            .segs
            .split_first()
            .map(|(f, r)| (f.clone(), r))
            .unwrap_or((TargetSeg::Each, &[]))
        else {
            return Err(format!(
                "target path `{}` must start with a field name",
                self.text
            ));
        };
        let slot = root.entry(first).or_insert(Value::Null);
        write_at(slot, rest, value, &self.text)
    }
}

fn write_at(slot: &mut Value, segs: &[TargetSeg], value: Value, text: &str) -> Result<(), String> {
    let Some((seg, rest)) = segs.split_first() else {
        *slot = value;
        return Ok(());
    };
    match seg {
        TargetSeg::Key(k) => {
            if !slot.is_object() {
                *slot = Value::Object(Map::new());
            }
            let Value::Object(map) = slot else {
                unreachable_object()
            };
            write_at(
                map.entry(k.clone()).or_insert(Value::Null),
                rest,
                value,
                text,
            )
        }
        TargetSeg::Index(i) => {
            let items = as_array(slot);
            if items.len() <= *i {
                items.resize(*i + 1, Value::Null);
            }
            write_at(&mut items[*i], rest, value, text)
        }
        TargetSeg::Each => {
            let Value::Array(values) = value else {
                return Err(format!(
                    "target `{text}` spreads a list, but the value is not a list (use cardinality \"all\")"
                ));
            };
            let items = as_array(slot);
            if items.len() < values.len() {
                items.resize(values.len(), Value::Null);
            }
            for (item, v) in items.iter_mut().zip(values) {
                write_at(item, rest, v, text)?;
            }
            Ok(())
        }
    }
}

fn as_array(slot: &mut Value) -> &mut Vec<Value> {
    if !slot.is_array() {
        *slot = Value::Array(Vec::new());
    }
    match slot {
        Value::Array(items) => items,
        _ => unreachable_object(),
    }
}

#[allow(clippy::panic)]
fn unreachable_object() -> ! {
    // Both callers replaced the slot with the right kind just before.
    panic!("slot kind was just set")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn build(writes: &[(&str, Value)]) -> Value {
        let mut root = Map::new();
        for (path, v) in writes {
            TargetPath::parse(path)
                .unwrap()
                .write(&mut root, v.clone())
                .unwrap();
        }
        Value::Object(root)
    }

    #[test]
    fn writes_nested_indexed_and_spread_values() {
        let out = build(&[
            ("customer.address.city", json!("Paris")),
            ("tags[1]", json!("b2b")),
            ("lines[*].sku", json!(["A", "B"])),
            ("lines[*].qty", json!([1, 2])),
        ]);
        assert_eq!(
            out,
            json!({
                "customer": {"address": {"city": "Paris"}},
                "tags": [null, "b2b"],
                "lines": [{"sku": "A", "qty": 1}, {"sku": "B", "qty": 2}]
            })
        );
    }

    #[test]
    fn bad_paths_and_non_lists_are_explained() {
        assert!(
            TargetPath::parse("a..b")
                .unwrap_err()
                .contains("empty field name")
        );
        assert!(TargetPath::parse("a[x]").unwrap_err().contains("neither"));
        assert!(TargetPath::parse("a[1").unwrap_err().contains("unclosed"));
        let mut root = Map::new();
        let err = TargetPath::parse("lines[*].sku")
            .unwrap()
            .write(&mut root, json!("A"))
            .unwrap_err();
        assert!(err.contains("not a list"), "{err}");
    }
}
