//! Embedded demo live-commerce platform. STUB: replaced by the real module.
use std::net::SocketAddr;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
pub struct DemoConfig {
    pub stock: Vec<(String, u64)>,
    pub payment_slots: usize,
    pub payment_latency: Duration,
    pub tracking_step: Duration,
    pub seed: u64,
}
impl Default for DemoConfig {
    fn default() -> Self {
        DemoConfig {
            stock: vec![],
            payment_slots: 8,
            payment_latency: Duration::from_millis(2),
            tracking_step: Duration::from_secs(2),
            seed: 0,
        }
    }
}
pub struct DemoServer {
    pub addr: SocketAddr,
}
impl DemoServer {
    pub async fn spawn(
        listen: SocketAddr,
        _cfg: DemoConfig,
        _cancel: CancellationToken,
    ) -> std::io::Result<DemoServer> {
        Ok(DemoServer { addr: listen })
    }
    pub async fn shutdown(self) {}
}
