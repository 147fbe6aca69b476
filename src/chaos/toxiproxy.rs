//! Driving external Toxiproxy-compatible servers through the
//! `toxiproxy_rust` client.
//!
//! Owns translating a region's desired toxics into what Toxiproxy has.
//! Must not block the async runtime: the client is blocking, so every call
//! runs on the blocking pool, with a timeout.

use std::net::SocketAddr;

use super::state::Desired;
use super::ChaosError;
use crate::scenario::ToxiproxyServers;

/// Toxiproxy servers, one API address per region.
pub struct External {
    servers: ToxiproxyServers,
}

impl External {
    pub fn new(servers: ToxiproxyServers) -> Self {
        External { servers }
    }

    pub async fn open(
        &self,
        index: usize,
        region: &str,
        _upstream: SocketAddr,
    ) -> Result<SocketAddr, ChaosError> {
        let api = self.servers.api.get(index).cloned().unwrap_or_default();
        Err(ChaosError::Backend(format!(
            "region {region}: the Toxiproxy backend ({api}) is not available in this build"
        )))
    }

    pub async fn apply(
        &self,
        _index: usize,
        _region: &str,
        _desired: &Desired,
    ) -> Result<(), ChaosError> {
        Err(ChaosError::Backend("not available".into()))
    }

    pub async fn close(self) -> Result<(), ChaosError> {
        Ok(())
    }
}
