//! Task records on Redis: one Lua script (`record.lua`, called with `EVALSHA`) does every
//! change atomically on the server, with the server's clock; a poll reads the record with
//! `HGETALL` (and `PTTL`, in the same round trip) and calls the script only to slide the TTLs.
//!
//! The record is a hash: `status`, `msg`, `created`, `updated` (unix ms), `ttl` (s), `poll` (ms),
//! `leg`, `cancel` (`0`/`1`), `claims`, `lease_worker`, `lease_until` (unix ms), `result`,
//! `error`, `keys` (the snapshot entries' keys, JSON), and `req:{id}` / `res:{id}` for input
//! requests and responses.

use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;
use std::time::Duration;

use deadpool_redis::redis::{self, Script, Value};
use taskctx_scope::Leg;

use super::state::slide_due;
use super::{
    Change, Creation, Effect, Lease, Outcome, RecordError, RecordFuture, RecordInit, TaskRecord,
    TaskRecordStore, TaskRef, TaskStatus,
};
use crate::store::redis::Request;
use crate::store::{Operation, RedisStore, Ttl};

const SOURCE: &str = include_str!("record.lua");

/// The script's SHA-1, computed once.
fn sha() -> &'static str {
    static SHA: OnceLock<String> = OnceLock::new();
    SHA.get_or_init(|| Script::new(SOURCE).get_hash().to_owned())
}

/// `EVALSHA` of the record script on `keys` (the record's and the unfinished set's first) with
/// the operation `op` and `args`.
fn call(keys: &[&str], op: &str, args: &[&[u8]]) -> Request {
    let mut cmd = redis::cmd("EVALSHA");
    cmd.arg(sha()).arg(keys.len()).arg(keys).arg(op).arg(args);
    Request::Script {
        call: cmd,
        source: SOURCE,
    }
}

fn millis(duration: Duration) -> String {
    duration.as_millis().to_string()
}

const fn corrupt(what: &'static str) -> RecordError {
    RecordError::Corrupt { what }
}

/// The text of a string reply.
fn text(value: &Value) -> Option<String> {
    match value {
        Value::BulkString(bytes) => String::from_utf8(bytes.clone()).ok(),
        Value::SimpleString(text) => Some(text.clone()),
        Value::Int(number) => Some(number.to_string()),
        _ => None,
    }
}

/// The pairs of a flat `[field, value, …]` array (or of a RESP3 map).
fn pairs(value: &Value) -> Result<Pairs, RecordError> {
    let items = match value {
        Value::Array(items) => items,
        Value::Map(map) => {
            return map
                .iter()
                .map(|(field, value)| {
                    text(field)
                        .zip(text(value))
                        .ok_or(corrupt("a record field is not UTF-8 text"))
                })
                .collect();
        }
        _ => return Err(corrupt("the store's reply is not an array")),
    };
    items
        .chunks(2)
        .map(|pair| match pair {
            [field, value] => text(field)
                .zip(text(value))
                .ok_or(corrupt("a record field is not UTF-8 text")),
            _ => Err(corrupt("a record field has no value")),
        })
        .collect()
}

/// Field-value pairs of a reply.
type Pairs = Vec<(String, String)>;

/// The script's reply: its effect word and the record's fields.
fn split(reply: &Value) -> Result<(String, Pairs), RecordError> {
    let Value::Array(parts) = reply else {
        return Err(corrupt("the store's reply is not an array"));
    };
    match parts.as_slice() {
        [effect, record] => Ok((
            text(effect).ok_or(corrupt("the store's reply has no effect"))?,
            pairs(record)?,
        )),
        _ => Err(corrupt("the store's reply has the wrong length")),
    }
}

/// A record from its hash fields.
fn record(fields: Pairs) -> Result<TaskRecord, RecordError> {
    let mut map: HashMap<String, String> = HashMap::with_capacity(fields.len());
    let mut input_requests = BTreeMap::new();
    let mut input_responses = BTreeMap::new();
    for (field, value) in fields {
        if let Some(id) = field.strip_prefix("req:") {
            input_requests.insert(id.to_owned(), value);
        } else if let Some(id) = field.strip_prefix("res:") {
            input_responses.insert(id.to_owned(), value);
        } else {
            map.insert(field, value);
        }
    }
    let number = |field: &str, what: &'static str| -> Result<u64, RecordError> {
        map.get(field)
            .and_then(|value| value.parse().ok())
            .ok_or(corrupt(what))
    };
    let status = map
        .get("status")
        .and_then(|status| TaskStatus::parse(status))
        .ok_or(corrupt("no valid status"))?;
    let ttl = Ttl::from_secs(number("ttl", "no valid TTL")?).ok_or(corrupt("no valid TTL"))?;
    let outcome = match status {
        TaskStatus::Working | TaskStatus::InputRequired => None,
        TaskStatus::Completed => Some(Outcome::Completed(
            map.get("result")
                .cloned()
                .ok_or(corrupt("a completed task without a result"))?,
        )),
        TaskStatus::Failed => Some(Outcome::Failed(
            map.get("error")
                .cloned()
                .ok_or(corrupt("a failed task without an error"))?,
        )),
        TaskStatus::Cancelled => Some(Outcome::Cancelled),
    };
    let lease = match (map.get("lease_worker"), map.get("lease_until")) {
        (Some(worker), Some(until)) => Some(Lease::new(
            worker.clone(),
            until.parse().map_err(|_| corrupt("no valid lease time"))?,
        )),
        _ => None,
    };
    Ok(TaskRecord {
        status,
        status_message: map.get("msg").cloned(),
        created_at_ms: number("created", "no valid creation time")?,
        updated_at_ms: number("updated", "no valid update time")?,
        ttl,
        poll_interval: Duration::from_millis(number("poll", "no valid poll interval")?),
        outcome,
        cancel_requested: map.get("cancel").is_some_and(|cancel| cancel == "1"),
        input_requests,
        input_responses,
        leg: Leg::new(number("leg", "no valid leg")?),
        lease,
        claims: u32::try_from(number("claims", "no valid claim count")?).unwrap_or(u32::MAX),
    })
}

fn effect(word: &str) -> Result<Effect, RecordError> {
    Ok(match word {
        "applied" => Effect::Applied,
        "already_settled" => Effect::AlreadySettled,
        "lease_held" => Effect::LeaseHeld,
        "lease_lost" => Effect::LeaseLost,
        "not_abandoned" => Effect::NotAbandoned,
        "unexpected_input" => Effect::UnexpectedInput,
        _ => return Err(corrupt("the store answered with an unknown effect")),
    })
}

impl RedisStore {
    async fn run_script(
        &self,
        operation: Operation,
        keys: &[&str],
        request: &Request,
    ) -> Result<(String, Pairs), RecordError> {
        self.check_one_slot(operation, keys.iter().copied())
            .map_err(RecordError::Store)?;
        let reply: Value = self
            .query(operation, request)
            .await
            .map_err(RecordError::Store)?;
        split(&reply)
    }
}

impl TaskRecordStore for RedisStore {
    fn create_record<'a>(
        &'a self,
        task: TaskRef<'a>,
        init: RecordInit<'a>,
        snapshot: &'a [(&'a str, &'a [u8])],
    ) -> RecordFuture<'a, Creation> {
        Box::pin(async move {
            let (record_key, unfinished_key) = (task.record_key(), task.unfinished_key());
            let jobs_key = task.jobs_key();
            let mut keys = vec![
                record_key.as_str(),
                unfinished_key.as_str(),
                jobs_key.as_str(),
            ];
            keys.extend(snapshot.iter().map(|(key, _)| *key));
            let ttl = init.ttl.secs().to_string();
            let limit = init
                .max_unfinished
                .map_or(0, |limit| limit.get())
                .to_string();
            let poll = millis(init.poll_interval);
            let (has_message, message) = match init.status_message {
                Some(message) => ("1", message),
                None => ("0", ""),
            };
            let mut args: Vec<&[u8]> = vec![
                ttl.as_bytes(),
                limit.as_bytes(),
                task.task_id().as_str().as_bytes(),
                poll.as_bytes(),
                has_message.as_bytes(),
                message.as_bytes(),
                init.job.unwrap_or_default().as_bytes(),
            ];
            args.extend(snapshot.iter().map(|(_, value)| *value));
            let request = call(&keys, "create", &args);
            let (word, fields) = self
                .run_script(Operation::CreateRecord, &keys, &request)
                .await?;
            match word.as_str() {
                "created" => Ok(Creation::Created(record(fields)?)),
                "duplicate" => Ok(Creation::Duplicate),
                "too_many" => Ok(Creation::TooMany {
                    limit: init.max_unfinished.map_or(0, |limit| limit.get()),
                }),
                _ => Err(corrupt("the store answered with an unknown effect")),
            }
        })
    }

    fn get_record<'a>(&'a self, task: TaskRef<'a>) -> RecordFuture<'a, Option<TaskRecord>> {
        Box::pin(async move {
            let (record_key, unfinished_key) = (task.record_key(), task.unfinished_key());
            // A poll is two plain reads in one round trip; the slide, a script, follows only
            // when due (at most once a second). Measured with the fleet of `cargo xtask bench
            // --reference --only mcp-tasks` (32 in flight, one poll a task): the Redis server's
            // CPU a task went from 134–145 µs, with the script on every poll, to 122–125 µs.
            let mut reads = redis::pipe();
            reads
                .cmd("HGETALL")
                .arg(&record_key)
                .cmd("PTTL")
                .arg(&record_key);
            let (fields, left): (Value, i64) = self
                .query(Operation::GetRecord, &Request::Many(reads))
                .await
                .map_err(RecordError::Store)?;
            let fields = pairs(&fields)?;
            if fields.is_empty() {
                return Ok(None);
            }
            let found = record(fields)?;
            let left = u64::try_from(left).map(Duration::from_millis);
            if left.is_ok_and(|left| slide_due(left, found.ttl)) {
                let keys = [record_key.as_str(), unfinished_key.as_str()];
                let request = call(&keys, "slide", &[task.task_id().as_str().as_bytes()]);
                self.run_script(Operation::GetRecord, &keys, &request)
                    .await?;
            }
            Ok(Some(found))
        })
    }

    fn change_record<'a>(
        &'a self,
        task: TaskRef<'a>,
        change: Change<'a>,
    ) -> RecordFuture<'a, Option<(Effect, TaskRecord)>> {
        Box::pin(async move {
            let (record_key, unfinished_key) = (task.record_key(), task.unfinished_key());
            let keys = [record_key.as_str(), unfinished_key.as_str()];
            let id = task.task_id().as_str().as_bytes();
            let number;
            let pairs_of = |items: &'a [(&'a str, &'a str)]| {
                items
                    .iter()
                    .flat_map(|(id, body)| [id.as_bytes(), body.as_bytes()])
            };
            let (op, args): (&str, Vec<&[u8]>) = match change {
                Change::StatusMessage(Some(message)) => {
                    ("message", vec![id, b"1", message.as_bytes()])
                }
                Change::StatusMessage(None) => ("message", vec![id, b"0"]),
                Change::RequestInput(requests) => (
                    "request",
                    [id].into_iter().chain(pairs_of(requests)).collect(),
                ),
                Change::ProvideInput(responses) => (
                    "provide",
                    [id].into_iter().chain(pairs_of(responses)).collect(),
                ),
                Change::Cancel => ("cancel", vec![id]),
                Change::Settle(outcome) => {
                    let body = match outcome {
                        Outcome::Completed(json) | Outcome::Failed(json) => json.as_bytes(),
                        Outcome::Cancelled => b"",
                    };
                    (
                        "settle",
                        vec![id, outcome.status().as_str().as_bytes(), body],
                    )
                }
                Change::Claim { worker, lease } => {
                    number = millis(lease);
                    ("claim", vec![id, worker.as_bytes(), number.as_bytes()])
                }
                Change::Renew { worker, lease } => {
                    number = millis(lease);
                    ("renew", vec![id, worker.as_bytes(), number.as_bytes()])
                }
                Change::Release { worker } => ("release", vec![id, worker.as_bytes()]),
                Change::FailAbandoned(error) => ("abandoned", vec![id, error.as_bytes()]),
            };
            let request = call(&keys, op, &args);
            let (word, fields) = self
                .run_script(Operation::ChangeRecord, &keys, &request)
                .await?;
            if word == "missing" {
                return Ok(None);
            }
            Ok(Some((effect(&word)?, record(fields)?)))
        })
    }

    fn queues_jobs(&self) -> bool {
        true
    }

    fn next_job<'a>(&'a self, list: &'a str, wait: Duration) -> RecordFuture<'a, Option<String>> {
        Box::pin(async move {
            let Some(entry) = self
                .blocking_pop(Operation::NextJob, list, wait)
                .await
                .map_err(RecordError::Store)?
            else {
                return Ok(None);
            };
            String::from_utf8(entry)
                .map(Some)
                .map_err(|_| corrupt("an entry of the job list is not UTF-8 text"))
        })
    }
}
