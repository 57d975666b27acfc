//! The simulated network: per-link latency with a heavy tail, loss, duplication (and so
//! reordering), partitions that start and heal, and a global stabilisation time (GST) after which
//! every link is timely and lossless, as the partial-synchrony model assumes.
//!
//! All arithmetic is on integers and every draw comes from the network's own RNG stream, so a
//! seed fixes every delivery time.

use std::collections::BTreeSet;

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::queue::VirtualMs;
use crate::rng::{chance_ppm, SimRng};

/// Index of a node in the simulation, `0..validators`.
pub type NodeIndex = usize;

/// How one direction of a link behaves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkProfile {
    /// Smallest one-way latency, in virtual ms.
    pub latency_ms_min: u64,
    /// Largest latency outside the tail, in virtual ms (uniform between min and max).
    pub latency_ms_max: u64,
    /// Chance, in parts per million, that a message takes an extra tail delay.
    pub tail_ppm: u32,
    /// Largest extra tail delay, in virtual ms.
    pub tail_ms_max: u64,
    /// Chance, in parts per million, that a message is lost.
    pub drop_ppm: u32,
    /// Chance, in parts per million, that a message is delivered twice (at independent times).
    pub duplicate_ppm: u32,
}

impl LinkProfile {
    /// A timely, lossless link whose latency never exceeds `latency_ms_max`.
    pub fn timely(latency_ms_min: u64, latency_ms_max: u64) -> Self {
        LinkProfile { latency_ms_min, latency_ms_max, tail_ppm: 0, tail_ms_max: 0, drop_ppm: 0, duplicate_ppm: 0 }
    }

    /// The most a message can take on this link.
    pub fn latency_ms_bound(&self) -> u64 {
        self.latency_ms_max + if self.tail_ppm > 0 { self.tail_ms_max } else { 0 }
    }

    fn draw_latency(&self, rng: &mut SimRng) -> u64 {
        let mut latency = rng.gen_range(self.latency_ms_min..=self.latency_ms_max);
        if self.tail_ms_max > 0 && chance_ppm(rng, self.tail_ppm) {
            latency += rng.gen_range(0..=self.tail_ms_max);
        }
        latency
    }
}

/// Between `start_ms` and `end_ms`, nodes in `isolated` and the other nodes cannot reach each
/// other; messages across the cut sent in that window are lost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Partition {
    /// When the cut starts, virtual ms.
    pub start_ms: VirtualMs,
    /// When it heals, virtual ms.
    pub end_ms: VirtualMs,
    /// One side of the cut; the other side is everyone else.
    pub isolated: BTreeSet<NodeIndex>,
}

impl Partition {
    fn cuts(&self, from: NodeIndex, to: NodeIndex, at: VirtualMs) -> bool {
        (self.start_ms..self.end_ms).contains(&at) && (self.isolated.contains(&from) != self.isolated.contains(&to))
    }
}

/// Everything that decides how messages travel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkConfig {
    /// Links before GST.
    pub before_gst: LinkProfile,
    /// Links from GST on: must be timely and lossless.
    pub after_gst: LinkProfile,
    /// Global stabilisation time, virtual ms.
    pub gst_ms: VirtualMs,
    /// Cuts, all of which end by GST.
    pub partitions: Vec<Partition>,
}

impl NetworkConfig {
    /// Asserts the model's own assumptions: after GST nothing is lost and partitions have healed.
    pub fn assert_well_formed(&self) {
        let after = &self.after_gst;
        assert!(after.drop_ppm == 0 && after.duplicate_ppm == 0, "links after GST are lossless");
        assert!(after.latency_ms_min <= after.latency_ms_max, "latency range is ordered");
        assert!(self.before_gst.latency_ms_min <= self.before_gst.latency_ms_max, "latency range is ordered");
        for partition in &self.partitions {
            assert!(
                partition.start_ms <= partition.end_ms && partition.end_ms <= self.gst_ms,
                "partitions heal by GST"
            );
        }
    }

    /// When the copies of a message sent `from` → `to` at `sent_at` arrive: none if lost, two if
    /// duplicated. A node's messages to itself arrive at once.
    pub fn route(&self, rng: &mut SimRng, from: NodeIndex, to: NodeIndex, sent_at: VirtualMs) -> Vec<VirtualMs> {
        if from == to {
            return vec![sent_at];
        }
        if self.partitions.iter().any(|p| p.cuts(from, to, sent_at)) {
            return Vec::new();
        }
        let profile = if sent_at >= self.gst_ms { &self.after_gst } else { &self.before_gst };
        if chance_ppm(rng, profile.drop_ppm) {
            return Vec::new();
        }
        let mut arrivals = vec![sent_at + profile.draw_latency(rng)];
        if chance_ppm(rng, profile.duplicate_ppm) {
            arrivals.push(sent_at + profile.draw_latency(rng));
        }
        arrivals
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::stream;

    fn lossy() -> NetworkConfig {
        NetworkConfig {
            before_gst: LinkProfile {
                latency_ms_min: 10,
                latency_ms_max: 50,
                tail_ppm: 100_000,
                tail_ms_max: 1000,
                drop_ppm: 200_000,
                duplicate_ppm: 100_000,
            },
            after_gst: LinkProfile::timely(10, 50),
            gst_ms: 10_000,
            partitions: vec![Partition { start_ms: 1000, end_ms: 2000, isolated: [0, 1].into() }],
        }
    }

    #[test]
    fn partitions_cut_only_across_the_cut_and_only_while_they_last() {
        let network = lossy();
        let mut rng = stream(1, "t", 0);
        assert!(network.partitions[0].cuts(0, 2, 1500));
        assert!(!network.partitions[0].cuts(0, 1, 1500), "same side");
        assert!(!network.partitions[0].cuts(0, 2, 2000), "healed");
        assert!((0..100).all(|_| network.route(&mut rng, 2, 1, 1200).is_empty()));
    }

    #[test]
    fn after_gst_every_message_arrives_once_within_the_bound() {
        let network = lossy();
        network.assert_well_formed();
        let mut rng = stream(2, "t", 0);
        for i in 0..10_000u64 {
            let sent = 10_000 + i;
            let arrivals = network.route(&mut rng, 0, 3, sent);
            assert_eq!(arrivals.len(), 1);
            assert!(arrivals[0] - sent <= network.after_gst.latency_ms_bound());
        }
    }

    #[test]
    fn before_gst_messages_are_lost_duplicated_and_delayed_at_about_the_configured_rates() {
        let network = lossy();
        let mut rng = stream(3, "t", 0);
        let (mut lost, mut doubled, mut tail) = (0, 0, 0);
        for _ in 0..20_000 {
            let arrivals = network.route(&mut rng, 2, 3, 100);
            match arrivals.len() {
                0 => lost += 1,
                2 => doubled += 1,
                _ => {}
            }
            tail += arrivals.iter().filter(|&&at| at - 100 > 50).count();
        }
        assert!((3_500..4_500).contains(&lost), "20% of 20k lost, got {lost}");
        assert!((1_300..1_900).contains(&doubled), "10% of the 16k delivered doubled, got {doubled}");
        assert!(tail > 1_000, "about 10% take the tail, got {tail}");
    }
}
