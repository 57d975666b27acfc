//! Per-client limits on the RPC server: a token bucket of requests per second and a cap on
//! requests in flight, both keyed by the client's IP address, so one misbehaving client is
//! slowed down while the node keeps serving everyone else.
//!
//! The bucket refills at `rate` tokens per second up to `burst`; each HTTP request and each
//! WebSocket message takes one. An open WebSocket connection holds one in-flight slot for its
//! whole life. Idle clients are forgotten once the table grows large, so a scan of many source
//! addresses cannot grow it without bound.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Clients remembered before idle ones are swept.
const CLIENTS_SWEEP_AT: usize = 10_000;

/// The configured limits.
#[derive(Debug, Clone, Copy)]
pub struct LimitSettings {
    /// Sustained requests per second.
    pub rate: u32,
    /// Burst above it.
    pub burst: u32,
    /// Requests in flight.
    pub concurrency: u32,
}

#[derive(Debug)]
struct Client {
    tokens: f64,
    refilled: Instant,
    in_flight: u32,
}

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Over the rate.
    Rate,
    /// Too many in flight.
    Concurrency,
}

/// The shared limiter.
#[derive(Debug)]
pub struct ClientLimits {
    settings: LimitSettings,
    clients: Mutex<BTreeMap<IpAddr, Client>>,
}

/// An in-flight slot, released when dropped.
#[derive(Debug)]
pub struct Permit {
    limits: Arc<ClientLimits>,
    client: IpAddr,
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut clients = self.limits.clients.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(client) = clients.get_mut(&self.client) {
            client.in_flight = client.in_flight.saturating_sub(1);
        }
    }
}

impl ClientLimits {
    /// A limiter with `settings`.
    pub fn new(settings: LimitSettings) -> Arc<Self> {
        Arc::new(ClientLimits { settings, clients: Mutex::new(BTreeMap::new()) })
    }

    /// Takes a token for one request at `now`.
    pub fn take_token(&self, client: IpAddr, now: Instant) -> Result<(), Refusal> {
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        let entry = self.entry(&mut clients, client, now);
        let elapsed = now.saturating_duration_since(entry.refilled).as_secs_f64();
        entry.tokens = (entry.tokens + elapsed * f64::from(self.settings.rate)).min(f64::from(self.settings.burst));
        entry.refilled = now;
        if entry.tokens < 1.0 {
            return Err(Refusal::Rate);
        }
        entry.tokens -= 1.0;
        Ok(())
    }

    /// Takes an in-flight slot.
    pub fn enter(self: &Arc<Self>, client: IpAddr, now: Instant) -> Result<Permit, Refusal> {
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        let entry = self.entry(&mut clients, client, now);
        if entry.in_flight >= self.settings.concurrency {
            return Err(Refusal::Concurrency);
        }
        entry.in_flight += 1;
        Ok(Permit { limits: self.clone(), client })
    }

    fn entry<'a>(&self, clients: &'a mut BTreeMap<IpAddr, Client>, client: IpAddr, now: Instant) -> &'a mut Client {
        if clients.len() >= CLIENTS_SWEEP_AT && !clients.contains_key(&client) {
            // A client idle for a second has a full bucket again: forgetting it changes nothing.
            clients.retain(|_, c| c.in_flight > 0 || now.saturating_duration_since(c.refilled).as_secs() < 1);
        }
        clients.entry(client).or_insert(Client { tokens: f64::from(self.settings.burst), refilled: now, in_flight: 0 })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
    }

    #[test]
    fn the_bucket_allows_the_burst_then_the_rate() {
        let limits = ClientLimits::new(LimitSettings { rate: 10, burst: 5, concurrency: 8 });
        let start = Instant::now();
        for _ in 0..5 {
            assert_eq!(limits.take_token(ip(1), start), Ok(()));
        }
        assert_eq!(limits.take_token(ip(1), start), Err(Refusal::Rate));
        // Another client is not affected.
        assert_eq!(limits.take_token(ip(2), start), Ok(()));
        // A tenth of a second later one more token has come back.
        let later = start + Duration::from_millis(100);
        assert_eq!(limits.take_token(ip(1), later), Ok(()));
        assert_eq!(limits.take_token(ip(1), later), Err(Refusal::Rate));
    }

    #[test]
    fn in_flight_slots_are_capped_and_released_on_drop() {
        let limits = ClientLimits::new(LimitSettings { rate: 10, burst: 10, concurrency: 2 });
        let now = Instant::now();
        let first = limits.enter(ip(1), now).unwrap();
        let _second = limits.enter(ip(1), now).unwrap();
        assert_eq!(limits.enter(ip(1), now).unwrap_err(), Refusal::Concurrency);
        drop(first);
        assert!(limits.enter(ip(1), now).is_ok());
    }
}
