//! Values of list filters (`?since=`, `?status=`): parsed once for every list endpoint, and a
//! value that does not parse answers 422 `invalid_query` with `details.field` naming the
//! parameter. (A query the extractor cannot read at all, such as an unknown parameter or a
//! number that is not one, is a 400 from [`super::error::ApiQuery`].)

use std::str::FromStr;

use axum::http::StatusCode;
use serde_json::json;

use super::error::{ApiError, ApiResult};

fn invalid(field: &str, message: String) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_query", message)
        .with_details(json!({"field": field}))
}

/// A time filter: RFC 3339, turned into the stored form so text order is time order.
pub(super) fn time_param(field: &str, value: Option<&str>) -> ApiResult<Option<String>> {
    value
        .map(|v| {
            chrono::DateTime::parse_from_rfc3339(v)
                .map(|t| crate::store::stamp(t.with_timezone(&chrono::Utc)))
                .map_err(|_| {
                    invalid(
                        field,
                        format!(
                            "`{field}` must be an RFC 3339 time such as 2026-11-23T10:00:00Z, \
                             not `{v}`"
                        ),
                    )
                })
        })
        .transpose()
}

/// One of the stored names `names` of an enum (`status=failed`).
pub(super) fn enum_param<T: FromStr>(
    field: &str,
    value: Option<&str>,
    names: &[&str],
) -> ApiResult<Option<T>> {
    value
        .map(|v| {
            v.parse::<T>().map_err(|_| {
                invalid(
                    field,
                    format!("`{field}` must be one of {}, not `{v}`", names.join(", ")),
                )
            })
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::DeliveryStatus;

    #[test]
    fn bad_values_name_their_parameter() {
        let error = time_param("since", Some("yesterday")).unwrap_err();
        assert_eq!(error.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(error.code, "invalid_query");
        let error = enum_param::<DeliveryStatus>("status", Some("lost"), DeliveryStatus::NAMES)
            .unwrap_err();
        assert_eq!(error.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            time_param("until", Some("2026-11-23T12:00:00+02:00")).unwrap(),
            Some("2026-11-23T10:00:00.000Z".to_string())
        );
        assert_eq!(
            enum_param::<DeliveryStatus>("status", Some("failed"), DeliveryStatus::NAMES).unwrap(),
            Some(DeliveryStatus::Failed)
        );
    }
}
