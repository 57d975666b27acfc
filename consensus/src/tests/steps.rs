//! Scripted single-core steps: one core (validator 3 of 4) fed events by hand, each step naming
//! what it must and must not emit. Round-robin leaders: round r is led by validator r mod 4.

use crate::testkit::Fixture;
use crate::{Action, Core, Event, Message, RecoveryData, Round, Time};

/// A check over the actions one step produced.
type Expect = Box<dyn Fn(&[Action]) -> bool>;

/// One scripted step: an event and a check over the actions it produced.
struct Step {
    desc: &'static str,
    at_ms: u64,
    event: Event,
    expect: Expect,
}

const ME: usize = 3;

fn core(fx: &Fixture) -> Core {
    let mut config = fx.config.clone();
    config.validate_blocks = false;
    let recovery = RecoveryData::genesis(&config.chain_id, &fx.validators);
    Core::new(config, fx.validators.clone(), Box::new(fx.scheme(ME)), recovery)
}

fn run(core: &mut Core, steps: Vec<Step>) {
    for step in steps {
        let actions = core.handle(Time(step.at_ms), step.event);
        assert!((step.expect)(&actions), "step '{}' produced unexpected actions: {actions:#?}", step.desc);
        assert_persist_precedes_send(&actions, step.desc);
    }
}

/// The persistence contract: a freshly signed vote or timeout leaves only after a
/// `PersistSafety` recording it, in the same batch.
fn assert_persist_precedes_send(actions: &[Action], desc: &str) {
    let persisted = actions.iter().position(|a| matches!(a, Action::PersistSafety(_)));
    let sent = actions.iter().position(|a| {
        matches!(
            a,
            Action::Send { message: Message::Vote(_) | Message::Timeout(_), .. }
                | Action::Broadcast { message: Message::Vote(_) | Message::Timeout(_) }
        )
    });
    if let (Some(persisted), Some(sent)) = (persisted, sent) {
        assert!(persisted < sent, "step '{desc}': PersistSafety must come before the message it records");
    }
}

fn count(actions: &[Action], pred: impl Fn(&Action) -> bool) -> usize {
    actions.iter().filter(|a| pred(a)).count()
}

fn votes_sent(actions: &[Action]) -> Vec<(crate::BlockId, Round)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send { message: Message::Vote(v), .. } => Some((v.block_id, v.round)),
            _ => None,
        })
        .collect()
}

#[test]
fn vote_resend_equivocation_and_timeout_script() {
    let fx = Fixture::new(4);
    let mut core = core(&fx);
    let block = fx.child_of_genesis(Round(1));
    let id = block.id();
    let mut fork = block.clone();
    fork.payload.transactions = vec![b"fork".to_vec()];
    let proposal = fx.proposal(block);
    let fork_proposal = fx.proposal(fork);
    let leader1 = fx.key(1);
    let leader2 = fx.key(2);
    let steps = vec![
        Step {
            desc: "start arms round 1; validator 3 does not lead it",
            at_ms: 0,
            event: Event::Start,
            expect: Box::new(|a| {
                a.iter().any(|x| matches!(x, Action::SetTimer { round: Round(1), .. }))
                    && count(a, |x| matches!(x, Action::RequestPayload { .. })) == 0
            }),
        },
        Step {
            desc: "the round-1 proposal is stored, the vote persisted, then sent to round 2's leader",
            at_ms: 10,
            event: Event::Message { from: leader1, message: Message::Proposal(proposal.clone()) },
            expect: Box::new(move |a| {
                count(a, |x| matches!(x, Action::PersistBlock(_))) == 1
                    && count(a, |x| matches!(x, Action::PersistSafety(_))) == 1
                    && votes_sent(a) == vec![(id, Round(1))]
                    && a.iter().any(|x| matches!(x, Action::Send { to, .. } if *to == leader2))
            }),
        },
        Step {
            desc: "the same proposal again: the stored vote is resent, nothing new persisted",
            at_ms: 20,
            event: Event::Message { from: leader1, message: Message::Proposal(proposal) },
            expect: Box::new(|a| count(a, |x| matches!(x, Action::PersistSafety(_))) == 0),
        },
        Step {
            desc: "a second block from the same leader for round 1 is evidence, and gets no vote",
            at_ms: 30,
            event: Event::Message { from: leader1, message: Message::Proposal(fork_proposal) },
            expect: Box::new(|a| count(a, |x| matches!(x, Action::Evidence(_))) == 1 && votes_sent(a).is_empty()),
        },
        Step {
            desc: "an early timer firing is ignored",
            at_ms: 500,
            event: Event::TimerFired { round: Round(1) },
            expect: Box::new(|a| a.is_empty()),
        },
        Step {
            desc: "the round-1 deadline passes: persist, broadcast a timeout, re-arm",
            at_ms: 1000,
            event: Event::TimerFired { round: Round(1) },
            expect: Box::new(|a| {
                count(a, |x| matches!(x, Action::PersistSafety(_))) == 1
                    && count(
                        a,
                        |x| matches!(x, Action::Broadcast { message: Message::Timeout(t) } if t.round == Round(1)),
                    ) == 1
                    && a.iter().any(|x| matches!(x, Action::SetTimer { round: Round(1), .. }))
            }),
        },
        Step {
            desc: "a timer for another round is stale",
            at_ms: 1100,
            event: Event::TimerFired { round: Round(7) },
            expect: Box::new(|a| a.is_empty()),
        },
    ];
    run(&mut core, steps);
    assert_eq!(core.safety_state().last_voted_round, Round(1));
    assert_eq!(core.evidence().count(), 1);
}

#[test]
fn a_tc_moves_the_core_on_and_the_next_leader_asks_for_a_payload() {
    // Validator 3 leads round 3. Timeouts for round 2 from 0, 1 and 2 form a TC while it is in
    // round 1 (within the future window): it enters round 3 at once and requests a payload.
    let fx = Fixture::new(4);
    let mut core = core(&fx);
    core.handle(Time::ZERO, Event::Start);
    let tc = fx.tc(Round(2), &[0, 1, 2], &fx.genesis_qc());
    let actions = core.handle(Time(5), Event::Message { from: fx.key(2), message: Message::TimeoutCert(tc) });
    assert_eq!(core.round(), Round(3));
    assert!(actions.iter().any(|a| matches!(a, Action::SetTimer { round: Round(3), .. })));
    assert!(actions.iter().any(|a| matches!(a, Action::RequestPayload { round: Round(3), .. })));
    assert!(actions.iter().any(|a| matches!(a, Action::PersistTimeoutCert(_))));
}

#[test]
fn forged_and_misdirected_messages_change_nothing() {
    let fx = Fixture::new(4);
    let mut core = core(&fx);
    core.handle(Time::ZERO, Event::Start);
    let block = fx.child_of_genesis(Round(1));
    // Signed by the wrong leader: validator 2 claims round 1.
    let mut wrong_leader = fx.proposal(block.clone());
    wrong_leader.block.proposer = fx.key(2);
    // A correct proposal with one bit of its signature flipped.
    let mut forged = fx.proposal(block);
    let mut bytes = forged.signature.to_bytes();
    bytes[0] ^= 1;
    forged.signature = keel_crypto::Signature::from_bytes(&bytes);
    for proposal in [wrong_leader, forged] {
        let actions = core.handle(Time(1), Event::Message { from: fx.key(1), message: Message::Proposal(proposal) });
        assert!(actions.is_empty(), "{actions:#?}");
    }
    assert_eq!(core.safety_state().last_voted_round, Round(0));
    assert_eq!(core.invalid_messages(), 1, "the forged signature is counted; the wrong leader is only ignored");
    // A QC signed by only two of four is not a quorum.
    let chain = fx.chain(2);
    let weak = fx.block(fx.qc(&chain[0], &[0, 1]), Round(2), None);
    let actions =
        core.handle(Time(2), Event::Message { from: fx.key(2), message: Message::Proposal(fx.proposal(weak)) });
    assert!(actions.is_empty(), "{actions:#?}");
    assert_eq!(core.round(), Round(1));
    assert_eq!(core.invalid_messages(), 2);
}

#[test]
fn a_timeout_that_completes_a_tc_leaves_the_timer_on_the_new_round() {
    // Validators 0 and 1 time out round 2 while validator 3 is still in round 1 (counted, but a
    // future round does not trigger joining them). A TC of round 1 moves it to round 2; when its
    // timer fires, its own timeout completes the quorum for round 2. The last timer it asks for
    // must be for round 3: re-arming round 2 there would replace it with a timer that fires
    // stale, leaving the node with no timer at all (found by keel-sim, seed 9).
    let fx = Fixture::new(4);
    let mut core = core(&fx);
    core.handle(Time::ZERO, Event::Start);
    for signer in [0, 1] {
        let timeout = fx.timeout(signer, Round(2));
        core.handle(Time(10), Event::Message { from: fx.key(signer), message: Message::Timeout(timeout) });
    }
    let tc = fx.tc(Round(1), &[0, 1, 2], &fx.genesis_qc());
    core.handle(Time(20), Event::Message { from: fx.key(2), message: Message::TimeoutCert(tc) });
    assert_eq!(core.round(), Round(2));
    let actions = core.handle(Time(5_000), Event::TimerFired { round: Round(2) });
    assert_eq!(core.round(), Round(3), "its own timeout made the quorum for round 2");
    let timers: Vec<Round> = actions
        .iter()
        .filter_map(|a| match a {
            Action::SetTimer { round, .. } => Some(*round),
            _ => None,
        })
        .collect();
    assert_eq!(timers.last(), Some(&Round(3)), "{timers:?}");
}

#[test]
fn a_snapshot_shows_round_leader_timer_and_who_sent_votes_and_timeouts() {
    let fx = Fixture::new(4);
    let mut core = core(&fx);
    core.handle(Time(0), Event::Start);
    let start = core.snapshot();
    assert_eq!((start.round, start.leader), (Round(1), fx.key(1)));
    assert_eq!(start.round_deadline, Time(fx.config.round_timeout_ms));
    assert!(start.votes.is_empty() && start.timeouts.is_empty());

    // Validator 3 leads round 3, so it collects the votes for round 2's block.
    let round1 = fx.child_of_genesis(Round(1));
    let round2 = fx.block(fx.full_qc(&round1), Round(2), None);
    core.handle(Time(5), Event::Message { from: fx.key(1), message: Message::Proposal(fx.proposal(round1)) });
    core.handle(Time(6), Event::Message { from: fx.key(2), message: Message::Proposal(fx.proposal(round2.clone())) });
    core.handle(Time(7), Event::Message { from: fx.key(0), message: Message::Vote(fx.vote(0, &round2)) });
    core.handle(Time(8), Event::Message { from: fx.key(2), message: Message::Timeout(fx.timeout(2, Round(2))) });
    let snapshot = core.snapshot();
    assert_eq!(snapshot.round, Round(2));
    let votes: Vec<_> = snapshot.votes.iter().filter(|v| v.round == Round(2)).collect();
    assert_eq!(votes.len(), 1, "{snapshot:?}");
    assert_eq!(votes[0].block_id, round2.id());
    assert!(votes[0].voters.contains(&fx.key(0)), "{snapshot:?}");
    let timeouts: Vec<_> = snapshot.timeouts.iter().filter(|t| t.round == Round(2)).collect();
    assert_eq!(timeouts.len(), 1, "{snapshot:?}");
    assert_eq!(timeouts[0].signers, vec![fx.key(2)]);
    assert_eq!(snapshot.high_qc.0, Round(1));
    assert_eq!(snapshot.locked_round, Round(1), "the 2-chain lock is the highest QC seen");
}

/// Regression (found by the testnet's repeated SIGKILL test): a restarted node whose stored
/// pending blocks include one built on an abandoned fork below the committed root used to move
/// its pacemaker from round 0 to that fork QC's round while restoring, and — leading that round —
/// panic asking for a payload with neither a matching QC nor a TC. Restoring must start from the
/// committed root's round and end in the round after the highest certificate.
#[test]
fn restoring_a_pending_block_of_an_abandoned_fork_does_not_panic() {
    let fx = Fixture::new(4);
    let chain = fx.chain(4);
    let qc4 = fx.full_qc(&chain[3]);
    // The committed root, round 8, and a sibling at round 6 that lost; a pending block on it.
    let root = fx.block(qc4.clone(), Round(8), None);
    let loser = fx.block(qc4, Round(6), None);
    let on_loser = fx.block(fx.full_qc(&loser), Round(9), None);
    assert_eq!(fx.leader(Round(7)), ME, "the fork QC's next round is led by this node");
    let mut recovery = RecoveryData::genesis(&fx.config.chain_id, &fx.validators);
    recovery.root_qc = fx.full_qc(&root);
    recovery.root = root;
    recovery.blocks = vec![on_loser];
    let core = Core::new(fx.config.clone(), fx.validators.clone(), Box::new(fx.scheme(ME)), recovery);
    assert_eq!(core.round(), Round(9), "the round after the root's QC");
}
