//! How the business-invariant checks read this platform's final state:
//! the read paths of its stock, orders and comments, and its tracking
//! statuses in order. They are the checks' defaults for any platform that
//! follows the same conventions.
//!
//! Owns nothing but the data, handed to the reader by the command line so
//! that neither the scenario nor the reader depends on the demo. Must not
//! read anything itself.

use super::TrackingStatus;

/// One SKU's stock, `{sku}` replaced.
pub const INVENTORY: &str = "/api/inventory/{sku}";
/// One page of a SKU's orders, `{sku}` and `{after}` replaced.
pub const ORDERS: &str = "/api/orders?sku={sku}&limit=500&after={after}";
/// One page of a room's comments, `{room}` and `{after}` replaced.
pub const COMMENTS: &str = "/api/rooms/{room}/comments?since={after}&limit=500";

/// The tracking statuses, first to last.
pub fn tracking_order() -> Vec<String> {
    TrackingStatus::ALL
        .iter()
        .map(|t| t.as_str().to_owned())
        .collect()
}
