//! What a client sends, into typed Rust: JSON bodies and query strings, both through
//! serde, so a broken body is 400 and a wrong value is 422 naming the field or the
//! query parameter.

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

use super::ApiError;

/// Parses a body: broken JSON is 400, a wrong type or unknown field is 422 naming the field.
pub fn body<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::new(
            400,
            "missing_body",
            "this route needs a JSON body",
        ));
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => {
                let msg = inner.to_string();
                let field = match msg.strip_prefix("unknown field `") {
                    Some(rest) => Some(rest.split('`').next().unwrap_or("").to_string()),
                    None if path == "." => None,
                    None => Some(path),
                };
                let code = if field.is_some() && msg.starts_with("unknown field") {
                    "unknown_field"
                } else {
                    "invalid_type"
                };
                let mut e = ApiError::new(422, code, strip_position(&msg));
                e.field = field;
                e
            }
            _ => ApiError::new(
                400,
                "malformed_json",
                format!("the body is not valid JSON: {inner}"),
            ),
        }
    })?;
    de.end().map_err(|e| {
        ApiError::new(
            400,
            "malformed_json",
            format!("the body is not valid JSON: {e}"),
        )
    })?;
    Ok(value)
}

/// serde_json appends " at line 1 column 7"; the field name says more to a tablet.
fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

/// Parses a query string into `T`; a bad value is 422 naming the parameter. Parameters
/// `T` does not know are ignored (a cache-buster must not break a page).
pub fn query<T: DeserializeOwned>(raw: &str) -> Result<T, ApiError> {
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(raw.as_bytes()));
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let msg = e.into_inner().to_string();
        if path == "." {
            ApiError::new(422, "invalid_value", msg)
        } else {
            let text = format!("{path}: {msg}");
            ApiError::invalid(&path, "invalid_value", text)
        }
    })
}

/// An RFC 3339 time with offset (a body field or a query value).
pub fn time(field: &str, v: &str) -> Result<DateTime<Utc>, ApiError> {
    parse_time(v).ok_or_else(|| {
        ApiError::invalid(
            field,
            "invalid_value",
            format!("{field} must be an RFC 3339 time with offset, like 2026-11-23T18:00:00+01:00"),
        )
    })
}

fn parse_time(v: &str) -> Option<DateTime<Utc>> {
    // A literal `+` in a query string decodes to a space; undo that for offsets.
    let v = v.trim().replace(' ', "+");
    DateTime::parse_from_rfc3339(&v)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// A query value that is there must say something: `?from=` is refused (422 naming it),
/// as the document's formats say, rather than silently read as absent.
fn non_empty<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Option::<String>::deserialize(d)? {
        Some(v) if v.trim().is_empty() => Err(serde::de::Error::custom(
            "is empty: give a value or leave the parameter out",
        )),
        v => Ok(v),
    }
}

/// `deserialize_with` for an optional RFC 3339 query time.
pub fn opt_time<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    non_empty(d)?
        .map(|v| {
            parse_time(&v).ok_or_else(|| {
                serde::de::Error::custom(
                    "must be an RFC 3339 time with offset, like 2026-11-23T18:00:00+01:00",
                )
            })
        })
        .transpose()
}

/// `deserialize_with` for an optional day, `YYYY-MM-DD`.
pub fn opt_date<'de, D: Deserializer<'de>>(d: D) -> Result<Option<chrono::NaiveDate>, D::Error> {
    non_empty(d)?
        .map(|v| {
            chrono::NaiveDate::parse_from_str(v.trim(), "%Y-%m-%d")
                .map_err(|_| serde::de::Error::custom("must be a day, like 2026-11-23"))
        })
        .transpose()
}

/// `deserialize_with` for an optional whole number in `lo..=hi`.
pub fn opt_number<'de, D: Deserializer<'de>, const LO: u32, const HI: u32>(
    d: D,
) -> Result<Option<u32>, D::Error> {
    non_empty(d)?
        .map(|v| {
            v.trim()
                .parse::<u32>()
                .ok()
                .filter(|n| (LO..=HI).contains(n))
                .ok_or_else(|| {
                    serde::de::Error::custom(format!("must be a whole number from {LO} to {HI}"))
                })
        })
        .transpose()
}

/// `deserialize_with` for an optional choice (`T` a unit-variant enum).
pub fn opt_choice<'de, D: Deserializer<'de>, T: DeserializeOwned>(
    d: D,
) -> Result<Option<T>, D::Error> {
    use serde::de::IntoDeserializer;
    non_empty(d)?
        .map(|v| {
            T::deserialize(v.trim().to_string().into_deserializer())
                .map_err(|e: serde::de::value::Error| serde::de::Error::custom(e))
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_errors_are_classified() {
        #[derive(Deserialize, Debug)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct B {
            a: Option<bool>,
            list: Option<Vec<String>>,
        }
        assert_eq!(body::<B>(b"{").unwrap_err().status, 400);
        assert_eq!(body::<B>(b"").unwrap_err().code, "missing_body");
        assert_eq!(body::<B>(b"{} x").unwrap_err().status, 400);
        let e = body::<B>(br#"{"a": "yes"}"#).unwrap_err();
        assert_eq!((e.status, e.field.as_deref()), (422, Some("a")));
        let e = body::<B>(br#"{"list": ["x", 3]}"#).unwrap_err();
        assert_eq!((e.status, e.field.as_deref()), (422, Some("list[1]")));
        let e = body::<B>(br#"{"b": 1}"#).unwrap_err();
        assert_eq!(
            (e.status, e.code, e.field.as_deref()),
            (422, "unknown_field", Some("b"))
        );
        let e = body::<B>(b"[]").unwrap_err();
        assert_eq!((e.status, e.field.as_deref()), (422, None));
    }

    #[derive(Deserialize, Debug, PartialEq)]
    struct Q {
        #[serde(default, deserialize_with = "opt_time")]
        from: Option<DateTime<Utc>>,
        #[serde(default, deserialize_with = "opt_number::<_, 1, 240>")]
        minutes: Option<u32>,
        #[serde(default, deserialize_with = "opt_choice")]
        status: Option<super::super::wire::GuestFilter>,
    }

    #[test]
    fn query_values_parse_and_a_bad_one_is_named() {
        let q: Q = query("from=2026-11-23T18:00:00+01:00&minutes=15&status=waiting&x=1").unwrap();
        assert_eq!(q.from.unwrap().to_rfc3339(), "2026-11-23T17:00:00+00:00");
        assert_eq!(q.minutes, Some(15));
        assert_eq!(q.status, Some(super::super::wire::GuestFilter::Waiting));
        let absent: Q = query("x=1").unwrap();
        assert_eq!(
            (absent.from, absent.minutes, absent.status),
            (None, None, None)
        );
        for (raw, field) in [
            ("from=", "from"),
            ("minutes=%20", "minutes"),
            ("status=", "status"),
            ("from=yesterday", "from"),
            ("minutes=0", "minutes"),
            ("minutes=abc", "minutes"),
            ("status=sleeping", "status"),
        ] {
            let e = query::<Q>(raw).unwrap_err();
            assert_eq!((e.status, e.field.as_deref()), (422, Some(field)), "{raw}");
        }
    }
}
