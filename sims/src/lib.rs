//! keel-sim: a deterministic discrete-event simulator that drives real consensus cores and
//! ledgers under seeded network faults and Byzantine behaviours.
//!
//! Every source of nondeterminism is an input: virtual time comes from the event queue
//! ([`queue`]), randomness from named streams of one seed ([`rng`]), message fate from the
//! network model ([`network`]), and the faults of a run from its [`scenario`]. The same seed and
//! flags therefore replay the same run, event for event.

#![warn(missing_docs)]

pub mod audit;
pub mod byzantine;
pub mod chart;
pub mod checker;
pub mod fastsig;
pub mod instance;
pub mod ledger_load;
pub mod network;
pub mod queue;
pub mod report;
pub mod rng;
pub mod scenario;
pub mod sim;
pub mod sweep;
pub mod trace;
