//! The `read` operation's page walker: one GET per [`Page`], the next request derived from the
//! [`Pagination`] style and the answer (short page, `X-WP-TotalPages`, a cursor in the body, a
//! `Link: rel="next"` header).
//!
//! A failed request leaves the walker where it was, so calling
//! [`next_page`](RecordReader::next_page) again after a retryable error repeats the same
//! request instead of skipping a page. Empty pages are not handed out: in the page-number and
//! offset styles an empty page ends the read, in the cursor and link styles the walker follows
//! the pointer on (some APIs send empty pages with a next pointer). A cursor or link that
//! does not move is reported as an error rather than looped on.

use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use ferry_engine::connector::{ConnectorError, Page, PageText, RecordReader};
use ferry_engine::projection::Projection;
use reqwest::Method;
use reqwest::header::{HeaderMap, LINK};
use serde_json::Value;
use url::Url;

use super::client::{HttpClient, Response, set_query_param};
use super::config::{HttpReadParams, Pagination};
use super::dot_path::{lookup, lookup_mut, scalar_text, segments};
use super::records_text::{Found, list_records, split_body};
use super::status::{classify, excerpt};

/// WordPress/WooCommerce header with the number of pages of the listing.
const WP_TOTAL_PAGES: &str = "x-wp-totalpages";

/// One answer's records and the request after it.
struct Fetched {
    records: Vec<Value>,
    /// The records' text, when the answer held them as a list.
    text: Option<PageText>,
    next: Option<Url>,
}

/// Reads a list endpoint page by page.
#[derive(Debug)]
pub(crate) struct HttpReader {
    client: Arc<HttpClient>,
    params: HttpReadParams,
    /// The endpoint with the user's query, before pagination parameters.
    base: Url,
    /// The next request; `None` once the listing is exhausted.
    next: Option<Url>,
    /// Page number or offset of `next`, for the page-number and offset styles.
    position: u64,
    /// Successful requests so far.
    requests: u64,
    /// What the flow reads of each record.
    projection: Arc<Projection>,
}

impl HttpReader {
    /// Checks the params and plans the first request. No I/O.
    pub(crate) fn new(
        client: Arc<HttpClient>,
        params: HttpReadParams,
    ) -> Result<Self, ConnectorError> {
        let base = client.url(&params.path, &params.query)?;
        let mut first = base.clone();
        let mut position = 0;
        match &params.pagination {
            Pagination::None | Pagination::LinkHeader => {}
            Pagination::PageNumber {
                param,
                start,
                size_param,
                size,
            } => {
                check_names(&[param, size_param])?;
                check_size(*size)?;
                set_query_param(&mut first, size_param, &size.to_string());
                set_query_param(&mut first, param, &start.to_string());
                position = *start;
            }
            Pagination::Offset {
                param,
                size_param,
                size,
            } => {
                check_names(&[param, size_param])?;
                check_size(*size)?;
                set_query_param(&mut first, size_param, &size.to_string());
                set_query_param(&mut first, param, "0");
            }
            Pagination::Cursor { param, next_path } => {
                check_names(&[param, next_path])?;
            }
        }
        Ok(HttpReader {
            client,
            params,
            base,
            next: Some(first),
            position,
            requests: 0,
            projection: Arc::default(),
        })
    }

    /// Builds only what the flow reads of each record; each page then carries its records'
    /// text for the log (`ReadRequest::projection`).
    pub(crate) fn with_projection(mut self, projection: Arc<Projection>) -> Self {
        self.projection = projection;
        self
    }

    /// Fetches `url` and returns its records (with their text when the answer held a list)
    /// and the request after it.
    async fn fetch(&self, url: &Url) -> Result<Fetched, ConnectorError> {
        let response = self.client.send(Method::GET, url.clone(), None).await?;
        classify(
            response.status,
            &response.headers,
            &response.body,
            SystemTime::now(),
        )?;
        let not_json = |e: &dyn std::fmt::Display| ConnectorError::Permanent {
            message: format!(
                "GET {}: the answer is not JSON: {e}",
                self.client.shown(url)
            ),
            status: Some(response.status.as_u16()),
            body: Some(excerpt(&response.body)),
        };
        let text = std::str::from_utf8(&response.body).map_err(|e| not_json(&e))?;
        let split = split_body(text, self.list_path()).map_err(|e| not_json(&e))?;
        let mut body = split.rest;
        // Read before the records are taken out of the body.
        let cursor = match &self.params.pagination {
            Pagination::Cursor { next_path, .. } => lookup(&body, next_path).and_then(scalar_text),
            _ => None,
        };
        let (records, text) = match split.found {
            Found::List(list) => {
                let (records, page_text) =
                    list_records(text, &list, &self.projection).map_err(|e| not_json(&e))?;
                (records, Some(page_text))
            }
            Found::InBody => (self.records(url, &response, &mut body)?, None),
        };
        let next = self.next_request(url, &response.headers, cursor, records.len() as u64)?;
        Ok(Fetched {
            records,
            text,
            next,
        })
    }

    /// Where to keep a list of records as text: `records_path`, unless the next cursor is read
    /// from inside that list, which then must be parsed whole.
    fn list_path(&self) -> Option<&str> {
        let records = &self.params.records_path;
        if let Pagination::Cursor { next_path, .. } = &self.params.pagination {
            // `next_path` starts with every segment of `records_path` and goes on.
            let mut next = segments(next_path);
            if segments(records).all(|segment| next.next() == Some(segment))
                && next.next().is_some()
            {
                return None;
            }
        }
        Some(records)
    }

    /// Takes the records out of `body` at `records_path`.
    fn records(
        &self,
        url: &Url,
        response: &Response,
        body: &mut Value,
    ) -> Result<Vec<Value>, ConnectorError> {
        let path = self.params.records_path.as_str();
        let found = lookup_mut(body, path).map(Value::take);
        let problem = match found {
            Some(Value::Array(records)) => return Ok(records),
            Some(Value::Null) => return Ok(Vec::new()),
            Some(record @ Value::Object(_)) => return Ok(vec![record]),
            Some(other) => {
                format!("`records_path` {path:?} points to {other}, not to a list of records")
            }
            None => {
                let fields = body
                    .as_object()
                    .map(|o| o.keys().cloned().collect::<Vec<_>>().join(", "));
                format!(
                    "the answer has nothing at `records_path` {path:?}; its top-level fields are: {}",
                    fields.unwrap_or_else(|| "(not an object)".into())
                )
            }
        };
        Err(ConnectorError::Permanent {
            message: format!("GET {}: {problem}", self.client.shown(url)),
            status: Some(response.status.as_u16()),
            body: Some(excerpt(&response.body)),
        })
    }

    /// The request after `url`, given the answer's headers, its next cursor and how many
    /// records it held; `None` when the listing is exhausted.
    fn next_request(
        &self,
        url: &Url,
        headers: &HeaderMap,
        cursor: Option<String>,
        count: u64,
    ) -> Result<Option<Url>, ConnectorError> {
        let stuck = |what: &str| ConnectorError::Permanent {
            message: format!(
                "GET {}: the API sent the same {what} again; stopping instead of looping",
                self.client.shown(url)
            ),
            status: None,
            body: None,
        };
        let mut next = self.base.clone();
        match &self.params.pagination {
            Pagination::None => Ok(None),
            Pagination::PageNumber {
                param,
                size_param,
                size,
                ..
            } => {
                let total_pages = headers
                    .get(WP_TOTAL_PAGES)
                    .and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok());
                if count < *size || total_pages.is_some_and(|total| self.requests + 1 >= total) {
                    return Ok(None);
                }
                set_query_param(&mut next, size_param, &size.to_string());
                set_query_param(&mut next, param, &(self.position + 1).to_string());
                Ok(Some(next))
            }
            Pagination::Offset {
                param,
                size_param,
                size,
            } => {
                if count < *size {
                    return Ok(None);
                }
                set_query_param(&mut next, size_param, &size.to_string());
                set_query_param(&mut next, param, &(self.position + size).to_string());
                Ok(Some(next))
            }
            Pagination::Cursor { param, .. } => {
                let Some(cursor) = cursor else {
                    return Ok(None);
                };
                if url
                    .query_pairs()
                    .any(|(k, v)| k == param.as_str() && v == cursor.as_str())
                {
                    return Err(stuck("cursor"));
                }
                set_query_param(&mut next, param, &cursor);
                Ok(Some(next))
            }
            Pagination::LinkHeader => {
                let Some(next) = next_link(headers, url) else {
                    return Ok(None);
                };
                if !self.client.same_origin(&next) {
                    return Err(ConnectorError::Permanent {
                        message: format!(
                            "GET {}: the next-page link leads to another host ({}); credentials are not sent there",
                            self.client.shown(url),
                            next.origin().ascii_serialization()
                        ),
                        status: None,
                        body: None,
                    });
                }
                if next == *url {
                    return Err(stuck("next link"));
                }
                Ok(Some(next))
            }
        }
    }
}

#[async_trait]
impl RecordReader for HttpReader {
    async fn next_page(&mut self) -> Result<Option<Page>, ConnectorError> {
        while let Some(url) = self.next.clone() {
            let Fetched {
                records,
                text,
                next,
            } = self.fetch(&url).await?;
            self.requests += 1;
            match &self.params.pagination {
                Pagination::PageNumber { .. } => self.position += 1,
                Pagination::Offset { size, .. } => self.position += size,
                _ => {}
            }
            // Page-number and offset styles already end on an empty (short) page.
            self.next = next;
            if !records.is_empty() {
                return Ok(Some(Page {
                    records,
                    cursor: None,
                    text,
                }));
            }
        }
        Ok(None)
    }
}

fn check_names(names: &[&String]) -> Result<(), ConnectorError> {
    if names.iter().any(|n| n.trim().is_empty()) {
        return Err(ConnectorError::Config(
            "pagination parameter names and paths must not be empty".into(),
        ));
    }
    Ok(())
}

fn check_size(size: u64) -> Result<(), ConnectorError> {
    if size == 0 {
        return Err(ConnectorError::Config(
            "pagination `size` must be at least 1".into(),
        ));
    }
    Ok(())
}

/// The `rel="next"` target of the `Link` headers, resolved against the request URL.
pub(crate) fn next_link(headers: &HeaderMap, request: &Url) -> Option<Url> {
    headers
        .get_all(LINK)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(parse_links)
        .find(|(_, rels)| rels.iter().any(|rel| rel.eq_ignore_ascii_case("next")))
        .and_then(|(target, _)| request.join(&target).ok())
}

/// Parses an RFC 8288 `Link` value into (target, relation types). Commas and semicolons inside
/// `<…>` and inside quoted parameters do not split.
fn parse_links(value: &str) -> Vec<(String, Vec<String>)> {
    let mut links = Vec::new();
    let mut rest = value;
    while let Some(open) = rest.find('<') {
        let Some(close) = rest[open..].find('>').map(|c| c + open) else {
            break;
        };
        let target = rest[open + 1..close].trim().to_string();
        rest = &rest[close + 1..];
        let mut end = rest.len();
        let mut quoted = false;
        for (i, c) in rest.char_indices() {
            match c {
                '"' => quoted = !quoted,
                ',' if !quoted => {
                    end = i;
                    break;
                }
                _ => {}
            }
        }
        let rels = rest[..end]
            .split(';')
            .filter_map(|param| param.split_once('='))
            .filter(|(name, _)| name.trim().eq_ignore_ascii_case("rel"))
            .flat_map(|(_, value)| {
                value
                    .trim()
                    .trim_matches('"')
                    .split_whitespace()
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .collect();
        links.push((target, rels));
        rest = &rest[end..];
    }
    links
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    #[test]
    fn parses_shopify_and_github_link_headers() {
        let shopify = r#"<https://shop.myshopify.com/admin/api/2024-07/orders.json?limit=2&page_info=abc>; rel="previous", <https://shop.myshopify.com/admin/api/2024-07/orders.json?limit=2&page_info=def>; rel="next""#;
        let links = parse_links(shopify);
        assert_eq!(links.len(), 2);
        assert_eq!(links[1].1, ["next"]);
        let github = r#"<https://api.github.com/repositories/1/issues?page=2>; rel="next", <https://api.github.com/repositories/1/issues?page=5>; rel="last""#;
        let mut headers = HeaderMap::new();
        headers.insert(LINK, HeaderValue::from_static(github));
        let request = Url::parse("https://api.github.com/repositories/1/issues").unwrap();
        assert_eq!(
            next_link(&headers, &request).unwrap().as_str(),
            "https://api.github.com/repositories/1/issues?page=2"
        );
    }

    #[test]
    fn link_parsing_handles_commas_relative_targets_and_multiple_rels() {
        let value = r#"</items?filter=a,b&after=x>; title="one, two"; rel="prefetch next", </items?before=x>; rel=prev"#;
        let links = parse_links(value);
        assert_eq!(links[0].0, "/items?filter=a,b&after=x");
        assert_eq!(links[0].1, ["prefetch", "next"]);
        assert_eq!(links[1].1, ["prev"]);
        let mut headers = HeaderMap::new();
        headers.append(
            LINK,
            HeaderValue::from_static(r#"</items?before=x>; rel="prev""#),
        );
        headers.append(
            LINK,
            HeaderValue::from_static(r#"</items?after=x>; rel=NEXT"#),
        );
        let request = Url::parse("https://api.example/v1/items").unwrap();
        assert_eq!(
            next_link(&headers, &request).unwrap().as_str(),
            "https://api.example/items?after=x"
        );
        assert_eq!(next_link(&HeaderMap::new(), &request), None);
    }
}
