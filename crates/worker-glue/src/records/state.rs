//! What each [`Change`] does to a record: the rules every store follows (the memory store runs
//! this code; the Redis script mirrors it line for line).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use taskctx_scope::Leg;

use super::{Change, Effect, Lease, Outcome, TaskRecord, TaskStatus};
use crate::store::Ttl;

/// The longest a poll may leave a task's TTL unslid: a second.
const SLIDE_AT_MOST_EVERY: Duration = Duration::from_secs(1);

/// Whether a poll slides a task's keys, which have `left` to live: unless they slid less than a
/// slide window ago (a second, or a tenth of the TTL when that is shorter). A poll thus keeps a
/// task for its TTL less at most that window, and most polls of a busy task write nothing.
pub(crate) fn slide_due(left: Duration, ttl: Ttl) -> bool {
    let ttl = ttl.as_duration();
    left <= ttl.saturating_sub(SLIDE_AT_MOST_EVERY.min(ttl / 10))
}

/// Unix milliseconds now, by this process's clock (the memory store's clock).
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
        })
}

/// `now_ms + duration`, in milliseconds, saturating.
fn after(now_ms: u64, duration: Duration) -> u64 {
    now_ms.saturating_add(u64::try_from(duration.as_millis()).unwrap_or(u64::MAX))
}

/// Applies `change` to `record` at `now_ms`. Anything but [`Effect::Applied`] leaves the record
/// as it was. The return says whether the task settled now (so its unfinished entry is released).
pub(crate) fn apply(record: &mut TaskRecord, change: Change<'_>, now_ms: u64) -> (Effect, bool) {
    let terminal = record.status.is_terminal();
    let effect = match change {
        Change::Release { worker } => {
            if record
                .lease
                .as_ref()
                .is_some_and(|lease| lease.worker == worker)
            {
                record.lease = None;
                Effect::Applied
            } else {
                Effect::LeaseLost
            }
        }
        _ if terminal => Effect::AlreadySettled,
        Change::StatusMessage(message) => {
            record.status_message = message.map(str::to_owned);
            Effect::Applied
        }
        Change::RequestInput(requests) => {
            // A request already answered stays answered: a rerun asking again finds its response.
            let mut open = false;
            for (id, body) in requests {
                if !record.input_responses.contains_key(*id) {
                    record
                        .input_requests
                        .insert((*id).to_owned(), (*body).to_owned());
                    open = true;
                }
            }
            if open {
                record.status = TaskStatus::InputRequired;
            }
            Effect::Applied
        }
        Change::ProvideInput(responses) => {
            if responses
                .iter()
                .any(|(id, _)| !record.input_requests.contains_key(*id))
            {
                return (Effect::UnexpectedInput, false);
            }
            for (id, body) in responses {
                record.input_requests.remove(*id);
                record
                    .input_responses
                    .insert((*id).to_owned(), (*body).to_owned());
            }
            if record.input_requests.is_empty() && record.status == TaskStatus::InputRequired {
                record.status = TaskStatus::Working;
                record.leg = Leg::new(record.leg.get().saturating_add(1));
            }
            Effect::Applied
        }
        Change::Cancel => {
            record.cancel_requested = true;
            settle(record, Outcome::Cancelled);
            Effect::Applied
        }
        Change::Settle(outcome) => {
            settle(record, outcome.clone());
            Effect::Applied
        }
        Change::Claim { worker, lease } => {
            let held = record
                .lease
                .as_ref()
                .is_some_and(|held| held.worker != worker && held.is_live(now_ms));
            if held {
                Effect::LeaseHeld
            } else {
                record.lease = Some(Lease::new(worker, after(now_ms, lease)));
                record.claims = record.claims.saturating_add(1);
                Effect::Applied
            }
        }
        Change::Renew { worker, lease } => match &mut record.lease {
            Some(held) if held.worker == worker => {
                held.until_ms = after(now_ms, lease);
                Effect::Applied
            }
            _ => Effect::LeaseLost,
        },
        Change::FailAbandoned(error) => {
            if record
                .lease
                .as_ref()
                .is_some_and(|lease| !lease.is_live(now_ms))
            {
                settle(record, Outcome::Failed(error.to_owned()));
                Effect::Applied
            } else {
                Effect::NotAbandoned
            }
        }
    };
    // Leases are bookkeeping, not news for the client: they leave the update time alone.
    let is_lease = matches!(
        change,
        Change::Claim { .. } | Change::Renew { .. } | Change::Release { .. }
    );
    if effect == Effect::Applied && !is_lease {
        record.updated_at_ms = now_ms;
    }
    let settled = !terminal && record.status.is_terminal();
    (effect, settled)
}

/// Settles `record` with `outcome`, dropping its lease.
fn settle(record: &mut TaskRecord, outcome: Outcome) {
    record.status = outcome.status();
    record.outcome = Some(outcome);
    record.lease = None;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Ttl;

    fn record() -> TaskRecord {
        let ttl = Ttl::from_secs(60).unwrap_or_else(|| unreachable!("a valid TTL"));
        TaskRecord::new(1_000, ttl, Duration::from_secs(1), Leg::FIRST)
    }

    #[test]
    fn a_poll_slides_once_a_window() {
        let ttl = |secs| Ttl::from_secs(secs).unwrap_or_else(|| unreachable!("a valid TTL"));
        let ms = Duration::from_millis;
        assert!(!slide_due(ms(60_000), ttl(60)));
        assert!(!slide_due(ms(59_001), ttl(60)));
        assert!(slide_due(ms(59_000), ttl(60)));
        assert!(slide_due(ms(5_000), ttl(60)));
        // Short TTLs slide after a tenth of themselves.
        assert!(!slide_due(ms(1_901), ttl(2)));
        assert!(slide_due(ms(1_800), ttl(2)));
        assert!(!slide_due(ms(901), ttl(1)));
        assert!(slide_due(ms(900), ttl(1)));
    }

    #[test]
    fn settles_once_and_then_never_changes() {
        let mut task = record();
        let result = Outcome::Completed("{}".to_owned());
        assert_eq!(
            apply(&mut task, Change::Settle(&result), 2_000),
            (Effect::Applied, true)
        );
        assert_eq!(task.updated_at_ms, 2_000);
        let settled = task.clone();
        for change in [
            Change::Cancel,
            Change::Settle(&Outcome::Cancelled),
            Change::StatusMessage(Some("x")),
            Change::RequestInput(&[("a", "1")]),
            Change::Claim {
                worker: "w",
                lease: Duration::from_secs(1),
            },
            Change::FailAbandoned("{}"),
        ] {
            assert_eq!(
                apply(&mut task, change, 3_000),
                (Effect::AlreadySettled, false)
            );
            assert_eq!(task, settled);
        }
    }

    #[test]
    fn cancel_sets_the_request_and_drops_the_lease() {
        let mut task = record();
        let claim = Change::Claim {
            worker: "w",
            lease: Duration::from_millis(500),
        };
        assert_eq!(apply(&mut task, claim, 1_000), (Effect::Applied, false));
        assert_eq!(task.lease, Some(Lease::new("w", 1_500)));
        assert_eq!(task.updated_at_ms, 1_000, "leases are not updates");
        assert_eq!(
            apply(&mut task, Change::Cancel, 1_200),
            (Effect::Applied, true)
        );
        assert!(task.cancel_requested);
        assert_eq!(task.lease, None);
        assert_eq!(task.outcome, Some(Outcome::Cancelled));
    }

    #[test]
    fn answered_requests_stay_answered() {
        let mut task = record();
        let asked = Change::RequestInput(&[("a", "1")]);
        assert_eq!(apply(&mut task, asked, 1_100).0, Effect::Applied);
        assert_eq!(task.status, TaskStatus::InputRequired);
        let answer = Change::ProvideInput(&[("a", "2")]);
        assert_eq!(apply(&mut task, answer, 1_200).0, Effect::Applied);
        assert_eq!(task.status, TaskStatus::Working);
        assert_eq!(task.leg.get(), 2);
        let answered = task.clone();
        assert_eq!(apply(&mut task, asked, 1_300).0, Effect::Applied);
        assert_eq!(task.status, TaskStatus::Working, "not reopened");
        assert!(task.input_requests.is_empty());
        assert_eq!(task.input_responses, answered.input_responses);
        let more = Change::RequestInput(&[("a", "1"), ("b", "3")]);
        assert_eq!(apply(&mut task, more, 1_400).0, Effect::Applied);
        assert_eq!(task.status, TaskStatus::InputRequired);
        assert_eq!(task.input_requests.keys().collect::<Vec<_>>(), ["b"]);
        assert_eq!(task.input_responses.get("a").map(String::as_str), Some("2"));
    }

    #[test]
    fn leases_expire_and_abandoned_tasks_fail() {
        let mut task = record();
        let lease = Duration::from_millis(100);
        let claim = |worker| Change::Claim { worker, lease };
        assert_eq!(apply(&mut task, claim("a"), 1_000).0, Effect::Applied);
        assert_eq!(apply(&mut task, claim("b"), 1_050).0, Effect::LeaseHeld);
        assert_eq!(
            apply(&mut task, Change::FailAbandoned("{}"), 1_050).0,
            Effect::NotAbandoned
        );
        assert_eq!(
            apply(&mut task, claim("b"), 1_100).0,
            Effect::Applied,
            "expired at 1100"
        );
        assert_eq!(task.claims, 2);
        let renew = Change::Renew { worker: "a", lease };
        assert_eq!(apply(&mut task, renew, 1_150).0, Effect::LeaseLost);
        assert_eq!(
            apply(&mut task, Change::FailAbandoned("{}"), 1_300),
            (Effect::Applied, true)
        );
        assert_eq!(task.status, TaskStatus::Failed);
    }
}
