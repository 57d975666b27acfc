//! The pacemaker: which round this node is in, and when it gives up on it.
//!
//! Rules:
//! - the current round is one above the highest certificate seen:
//!   `round = max(high_qc.round, high_tc.round) + 1`; it only goes up;
//! - entering a round through a QC is progress and resets the back-off; entering it through a
//!   TC doubles the next round's timeout: `round_timeout_ms * 2^k`, capped at
//!   `round_timeout_ms_max`, where k counts rounds in a row that ended in a TC;
//! - every round has one deadline, handed to the driver as `SetTimer { round, deadline }`; when
//!   it fires for the current round the node times out and re-arms the same duration, so its
//!   timeout is rebroadcast until the round ends (this survives message loss);
//! - advancing happens as soon as the certificate arrives (optimistic responsiveness): no
//!   waiting for the deadline on the happy path.

use crate::types::{Round, Time};

/// Why the node entered a round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    /// A QC of the previous round: progress.
    Qc,
    /// A TC of the previous round.
    Tc,
}

/// Round timing state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pacemaker {
    round: Round,
    timeouts_in_a_row: u32,
    deadline: Time,
    round_timeout_ms: u64,
    round_timeout_ms_max: u64,
}

impl Pacemaker {
    /// A pacemaker in `round` (not yet armed), with the given timing.
    pub fn new(round: Round, round_timeout_ms: u64, round_timeout_ms_max: u64) -> Self {
        assert!(round_timeout_ms > 0 && round_timeout_ms <= round_timeout_ms_max, "config checked the timeouts");
        Pacemaker { round, timeouts_in_a_row: 0, deadline: Time::ZERO, round_timeout_ms, round_timeout_ms_max }
    }

    /// The current round.
    pub fn round(&self) -> Round {
        self.round
    }

    /// The current round's deadline.
    pub fn deadline(&self) -> Time {
        self.deadline
    }

    /// The current round's timeout: `round_timeout_ms * 2^k`, capped.
    pub fn round_timeout_ms(&self) -> u64 {
        let factor = 1u64.checked_shl(self.timeouts_in_a_row).unwrap_or(u64::MAX);
        self.round_timeout_ms.saturating_mul(factor).min(self.round_timeout_ms_max)
    }

    /// Moves to `round` when it is above the current one; returns the new deadline, or `None`
    /// when the round is not new.
    pub fn try_enter(&mut self, now: Time, round: Round, entry: Entry) -> Option<Time> {
        if round <= self.round {
            return None;
        }
        self.timeouts_in_a_row = match entry {
            Entry::Qc => 0,
            // Past the cap, counting further changes nothing; stopping keeps the shift in range.
            Entry::Tc if self.round_timeout_ms() < self.round_timeout_ms_max => self.timeouts_in_a_row + 1,
            Entry::Tc => self.timeouts_in_a_row,
        };
        self.round = round;
        Some(self.arm(now))
    }

    /// Sets (or re-sets, after the timer fired) the current round's deadline.
    pub fn arm(&mut self, now: Time) -> Time {
        self.deadline = now.plus_ms(self.round_timeout_ms());
        assert!(self.deadline >= now, "deadlines are never in the past");
        self.deadline
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_off_doubles_per_tc_caps_and_resets_on_qc() {
        let mut pacemaker = Pacemaker::new(Round(1), 100, 1000);
        assert_eq!(pacemaker.arm(Time(0)), Time(100));
        // Each TC-entered round doubles: 200, 400, 800, then the cap of 1000 holds.
        let expected = [200, 400, 800, 1000, 1000, 1000];
        for (i, ms) in expected.iter().enumerate() {
            let round = Round(2 + i as u64);
            assert_eq!(pacemaker.try_enter(Time(0), round, Entry::Tc), Some(Time(*ms)), "round {round}");
        }
        assert_eq!(pacemaker.try_enter(Time(50), Round(9), Entry::Qc), Some(Time(150)), "progress resets to the base");
    }

    #[test]
    fn rounds_only_go_up() {
        let mut pacemaker = Pacemaker::new(Round(5), 100, 1000);
        assert_eq!(pacemaker.try_enter(Time(0), Round(5), Entry::Qc), None);
        assert_eq!(pacemaker.try_enter(Time(0), Round(3), Entry::Tc), None);
        assert_eq!(pacemaker.round(), Round(5));
        assert_eq!(pacemaker.try_enter(Time(10), Round(9), Entry::Qc), Some(Time(110)), "jumps are allowed");
    }

    #[test]
    fn huge_back_off_never_overflows() {
        let mut pacemaker = Pacemaker::new(Round(1), u64::MAX / 2, u64::MAX);
        for round in 2..200 {
            pacemaker.try_enter(Time(u64::MAX - 1), Round(round), Entry::Tc);
        }
        assert_eq!(pacemaker.round_timeout_ms(), u64::MAX);
        assert_eq!(pacemaker.deadline(), Time(u64::MAX));
    }
}
