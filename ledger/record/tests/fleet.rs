//! Rollout and update records: the plan's rules and the states an appliance may report,
//! each refused with the field it concerns, whether built in code or decoded from bytes.

mod common;

use common::*;
use ledger_record::{
    Body, Hash, Record, RecordError, RolloutAction, RolloutBody, UpdateBody, UpdateState,
};

fn field_of(e: RecordError) -> &'static str {
    match e {
        RecordError::InvalidValue { field, .. } => field,
        other => panic!("expected an invalid value, got {other:?}"),
    }
}

#[test]
fn plans_with_problems_name_the_field() {
    type Mutation = fn(&mut ledger_record::RolloutPlan);
    let cases: [(&str, Mutation, &str); 6] = [
        (
            "stages not increasing",
            |p| p.stages = vec![25, 5, 100],
            "rollout.stages",
        ),
        (
            "repeated stage",
            |p| p.stages = vec![5, 5, 100],
            "rollout.stages",
        ),
        (
            "last stage below 100",
            |p| p.stages = vec![5, 50],
            "rollout.stages",
        ),
        (
            "zero success threshold",
            |p| p.success_pct = 0,
            "rollout.success_threshold_pct",
        ),
        (
            "no targets",
            |p| {
                p.sites.clear();
                p.appliances.clear();
            },
            "rollout.targets",
        ),
        ("sites unsorted", |p| p.sites.reverse(), "rollout.sites"),
    ];
    for (what, mutate, field) in cases {
        let mut plan = rollout_plan();
        mutate(&mut plan);
        let body = Body::Rollout(RolloutBody {
            id: id("r1"),
            action: RolloutAction::Open(Box::new(plan)),
        });
        let err = Record::sign(unsigned(1, Hash([0; 32]), body), &key(9)).unwrap_err();
        assert_eq!(field_of(err), field, "{what}");
    }
}

#[test]
fn server_states_cannot_be_reported_and_are_refused_when_decoded() {
    for state in [
        UpdateState::Assigned,
        UpdateState::Offered,
        UpdateState::TimedOut,
    ] {
        let body = Body::Update(UpdateBody {
            rollout_id: id("r1"),
            release_hash: Hash([7; 32]),
            state,
            reason: String::new(),
            detail: 0,
        });
        let err = Record::sign(unsigned(1, Hash([0; 32]), body), &key(1)).unwrap_err();
        assert_eq!(field_of(err), "update.state", "{state:?}");
    }
    // The same refused by the decoder: a valid update record with its state code
    // replaced by 17 (timed_out) and then by 99 (unknown).
    let good = one_of_each_kind().pop().unwrap();
    assert!(matches!(good.body(), Body::Update(u) if u.state == UpdateState::HealthGate));
    let bytes = good.encode();
    // Key 3 of the update body, then the state 9 (health_gate): 03 09.
    let at = bytes.windows(2).position(|w| w == [0x03, 0x09]).unwrap();
    for code in [17u8, 99] {
        let mut bad = bytes.clone();
        bad[at + 1] = if code < 24 { code } else { 0x18 };
        if code >= 24 {
            bad.insert(at + 2, code);
        }
        let err = Record::decode(&bad).unwrap_err();
        assert_eq!(field_of(err), "update.state", "state {code}");
    }
    // Every state has one name and code, and the names parse back.
    for code in 0..18 {
        let state = UpdateState::from_code(code).unwrap();
        assert_eq!(state.code(), code);
        assert_eq!(UpdateState::parse(state.as_str()), Some(state));
    }
    assert_eq!(UpdateState::from_code(18), None);
}
