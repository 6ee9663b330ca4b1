//! Task records in the memory store: kept in the same map as the snapshots, under the same lock,
//! so each call is atomic with the snapshot entries it touches.

use std::collections::VecDeque;
use std::pin::pin;
use std::time::{Duration, Instant};

use taskctx_scope::Leg;

use super::state::{apply, now_ms, slide_due};
use super::{
    Change, Creation, Effect, RecordFuture, RecordInit, TaskRecord, TaskRecordStore, TaskRef,
};
use crate::MemoryStore;
use crate::store::memory::{Entry, Map, StoredRecord, expiry, is_live};

/// Gives the task `task_id` of the unfinished set `key` the expiry `expires_at`, if present.
fn slide_unfinished(map: &mut Map, key: &str, task_id: &str, expires_at: Option<Instant>) {
    if let Some(entry) = map
        .unfinished
        .get_mut(key)
        .and_then(|tasks| tasks.get_mut(task_id))
    {
        *entry = expires_at;
    }
}

/// Removes the task `task_id` from the unfinished set `key`.
fn release_unfinished(map: &mut Map, key: &str, task_id: &str) {
    if let Some(tasks) = map.unfinished.get_mut(key) {
        tasks.remove(task_id);
        if tasks.is_empty() {
            map.unfinished.remove(key);
        }
    }
}

impl TaskRecordStore for MemoryStore {
    fn create_record<'a>(
        &'a self,
        task: TaskRef<'a>,
        init: RecordInit<'a>,
        snapshot: &'a [(&'a str, &'a [u8])],
    ) -> RecordFuture<'a, Creation> {
        Box::pin(async move {
            let (record_key, unfinished_key) = (task.record_key(), task.unfinished_key());
            let task_id = task.task_id().as_str();
            let now = Instant::now();
            let expires_at = expiry(now, init.ttl);
            let mut guard = self.map();
            let map = &mut *guard;
            if map.live_record(&record_key, now).is_some() {
                return Ok(Creation::Duplicate);
            }
            let tasks = map.unfinished.entry(unfinished_key).or_default();
            tasks.retain(|_, expires_at| is_live(*expires_at, now));
            if let Some(limit) = init.max_unfinished
                && tasks.len() >= usize::try_from(limit.get()).unwrap_or(usize::MAX)
            {
                return Ok(Creation::TooMany { limit: limit.get() });
            }
            tasks.insert(task_id.to_owned(), expires_at);
            let mut record = TaskRecord::new(now_ms(), init.ttl, init.poll_interval, Leg::FIRST);
            record.status_message = init.status_message.map(str::to_owned);
            for &(key, value) in snapshot {
                let value = value.to_vec();
                map.entries
                    .insert(key.to_owned(), Entry { value, expires_at });
            }
            let snapshot_keys = snapshot.iter().map(|(key, _)| (*key).to_owned()).collect();
            let stored = StoredRecord {
                record: record.clone(),
                snapshot_keys,
                expires_at,
            };
            map.records.insert(record_key, stored);
            if let Some(job) = init.job {
                let jobs = map.jobs.entry(task.jobs_key()).or_default();
                jobs.push_back(job.to_owned());
            }
            map.note_write(now);
            drop(guard);
            if init.job.is_some() {
                self.job_pushed().notify_waiters();
            }
            Ok(Creation::Created(record))
        })
    }

    fn get_record<'a>(&'a self, task: TaskRef<'a>) -> RecordFuture<'a, Option<TaskRecord>> {
        Box::pin(async move {
            let record_key = task.record_key();
            let now = Instant::now();
            let mut guard = self.map();
            let map = &mut *guard;
            let Some(stored) = map.live_record(&record_key, now) else {
                return Ok(None);
            };
            let record = stored.record.clone();
            // A poll slides at most once a slide window (the Redis script's rule).
            let left = stored
                .expires_at
                .map(|at| at.saturating_duration_since(now));
            if !left.is_some_and(|left| slide_due(left, record.ttl)) {
                return Ok(Some(record));
            }
            let expires_at = expiry(now, record.ttl);
            stored.expires_at = expires_at;
            let snapshot_keys = stored.snapshot_keys.clone();
            for key in &snapshot_keys {
                if let Some(entry) = map
                    .entries
                    .get_mut(key)
                    .filter(|entry| is_live(entry.expires_at, now))
                {
                    entry.expires_at = expires_at;
                }
            }
            slide_unfinished(
                map,
                &task.unfinished_key(),
                task.task_id().as_str(),
                expires_at,
            );
            Ok(Some(record))
        })
    }

    fn change_record<'a>(
        &'a self,
        task: TaskRef<'a>,
        change: Change<'a>,
    ) -> RecordFuture<'a, Option<(Effect, TaskRecord)>> {
        Box::pin(async move {
            let record_key = task.record_key();
            let now = Instant::now();
            let mut guard = self.map();
            let map = &mut *guard;
            let Some(stored) = map.live_record(&record_key, now) else {
                return Ok(None);
            };
            let (effect, settled) = apply(&mut stored.record, change, now_ms());
            let record = stored.record.clone();
            if settled {
                release_unfinished(map, &task.unfinished_key(), task.task_id().as_str());
            }
            Ok(Some((effect, record)))
        })
    }

    fn queues_jobs(&self) -> bool {
        true
    }

    fn next_job<'a>(&'a self, list: &'a str, wait: Duration) -> RecordFuture<'a, Option<String>> {
        Box::pin(async move {
            let deadline = tokio::time::Instant::now() + wait;
            loop {
                // Registered before the list is looked at, so a push in between is not missed.
                let pushed = self.job_pushed().notified();
                let mut pushed = pin!(pushed);
                pushed.as_mut().enable();
                let taken = {
                    let mut map = self.map();
                    let jobs = map.jobs.get_mut(list);
                    let taken = jobs.and_then(VecDeque::pop_front);
                    if map.jobs.get(list).is_some_and(VecDeque::is_empty) {
                        map.jobs.remove(list);
                    }
                    taken
                };
                if taken.is_some() {
                    return Ok(taken);
                }
                if tokio::time::timeout_at(deadline, pushed).await.is_err() {
                    return Ok(None);
                }
            }
        })
    }
}
