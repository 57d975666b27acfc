//! Whole-core tests: several Cores exchanging actions in memory (see `harness.rs`), and scripted
//! single-core steps (see `steps.rs`).

mod harness;
mod network;
mod properties;
mod steps;
