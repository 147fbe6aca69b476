//! The live room's WebSocket messages: checking what a viewer sends and
//! writing what the server sends (welcome, broadcast body, error, lagged).
//!
//! Owns the wire shapes and their validation. It must not touch sockets or
//! room state, and must never panic on a frame, however malformed.

use axum::extract::ws::Utf8Bytes;
use serde_json::{json, Map, Value};

use super::error::DemoError;
use super::requests;

/// The message types a viewer may send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Also appended to the room's comment feed.
    Comment,
    Like,
    Vote,
}

/// A viewer's frame, checked.
#[derive(Debug)]
pub(crate) struct ClientMessage {
    pub(crate) kind: Kind,
    /// Every field as sent, to be broadcast unchanged.
    pub(crate) fields: Map<String, Value>,
    /// A comment's validated text.
    pub(crate) text: Option<String>,
}

/// Fields the server sets on every broadcast, replacing the viewer's own.
const SERVER_FIELDS: [&str; 4] = ["seq", "room", "user", "at"];

/// Reads a viewer's text frame: a JSON object whose string `type` is
/// `comment`, `like` or `vote`; a comment needs a valid `text`.
pub(crate) fn parse(frame: &str) -> Result<ClientMessage, DemoError> {
    if frame.trim().is_empty() {
        return Err(DemoError::MalformedJson("the frame is empty".into()));
    }
    let value: Value = serde_json::from_str(frame).map_err(|e| DemoError::from_json(&e))?;
    let Value::Object(fields) = value else {
        return Err(DemoError::InvalidBody(
            "a frame must be a JSON object with a `type`".into(),
        ));
    };
    // The unknown value is not echoed: it may be kilobytes long.
    let kind = match fields.get("type") {
        None => return Err(DemoError::InvalidBody("missing field `type`".into())),
        Some(Value::String(t)) => match t.as_str() {
            "comment" => Kind::Comment,
            "like" => Kind::Like,
            "vote" => Kind::Vote,
            _ => {
                return Err(DemoError::field(
                    "type",
                    "unknown type; expected comment, like or vote",
                ))
            }
        },
        Some(_) => return Err(DemoError::field("type", "must be a string")),
    };
    let text = match (kind, fields.get("text")) {
        (Kind::Comment, Some(Value::String(t))) => Some(requests::comment_text(t.clone())?),
        (Kind::Comment, Some(_)) => return Err(DemoError::field("text", "must be a string")),
        (Kind::Comment, None) => {
            return Err(DemoError::InvalidBody(
                "a comment needs a field `text`".into(),
            ))
        }
        _ => None,
    };
    Ok(ClientMessage { kind, fields, text })
}

/// The broadcast body without `seq` (the room adds it when it numbers the
/// message): the viewer's fields with the server's `room`, `user` and `at`.
pub(crate) fn stamp(mut fields: Map<String, Value>, room: &str, user: &str, at: &str) -> String {
    for key in SERVER_FIELDS {
        fields.remove(key);
    }
    fields.insert("room".into(), Value::from(room));
    fields.insert("user".into(), Value::from(user));
    fields.insert("at".into(), Value::from(at));
    Value::Object(fields).to_string()
}

/// The first frame a viewer receives.
pub(crate) fn welcome(room: &str, viewer: u64, viewers: u64) -> Utf8Bytes {
    json!({"type": "welcome", "room": room, "viewer": viewer, "viewers": viewers})
        .to_string()
        .into()
}

/// The reply to a frame the server refused.
pub(crate) fn error(err: &DemoError) -> Utf8Bytes {
    json!({"type": "error", "error": err.code(), "message": err.to_string()})
        .to_string()
        .into()
}

/// Sent to a lagging viewer before the next message it does receive.
pub(crate) fn lagged(missed: u64) -> Utf8Bytes {
    json!({"type": "lagged", "missed": missed})
        .to_string()
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(frame: &str) -> &'static str {
        parse(frame).unwrap_err().code()
    }

    #[test]
    fn frames_are_classified_like_http_bodies() {
        assert_eq!(code("not json"), "malformed_json");
        assert_eq!(code(""), "malformed_json");
        assert_eq!(code("[1,2]"), "invalid_body");
        assert_eq!(code(r#"{"text":"hi"}"#), "invalid_body");
        assert_eq!(code(r#"{"type":"dance"}"#), "invalid_field");
        assert_eq!(code(r#"{"type":7}"#), "invalid_field");
        assert_eq!(code(r#"{"type":"comment"}"#), "invalid_body");
        assert_eq!(code(r#"{"type":"comment","text":"  "}"#), "invalid_field");
        assert_eq!(code(r#"{"type":"comment","text":5}"#), "invalid_field");
        let long = format!(r#"{{"type":"comment","text":"{}"}}"#, "x".repeat(501));
        assert_eq!(code(&long), "invalid_field");
        let ok = parse(r#"{"type":"comment","text":"hi","fc":"x-1"}"#).unwrap();
        assert_eq!((ok.kind, ok.text.as_deref()), (Kind::Comment, Some("hi")));
        assert_eq!(parse(r#"{"type":"vote"}"#).unwrap().kind, Kind::Vote);
    }

    #[test]
    fn stamp_keeps_client_fields_and_overwrites_server_ones() {
        let msg = parse(r#"{"type":"like","fc":"x-1","n":{"a":[1,2.5]},"user":"liar","seq":99}"#)
            .unwrap();
        let body = stamp(msg.fields, "r1", "ana", "2026-01-01T00:00:00.000Z");
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            v,
            json!({"type":"like","fc":"x-1","n":{"a":[1,2.5]},"user":"ana","room":"r1",
                   "at":"2026-01-01T00:00:00.000Z"})
        );
    }

    #[test]
    fn server_frames_have_their_documented_shape() {
        let w: Value = serde_json::from_str(&welcome("r", 3, 7)).unwrap();
        assert_eq!(
            w,
            json!({"type":"welcome","room":"r","viewer":3,"viewers":7})
        );
        let l: Value = serde_json::from_str(&lagged(12)).unwrap();
        assert_eq!(l, json!({"type":"lagged","missed":12}));
        let e: Value = serde_json::from_str(&error(&DemoError::field("type", "bad"))).unwrap();
        assert_eq!(e["type"], "error");
        assert_eq!(e["error"], "invalid_field");
    }
}
