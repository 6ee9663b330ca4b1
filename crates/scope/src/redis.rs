//! Redis keys of a task (SPEC section 4): the per-scope prefix, the queue prefix (a cluster hash
//! tag in cluster mode) and the per-task keys, plus Redis Cluster's key-to-slot function.

use std::borrow::Cow;

use crate::error::{Error, Part, check_chars};
use crate::ids::TaskId;
use crate::leg::Leg;
use crate::percent::quote_into;
use crate::scope::Scope;

/// The queue name used when none is configured.
pub const DEFAULT_QUEUE_NAME: &str = "fastmcp";

/// Number of Redis Cluster hash slots.
pub const HASH_SLOTS: u16 = 16384;

/// The per-scope prefix: `fastmcp:task:auth:{Q(scope)}`, or `fastmcp:task:anon`.
///
/// ```
/// use taskctx_scope::{scope_prefix, Scope};
/// assert_eq!(scope_prefix(Some(&Scope::new("a|b"))), "fastmcp:task:auth:a%7Cb");
/// assert_eq!(scope_prefix(None), "fastmcp:task:anon");
/// ```
#[must_use]
pub fn scope_prefix(scope: Option<&Scope<'_>>) -> String {
    let mut prefix = String::with_capacity(SCOPE_PREFIX_CAPACITY);
    push_scope_prefix(scope, &mut prefix);
    prefix
}

/// Room for a typical scope prefix, so building one allocates once.
const SCOPE_PREFIX_CAPACITY: usize = 64;

/// Appends [`scope_prefix`] to `out`.
fn push_scope_prefix(scope: Option<&Scope<'_>>, out: &mut String) {
    match scope {
        Some(scope) => {
            out.push_str("fastmcp:task:auth:");
            quote_into(&scope.0, out);
        }
        None => out.push_str("fastmcp:task:anon"),
    }
}

/// How the Redis server is deployed, which decides the queue prefix. (The store layer reads it
/// from the store URL; this crate parses no URLs.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Deployment {
    /// A single server (or a replicated one): the queue name is the prefix.
    #[default]
    Standalone,
    /// Redis Cluster: the prefix is `{name}`, a hash tag that keeps every key of the queue in one
    /// slot.
    Cluster,
}

/// The key of one piece of a task's state, after `{queue prefix}:{scope prefix}:{task_id}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeySuffix {
    /// The task's metadata hash: no suffix.
    Meta,
    /// `created_at`.
    CreatedAt,
    /// `poll_interval`.
    PollInterval,
    /// `args`.
    Args,
    /// `current_leg`.
    CurrentLeg,
    /// `leg`.
    Leg,
    /// `request_state`.
    RequestState,
    /// `input_responses`.
    InputResponses,
    /// `input:{leg}:requests`.
    InputRequests(Leg),
    /// `input:{leg}:map`.
    InputMap(Leg),
    /// `snapshot`: the stored task context.
    Snapshot,
    /// `record`: taskctx's task record (status, result, inputs, lease), a hash. Not one of the
    /// reference's suffixes (so not in [`KeySuffix::FIXED`]).
    Record,
}

impl KeySuffix {
    /// The reference's suffixes without a leg number.
    pub const FIXED: [Self; 9] = [
        Self::Meta,
        Self::CreatedAt,
        Self::PollInterval,
        Self::Args,
        Self::CurrentLeg,
        Self::Leg,
        Self::RequestState,
        Self::InputResponses,
        Self::Snapshot,
    ];

    /// `:{suffix}` (empty for [`KeySuffix::Meta`]).
    fn text(self) -> Cow<'static, str> {
        Cow::Borrowed(match self {
            Self::Meta => "",
            Self::CreatedAt => ":created_at",
            Self::PollInterval => ":poll_interval",
            Self::Args => ":args",
            Self::CurrentLeg => ":current_leg",
            Self::Leg => ":leg",
            Self::RequestState => ":request_state",
            Self::InputResponses => ":input_responses",
            Self::Snapshot => ":snapshot",
            Self::Record => ":record",
            Self::InputRequests(leg) => return Cow::Owned(format!(":input:{leg}:requests")),
            Self::InputMap(leg) => return Cow::Owned(format!(":input:{leg}:map")),
        })
    }
}

/// The Redis keyspace of one queue: its name and deployment decide every task key's prefix.
///
/// ```
/// use taskctx_scope::{hash_slot, Deployment, KeySpace, KeySuffix, Scope, TaskId};
/// let id = TaskId::new("T1")?;
/// let scope = Scope::new("client-a|user-1");
/// let standalone = KeySpace::new("fastmcp", Deployment::Standalone)?;
/// assert_eq!(
///     standalone.snapshot_key(Some(&scope), &id),
///     "fastmcp:fastmcp:task:auth:client-a%7Cuser-1:T1:snapshot"
/// );
/// let cluster = KeySpace::new("docket", Deployment::Cluster)?;
/// let snapshot = cluster.snapshot_key(None, &id);
/// assert_eq!(snapshot, "{docket}:fastmcp:task:anon:T1:snapshot");
/// let meta = cluster.task_key(None, &id, KeySuffix::Meta);
/// assert_eq!(hash_slot(snapshot.as_bytes()), hash_slot(meta.as_bytes()));
/// # Ok::<(), taskctx_scope::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeySpace {
    prefix: String,
    deployment: Deployment,
}

impl KeySpace {
    /// The keyspace of queue `queue_name` on a `deployment`.
    ///
    /// # Errors
    /// [`Error::Empty`] or [`Error::InvalidChar`] (`{` or `}`) for [`Part::QueueName`].
    pub fn new(queue_name: &str, deployment: Deployment) -> Result<Self, Error> {
        if queue_name.is_empty() {
            return Err(Error::Empty {
                part: Part::QueueName,
            });
        }
        check_chars(queue_name, Part::QueueName, |b| b != b'{' && b != b'}')?;
        let prefix = match deployment {
            Deployment::Standalone => queue_name.to_owned(),
            Deployment::Cluster => format!("{{{queue_name}}}"),
        };
        Ok(Self { prefix, deployment })
    }

    /// `fastmcp` or `{name}`: the first segment of every key.
    #[must_use]
    pub fn queue_prefix(&self) -> &str {
        &self.prefix
    }

    /// The deployment.
    #[must_use]
    pub const fn deployment(&self) -> Deployment {
        self.deployment
    }

    /// `{queue prefix}:{scope prefix}:{task_id}` and the suffix.
    #[must_use]
    pub fn task_key(
        &self,
        scope: Option<&Scope<'_>>,
        task_id: &TaskId<'_>,
        suffix: KeySuffix,
    ) -> String {
        let suffix = suffix.text();
        let mut key = String::with_capacity(
            self.prefix.len() + SCOPE_PREFIX_CAPACITY + task_id.as_str().len() + suffix.len(),
        );
        key.push_str(&self.prefix);
        key.push(':');
        push_scope_prefix(scope, &mut key);
        key.push(':');
        key.push_str(task_id.as_str());
        key.push_str(&suffix);
        key
    }

    /// The key of the task's stored context: `{queue prefix}:{scope prefix}:{task_id}:snapshot`.
    #[must_use]
    pub fn snapshot_key(&self, scope: Option<&Scope<'_>>, task_id: &TaskId<'_>) -> String {
        self.task_key(scope, task_id, KeySuffix::Snapshot)
    }
}

impl Default for KeySpace {
    /// The default queue, `fastmcp`, on a standalone server.
    fn default() -> Self {
        Self {
            prefix: DEFAULT_QUEUE_NAME.to_owned(),
            deployment: Deployment::Standalone,
        }
    }
}

/// CRC16/XMODEM of `bytes` (polynomial 0x1021), as Redis Cluster uses it.
#[must_use]
pub fn crc16(bytes: &[u8]) -> u16 {
    bytes.iter().fold(0u16, |crc, &b| {
        (0..8).fold(crc ^ (u16::from(b) << 8), |crc, _| {
            if crc & 0x8000 == 0 {
                crc << 1
            } else {
                (crc << 1) ^ 0x1021
            }
        })
    })
}

/// The Redis Cluster slot of `key`: CRC16 of the key, or of its hash tag (the text between the
/// first `{` and the first `}` after it, when not empty), modulo 16384.
///
/// ```
/// use taskctx_scope::hash_slot;
/// assert_eq!(hash_slot("{user1000}.following"), hash_slot("user1000"));
/// assert_eq!(hash_slot(b"123456789"), 0x31C3 % 16384);
/// ```
#[must_use]
pub fn hash_slot(key: impl AsRef<[u8]>) -> u16 {
    let key = key.as_ref();
    crc16(hash_tag(key).unwrap_or(key)) % HASH_SLOTS
}

/// The hash tag of `key`, when it has a non-empty one.
fn hash_tag(key: &[u8]) -> Option<&[u8]> {
    let open = key.iter().position(|&b| b == b'{')?;
    let after = key.get(open + 1..)?;
    let close = after.iter().position(|&b| b == b'}')?;
    let tag = after.get(..close)?;
    (!tag.is_empty()).then_some(tag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_slots() {
        assert_eq!(crc16(b"123456789"), 0x31C3);
        assert_eq!(hash_slot(b"foo"), 12182);
        assert_eq!(hash_slot(b"bar"), 5061);
        // An empty tag `{}` is no tag: the whole key is hashed (slots from `CLUSTER KEYSLOT`).
        assert_eq!(hash_slot(b"{}foo"), 9500);
        assert_eq!(hash_slot(b"{}foo"), crc16(b"{}foo") % HASH_SLOTS);
        assert_ne!(hash_slot(b"{}foo"), hash_slot(b"foo"));
        assert_eq!(hash_slot(b"a{}b{c}"), 7353);
        assert_eq!(hash_slot(b"{}{x}"), 3257);
        assert_eq!(hash_slot(b"{foo"), 13308);
        assert_eq!(hash_slot(b"a{foo}b{bar}"), hash_slot(b"foo"));
        assert_eq!(hash_slot(b"{foo"), crc16(b"{foo") % HASH_SLOTS);
    }

    #[test]
    fn every_task_key_shares_the_slot_in_cluster_mode() {
        let space = KeySpace::new("q", Deployment::Cluster).unwrap();
        let id = TaskId::new("T1").unwrap();
        let scope = Scope::new("{evil}|}{");
        let slot = hash_slot(b"q");
        let mut suffixes = KeySuffix::FIXED.to_vec();
        suffixes.extend([
            KeySuffix::InputRequests(Leg::new(3)),
            KeySuffix::InputMap(Leg::FIRST),
        ]);
        for suffix in suffixes {
            for scope in [None, Some(&scope)] {
                let key = space.task_key(scope, &id, suffix);
                assert_eq!(hash_slot(key.as_bytes()), slot, "{key}");
            }
        }
        assert_eq!(
            space.task_key(None, &id, KeySuffix::InputMap(Leg::new(2))),
            "{q}:fastmcp:task:anon:T1:input:2:map"
        );
        assert_eq!(
            space.task_key(None, &id, KeySuffix::Meta),
            "{q}:fastmcp:task:anon:T1"
        );
    }

    #[test]
    fn queue_names_with_braces_are_rejected() {
        for name in ["my{app}", "}", "{"] {
            for deployment in [Deployment::Standalone, Deployment::Cluster] {
                assert!(matches!(
                    KeySpace::new(name, deployment),
                    Err(Error::InvalidChar {
                        part: Part::QueueName,
                        ..
                    })
                ));
            }
        }
        assert_eq!(
            KeySpace::new("", Deployment::Cluster),
            Err(Error::Empty {
                part: Part::QueueName
            })
        );
        assert_eq!(KeySpace::default().queue_prefix(), "fastmcp");
    }
}
