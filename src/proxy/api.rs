//! The Toxiproxy v2 HTTP API: routes, bodies, status codes and the guards
//! in front of them.
//!
//! Owns decoding requests, encoding answers byte for byte as Toxiproxy does
//! (errors are a JSON body sent as `text/plain` with a trailing newline),
//! the request-id header, refusing browsers and checking the bearer token.
//! It must not change proxies itself: every action goes to `registry`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::registry::{NewProxy, ProxyJson, ProxyUpdate, Registry};
use super::toxic::{NewToxic, ToxicUpdate};
use super::{ProxyError, API_VERSION};

pub struct ApiState {
    pub registry: Registry,
    pub token: Option<String>,
    pub request_ids: AtomicU64,
}

type St = State<Arc<ApiState>>;

pub fn router(state: Arc<ApiState>) -> Router {
    Router::new()
        .route("/version", get(version))
        .route("/reset", post(reset))
        .route("/populate", post(populate))
        .route("/proxies", get(list).post(create))
        .route(
            "/proxies/{proxy}",
            get(get_proxy)
                .post(update_proxy)
                .patch(update_proxy)
                .delete(delete_proxy),
        )
        .route("/proxies/{proxy}/toxics", get(list_toxics).post(add_toxic))
        .route(
            "/proxies/{proxy}/toxics/{toxic}",
            get(get_toxic)
                .post(update_toxic)
                .patch(update_toxic)
                .delete(delete_toxic),
        )
        .layer(middleware::from_fn_with_state(state.clone(), guard))
        .with_state(state)
}

/// A JSON error body, sent as Go's `http.Error` sends it.
fn error_body(status: StatusCode, body: &impl Serialize) -> Response {
    let mut text = serde_json::to_string(body).unwrap_or_default();
    text.push('\n');
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        text,
    )
        .into_response()
}

#[derive(Serialize)]
struct ErrorJson<'a> {
    error: &'a str,
    status: u16,
}

fn plain_error(status: StatusCode, msg: &str) -> Response {
    error_body(
        status,
        &ErrorJson {
            error: msg,
            status: status.as_u16(),
        },
    )
}

impl IntoResponse for ProxyError {
    fn into_response(self) -> Response {
        plain_error(self.status(), &self.to_string())
    }
}

/// Every request: a request id on the answer; browsers refused (a page
/// must not be able to drive a local chaos proxy); the bearer token
/// checked when one is configured.
async fn guard(State(st): St, req: Request, next: Next) -> Response {
    let id = st.request_ids.fetch_add(1, Ordering::Relaxed);
    let headers = req.headers();
    let browser = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ua| ua.starts_with("Mozilla/"))
        || headers.contains_key(header::ORIGIN);
    let mut resp = if browser {
        plain_error(StatusCode::FORBIDDEN, "User agent not allowed")
    } else if !authorized(st.token.as_deref(), headers.get(header::AUTHORIZATION)) {
        plain_error(StatusCode::UNAUTHORIZED, "unauthorized")
    } else {
        next.run(req).await
    };
    if let Ok(v) = HeaderValue::from_str(&format!("flashcrowd-{id}")) {
        resp.headers_mut().insert("x-toxiproxy-request-id", v);
    }
    resp
}

fn authorized(token: Option<&str>, given: Option<&HeaderValue>) -> bool {
    let Some(token) = token else { return true };
    let Some(given) = given.and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let Some(given) = given.strip_prefix("Bearer ") else {
        return false;
    };
    // Same time whatever prefix matches, so the token cannot be guessed
    // byte by byte from response times.
    given.len() == token.len()
        && given
            .bytes()
            .zip(token.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

fn decode<T: DeserializeOwned>(body: &Bytes) -> Result<T, ProxyError> {
    serde_json::from_slice(body).map_err(|e| ProxyError::BadBody(e.to_string()))
}

/// An update body may be empty: nothing changes.
fn decode_or_default<T: DeserializeOwned + Default>(body: &Bytes) -> Result<T, ProxyError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    decode(body)
}

async fn version() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        format!("{{\"version\": \"{API_VERSION}\"}}\n"),
    )
        .into_response()
}

async fn reset(State(st): St) -> Result<StatusCode, ProxyError> {
    st.registry.reset().await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize)]
struct Populated {
    proxies: Vec<ProxyJson>,
}

#[derive(Serialize)]
struct PopulateError {
    error: String,
    status: u16,
    proxies: Vec<ProxyJson>,
}

async fn populate(State(st): St, body: Bytes) -> Response {
    let list: Vec<NewProxy> = match decode(&body) {
        Ok(l) => l,
        Err(e) => return e.into_response(),
    };
    match st.registry.populate(list).await {
        Ok(proxies) => (StatusCode::CREATED, Json(Populated { proxies })).into_response(),
        Err((e, proxies)) => error_body(
            e.status(),
            &PopulateError {
                error: e.to_string(),
                status: e.status().as_u16(),
                proxies,
            },
        ),
    }
}

async fn list(State(st): St) -> Response {
    Json(st.registry.list().await).into_response()
}

async fn create(State(st): St, body: Bytes) -> Result<Response, ProxyError> {
    let p: NewProxy = decode(&body)?;
    let json = st.registry.create(p).await?;
    Ok((StatusCode::CREATED, Json(json)).into_response())
}

async fn get_proxy(State(st): St, Path(proxy): Path<String>) -> Result<Response, ProxyError> {
    Ok(Json(st.registry.get(&proxy).await?).into_response())
}

async fn update_proxy(
    State(st): St,
    Path(proxy): Path<String>,
    body: Bytes,
) -> Result<Response, ProxyError> {
    let u: ProxyUpdate = decode_or_default(&body)?;
    Ok(Json(st.registry.update(&proxy, u).await?).into_response())
}

async fn delete_proxy(State(st): St, Path(proxy): Path<String>) -> Result<StatusCode, ProxyError> {
    st.registry.delete(&proxy).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_toxics(State(st): St, Path(proxy): Path<String>) -> Result<Response, ProxyError> {
    Ok(Json(st.registry.toxics(&proxy).await?).into_response())
}

async fn add_toxic(
    State(st): St,
    Path(proxy): Path<String>,
    body: Bytes,
) -> Result<Response, ProxyError> {
    let t: NewToxic = decode(&body)?;
    Ok(Json(st.registry.add_toxic(&proxy, t).await?).into_response())
}

async fn get_toxic(
    State(st): St,
    Path((proxy, toxic)): Path<(String, String)>,
) -> Result<Response, ProxyError> {
    Ok(Json(st.registry.get_toxic(&proxy, &toxic).await?).into_response())
}

async fn update_toxic(
    State(st): St,
    Path((proxy, toxic)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ProxyError> {
    let u: ToxicUpdate = decode(&body)?;
    Ok(Json(st.registry.update_toxic(&proxy, &toxic, u).await?).into_response())
}

async fn delete_toxic(
    State(st): St,
    Path((proxy, toxic)): Path<(String, String)>,
) -> Result<StatusCode, ProxyError> {
    st.registry.delete_toxic(&proxy, &toxic).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_token_must_match_exactly() {
        let ok = HeaderValue::from_static("Bearer s3cret");
        assert!(authorized(Some("s3cret"), Some(&ok)));
        assert!(!authorized(Some("s3cre"), Some(&ok)));
        assert!(!authorized(Some("s3cret"), None));
        assert!(!authorized(
            Some("s3cret"),
            Some(&HeaderValue::from_static("s3cret"))
        ));
        assert!(authorized(None, None));
    }
}
