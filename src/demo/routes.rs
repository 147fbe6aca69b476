//! HTTP surface of the demo platform: the route table and thin handlers that
//! extract, validate, call one domain module and serialise.
//!
//! Owns paths, methods, status codes and headers. It must not hold business
//! rules (those live in catalog, rooms, cart, checkout, orders, tracking)
//! and must never panic on input: every extractor rejection becomes a JSON
//! error via [`DemoError`].

use std::sync::Arc;

use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{DefaultBodyLimit, Path, Query, State as AxumState};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use serde::Serialize;

use super::checkout;
use super::error::DemoError;
use super::idempotency::{self, REPLAYED_HEADER};
use super::orders::{parse_order_id, Order, OrderPage, DEFAULT_ORDER_PAGE, MAX_ORDER_PAGE};
use super::requests::{
    self, CartBody, CheckoutBody, CommentBody, CommentsQuery, LiveQuery, OrdersQuery,
    MAX_BODY_BYTES,
};
use super::rooms::DEFAULT_COMMENT_PAGE;
use super::state::State;
use super::tracking;
use super::viewer;

type St = AxumState<Arc<State>>;
type Reply = Result<Response, DemoError>;

/// The complete route table over `state`.
pub(crate) fn build(state: Arc<State>) -> Router {
    Router::new()
        .route("/api/health", get(health))
        .route("/api/products", get(products))
        .route("/api/products/{sku}", get(product))
        .route("/api/rooms/{room}", get(room))
        .route(
            "/api/rooms/{room}/comments",
            get(comments).post(post_comment),
        )
        .route("/api/rooms/{room}/disconnect", post(disconnect_room))
        .route("/ws/live/{room}", get(live))
        .route("/api/cart", post(add_to_cart))
        .route("/api/cart/{user}", get(cart))
        .route("/api/checkout", post(place_checkout))
        .route("/api/orders", get(list_orders))
        .route("/api/orders/{id}", get(order))
        .route("/api/orders/{id}/tracking", get(order_tracking))
        .route("/api/inventory", get(inventory))
        .route("/api/inventory/{sku}", get(inventory_one))
        .fallback(no_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

fn json<T: Serialize>(status: StatusCode, body: &T) -> Reply {
    Ok((status, Json(body)).into_response())
}

async fn no_route(method: Method, uri: Uri) -> DemoError {
    DemoError::NoRoute(format!("{method} {}", uri.path()))
}

async fn method_not_allowed() -> DemoError {
    DemoError::MethodNotAllowed
}

#[derive(Serialize)]
struct Health {
    status: &'static str,
}

async fn health() -> Reply {
    json(StatusCode::OK, &Health { status: "ok" })
}

async fn products(AxumState(st): St) -> Reply {
    let list: Vec<_> = st.catalog.all().iter().map(|p| p.view()).collect();
    json(StatusCode::OK, &list)
}

async fn product(AxumState(st): St, sku: Result<Path<String>, PathRejection>) -> Reply {
    let Path(sku) = sku?;
    let p = st.catalog.get(&sku).ok_or(DemoError::UnknownSku(sku))?;
    json(StatusCode::OK, &p.view())
}

async fn room(AxumState(st): St, room: Result<Path<String>, PathRejection>) -> Reply {
    let Path(room) = room?;
    requests::room_id(&room)?;
    json(StatusCode::OK, &st.rooms.info(&room))
}

async fn comments(
    AxumState(st): St,
    room: Result<Path<String>, PathRejection>,
    query: Result<Query<CommentsQuery>, QueryRejection>,
) -> Reply {
    let Path(room) = room?;
    let Query(q) = query?;
    requests::room_id(&room)?;
    let page = st.rooms.since(
        &room,
        q.since.unwrap_or(0),
        q.limit.unwrap_or(DEFAULT_COMMENT_PAGE),
    );
    json(StatusCode::OK, &page)
}

async fn post_comment(
    AxumState(st): St,
    room: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Reply {
    let Path(room) = room?;
    requests::room_id(&room)?;
    let body: CommentBody = requests::parse_json(&body?)?;
    let user = requests::user(body.user)?;
    let text = requests::comment_text(body.text)?;
    let comment = st.rooms.post(&room, user, text, &st.clock)?;
    json(StatusCode::CREATED, &comment)
}

async fn live(
    AxumState(st): St,
    room: Result<Path<String>, PathRejection>,
    query: Result<Query<LiveQuery>, QueryRejection>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Reply {
    let Path(room) = room?;
    requests::room_id(&room)?;
    let Query(q) = query?;
    let user = q.user.map(requests::user).transpose()?;
    let ws = ws.map_err(|r| DemoError::UpgradeRequired(r.body_text()))?;
    viewer::upgrade(st, &room, user, ws)
}

#[derive(Serialize)]
struct Closed {
    closed: u64,
}

async fn disconnect_room(AxumState(st): St, room: Result<Path<String>, PathRejection>) -> Reply {
    let Path(room) = room?;
    requests::room_id(&room)?;
    let live = st.rooms.live(&room).ok_or(DemoError::UnknownRoom(room))?;
    json(
        StatusCode::OK,
        &Closed {
            closed: live.disconnect_all(),
        },
    )
}

async fn add_to_cart(AxumState(st): St, body: Result<Bytes, BytesRejection>) -> Reply {
    let (user, sku, qty) = requests::parse_json::<CartBody>(&body?)?.validate()?;
    if st.catalog.get(&sku).is_none() {
        return Err(DemoError::UnknownSku(sku));
    }
    json(
        StatusCode::OK,
        &st.carts.add(&st.catalog, &user, &sku, qty)?,
    )
}

async fn cart(AxumState(st): St, user: Result<Path<String>, PathRejection>) -> Reply {
    let Path(user) = user?;
    let user = requests::user(user)?;
    json(StatusCode::OK, &st.carts.get(&st.catalog, &user))
}

async fn place_checkout(
    AxumState(st): St,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Reply {
    let body = body?;
    let key = idempotency::key_from_headers(&headers)?;
    let req = requests::parse_json::<CheckoutBody>(&body)?.validate()?;
    // On its own task so a client hanging up mid-payment cannot cancel the
    // checkout between "paid" and "recorded under its key".
    let reply = tokio::spawn(checkout::checkout(st, req, key))
        .await
        .map_err(|_| DemoError::Internal("checkout task failed"))??;
    let mut response = (
        reply.status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        reply.body,
    )
        .into_response();
    let headers = response.headers_mut();
    if let Some(location) = reply.location.and_then(|l| HeaderValue::from_str(&l).ok()) {
        headers.insert(header::LOCATION, location);
    }
    if reply.replayed {
        headers.insert(REPLAYED_HEADER, HeaderValue::from_static("true"));
    }
    Ok(response)
}

fn find_order(st: &State, id: &str) -> Result<Arc<Order>, DemoError> {
    parse_order_id(id)
        .and_then(|seq| st.orders.get(seq))
        .ok_or_else(|| DemoError::UnknownOrder(id.to_owned()))
}

/// Steps past `placed` one read of `order` reports now (see
/// [`tracking::reported_steps`]).
fn reported_steps(st: &State, order: &Order) -> usize {
    tracking::reported_steps(order.placed, st.clock.now(), st.tracking_step, &st.dice)
}

async fn order(AxumState(st): St, id: Result<Path<String>, PathRejection>) -> Reply {
    let Path(id) = id?;
    let order = find_order(&st, &id)?;
    let status = tracking::status_after(reported_steps(&st, &order));
    json(StatusCode::OK, &order.view(status))
}

async fn order_tracking(AxumState(st): St, id: Result<Path<String>, PathRejection>) -> Reply {
    let Path(id) = id?;
    let order = find_order(&st, &id)?;
    let view = tracking::view(
        order.id(),
        order.placed,
        reported_steps(&st, &order),
        st.tracking_step,
        &st.clock,
    );
    json(StatusCode::OK, &view)
}

async fn list_orders(
    AxumState(st): St,
    query: Result<Query<OrdersQuery>, QueryRejection>,
) -> Reply {
    let Query(q) = query?;
    let after = match q.after.as_deref() {
        None | Some("") => 0,
        Some(a) => parse_order_id(a)
            .ok_or_else(|| DemoError::InvalidQuery(format!("`after` is not an order id: {a}")))?,
    };
    let limit = q
        .limit
        .unwrap_or(DEFAULT_ORDER_PAGE)
        .clamp(1, MAX_ORDER_PAGE);
    if let Some(sku) = q.sku.as_deref() {
        if st.catalog.get(sku).is_none() {
            return Err(DemoError::UnknownSku(sku.to_owned()));
        }
    }
    let (mut orders, more) = match q.key.as_deref() {
        Some(key) => {
            let mut orders = st.orders.get_many(&st.idempotency.orders_for(key));
            orders.retain(|o| o.seq > after && q.sku.as_deref().is_none_or(|s| o.sku == s));
            let more = orders.len() > limit;
            (orders, more)
        }
        None => st.orders.list(q.sku.as_deref(), after, limit)?,
    };
    orders.truncate(limit);
    let now = st.clock.now();
    let page = OrderPage {
        next_after: orders.last().filter(|_| more).map(|o| o.id()),
        orders: orders
            .iter()
            .map(|o| o.view_at(now, st.tracking_step))
            .collect(),
    };
    json(StatusCode::OK, &page)
}

async fn inventory(AxumState(st): St) -> Reply {
    let all: Vec<_> = st.catalog.all().iter().map(|p| p.inventory()).collect();
    json(StatusCode::OK, &all)
}

async fn inventory_one(AxumState(st): St, sku: Result<Path<String>, PathRejection>) -> Reply {
    let Path(sku) = sku?;
    let p = st.catalog.get(&sku).ok_or(DemoError::UnknownSku(sku))?;
    json(StatusCode::OK, &p.inventory())
}
