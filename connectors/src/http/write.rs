//! The `write` operation: records to JSON requests, answers to per-record acks.
//!
//! Records are grouped by request (method and URL after `{key}`/`{target_id}` substitution). In
//! the usual case, a plain path and records that are all creates or all updates, that is one
//! group and so one request per call: one record is sent as a JSON object, several as one JSON
//! array. A path with placeholders gives each record its own URL, and a batch mixing creates
//! and updates with a different `update_path`/`update_method` splits in two; the groups are
//! then sent one after the other and each record gets its group's result.
//!
//! Ids: `id_path` is read from each element when the answer is an array as long as the group
//! (element i answers record i), otherwise from the answer itself; a path that leads to an
//! array as long as the group gives one id per record.

use ferry_engine::connector::{ConnectorError, Lookup, WriteAck, WriteAction, WriteRecord};
use reqwest::Method;
use serde_json::Value;
use url::Url;

use super::client::HttpClient;
use super::config::HttpWriteParams;
use super::dot_path::{lookup, scalar_text};
use super::status::{classify, excerpt};

/// Records that go out in one request.
struct Group<'a> {
    method: Method,
    url: Url,
    records: Vec<(usize, &'a WriteRecord)>,
}

/// Sends `records`; see the module docs for how they are grouped into requests.
pub(crate) async fn write(
    client: &HttpClient,
    params: &HttpWriteParams,
    records: &[WriteRecord],
) -> Result<Vec<Result<WriteAck, ConnectorError>>, ConnectorError> {
    let mut results: Vec<Option<Result<WriteAck, ConnectorError>>> = vec![None; records.len()];
    let mut groups: Vec<Group<'_>> = Vec::new();
    for (i, record) in records.iter().enumerate() {
        match request_for(client, params, record) {
            Ok((method, url)) => match groups
                .iter_mut()
                .find(|g| g.method == method && g.url == url)
            {
                Some(group) => group.records.push((i, record)),
                None => groups.push(Group {
                    method,
                    url,
                    records: vec![(i, record)],
                }),
            },
            Err(err) => results[i] = Some(Err(err)),
        }
    }
    // One request for the whole call: its failure is the call's failure.
    if let [group] = groups.as_slice()
        && group.records.len() == records.len()
    {
        return Ok(send(client, params, group)
            .await?
            .into_iter()
            .map(Ok)
            .collect());
    }
    for group in &groups {
        match send(client, params, group).await {
            Ok(acks) => {
                for ((i, _), ack) in group.records.iter().zip(acks) {
                    results[*i] = Some(Ok(ack));
                }
            }
            Err(err) => {
                for (i, _) in &group.records {
                    results[*i] = Some(Err(err.clone()));
                }
            }
        }
    }
    Ok(results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(ConnectorError::Config("record was not sent".into()))))
        .collect())
}

/// Asks the target whether it holds the object of business key `key` (see `lookup_path`).
pub(crate) async fn find_by_key(
    client: &HttpClient,
    params: &HttpWriteParams,
    key: &str,
) -> Result<Lookup, ConnectorError> {
    let Some(template) = &params.lookup_path else {
        return Ok(Lookup::Unsupported);
    };
    let path = template.replace("{key}", &encode_segment(key));
    let url = client.url(&path, &params.query)?;
    let response = client.send(Method::GET, url, None).await?;
    if response.status == reqwest::StatusCode::NOT_FOUND {
        return Ok(Lookup::Absent);
    }
    let mut ack = classify(
        response.status,
        &response.headers,
        &response.body,
        std::time::SystemTime::now(),
    )?;
    if !params.id_path.is_empty()
        && let Ok(body) = serde_json::from_slice::<Value>(&response.body)
    {
        ack.target_id = lookup(&body, &params.id_path).and_then(scalar_text);
    }
    Ok(Lookup::Found(ack))
}

/// The method and URL for one record: create or update settings, placeholders filled.
fn request_for(
    client: &HttpClient,
    params: &HttpWriteParams,
    record: &WriteRecord,
) -> Result<(Method, Url), ConnectorError> {
    let (template, method) = match &record.action {
        WriteAction::Create => (params.path.as_str(), params.method),
        WriteAction::Update { .. } => (
            params.update_path.as_deref().unwrap_or(&params.path),
            params.update_method.unwrap_or(params.method),
        ),
    };
    let mut path = template.replace("{key}", &encode_segment(&record.key));
    if path.contains("{target_id}") {
        match &record.action {
            WriteAction::Update { target_id } => {
                path = path.replace("{target_id}", &encode_segment(target_id))
            }
            WriteAction::Create => {
                return Err(ConnectorError::Config(format!(
                    "path {template:?} uses {{target_id}}, but record `{}` is new and has no target id yet; use {{target_id}} only in `update_path`",
                    record.key
                )));
            }
        }
    }
    Ok((method.into(), client.url(&path, &params.query)?))
}

/// Percent-encodes everything but RFC 3986 unreserved characters, so a key like `A/B 1`
/// stays one path segment.
pub(crate) fn encode_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// A group's request body: one payload, or the payloads as one JSON array. A payload's text is
/// the engine's when it has one (it serialized the payload for the log already).
fn request_body(
    records: &[(usize, &WriteRecord)],
    always_array: bool,
) -> serde_json::Result<Vec<u8>> {
    let one = |out: &mut Vec<u8>, record: &WriteRecord| match &record.text {
        Some(text) => {
            out.extend_from_slice(text.as_bytes());
            Ok(())
        }
        None => serde_json::to_writer(&mut *out, &record.payload),
    };
    let mut out = Vec::new();
    match records {
        [(_, record)] if !always_array => one(&mut out, record)?,
        records => {
            out.push(b'[');
            for (i, (_, record)) in records.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                one(&mut out, record)?;
            }
            out.push(b']');
        }
    }
    Ok(out)
}

/// Sends one group and returns one ack per record.
async fn send(
    client: &HttpClient,
    params: &HttpWriteParams,
    group: &Group<'_>,
) -> Result<Vec<WriteAck>, ConnectorError> {
    let body = request_body(&group.records, params.always_array).map_err(|e| {
        ConnectorError::Permanent {
            message: format!("records cannot be sent as JSON: {e}"),
            status: None,
            body: None,
        }
    })?;
    let response = client
        .send(group.method.clone(), group.url.clone(), Some(body))
        .await?;
    let ack = classify(
        response.status,
        &response.headers,
        &response.body,
        std::time::SystemTime::now(),
    )?;
    let count = group.records.len();
    let answer: Option<Value> = serde_json::from_slice(&response.body).ok();
    let id_path = params.id_path.trim();
    let acks = match &answer {
        // Element i answers record i.
        Some(Value::Array(items)) if items.len() == count => items
            .iter()
            .map(|item| WriteAck {
                status: ack.status,
                body: Some(excerpt(item.to_string().as_bytes())),
                target_id: if id_path.is_empty() {
                    None
                } else {
                    lookup(item, id_path).and_then(scalar_text)
                },
            })
            .collect(),
        _ => {
            let found = if id_path.is_empty() {
                None
            } else {
                answer.as_ref().and_then(|a| lookup(a, id_path))
            };
            let ids: Vec<Option<String>> = match found {
                Some(Value::Array(ids)) if count > 1 && ids.len() == count => {
                    ids.iter().map(scalar_text).collect()
                }
                Some(id) if count == 1 => vec![scalar_text(id)],
                _ => vec![None; count],
            };
            ids.into_iter()
                .map(|target_id| WriteAck {
                    target_id,
                    ..ack.clone()
                })
                .collect()
        }
    };
    Ok(acks)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_are_encoded_as_one_path_segment() {
        assert_eq!(encode_segment("SKU-1_a.b~"), "SKU-1_a.b~");
        assert_eq!(encode_segment("A/B 1?x"), "A%2FB%201%3Fx");
        assert_eq!(encode_segment("é"), "%C3%A9");
    }

    fn record(payload: Value, with_text: bool) -> WriteRecord {
        WriteRecord {
            key: "k".into(),
            action: WriteAction::Create,
            text: with_text.then(|| payload.to_string()),
            payload,
        }
    }

    #[test]
    fn the_engine_s_text_is_sent_as_serializing_the_payload_would_send_it() {
        let a = record(json!({"sku": "A", "qty": 1, "name": "é \"x\""}), true);
        let b = record(json!({"sku": "B", "lines": [1, 2]}), false);
        let c = record(json!({"sku": "C"}), true);
        let single = request_body(&[(0, &a)], false).unwrap();
        assert_eq!(single, serde_json::to_vec(&a.payload).unwrap());
        let wrapped = request_body(&[(0, &a)], true).unwrap();
        assert_eq!(wrapped, serde_json::to_vec(&json!([a.payload])).unwrap());
        let batch = request_body(&[(0, &a), (1, &b), (2, &c)], false).unwrap();
        let expected = json!([a.payload, b.payload, c.payload]);
        assert_eq!(batch, serde_json::to_vec(&expected).unwrap());
    }
}
