use serde_json::{Value, json};

use super::*;

fn flow_with(steps: Value, extra: Value) -> Flow {
    let mut doc = json!({
        "version": 1, "id": "t",
        "connections": {"in": {"connector": "file"}, "out": {"connector": "file"}},
        "source": {"connection": "in", "operation": "read"},
        "target": {"connection": "out", "operation": "write"},
        "steps": steps
    });
    if let (Value::Object(d), Value::Object(e)) = (&mut doc, extra) {
        d.extend(e);
    }
    serde_json::from_value(doc).unwrap()
}

fn mapping(fields: Value) -> Flow {
    flow_with(
        json!([{"id": "map", "type": "mapping", "fields": fields}]),
        json!({}),
    )
}

fn order() -> Value {
    json!({
        "id": 5000000001u64, "name": "#1001", "financial_status": "paid", "total_price": "121.00",
        "customer": {"first_name": "Chloé", "last_name": "Müller", "email": "Chloe.M@Example.COM"},
        "billing_address": {"country_code": "FR"},
        "line_items": [
            {"sku": "SKU-1", "quantity": 2, "price": "10.50"},
            {"sku": "SKU-2", "quantity": 1, "price": "100.00"}
        ]
    })
}

fn out(flow: &Flow, record: Value) -> Value {
    match CompiledFlow::compile(flow)
        .unwrap()
        .process(&record)
        .unwrap()
    {
        Processed::Output(v) => v,
        other => panic!("{other:?}"),
    }
}

fn failure(flow: &Flow, record: Value) -> RecordFailure {
    CompiledFlow::compile(flow)
        .unwrap()
        .process(&record)
        .unwrap_err()
}

#[test]
fn jsonpath_cardinalities() {
    let flow = mapping(json!([
        {"target": "number", "value": {"type": "jsonpath", "path": "$.name"}},
        {"target": "skus", "value": {"type": "jsonpath", "path": "$.line_items[*].sku", "cardinality": "all"}},
        {"target": "missing", "value": {"type": "jsonpath", "path": "$.nope"}},
        {"target": "gone", "value": {"type": "jsonpath", "path": "$.nope"}, "omit_if_missing": true},
        {"target": "unit", "value": {"type": "rhai", "script": "()"}, "omit_if_missing": true},
        {"target": "dflt", "value": {"type": "jsonpath", "path": "$.nope"}, "default": "n/a"}
    ]));
    assert_eq!(
        out(&flow, order()),
        json!({"number": "#1001", "skus": ["SKU-1", "SKU-2"], "missing": null, "dflt": "n/a"})
    );
}

#[test]
fn required_path_that_matches_nothing_fails_the_record_naming_field_and_query() {
    let flow = mapping(
        json!([{"target": "email", "value": {"type": "jsonpath", "path": "$.customer.mail", "cardinality": "required"}}]),
    );
    let f = failure(&flow, order());
    assert_eq!(f.step_id, "map");
    assert_eq!(f.errors[0].field, "email");
    assert!(
        f.to_string()
            .contains("required value `$.customer.mail` matched nothing"),
        "{f}"
    );
}

#[test]
fn rhai_expressions_scripts_constants_and_templates() {
    let flow = mapping(json!([
        {"target": "name", "value": {"type": "template", "template": "{$.customer.first_name} {$.customer.last_name} {{x}}"}},
        {"target": "lines_count", "value": {"type": "rhai", "script": "record.line_items.len()"}},
        {"target": "big", "value": {"type": "rhai", "script": "let t = parse_number(record.total_price);\nif t > 100.0 { \"yes\" } else { \"no\" }"}},
        {"target": "source", "value": {"type": "static", "value": {"system": "shop"}}}
    ]));
    assert_eq!(
        out(&flow, order()),
        json!({"name": "Chloé Müller {x}", "lines_count": 2, "big": "yes", "source": {"system": "shop"}})
    );
}

#[test]
fn transforms_see_value_record_and_settings() {
    let flow = flow_with(
        json!([{"id": "map", "type": "mapping", "fields": [
            {"target": "email", "value": {"type": "jsonpath", "path": "$.customer.email"}, "transform": "lower(value)"},
            {"target": "excl", "value": {"type": "jsonpath", "path": "$.total_price"}, "transform": "round(parse_number(value) / (1.0 + settings.vat), 2)"},
            {"target": "code", "value": {"type": "jsonpath", "path": "$.id"}, "transform": "settings.prefix + pad_left(value % 1000, 6, \"0\")"},
            {"target": "last", "value": {"type": "jsonpath", "path": "$.customer.last_name"}, "transform": "upper(strip_accents(value))"}
        ]}]),
        json!({"settings": {"vat": 0.21, "prefix": "WEB"}}),
    );
    assert_eq!(
        out(&flow, order()),
        json!({"email": "chloe.m@example.com", "excl": 100.0, "code": "WEB000001", "last": "MULLER"})
    );
}

#[test]
fn value_maps_named_inline_default_and_unmapped() {
    let flow = flow_with(
        json!([{"id": "map", "type": "mapping", "fields": [
            {"target": "status", "value": {"type": "value_map", "path": "$.financial_status", "map": "status"}},
            {"target": "country", "value": {"type": "value_map", "path": "$.billing_address.country_code", "inline": {"entries": {"FR": "F"}, "fail_if_unmapped": true}}}
        ]}]),
        json!({"value_maps": {"status": {"entries": {"paid": "PAID", "pending": "OPEN"}, "default": "OTHER"}}}),
    );
    assert_eq!(
        out(&flow, order()),
        json!({"status": "PAID", "country": "F"})
    );
    let mut voided = order();
    voided["financial_status"] = json!("voided");
    voided["billing_address"]["country_code"] = json!("XX");
    let f = failure(&flow, voided);
    assert_eq!(f.errors.len(), 1);
    assert_eq!(f.errors[0].field, "country");
    assert!(
        f.errors[0]
            .message
            .contains("value map `inline` has no entry for \"XX\""),
        "{f}"
    );
    assert_eq!(f.partial.unwrap()["status"], "OTHER");
}

#[test]
fn for_each_builds_one_line_per_element_and_sees_parent() {
    let flow = mapping(json!([
        {"target": "lines", "value": {"type": "for_each", "path": "$.line_items[*]", "fields": [
            {"target": "sku", "value": {"type": "jsonpath", "path": "$.sku"}},
            {"target": "qty", "value": {"type": "jsonpath", "path": "$.quantity"}},
            {"target": "unit_price", "value": {"type": "jsonpath", "path": "$.price"}, "transform": "parse_number(value)"},
            {"target": "country", "value": {"type": "rhai", "script": "parent.billing_address.country_code"}},
            {"target": "total", "value": {"type": "rhai", "script": "record.quantity * parse_number(record.price)"}}
        ]}}
    ]));
    assert_eq!(
        out(&flow, order())["lines"],
        json!([
            {"sku": "SKU-1", "qty": 2, "unit_price": 10.5, "country": "FR", "total": 21.0},
            {"sku": "SKU-2", "qty": 1, "unit_price": 100.0, "country": "FR", "total": 100.0}
        ])
    );
}

#[test]
fn spread_target_paths_build_arrays() {
    let flow = mapping(json!([
        {"target": "lines[*].sku", "value": {"type": "jsonpath", "path": "$.line_items[*].sku", "cardinality": "all"}},
        {"target": "lines[*].qty", "value": {"type": "jsonpath", "path": "$.line_items[*].quantity", "cardinality": "all"}},
        {"target": "customer.address.country", "value": {"type": "jsonpath", "path": "$.billing_address.country_code"}}
    ]));
    assert_eq!(
        out(&flow, order()),
        json!({
            "lines": [{"sku": "SKU-1", "qty": 2}, {"sku": "SKU-2", "qty": 1}],
            "customer": {"address": {"country": "FR"}}
        })
    );
}

#[test]
fn every_field_error_is_reported_with_its_path() {
    let flow = mapping(json!([
        {"target": "a", "value": {"type": "jsonpath", "path": "$.total_price"}, "transform": "parse_number(value) + undefined_fn()"},
        {"target": "lines", "value": {"type": "for_each", "path": "$.line_items[*]", "fields": [
            {"target": "p", "value": {"type": "jsonpath", "path": "$.price"}, "transform": "parse_number(value) / 0 + parse_number(\"x\")"}
        ]}}
    ]));
    let f = failure(&flow, order());
    let fields: Vec<&str> = f.errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, ["a", "lines[0].p", "lines[1].p"]);
    assert!(
        f.errors[1].message.contains("\"x\" is not a number"),
        "{}",
        f.errors[1].message
    );
}

#[test]
fn filter_keeps_drops_and_reports_non_boolean() {
    let flow = flow_with(
        json!([{"id": "paid_only", "type": "filter", "condition": "record.financial_status == \"paid\""}]),
        json!({}),
    );
    let compiled = CompiledFlow::compile(&flow).unwrap();
    assert!(matches!(
        compiled.process(&order()).unwrap(),
        Processed::Output(_)
    ));
    let mut pending = order();
    pending["financial_status"] = json!("pending");
    assert_eq!(
        compiled.process(&pending).unwrap(),
        Processed::Filtered {
            step_id: "paid_only".into(),
            reason: None
        }
    );

    let bad = flow_with(
        json!([{"id": "f", "type": "filter", "condition": "record.name"}]),
        json!({}),
    );
    assert!(
        failure(&bad, order())
            .to_string()
            .contains("must give true or false")
    );
}

#[test]
fn script_step_rewrites_the_record_and_on_error_skip_filters() {
    let flow = flow_with(
        json!([
            {"id": "tag", "type": "script", "script": "record.tagged = true; record.name = upper(record.name); record"},
            {"id": "map", "type": "mapping", "fields": [{"target": "n", "value": {"type": "jsonpath", "path": "$.name"}}, {"target": "t", "value": {"type": "jsonpath", "path": "$.tagged"}}]}
        ]),
        json!({}),
    );
    assert_eq!(
        out(&flow, json!({"name": "abc"})),
        json!({"n": "ABC", "t": true})
    );

    let skip = flow_with(
        json!([{"id": "s", "type": "script", "script": "throw \"nope\"", "on_error": "skip"}]),
        json!({}),
    );
    match CompiledFlow::compile(&skip)
        .unwrap()
        .process(&order())
        .unwrap()
    {
        Processed::Filtered { step_id, reason } => {
            assert_eq!(step_id, "s");
            assert!(reason.unwrap().contains("nope"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn hostile_script_fails_its_record_only() {
    let flow = flow_with(
        json!([{"id": "map", "type": "mapping", "fields": [{"target": "x", "value": {"type": "rhai", "script": "let a = 0; loop { a += 1; }"}}]}]),
        json!({"script_limits": {"timeout_ms": 50, "max_operations": 0}}),
    );
    let compiled = CompiledFlow::compile(&flow).unwrap();
    let f = compiled.process(&order()).unwrap_err();
    assert!(f.to_string().contains("time limit"), "{f}");
}

#[test]
fn field_scripts_cannot_modify_the_shared_record() {
    let flow = mapping(json!([
        {"target": "a", "value": {"type": "rhai", "script": "record.name = \"changed\"; 1"}},
        {"target": "b", "value": {"type": "jsonpath", "path": "$.name"}}
    ]));
    let f = failure(&flow, order());
    assert_eq!(f.errors[0].field, "a");
    assert_eq!(f.partial.unwrap()["b"], "#1001");
}

#[test]
fn compile_reports_every_problem_with_step_and_path() {
    let flow = flow_with(
        json!([
            {"id": "map", "type": "mapping", "fields": [
                {"target": "a", "value": {"type": "jsonpath", "path": "$.x["}},
                {"target": "b..c", "value": {"type": "static", "value": 1}},
                {"target": "d", "value": {"type": "rhai", "script": "1 +"}},
                {"target": "e", "value": {"type": "value_map", "path": "$.s", "map": "nope"}},
                {"target": "f", "value": {"type": "template", "template": "{$.a"}}
            ]},
            {"id": "keep", "type": "filter", "condition": "record.x =="}
        ]),
        json!({"source": {"connection": "in", "operation": "read", "key": "$$"}}),
    );
    let issues = CompiledFlow::compile(&flow).unwrap_err();
    let paths: Vec<String> = issues.iter().map(|i| i.path.to_string()).collect();
    assert_eq!(
        paths,
        [
            "source.key",
            "steps[0].fields[0].value.path",
            "steps[0].fields[1].target",
            "steps[0].fields[2].value.script",
            "steps[0].fields[3].value.map",
            "steps[0].fields[4].value.template",
            "steps[1].condition",
        ]
    );
    assert_eq!(issues[1].step_id.as_deref(), Some("map"));
    assert_eq!(issues[6].step_id.as_deref(), Some("keep"));
}

#[test]
fn key_of_reads_the_source_key() {
    let compiled = CompiledFlow::compile(&mapping(json!([]))).unwrap();
    assert_eq!(compiled.key_of(&order()).as_deref(), Some("5000000001"));
    assert_eq!(
        compiled.key_of(&json!({"id": "A-1"})).as_deref(),
        Some("A-1")
    );
    assert_eq!(compiled.key_of(&json!({})), None);
}

#[test]
fn objects_with_more_fields_than_the_eager_lookups_map_every_field() {
    let keys: Vec<String> = (0..40).map(|i| format!("k{i:02}")).collect();
    let record: Value = keys
        .iter()
        .map(|k| (k.clone(), json!(k)))
        .collect::<serde_json::Map<_, _>>()
        .into();
    let fields: Vec<Value> = keys
        .iter()
        .map(|k| json!({"target": format!("out_{k}"), "value": {"type": "jsonpath", "path": format!("$.{k}"), "cardinality": "required"}}))
        .collect();
    let mapped = out(&mapping(Value::Array(fields)), record);
    for k in &keys {
        assert_eq!(mapped[format!("out_{k}")], json!(k), "{k}");
    }
    let missing = failure(
        &mapping(json!((0..20).map(|i| json!({"target": format!("f{i}"), "value": {"type": "jsonpath", "path": "$.nope", "cardinality": "required"}})).collect::<Vec<_>>())),
        json!({}),
    );
    assert_eq!(missing.errors.len(), 20);
    assert_eq!(missing.errors[19].field, "f19");
}
