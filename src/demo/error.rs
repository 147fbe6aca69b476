//! The demo platform's request error: every way a request can fail, its HTTP
//! status and its stable machine-readable code.
//!
//! Owns the mapping error → `{ "error": "<code>", "message": "..." }` JSON
//! response, including axum's extractor rejections. It must not decide *when*
//! a request fails; handlers and the domain modules do.

use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Serialize;

/// Why a request to the demo platform failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DemoError {
    /// The body is not JSON at all (syntax error, truncated).
    #[error("malformed JSON body: {0}")]
    MalformedJson(String),
    /// The body is JSON but not the expected shape (missing field, wrong type).
    #[error("invalid request body: {0}")]
    InvalidBody(String),
    /// A field is present and well-typed but its value is not acceptable.
    #[error("invalid `{field}`: {reason}")]
    InvalidField {
        /// Name of the offending field.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The query string cannot be parsed.
    #[error("invalid query string: {0}")]
    InvalidQuery(String),
    /// A path parameter cannot be decoded.
    #[error("invalid path: {0}")]
    InvalidPath(String),
    /// The body could not be read, typically because it is too large.
    #[error("{message}")]
    Body {
        /// Status chosen by the body reader (413 for oversized bodies).
        status: StatusCode,
        /// What went wrong.
        message: String,
    },
    /// The `Idempotency-Key` header is empty, too long or not text.
    #[error("invalid Idempotency-Key header: {0}")]
    InvalidIdempotencyKey(String),
    /// No product with this SKU.
    #[error("unknown SKU `{0}`")]
    UnknownSku(String),
    /// No order with this id.
    #[error("order `{0}` not found")]
    UnknownOrder(String),
    /// No live room with this id (nobody has joined or commented yet).
    #[error("room `{0}` not found")]
    UnknownRoom(String),
    /// A plain request on a WebSocket-only route.
    #[error("this route needs a WebSocket upgrade: {0}")]
    UpgradeRequired(String),
    /// No such route.
    #[error("no route for {0}")]
    NoRoute(String),
    /// The route exists but not for this method.
    #[error("method not allowed on this route")]
    MethodNotAllowed,
    /// Not enough stock left for the requested quantity.
    #[error("`{sku}` cannot supply {requested} unit(s); {remaining} left")]
    SoldOut {
        /// The SKU asked for.
        sku: String,
        /// Units asked for.
        requested: u64,
        /// Units still available when the reservation was attempted.
        remaining: u64,
    },
    /// The key was already used with a different request body.
    #[error("Idempotency-Key was already used with a different request")]
    IdempotencyKeyMismatch,
    /// A request with this key is still being processed and did not finish
    /// within the wait bound.
    #[error("a request with this Idempotency-Key is still in progress")]
    RequestInProgress,
    /// The payment stage declined the authorisation; stock was given back.
    #[error("payment authorisation declined; nothing was charged")]
    PaymentDeclined,
    /// A bounded resource (rooms, carts, orders) is full.
    #[error("{0} capacity exhausted; try again later")]
    Capacity(&'static str),
    /// Something failed on the server's side (also what the seeded
    /// error-after-commit fault reports).
    #[error("internal error: {0}")]
    Internal(&'static str),
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    message: String,
}

impl DemoError {
    /// HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        use DemoError::*;
        match self {
            MalformedJson(_) | InvalidQuery(_) | InvalidPath(_) | InvalidIdempotencyKey(_) => {
                StatusCode::BAD_REQUEST
            }
            InvalidBody(_) | InvalidField { .. } | IdempotencyKeyMismatch => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            Body { status, .. } => *status,
            UnknownSku(_) | UnknownOrder(_) | UnknownRoom(_) | NoRoute(_) => StatusCode::NOT_FOUND,
            UpgradeRequired(_) => StatusCode::UPGRADE_REQUIRED,
            MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            SoldOut { .. } | RequestInProgress => StatusCode::CONFLICT,
            PaymentDeclined => StatusCode::PAYMENT_REQUIRED,
            Capacity(_) => StatusCode::SERVICE_UNAVAILABLE,
            Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Stable machine-readable code, the `error` field of the JSON body.
    pub fn code(&self) -> &'static str {
        use DemoError::*;
        match self {
            MalformedJson(_) => "malformed_json",
            InvalidBody(_) => "invalid_body",
            InvalidField { .. } => "invalid_field",
            InvalidQuery(_) => "invalid_query",
            InvalidPath(_) => "invalid_path",
            Body { status, .. } if *status == StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
            Body { .. } => "invalid_body",
            InvalidIdempotencyKey(_) => "invalid_idempotency_key",
            UnknownSku(_) => "unknown_sku",
            UnknownOrder(_) => "order_not_found",
            UnknownRoom(_) => "room_not_found",
            UpgradeRequired(_) => "upgrade_required",
            NoRoute(_) => "not_found",
            MethodNotAllowed => "method_not_allowed",
            SoldOut { .. } => "sold_out",
            IdempotencyKeyMismatch => "idempotency_key_mismatch",
            RequestInProgress => "request_in_progress",
            PaymentDeclined => "payment_declined",
            Capacity(_) => "capacity_exhausted",
            Internal(_) => "internal",
        }
    }

    /// Shorthand for [`DemoError::InvalidField`].
    pub fn field(field: &'static str, reason: impl Into<String>) -> Self {
        DemoError::InvalidField {
            field,
            reason: reason.into(),
        }
    }

    /// The JSON body of this error, for outcomes that are stored and
    /// replayed byte for byte.
    pub(crate) fn to_body(&self) -> Bytes {
        let body = ErrorBody {
            error: self.code(),
            message: self.to_string(),
        };
        // Serialising two strings cannot fail; an empty body is the
        // harmless fallback that keeps this path panic-free.
        serde_json::to_vec(&body)
            .map(Bytes::from)
            .unwrap_or_default()
    }

    /// Classifies a body parse failure: broken JSON is the client's syntax
    /// problem (400); valid JSON of the wrong shape is a semantic one (422).
    pub fn from_json(err: &serde_json::Error) -> Self {
        use serde_json::error::Category;
        match err.classify() {
            Category::Data => DemoError::InvalidBody(err.to_string()),
            Category::Syntax | Category::Eof | Category::Io => {
                DemoError::MalformedJson(err.to_string())
            }
        }
    }
}

impl IntoResponse for DemoError {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut response = (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            self.to_body(),
        )
            .into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE || matches!(self, DemoError::RequestInProgress)
        {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

impl From<BytesRejection> for DemoError {
    fn from(rejection: BytesRejection) -> Self {
        DemoError::Body {
            status: rejection.status(),
            message: rejection.body_text(),
        }
    }
}

impl From<PathRejection> for DemoError {
    fn from(rejection: PathRejection) -> Self {
        DemoError::InvalidPath(rejection.body_text())
    }
}

impl From<QueryRejection> for DemoError {
    fn from(rejection: QueryRejection) -> Self {
        DemoError::InvalidQuery(rejection.body_text())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_syntax_errors_are_400_and_shape_errors_are_422() {
        let syntax = serde_json::from_str::<serde_json::Value>("{").unwrap_err();
        assert_eq!(
            DemoError::from_json(&syntax).status(),
            StatusCode::BAD_REQUEST
        );
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Needs {
            sku: String,
        }
        let shape = serde_json::from_str::<Needs>("{}").unwrap_err();
        let err = DemoError::from_json(&shape);
        assert_eq!(err.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(err.code(), "invalid_body");
    }

    #[test]
    fn sold_out_is_409_with_stable_code() {
        let err = DemoError::SoldOut {
            sku: "drop-1".into(),
            requested: 2,
            remaining: 1,
        };
        assert_eq!(err.status(), StatusCode::CONFLICT);
        assert_eq!(err.code(), "sold_out");
    }
}
