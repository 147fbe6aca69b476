//! Request bodies and query strings of the demo API, and the checks that
//! turn them into validated values.
//!
//! Owns input limits and the 400/422 split: broken JSON is 400, JSON of the
//! wrong shape or with unacceptable values is 422, bad path/query syntax is
//! 400. It must not touch state; handlers call it before doing anything.

use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::cart::MAX_LINE_QTY;
use super::checkout::{CheckoutRequest, MAX_CHECKOUT_QTY};
use super::config::valid_sku;
use super::error::DemoError;
use super::rooms::MAX_COMMENT_CHARS;

/// Longest user name, in characters.
pub const MAX_USER_CHARS: usize = 64;
/// Largest request body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// `POST /api/rooms/{room}/comments`.
#[derive(Debug, Deserialize)]
pub(crate) struct CommentBody {
    pub(crate) user: String,
    pub(crate) text: String,
}

/// `POST /api/cart`.
#[derive(Debug, Deserialize)]
pub(crate) struct CartBody {
    pub(crate) user: String,
    pub(crate) sku: String,
    pub(crate) qty: u64,
}

/// `POST /api/checkout`.
#[derive(Debug, Deserialize)]
pub(crate) struct CheckoutBody {
    pub(crate) sku: String,
    pub(crate) qty: u64,
    #[serde(default)]
    pub(crate) user: Option<String>,
}

/// `GET /api/rooms/{room}/comments?since=&limit=`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct CommentsQuery {
    pub(crate) since: Option<u64>,
    pub(crate) limit: Option<usize>,
}

/// `GET /ws/live/{room}?user=`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct LiveQuery {
    pub(crate) user: Option<String>,
}

/// `GET /api/orders?sku=&key=&after=&limit=`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct OrdersQuery {
    pub(crate) sku: Option<String>,
    pub(crate) key: Option<String>,
    pub(crate) after: Option<String>,
    pub(crate) limit: Option<usize>,
}

/// Parses a JSON body; content type is not enforced because load tools
/// often omit it and the demo should measure the platform, not pedantry.
pub(crate) fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, DemoError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(DemoError::MalformedJson("the body is empty".into()));
    }
    serde_json::from_slice(body).map_err(|e| DemoError::from_json(&e))
}

/// A user name: 1-64 characters, no control characters.
pub(crate) fn user(name: String) -> Result<String, DemoError> {
    let chars = name.chars().count();
    if chars == 0 || name.trim().is_empty() {
        return Err(DemoError::field("user", "must not be empty"));
    }
    if chars > MAX_USER_CHARS {
        return Err(DemoError::field(
            "user",
            format!("must be at most {MAX_USER_CHARS} characters"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(DemoError::field(
            "user",
            "must not contain control characters",
        ));
    }
    Ok(name)
}

/// Comment text: not blank, at most [`MAX_COMMENT_CHARS`] characters; line
/// breaks and tabs are allowed, other control characters are not.
pub(crate) fn comment_text(text: String) -> Result<String, DemoError> {
    if text.trim().is_empty() {
        return Err(DemoError::field("text", "must not be empty"));
    }
    if text.chars().count() > MAX_COMMENT_CHARS {
        return Err(DemoError::field(
            "text",
            format!("must be at most {MAX_COMMENT_CHARS} characters"),
        ));
    }
    if text
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(DemoError::field(
            "text",
            "must not contain control characters",
        ));
    }
    Ok(text)
}

/// A room id from the path: same alphabet and length as a SKU, so room ids
/// are always printable and URL-safe.
pub(crate) fn room_id(id: &str) -> Result<(), DemoError> {
    if valid_sku(id) {
        Ok(())
    } else {
        Err(DemoError::InvalidPath(
            "room ids are 1-64 characters from A-Z a-z 0-9 - _ .".into(),
        ))
    }
}

fn qty(qty: u64, max: u64) -> Result<u64, DemoError> {
    if qty == 0 || qty > max {
        return Err(DemoError::field(
            "qty",
            format!("must be between 1 and {max}"),
        ));
    }
    Ok(qty)
}

impl CartBody {
    /// Validated `(user, sku, qty)`.
    pub(crate) fn validate(self) -> Result<(String, String, u64), DemoError> {
        Ok((user(self.user)?, self.sku, qty(self.qty, MAX_LINE_QTY)?))
    }
}

impl CheckoutBody {
    pub(crate) fn validate(self) -> Result<CheckoutRequest, DemoError> {
        Ok(CheckoutRequest {
            qty: qty(self.qty, MAX_CHECKOUT_QTY)?,
            user: self.user.map(user).transpose()?,
            sku: self.sku,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkout_bodies_are_classified() {
        let ok: CheckoutBody = parse_json(br#"{"sku":"drop-1","qty":2}"#).unwrap();
        assert_eq!(ok.validate().unwrap().qty, 2);
        let err = parse_json::<CheckoutBody>(br#"{"sku":"drop-1","#).unwrap_err();
        assert_eq!(err.code(), "malformed_json");
        let err = parse_json::<CheckoutBody>(br#"{"sku":"drop-1"}"#).unwrap_err();
        assert_eq!(err.code(), "invalid_body");
        let err = parse_json::<CheckoutBody>(br#"{"sku":"drop-1","qty":-1}"#).unwrap_err();
        assert_eq!(err.code(), "invalid_body");
        let err = parse_json::<CheckoutBody>(b"").unwrap_err();
        assert_eq!(err.code(), "malformed_json");
        let zero: CheckoutBody = parse_json(br#"{"sku":"drop-1","qty":0}"#).unwrap();
        assert_eq!(zero.validate().unwrap_err().code(), "invalid_field");
        let big: CheckoutBody = parse_json(br#"{"sku":"drop-1","qty":11}"#).unwrap();
        assert!(big.validate().is_err());
    }

    #[test]
    fn comment_text_limits() {
        assert!(comment_text("hi".into()).is_ok());
        assert!(comment_text("line\nbreak".into()).is_ok());
        assert!(comment_text("   ".into()).is_err());
        assert!(comment_text("x".repeat(MAX_COMMENT_CHARS + 1)).is_err());
        assert!(comment_text("é".repeat(MAX_COMMENT_CHARS)).is_ok());
        assert!(comment_text("bell\u{7}".into()).is_err());
        assert!(user("x".repeat(65)).is_err());
        assert!(room_id("live-1").is_ok());
        assert!(room_id("a/b").is_err());
    }
}
