//! Keel's consensus core: a sans-IO 2-chain HotStuff (DiemBFT v4 / Jolteon family) state machine.
//!
//! Being written: see the consensus issue.
