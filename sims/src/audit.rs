//! The determinism auditor: a running hash over every event a run processes. Two runs of the same
//! seed and flags must end with the same digest; a sweep re-runs sampled seeds and compares.

use keel_crypto::{Hash, TaggedHasher};

/// Hashes each event's description into one digest.
#[derive(Clone)]
pub struct Auditor {
    hasher: TaggedHasher,
    events: u64,
}

impl Default for Auditor {
    fn default() -> Self {
        Auditor { hasher: TaggedHasher::new("keel/sim-audit/v1"), events: 0 }
    }
}

impl Auditor {
    /// Adds one event: its time, the node it happened at, and its bytes (length-prefixed, so
    /// event boundaries are part of the digest).
    pub fn record(&mut self, at_ms: u64, node: usize, bytes: &[u8]) {
        self.hasher.update(&at_ms.to_le_bytes());
        self.hasher.update(&(node as u64).to_le_bytes());
        self.hasher.update(&(bytes.len() as u64).to_le_bytes());
        self.hasher.update(bytes);
        self.events += 1;
    }

    /// Number of events recorded.
    pub fn events(&self) -> u64 {
        self.events
    }

    /// The digest so far.
    pub fn digest(&self) -> Hash {
        self.hasher.clone().finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_depends_on_every_event_and_its_boundaries() {
        let mut a = Auditor::default();
        a.record(1, 0, b"ab");
        a.record(2, 1, b"c");
        let mut b = Auditor::default();
        b.record(1, 0, b"a");
        b.record(2, 1, b"bc");
        assert_ne!(a.digest(), b.digest());
        let mut c = Auditor::default();
        c.record(1, 0, b"ab");
        c.record(2, 1, b"c");
        assert_eq!(a.digest(), c.digest());
        assert_eq!(a.events(), 2);
    }
}
