//! The behaviour every task-record store must show, checked against each store by the
//! `records_*` test files (memory here, Redis standalone and cluster in the workspace's tests).

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "shared by several test files, each using part of it; tests fail loudly"
)]

use std::time::Duration;

use taskctx_worker_glue::records::{
    self, Claim, CreateError, NewRecord, Outcome, RecordError, Renewal, Settle, TaskRecords,
    TaskStatus,
};
use taskctx_worker_glue::{
    AccessToken, Component, Leg, Scope, Store, TaskContextSnapshot, TaskGlue, TaskId, TaskKey,
    TaskType, Ttl, access_token,
};

/// A glue on `store` and its records.
pub(crate) fn records_on(store: Store) -> (TaskGlue, TaskRecords) {
    let glue: TaskGlue = TaskGlue::builder().store(store).build().unwrap();
    let records = glue
        .records()
        .expect("the store keeps task records")
        .clone();
    (glue, records)
}

pub(crate) fn ttl(secs: u64) -> Ttl {
    Ttl::from_secs(secs).unwrap()
}

/// A snapshot of the caller with this scope text (`client|user`), or anonymous.
pub(crate) fn snapshot_of(scope: Option<&str>) -> TaskContextSnapshot {
    match scope {
        None => TaskContextSnapshot::new(),
        Some(scope) => {
            let (client, user) = scope.split_once('|').unwrap();
            let token = AccessToken::builder("secret-token", client)
                .claim("sub", user)
                .build();
            TaskContextSnapshot::builder().access_token(token).build()
        }
    }
}

pub(crate) fn key_of(scope: Option<&str>, id: &TaskId<'static>) -> TaskKey<'static> {
    TaskKey::new(
        scope.map(|scope| Scope::new(scope.to_owned())),
        id.clone(),
        TaskType::TOOL,
        Component::new("tool"),
    )
}

/// Creates task `id` for `scope` with `ttl` and `limit` (0: none).
pub(crate) async fn create(
    records: &TaskRecords,
    scope: Option<&str>,
    id: &TaskId<'static>,
    ttl_secs: u64,
    limit: u32,
) -> Result<records::TaskRecord, CreateError> {
    let snapshot = snapshot_of(scope);
    let key = key_of(scope, id);
    records
        .create(
            NewRecord::new(&snapshot, &key, ttl(ttl_secs), Duration::from_millis(500))
                .status_message(Some("queued"))
                .max_unfinished(limit),
        )
        .await
}

fn new_id() -> TaskId<'static> {
    records::new_task_id().unwrap()
}

fn scope(text: &str) -> Scope<'static> {
    Scope::new(text.to_owned())
}

/// Two scopes (and an anonymous caller) sharing a task id never see or change each other's task.
pub(crate) async fn scopes_are_isolated(records: &TaskRecords) {
    let id = new_id();
    let (a, b) = (scope("client-a|user-1"), scope("client-a|user-2"));
    create(records, Some("client-a|user-1"), &id, 60, 0)
        .await
        .unwrap();
    create(records, Some("client-a|user-2"), &id, 60, 0)
        .await
        .unwrap();
    create(records, None, &id, 60, 0).await.unwrap();

    let done = Outcome::Completed(r#"{"v":"a"}"#.to_owned());
    let settled = records.settle(Some(&a), &id, &done).await.unwrap();
    assert!(matches!(settled, Some(Settle::Settled(_))), "{settled:?}");
    let cancelled = records.cancel(None, &id).await.unwrap();
    assert!(
        matches!(cancelled, Some(Settle::Settled(_))),
        "{cancelled:?}"
    );

    let of_a = records.get(Some(&a), &id).await.unwrap().unwrap();
    let of_b = records.get(Some(&b), &id).await.unwrap().unwrap();
    let of_anon = records.get(None, &id).await.unwrap().unwrap();
    assert_eq!(of_a.status(), TaskStatus::Completed);
    assert_eq!(of_a.outcome(), Some(&done));
    assert_eq!(of_b.status(), TaskStatus::Working);
    assert!(!of_b.is_cancel_requested());
    assert_eq!(of_anon.status(), TaskStatus::Cancelled);
    assert!(of_anon.is_cancel_requested());

    // A scope that never created the id, and a scope named like the anonymous tag, see nothing.
    for other in [scope("client-b|user-1"), scope("anon"), scope("")] {
        assert_eq!(records.get(Some(&other), &id).await.unwrap(), None);
        assert!(records.cancel(Some(&other), &id).await.unwrap().is_none());
        let outcome = Outcome::Failed("{}".to_owned());
        assert!(
            records
                .settle(Some(&other), &id, &outcome)
                .await
                .unwrap()
                .is_none()
        );
    }
}

/// Create writes the record and the snapshot together; a refused create writes neither.
pub(crate) async fn create_is_atomic_with_the_snapshot(glue: &TaskGlue, records: &TaskRecords) {
    let id = new_id();
    let owner = Some("client-a|atomic");
    let created = create(records, owner, &id, 60, 0).await.unwrap();
    assert_eq!(created.status(), TaskStatus::Working);
    assert_eq!(created.status_message(), Some("queued"));
    assert_eq!(created.leg().get(), 1);
    assert_eq!(created.ttl(), ttl(60));
    assert_eq!(created.poll_interval(), Duration::from_millis(500));
    assert_eq!(created.created_at_ms(), created.updated_at_ms());

    // The snapshot is stored, readable by the glue's codec, with the task's TTL.
    let scope_a = scope("client-a|atomic");
    let snapshot_key = glue.keys().snapshot_key(Some(&scope_a), &id);
    let stored = glue
        .store()
        .load_with_ttl(&snapshot_key)
        .await
        .unwrap()
        .unwrap();
    assert!(stored.ttl.unwrap() <= Duration::from_secs(60));
    assert!(stored.ttl.unwrap() > Duration::from_secs(50));
    let decoded = glue.codec().decode(&stored.value, &snapshot_key).unwrap();
    assert_eq!(
        decoded
            .access_token()
            .map(|token| token.client_id().to_owned()),
        Some("client-a".to_owned())
    );

    // A worker restores the caller from it, as from a submitted task.
    let execution_key = key_of(owner, &id).execution_key(Leg::FIRST);
    let seen = glue
        .run(&execution_key, async {
            access_token().map(|token| token.client_id().to_owned())
        })
        .await
        .unwrap();
    assert_eq!(seen.as_deref(), Some("client-a"));

    // A duplicate (same scope and id) writes nothing: the first snapshot stays.
    let again = create(records, None, &id, 60, 0).await;
    assert!(again.is_ok(), "another scope may reuse the id");
    let duplicate = create(records, Some("client-a|other-user"), &id, 60, 0).await;
    assert!(duplicate.is_ok());
    let dup = create(records, owner, &id, 60, 0).await;
    assert!(matches!(dup, Err(CreateError::Duplicate)), "{dup:?}");
    let still = glue.store().load(&snapshot_key).await.unwrap().unwrap();
    assert_eq!(still, stored.value);

    // Over the limit: neither the record nor the snapshot is written.
    let limited = Some("client-a|limited");
    let first = new_id();
    create(records, limited, &first, 60, 1).await.unwrap();
    let refused = new_id();
    let over = create(records, limited, &refused, 60, 1).await;
    assert!(
        matches!(over, Err(CreateError::TooMany { limit: 1 })),
        "{over:?}"
    );
    let scope_l = scope("client-a|limited");
    assert_eq!(records.get(Some(&scope_l), &refused).await.unwrap(), None);
    let refused_key = glue.keys().snapshot_key(Some(&scope_l), &refused);
    assert_eq!(glue.store().load(&refused_key).await.unwrap(), None);
}

/// Concurrent settle and cancel of one task: exactly one wins, and the record is the winner's.
pub(crate) async fn settle_is_exactly_once(records: &TaskRecords) {
    let mut pairs = Vec::new();
    for n in 0..40 {
        let id = new_id();
        create(records, Some("client-a|racer"), &id, 60, 0)
            .await
            .unwrap();
        let (first, second) = (records.clone(), records.clone());
        let (id1, id2) = (id.clone(), id.clone());
        let result = Outcome::Completed(format!(r#"{{"n":{n}}}"#));
        let settle = tokio::spawn(async move {
            let scope = scope("client-a|racer");
            first.settle(Some(&scope), &id1, &result).await
        });
        let cancel = tokio::spawn(async move {
            let scope = scope("client-a|racer");
            second.cancel(Some(&scope), &id2).await
        });
        pairs.push((id, settle, cancel));
    }
    let (mut completed, mut cancelled) = (0, 0);
    for (id, settle, cancel) in pairs {
        let settle = settle.await.unwrap().unwrap().unwrap();
        let cancel = cancel.await.unwrap().unwrap().unwrap();
        let scope = scope("client-a|racer");
        let record = records.get(Some(&scope), &id).await.unwrap().unwrap();
        match (&settle, &cancel) {
            (Settle::Settled(won), Settle::AlreadySettled(seen)) => {
                completed += 1;
                assert_eq!(won.status(), TaskStatus::Completed);
                assert_eq!(seen.status(), TaskStatus::Completed);
                assert_eq!(record.status(), TaskStatus::Completed);
                assert!(!record.is_cancel_requested());
            }
            (Settle::AlreadySettled(seen), Settle::Settled(won)) => {
                cancelled += 1;
                assert_eq!(won.status(), TaskStatus::Cancelled);
                assert_eq!(seen.status(), TaskStatus::Cancelled);
                assert_eq!(record.status(), TaskStatus::Cancelled);
                assert_eq!(record.outcome(), Some(&Outcome::Cancelled));
            }
            other => panic!("not exactly one winner: {other:?}"),
        }
    }
    assert_eq!(completed + cancelled, 40);

    // A settled task never changes again.
    let id = new_id();
    create(records, None, &id, 60, 0).await.unwrap();
    records.cancel(None, &id).await.unwrap();
    let late = records
        .settle(None, &id, &Outcome::Completed("{}".to_owned()))
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(&late, Settle::AlreadySettled(record) if record.status() == TaskStatus::Cancelled),
        "{late:?}"
    );
    let message = records
        .set_status_message(None, &id, Some("late"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(message.status_message(), Some("queued"));
}

/// Concurrent creates through two store handles (two replicas) never exceed the scope's limit,
/// and settling releases a slot.
pub(crate) async fn limit_holds_across_replicas(first: &TaskRecords, second: &TaskRecords) {
    const LIMIT: u32 = 5;
    let owner = "client-a|limited-fleet";
    let mut creates = Vec::new();
    for n in 0..24 {
        let records = if n % 2 == 0 {
            first.clone()
        } else {
            second.clone()
        };
        creates.push(tokio::spawn(async move {
            let id = new_id();
            let result = create(&records, Some(owner), &id, 60, LIMIT).await;
            (id, result)
        }));
    }
    let mut created = Vec::new();
    for task in creates {
        match task.await.unwrap() {
            (id, Ok(_)) => created.push(id),
            (_, Err(CreateError::TooMany { limit })) => assert_eq!(limit, LIMIT),
            (_, Err(error)) => panic!("{error}"),
        }
    }
    assert_eq!(created.len(), usize::try_from(LIMIT).unwrap());
    // Another scope and anonymous callers have their own count.
    create(first, Some("client-a|someone-else"), &new_id(), 60, LIMIT)
        .await
        .unwrap();
    create(second, None, &new_id(), 60, LIMIT).await.unwrap();

    // Settling (or cancelling) one frees one slot, on either replica.
    let scope = scope(owner);
    first
        .settle(Some(&scope), &created[0], &Outcome::Failed("{}".to_owned()))
        .await
        .unwrap();
    second.cancel(Some(&scope), &created[1]).await.unwrap();
    create(second, Some(owner), &new_id(), 60, LIMIT)
        .await
        .unwrap();
    create(first, Some(owner), &new_id(), 60, LIMIT)
        .await
        .unwrap();
    let over = create(first, Some(owner), &new_id(), 60, LIMIT).await;
    assert!(matches!(over, Err(CreateError::TooMany { .. })), "{over:?}");
}

/// A poll slides the TTL of the record and the snapshot.
pub(crate) async fn get_slides_the_ttl(glue: &TaskGlue, records: &TaskRecords) {
    let id = new_id();
    create(records, None, &id, 3, 0).await.unwrap();
    let snapshot_key = glue.keys().snapshot_key(None, &id);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let before = glue
        .store()
        .load_with_ttl(&snapshot_key)
        .await
        .unwrap()
        .unwrap();
    assert!(
        before.ttl.unwrap() <= Duration::from_millis(1600),
        "{before:?}"
    );
    records.get(None, &id).await.unwrap().unwrap();
    let after = glue
        .store()
        .load_with_ttl(&snapshot_key)
        .await
        .unwrap()
        .unwrap();
    assert!(
        after.ttl.unwrap() > Duration::from_millis(2500),
        "{after:?}"
    );
    // 3.3 s after creation the task (created with a 3 s TTL) is still there: the poll slid it.
    tokio::time::sleep(Duration::from_millis(1800)).await;
    assert!(records.get(None, &id).await.unwrap().is_some());
    // Without polls it expires, record and snapshot alike.
    tokio::time::sleep(Duration::from_millis(3300)).await;
    assert_eq!(records.get(None, &id).await.unwrap(), None);
    assert_eq!(glue.store().load(&snapshot_key).await.unwrap(), None);
}

/// A poll within a second of the last slide reads the record and slides nothing.
pub(crate) async fn get_slides_once_a_second(glue: &TaskGlue, records: &TaskRecords) {
    let id = new_id();
    let created = std::time::Instant::now();
    create(records, None, &id, 60, 0).await.unwrap();
    let snapshot_key = glue.keys().snapshot_key(None, &id);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let polled = records.get(None, &id).await.unwrap().unwrap();
    assert_eq!(polled.ttl().secs(), 60);
    let left = glue
        .store()
        .load_with_ttl(&snapshot_key)
        .await
        .unwrap()
        .unwrap()
        .ttl
        .unwrap();
    // A stalled machine may have taken the poll past the second: then it slid, rightly.
    if created.elapsed() < Duration::from_millis(900) {
        assert!(left <= Duration::from_millis(59_750), "slid: {left:?}");
    }
}

/// Two workers claim one task: one wins. An expired lease is claimed again by another worker,
/// the first one's renew fails, and an abandoned task can be settled as failed.
pub(crate) async fn leases(records: &TaskRecords) {
    let id = new_id();
    create(records, None, &id, 60, 0).await.unwrap();
    let lease = Duration::from_millis(400);
    let (one, two) = (records.clone(), records.clone());
    let (id1, id2) = (id.clone(), id.clone());
    let first = tokio::spawn(async move { one.claim(None, &id1, "worker-1", lease).await });
    let second = tokio::spawn(async move { two.claim(None, &id2, "worker-2", lease).await });
    let claims = [
        first.await.unwrap().unwrap().unwrap(),
        second.await.unwrap().unwrap().unwrap(),
    ];
    let winners: Vec<&str> = claims
        .iter()
        .filter_map(|claim| match claim {
            Claim::Claimed(record) => Some(record.lease().unwrap().worker()),
            Claim::Held(_) => None,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(winners.len(), 1, "{claims:?}");
    let winner = winners[0].to_owned();
    let loser = if winner == "worker-1" {
        "worker-2"
    } else {
        "worker-1"
    };
    for claim in &claims {
        if let Claim::Held(record) = claim {
            assert_eq!(record.lease().unwrap().worker(), winner);
        }
    }
    // The loser cannot renew; the winner can, and re-claiming is re-entrant.
    let lost = records
        .renew(None, &id, loser, lease)
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(lost, Renewal::Lost(_)), "{lost:?}");
    let renewed = records
        .renew(None, &id, &winner, lease)
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(renewed, Renewal::Renewed(_)), "{renewed:?}");
    let not_yet = records
        .fail_abandoned(None, &id, "{}")
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(not_yet, Settle::NotAbandoned(_)), "{not_yet:?}");

    // The winner dies: once its lease runs out, the other worker claims the task.
    tokio::time::sleep(lease + Duration::from_millis(200)).await;
    let reclaimed = records
        .claim(None, &id, loser, lease)
        .await
        .unwrap()
        .unwrap();
    let Claim::Claimed(record) = reclaimed else {
        panic!("{reclaimed:?}");
    };
    assert_eq!(record.lease().unwrap().worker(), loser);
    assert_eq!(record.claims(), 2);
    let late = records
        .renew(None, &id, &winner, lease)
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(late, Renewal::Lost(_)), "{late:?}");

    // A cancel reaches the running worker through its renew, and ends its lease.
    records.cancel(None, &id).await.unwrap();
    let seen = records
        .renew(None, &id, loser, lease)
        .await
        .unwrap()
        .unwrap();
    let Renewal::Lost(record) = seen else {
        panic!("{seen:?}");
    };
    assert!(record.is_cancel_requested());
    assert_eq!(record.lease(), None);
    let after = records
        .claim(None, &id, "worker-3", lease)
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(after, Claim::Settled(_)), "{after:?}");

    // A task whose worker died may instead be settled as failed.
    let id = new_id();
    create(records, None, &id, 60, 0).await.unwrap();
    let unclaimed = records
        .fail_abandoned(None, &id, "{}")
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(unclaimed, Settle::NotAbandoned(_)),
        "{unclaimed:?}"
    );
    records
        .claim(None, &id, "worker-1", Duration::from_millis(100))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let reaped = records
        .fail_abandoned(None, &id, r#"{"message":"worker lost"}"#)
        .await
        .unwrap()
        .unwrap();
    let Settle::Settled(record) = reaped else {
        panic!("{reaped:?}");
    };
    assert_eq!(
        record.outcome(),
        Some(&Outcome::Failed(r#"{"message":"worker lost"}"#.to_owned()))
    );
    let released = records
        .release(None, &id, "worker-1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(released.lease(), None);
}

/// Input requests and responses: the task waits, the responses are kept for it, the leg goes
/// up, and an answered request is never reopened.
pub(crate) async fn input_round_trip(records: &TaskRecords) {
    let id = new_id();
    let owner = scope("client-a|input");
    create(records, Some("client-a|input"), &id, 60, 0)
        .await
        .unwrap();
    let asked = records
        .request_input(
            Some(&owner),
            &id,
            &[
                ("q1", r#"{"message":"name?"}"#),
                ("q2", r#"{"message":"age?"}"#),
            ],
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(asked.status(), TaskStatus::InputRequired);
    assert_eq!(asked.input_requests().len(), 2);

    let unexpected = records
        .provide_input(Some(&owner), &id, &[("q1", "1"), ("nope", "2")])
        .await;
    assert!(
        matches!(unexpected, Err(RecordError::UnexpectedInput)),
        "{unexpected:?}"
    );
    let unchanged = records.get(Some(&owner), &id).await.unwrap().unwrap();
    assert_eq!(unchanged.input_requests().len(), 2);
    assert!(unchanged.input_responses().is_empty());

    let partly = records
        .provide_input(Some(&owner), &id, &[("q1", r#""Ada""#)])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(partly.status(), TaskStatus::InputRequired);
    assert_eq!(partly.leg().get(), 1);
    let answered = records
        .provide_input(Some(&owner), &id, &[("q2", "36")])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(answered.status(), TaskStatus::Working);
    assert_eq!(answered.leg().get(), 2);
    assert!(answered.input_requests().is_empty());

    assert_eq!(
        answered.input_responses().get("q1").map(String::as_str),
        Some(r#""Ada""#)
    );
    assert_eq!(
        answered.input_responses().get("q2").map(String::as_str),
        Some("36")
    );

    // The responses stay: code that runs again and asks under an answered id is not sent back
    // to the client, and reads its response from the record.
    let rerun = records
        .request_input(Some(&owner), &id, &[("q1", r#"{"message":"name?"}"#)])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rerun.status(), TaskStatus::Working);
    assert!(rerun.input_requests().is_empty());
    assert_eq!(rerun.leg().get(), 2);
    assert_eq!(rerun.input_responses(), answered.input_responses());
    let stored = records.get(Some(&owner), &id).await.unwrap().unwrap();
    assert_eq!(stored.input_responses(), answered.input_responses());
    let late_answer = records
        .provide_input(Some(&owner), &id, &[("q1", r#""Bob""#)])
        .await;
    assert!(
        matches!(late_answer, Err(RecordError::UnexpectedInput)),
        "{late_answer:?}"
    );
    // An id not answered yet is asked as before, beside an answered one.
    let more = records
        .request_input(
            Some(&owner),
            &id,
            &[
                ("q2", r#"{"message":"age?"}"#),
                ("q3", r#"{"message":"city?"}"#),
            ],
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(more.status(), TaskStatus::InputRequired);
    assert_eq!(more.input_requests().keys().collect::<Vec<_>>(), ["q3"]);
    assert_eq!(
        more.input_responses().get("q2").map(String::as_str),
        Some("36")
    );

    let message = records
        .set_status_message(Some(&owner), &id, Some("halfway"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(message.status_message(), Some("halfway"));
    let cleared = records
        .set_status_message(Some(&owner), &id, None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(cleared.status_message(), None);

    records.cancel(Some(&owner), &id).await.unwrap();
    let late = records
        .request_input(Some(&owner), &id, &[("q3", "{}")])
        .await;
    assert!(
        matches!(
            late,
            Err(RecordError::Settled {
                status: TaskStatus::Cancelled
            })
        ),
        "{late:?}"
    );
}

/// Every operation on an unknown task answers `None`.
pub(crate) async fn unknown_tasks_are_none(records: &TaskRecords) {
    let id = new_id();
    let owner = scope("client-a|nobody");
    let scope = Some(&owner);
    assert_eq!(records.get(scope, &id).await.unwrap(), None);
    assert!(records.cancel(scope, &id).await.unwrap().is_none());
    let outcome = Outcome::Completed("{}".to_owned());
    assert!(
        records
            .settle(scope, &id, &outcome)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        records
            .fail_abandoned(scope, &id, "{}")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        records
            .set_status_message(scope, &id, Some("x"))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        records
            .request_input(scope, &id, &[("a", "1")])
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        records
            .provide_input(scope, &id, &[("a", "1")])
            .await
            .unwrap()
            .is_none()
    );
    let lease = Duration::from_secs(1);
    assert!(
        records
            .claim(scope, &id, "w", lease)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        records
            .renew(scope, &id, "w", lease)
            .await
            .unwrap()
            .is_none()
    );
    assert!(records.release(scope, &id, "w").await.unwrap().is_none());
}

/// Results, errors and inputs never show in `Debug`.
pub(crate) async fn debug_hides_user_data(records: &TaskRecords) {
    let id = new_id();
    create(records, None, &id, 60, 0).await.unwrap();
    records
        .request_input(None, &id, &[("q", r#""secret-question""#)])
        .await
        .unwrap();
    records
        .provide_input(None, &id, &[("q", r#""secret-answer""#)])
        .await
        .unwrap();
    let result = Outcome::Completed(r#"{"text":"secret-result"}"#.to_owned());
    let settled = records.settle(None, &id, &result).await.unwrap().unwrap();
    let shown = format!("{settled:?} {result:?}");
    assert!(!shown.contains("secret"), "{shown}");
    assert!(shown.contains("Completed"), "{shown}");
}

/// Every contract check on one store (the limit check with `second` as the other replica).
/// Queued tasks: the create pushes the job in the same write (a refused create pushes none), and
/// any replica takes each job once, in order, with its task's full key: two scopes sharing a task
/// id get two jobs, each naming its own scope.
pub(crate) async fn job_queue(records: &TaskRecords, second: &TaskRecords) {
    let short = Duration::from_millis(50);
    while second.next_job(short).await.unwrap().is_some() {}
    let id = new_id();
    let queue = |scope: Option<&'static str>, id: TaskId<'static>, payload: &'static str, limit| async move {
        let snapshot = snapshot_of(scope);
        let key = key_of(scope, &id);
        records
            .create(
                NewRecord::new(&snapshot, &key, ttl(60), Duration::from_millis(500))
                    .max_unfinished(limit)
                    .job(payload),
            )
            .await
    };
    queue(Some("client-a|user-1"), id.clone(), "first\nline two", 0)
        .await
        .unwrap();
    queue(Some("client-b|user-2"), id.clone(), "", 0)
        .await
        .unwrap();
    queue(None, id.clone(), "anonymous", 1).await.unwrap();
    let refused = queue(None, new_id(), "over the limit", 1).await;
    assert!(matches!(refused, Err(CreateError::TooMany { limit: 1 })));

    let first = second.next_job(short).await.unwrap().expect("a job");
    assert_eq!(first.task().scope(), Some(&scope("client-a|user-1")));
    assert_eq!(first.task().task_id(), &id);
    assert_eq!(first.payload(), "first\nline two");
    assert_eq!(
        first.execution_key(),
        key_of(Some("client-a|user-1"), &id).to_key()
    );
    let shown = format!("{first:?}");
    assert!(
        !shown.contains("client-a") && !shown.contains("line two"),
        "{shown}"
    );
    let second_job = second.next_job(short).await.unwrap().expect("a job");
    assert_eq!(second_job.task().scope(), Some(&scope("client-b|user-2")));
    assert_eq!(second_job.task().task_id(), &id);
    assert_eq!(second_job.payload(), "");
    let third = second.next_job(short).await.unwrap().expect("a job");
    assert_eq!(third.task().scope(), None);
    assert_eq!(third.payload(), "anonymous");
    assert!(second.next_job(short).await.unwrap().is_none());

    // A worker waiting for a job gets one pushed meanwhile.
    let waiting = {
        let second = second.clone();
        tokio::spawn(async move { second.next_job(Duration::from_millis(900)).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let late = new_id();
    let snapshot = snapshot_of(Some("client-a|user-1"));
    let key = key_of(Some("client-a|user-1"), &late);
    records
        .create(NewRecord::new(&snapshot, &key, ttl(60), Duration::from_millis(500)).job("late"))
        .await
        .unwrap();
    let woken = waiting
        .await
        .unwrap()
        .unwrap()
        .expect("the job pushed while waiting");
    assert_eq!(woken.task().task_id(), &late);
    assert_eq!(woken.payload(), "late");
}

pub(crate) async fn full_contract(glue: &TaskGlue, records: &TaskRecords, second: &TaskRecords) {
    job_queue(records, second).await;
    scopes_are_isolated(records).await;
    create_is_atomic_with_the_snapshot(glue, records).await;
    settle_is_exactly_once(records).await;
    limit_holds_across_replicas(records, second).await;
    leases(records).await;
    input_round_trip(records).await;
    unknown_tasks_are_none(records).await;
    debug_hides_user_data(records).await;
    get_slides_the_ttl(glue, records).await;
    get_slides_once_a_second(glue, records).await;
}
