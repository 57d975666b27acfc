//! The vote and timeout rules, one refusal per test, with the numbers each refusal names.

use super::*;
use crate::testkit::Fixture;
use crate::types::Round;

fn rules() -> SafetyRules {
    SafetyRules::new(SafetyState::default(), None)
}

#[test]
fn votes_once_per_round_and_resends_the_stored_vote() {
    let fx = Fixture::new(4);
    let scheme = fx.scheme(0);
    let block = fx.child_of_genesis(Round(1));
    let mut rules = rules();
    let first = rules.try_vote(&scheme, &fx.config.chain_id, block.id(), &block).expect("first vote is safe");
    assert!(first.fresh);
    assert_eq!(rules.state().last_voted_round, Round(1));
    assert_eq!(rules.state().last_vote.as_ref(), Some(&first.message));

    let again = rules.try_vote(&scheme, &fx.config.chain_id, block.id(), &block).expect("same block again");
    assert!(!again.fresh, "the stored vote is resent, not signed anew");
    assert_eq!(again.message, first.message);

    let mut other = block.clone();
    other.payload.transactions = vec![b"other".to_vec()];
    let refusal = rules.try_vote(&scheme, &fx.config.chain_id, other.id(), &other).unwrap_err();
    assert_eq!(refusal, SafetyRefusal::AlreadyVoted { round: Round(1), voted: block.id() });
}

#[test]
fn refuses_rounds_not_above_the_last_voted() {
    let fx = Fixture::new(4);
    let scheme = fx.scheme(0);
    let chain = fx.chain(3);
    let mut rules = rules();
    rules.try_vote(&scheme, &fx.config.chain_id, chain[2].id(), &chain[2]).expect("round 3 is justified");
    let refusal = rules.try_vote(&scheme, &fx.config.chain_id, chain[1].id(), &chain[1]).unwrap_err();
    assert_eq!(refusal, SafetyRefusal::RoundNotNewer { round: Round(2), last_voted: Round(3) });
}

#[test]
fn refuses_a_block_that_skips_rounds_without_a_tc() {
    let fx = Fixture::new(4);
    let scheme = fx.scheme(0);
    // Round 3 extending the genesis QC (round 0) with no TC: not justified.
    let block = fx.child_of_genesis(Round(3));
    let refusal = rules().try_vote(&scheme, &fx.config.chain_id, block.id(), &block).unwrap_err();
    assert!(matches!(
        refusal,
        SafetyRefusal::NotSafeToVote { round: Round(3), qc_round: Round(0), tc_round: None, .. }
    ));
}

#[test]
fn after_a_tc_the_block_must_extend_the_highest_qc_in_it() {
    let fx = Fixture::new(4);
    let scheme = fx.scheme(3);
    let chain = fx.chain(2);
    let qc1 = fx.full_qc(&chain[0]);
    // TC of round 2 in which one signer reported QC(1).
    let timeouts = [fx.timeout_with_qc(0, Round(2), qc1.clone()), fx.timeout(1, Round(2)), fx.timeout(2, Round(2))];
    let tc = TimeoutCert::from_timeouts(&timeouts.iter().map(|t| (t.signer, t.clone())).collect());
    assert_eq!(tc.high_qc_round(), Round(1));

    // A round-3 block after the TC that extends only genesis skips a lock a quorum may hold.
    let stale = fx.block(fx.genesis_qc(), Round(3), Some(tc.clone()));
    let refusal = rules().try_vote(&scheme, &fx.config.chain_id, stale.id(), &stale).unwrap_err();
    assert_eq!(
        refusal,
        SafetyRefusal::NotSafeToVote {
            round: Round(3),
            qc_round: Round(0),
            tc_round: Some(Round(2)),
            tc_high_qc_round: Some(Round(1)),
            locked: Round(0),
        }
    );
    // Extending QC(1) after the TC is safe.
    let good = fx.block(qc1, Round(3), Some(tc));
    let vote = rules().try_vote(&scheme, &fx.config.chain_id, good.id(), &good).expect("justified by the TC");
    assert!(vote.fresh);
}

#[test]
fn voting_raises_the_lock_to_the_blocks_qc_and_it_never_goes_down() {
    let fx = Fixture::new(4);
    let scheme = fx.scheme(0);
    let chain = fx.chain(3);
    let mut rules = rules();
    rules.try_vote(&scheme, &fx.config.chain_id, chain[2].id(), &chain[2]).unwrap();
    assert_eq!(rules.state().locked_round, Round(2), "block 3 carries QC(2)");
    assert!(!rules.observe_qc(Round(1)), "a lower QC changes nothing");
    assert_eq!(rules.state().locked_round, Round(2));
    assert!(rules.observe_qc(Round(5)));
    assert_eq!(rules.state().locked_round, Round(5));
}

#[test]
fn no_vote_in_a_round_already_timed_out() {
    let fx = Fixture::new(4);
    let scheme = fx.scheme(0);
    let mut rules = rules();
    let timeout = rules.try_timeout(&scheme, &fx.config.chain_id, Round(1), &fx.genesis_qc(), None).unwrap();
    assert!(timeout.fresh);
    let block = fx.child_of_genesis(Round(1));
    let refusal = rules.try_vote(&scheme, &fx.config.chain_id, block.id(), &block).unwrap_err();
    assert_eq!(refusal, SafetyRefusal::RoundNotNewer { round: Round(1), last_voted: Round(1) });
}

#[test]
fn one_timeout_per_round_resent_not_resigned() {
    let fx = Fixture::new(4);
    let scheme = fx.scheme(0);
    let mut rules = rules();
    let first = rules.try_timeout(&scheme, &fx.config.chain_id, Round(1), &fx.genesis_qc(), None).unwrap();
    let again = rules.try_timeout(&scheme, &fx.config.chain_id, Round(1), &fx.genesis_qc(), None).unwrap();
    assert!(!again.fresh);
    assert_eq!(again.message, first.message);
    assert_eq!(rules.state().last_timeout.as_ref(), Some(&first.message));
}

#[test]
fn a_voter_may_time_out_its_round_but_not_an_earlier_one() {
    let fx = Fixture::new(4);
    let scheme = fx.scheme(0);
    let chain = fx.chain(2);
    let mut rules = rules();
    rules.try_vote(&scheme, &fx.config.chain_id, chain[1].id(), &chain[1]).unwrap();
    let qc1 = fx.full_qc(&chain[0]);
    rules
        .try_timeout(&scheme, &fx.config.chain_id, Round(2), &qc1, None)
        .expect("timing out the voted round is allowed");
    let refusal = rules.try_timeout(&scheme, &fx.config.chain_id, Round(1), &fx.genesis_qc(), None).unwrap_err();
    assert_eq!(refusal, SafetyRefusal::TimeoutRoundStale { round: Round(1), last_voted: Round(2) });
}

#[test]
fn a_timeout_never_reports_a_qc_below_the_lock() {
    let fx = Fixture::new(4);
    let scheme = fx.scheme(0);
    let mut rules = rules();
    rules.observe_qc(Round(4));
    let refusal = rules.try_timeout(&scheme, &fx.config.chain_id, Round(5), &fx.genesis_qc(), None).unwrap_err();
    assert_eq!(refusal, SafetyRefusal::QcBelowLock { qc_round: Round(0), locked: Round(4) });
}

#[test]
fn a_timeout_needs_the_round_to_have_been_entered() {
    let fx = Fixture::new(4);
    let scheme = fx.scheme(0);
    let refusal = rules().try_timeout(&scheme, &fx.config.chain_id, Round(7), &fx.genesis_qc(), None).unwrap_err();
    assert_eq!(refusal, SafetyRefusal::NotSafeToTimeout { round: Round(7), qc_round: Round(0), tc_round: None });
    let tc = fx.tc(Round(6), &[0, 1, 2], &fx.genesis_qc());
    rules()
        .try_timeout(&scheme, &fx.config.chain_id, Round(7), &fx.genesis_qc(), Some(&tc))
        .expect("round 7 entered by the TC of round 6");
}

#[test]
fn restored_state_keeps_refusing_what_it_signed_before() {
    let fx = Fixture::new(4);
    let scheme = fx.scheme(0);
    let block = fx.child_of_genesis(Round(1));
    let mut rules = rules();
    rules.try_vote(&scheme, &fx.config.chain_id, block.id(), &block).unwrap();
    // The driver persisted the state; a restarted node builds rules from it.
    let bytes = borsh::to_vec(rules.state()).unwrap();
    let restored: SafetyState = borsh::from_slice(&bytes).unwrap();
    let mut restarted = SafetyRules::new(restored, None);
    let mut other = block.clone();
    other.payload.transactions = vec![b"fork".to_vec()];
    assert!(matches!(
        restarted.try_vote(&scheme, &fx.config.chain_id, other.id(), &other),
        Err(SafetyRefusal::AlreadyVoted { .. })
    ));
    let resent = restarted.try_vote(&scheme, &fx.config.chain_id, block.id(), &block).unwrap();
    assert!(!resent.fresh);
}

#[test]
fn the_weakening_switches_really_weaken() {
    let fx = Fixture::new(4);
    let scheme = fx.scheme(0);
    let block = fx.child_of_genesis(Round(1));
    let mut other = block.clone();
    other.payload.transactions = vec![b"fork".to_vec()];
    let mut weak = SafetyRules::new(SafetyState::default(), Some(SafetyWeakening::AllowDoubleVote));
    weak.try_vote(&scheme, &fx.config.chain_id, block.id(), &block).unwrap();
    assert!(weak.try_vote(&scheme, &fx.config.chain_id, other.id(), &other).unwrap().fresh);

    let unjustified = fx.child_of_genesis(Round(3));
    let mut weak = SafetyRules::new(SafetyState::default(), Some(SafetyWeakening::IgnoreLock));
    assert!(weak.try_vote(&scheme, &fx.config.chain_id, unjustified.id(), &unjustified).is_ok());
}
