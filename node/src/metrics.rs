//! Prometheus metrics of the node, served at `/metrics` in the text exposition format.
//!
//! Names follow Prometheus conventions (`keel_` prefix, `_total` counters, base units in the
//! name). Rates such as transactions per second are derived by the scraper from the counters
//! (`rate(keel_transactions_committed_total[1m])`), which stays right across scrapes and
//! restarts where a gauge computed in the node would not.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// Why a peer message was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EncodeLabelValue)]
pub enum DropReason {
    /// The bytes did not decode.
    Malformed,
    /// A signature or certificate did not verify (or the block was malformed).
    BadSignature,
    /// The sender is not a validator.
    UnknownSender,
    /// A queue was full.
    QueueFull,
}

/// Label set for dropped messages.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct DropLabels {
    /// Why.
    pub reason: DropReason,
}

/// Label set for RPC calls.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct RpcLabels {
    /// The JSON-RPC method, or "invalid" for a request that named none.
    pub method: String,
}

/// Every metric the node exports.
pub struct NodeMetrics {
    registry: Registry,
    /// Height of the last committed block.
    pub committed_height: Gauge,
    /// Current consensus round.
    pub round: Gauge,
    /// Blocks committed since start.
    pub blocks_committed: Counter,
    /// Transactions committed since start.
    pub transactions_committed: Counter,
    /// Round timeouts this node signed.
    pub timeouts: Counter,
    /// Timeout certificates formed or received.
    pub timeout_certificates: Counter,
    /// Transactions in the mempool.
    pub mempool_transactions: Gauge,
    /// Bytes in the mempool.
    pub mempool_bytes: Gauge,
    /// Peers with a live connection.
    pub peers_connected: Gauge,
    /// Peer messages dropped, by reason.
    pub messages_dropped: Family<DropLabels, Counter>,
    /// RPC request latency in seconds, by method.
    pub rpc_latency_seconds: Family<RpcLabels, Histogram>,
    /// Seconds the ledger's store spent writing blocks (on its writer thread).
    pub ledger_write_seconds: Counter<f64, AtomicU64>,
}

impl NodeMetrics {
    /// Registers every metric.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("keel");
        let metrics = NodeMetrics {
            committed_height: Gauge::default(),
            round: Gauge::default(),
            blocks_committed: Counter::default(),
            transactions_committed: Counter::default(),
            timeouts: Counter::default(),
            timeout_certificates: Counter::default(),
            mempool_transactions: Gauge::default(),
            mempool_bytes: Gauge::default(),
            peers_connected: Gauge::default(),
            messages_dropped: Family::default(),
            rpc_latency_seconds: Family::new_with_constructor(|| Histogram::new(exponential_buckets(0.0005, 2.0, 16))),
            ledger_write_seconds: Counter::default(),
            registry: Registry::default(),
        };
        registry.register("committed_height", "Height of the last committed block", metrics.committed_height.clone());
        registry.register("round", "Current consensus round", metrics.round.clone());
        registry.register("blocks_committed", "Blocks committed since start", metrics.blocks_committed.clone());
        registry.register(
            "transactions_committed",
            "Transactions committed since start",
            metrics.transactions_committed.clone(),
        );
        registry.register("timeouts", "Round timeouts this node signed", metrics.timeouts.clone());
        registry.register(
            "timeout_certificates",
            "Timeout certificates formed or received",
            metrics.timeout_certificates.clone(),
        );
        registry.register("mempool_transactions", "Transactions in the mempool", metrics.mempool_transactions.clone());
        registry.register("mempool_bytes", "Bytes in the mempool", metrics.mempool_bytes.clone());
        registry.register("peers_connected", "Peers with a live connection", metrics.peers_connected.clone());
        registry.register("messages_dropped", "Peer messages dropped, by reason", metrics.messages_dropped.clone());
        registry.register(
            "rpc_latency_seconds",
            "JSON-RPC request latency, by method",
            metrics.rpc_latency_seconds.clone(),
        );
        registry.register(
            "ledger_write_seconds",
            "Seconds the ledger's store spent writing executed blocks",
            metrics.ledger_write_seconds.clone(),
        );
        NodeMetrics { registry, ..metrics }
    }

    /// The text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry).expect("writing to a String cannot fail");
        text
    }
}

impl Default for NodeMetrics {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_every_metric_with_its_prefix_and_labels() {
        let metrics = NodeMetrics::new();
        metrics.committed_height.set(42);
        metrics.transactions_committed.inc_by(7);
        metrics.messages_dropped.get_or_create(&DropLabels { reason: DropReason::BadSignature }).inc();
        metrics.rpc_latency_seconds.get_or_create(&RpcLabels { method: "keel_status".into() }).observe(0.002);
        metrics.ledger_write_seconds.inc_by(0.25);
        let text = metrics.encode();
        assert!(text.contains("keel_committed_height 42"), "{text}");
        assert!(text.contains("keel_transactions_committed_total 7"), "{text}");
        assert!(text.contains("keel_messages_dropped_total{reason=\"BadSignature\"} 1"), "{text}");
        assert!(text.contains("keel_rpc_latency_seconds_count{method=\"keel_status\"} 1"), "{text}");
        assert!(text.contains("keel_ledger_write_seconds_total 0.25"), "{text}");
        assert!(text.ends_with("# EOF\n"));
    }
}
