//! keel-sim: a deterministic discrete-event simulator that drives real consensus cores and
//! ledgers under seeded network faults and Byzantine behaviours.
//!
//! Not yet written: see the consensus issue.
