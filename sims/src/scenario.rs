//! A scenario: everything a run does to the validators, fixed before the run starts. Either given
//! on the command line or drawn from the seed ("swarm" testing, as TigerBeetle's VOPR does: each
//! seed draws its own mix of loss, latency, partitions, crashes and clock skew, so a sweep over
//! many seeds explores many kinds of trouble rather than one).

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use rand::seq::SliceRandom;
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::network::{LinkProfile, NetworkConfig, NodeIndex, Partition};
use crate::queue::VirtualMs;
use crate::rng::{stream, SimRng};

/// What the Byzantine validators of a run do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Behaviour {
    /// No Byzantine behaviour (the `--byzantine` count must be 0).
    Honest,
    /// Sends nothing at all.
    Silent,
    /// As leader, sends different proposals to the two halves of the validators.
    Equivocate,
    /// Votes for two different blocks in a round.
    DoubleVote,
    /// Sends messages with invalid signatures and undecodable bytes.
    Garbage,
    /// Votes, but never to the next leader.
    WithholdVotes,
    /// Twins: two instances of honest code sharing one key, each seeing part of the network.
    Twins,
}

impl Behaviour {
    /// Every behaviour, for sweeps.
    pub const ALL: [Behaviour; 7] = [
        Behaviour::Honest,
        Behaviour::Silent,
        Behaviour::Equivocate,
        Behaviour::DoubleVote,
        Behaviour::Garbage,
        Behaviour::WithholdVotes,
        Behaviour::Twins,
    ];

    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Behaviour::Honest => "honest",
            Behaviour::Silent => "silent",
            Behaviour::Equivocate => "equivocate",
            Behaviour::DoubleVote => "double-vote",
            Behaviour::Garbage => "garbage",
            Behaviour::WithholdVotes => "withhold-votes",
            Behaviour::Twins => "twins",
        }
    }
}

impl fmt::Display for Behaviour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Behaviour {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Behaviour::ALL.iter().copied().find(|b| b.name() == text).ok_or_else(|| {
            let names: Vec<&str> = Behaviour::ALL.iter().map(|b| b.name()).collect();
            format!("unknown behaviour {text:?}; expected one of {}", names.join(", "))
        })
    }
}

/// A node that stops at `at_ms` (losing everything not persisted) and, if `restart_ms` is set,
/// starts again from its persisted state then.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Crash {
    /// Which node.
    pub node: NodeIndex,
    /// When it crashes, virtual ms.
    pub at_ms: VirtualMs,
    /// When it restarts, virtual ms; never, if absent.
    pub restart_ms: Option<VirtualMs>,
}

/// Everything a run does, fixed up front.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scenario {
    /// Number of validators (Byzantine ones included).
    pub validators: usize,
    /// How many of them are Byzantine: the last `byzantine` indices.
    pub byzantine: usize,
    /// What the Byzantine ones do.
    pub behaviour: Behaviour,
    /// Length of the run, virtual ms.
    pub duration_ms: VirtualMs,
    /// The network.
    pub network: NetworkConfig,
    /// Crashes and restarts of honest nodes; all restart by GST.
    pub crashes: Vec<Crash>,
    /// Each node's clock offset from virtual time, in ms (may be negative).
    pub clock_skew_ms: Vec<i64>,
}

/// The largest number of Byzantine validators `n` tolerates: f with n >= 3f + 1.
pub fn fault_tolerance(validators: usize) -> usize {
    validators.saturating_sub(1) / 3
}

impl Scenario {
    /// A calm scenario: LAN-like links, no loss, no partitions, no crashes, no skew.
    pub fn calm(validators: usize, byzantine: usize, behaviour: Behaviour, duration_ms: VirtualMs) -> Self {
        Scenario {
            validators,
            byzantine,
            behaviour,
            duration_ms,
            network: NetworkConfig {
                before_gst: LinkProfile::timely(5, 20),
                after_gst: LinkProfile::timely(5, 20),
                gst_ms: 0,
                partitions: Vec::new(),
            },
            crashes: Vec::new(),
            clock_skew_ms: vec![0; validators],
        }
    }

    /// Draws a scenario from `seed`: loss, duplication, latency tails, partitions, crashes and
    /// skew before a GST in the first half of the run; the second half is calm so liveness can
    /// be checked.
    pub fn swarm(seed: u64, validators: usize, byzantine: usize, behaviour: Behaviour, duration_ms: VirtualMs) -> Self {
        let mut rng = stream(seed, "scenario", 0);
        let gst_ms = rng.gen_range(duration_ms / 8..=duration_ms / 2);
        let before_gst = LinkProfile {
            latency_ms_min: *[1u64, 5, 20, 50].choose(&mut rng).expect("non-empty"),
            latency_ms_max: 0,
            tail_ppm: *[0u32, 10_000, 100_000].choose(&mut rng).expect("non-empty"),
            tail_ms_max: *[100u64, 1_000, 5_000].choose(&mut rng).expect("non-empty"),
            drop_ppm: *[0u32, 10_000, 50_000, 200_000, 400_000].choose(&mut rng).expect("non-empty"),
            duplicate_ppm: *[0u32, 10_000, 100_000].choose(&mut rng).expect("non-empty"),
        };
        let before_gst =
            LinkProfile { latency_ms_max: before_gst.latency_ms_min * rng.gen_range(1..=10), ..before_gst };
        let after_min = rng.gen_range(1..=20);
        let after_gst = LinkProfile::timely(after_min, after_min * rng.gen_range(1..=5));
        let honest: Vec<NodeIndex> = (0..validators - byzantine).collect();
        let partitions = (0..rng.gen_range(0..=3)).map(|_| draw_partition(&mut rng, validators, gst_ms)).collect();
        let crashes = draw_crashes(&mut rng, &honest, validators, byzantine, gst_ms);
        let skew_ms_max = *[0i64, 50, 500, 2_000].choose(&mut rng).expect("non-empty");
        let clock_skew_ms = (0..validators).map(|_| rng.gen_range(-skew_ms_max..=skew_ms_max)).collect();
        let scenario = Scenario {
            validators,
            byzantine,
            behaviour,
            duration_ms,
            network: NetworkConfig { before_gst, after_gst, gst_ms, partitions },
            crashes,
            clock_skew_ms,
        };
        scenario.assert_well_formed();
        scenario
    }

    /// Asserts what the checker's liveness bound relies on.
    pub fn assert_well_formed(&self) {
        assert!(self.validators >= 1, "a run has validators");
        assert!(self.byzantine <= self.validators, "cannot have more Byzantine than validators");
        assert_eq!(self.clock_skew_ms.len(), self.validators, "one clock per validator");
        self.network.assert_well_formed();
        for crash in &self.crashes {
            assert!(crash.node < self.validators, "crash of an existing node");
            if let Some(restart) = crash.restart_ms {
                assert!(crash.at_ms <= restart, "restart after the crash");
            }
        }
    }

    /// Whether the run stays within what the protocol promises to survive: at most f faulty
    /// (Byzantine, or crashed and never restarted).
    pub fn within_fault_tolerance(&self) -> bool {
        let never_restarted: BTreeSet<NodeIndex> =
            self.crashes.iter().filter(|c| c.restart_ms.is_none()).map(|c| c.node).collect();
        self.byzantine + never_restarted.len() <= fault_tolerance(self.validators)
    }

    /// When every fault is over: GST, and every crashed node restarted.
    pub fn stable_from_ms(&self) -> VirtualMs {
        let restarts = self.crashes.iter().filter_map(|c| c.restart_ms);
        restarts.chain([self.network.gst_ms]).max().unwrap_or(0)
    }
}

fn draw_partition(rng: &mut SimRng, validators: usize, gst_ms: VirtualMs) -> Partition {
    let start_ms = rng.gen_range(0..gst_ms.max(1));
    let end_ms = rng.gen_range(start_ms..=gst_ms);
    let mut nodes: Vec<NodeIndex> = (0..validators).collect();
    nodes.shuffle(rng);
    let side = rng.gen_range(1..=validators.max(2) / 2);
    Partition { start_ms, end_ms, isolated: nodes.into_iter().take(side).collect() }
}

/// Crashes honest nodes, at most f - byzantine of them down at once, every one restarted by GST.
fn draw_crashes(
    rng: &mut SimRng,
    honest: &[NodeIndex],
    validators: usize,
    byzantine: usize,
    gst_ms: VirtualMs,
) -> Vec<Crash> {
    let budget = fault_tolerance(validators).saturating_sub(byzantine);
    let count = rng.gen_range(0..=budget.min(honest.len()));
    let mut nodes = honest.to_vec();
    nodes.shuffle(rng);
    nodes
        .into_iter()
        .take(count)
        .map(|node| {
            let at_ms = rng.gen_range(0..gst_ms.max(1));
            Crash { node, at_ms, restart_ms: Some(rng.gen_range(at_ms..=gst_ms)) }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swarm_is_a_function_of_the_seed() {
        let a = Scenario::swarm(42, 7, 2, Behaviour::Silent, 60_000);
        assert_eq!(a, Scenario::swarm(42, 7, 2, Behaviour::Silent, 60_000));
        let differs = (0..20).any(|seed| Scenario::swarm(seed, 7, 2, Behaviour::Silent, 60_000) != a);
        assert!(differs);
    }

    #[test]
    fn swarm_stays_within_fault_tolerance_and_heals_by_gst() {
        for seed in 0..500 {
            for (n, f) in [(4, 1), (7, 2), (10, 3), (4, 0)] {
                let scenario = Scenario::swarm(seed, n, f, Behaviour::Silent, 60_000);
                assert!(scenario.within_fault_tolerance(), "seed {seed}: {scenario:?}");
                assert!(scenario.stable_from_ms() <= 30_000, "stable by half the run");
                assert!(scenario.crashes.iter().all(|c| c.node < n - f), "only honest nodes crash");
            }
        }
    }

    #[test]
    fn behaviour_names_round_trip() {
        for behaviour in Behaviour::ALL {
            assert_eq!(behaviour.name().parse::<Behaviour>().unwrap(), behaviour);
        }
        assert!("nope".parse::<Behaviour>().unwrap_err().contains("expected one of"));
    }

    #[test]
    fn fault_tolerance_is_a_third_rounded_down() {
        assert_eq!([1, 3, 4, 6, 7, 10, 100].map(fault_tolerance), [0, 0, 1, 1, 2, 3, 33]);
    }
}
