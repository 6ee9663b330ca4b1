//! HTTP headers of the submitting request: an ordered map with lowercase names, and the policy
//! deciding which headers are captured.

use std::collections::HashMap;
use std::fmt;

use zeroize::Zeroizing;

/// Header names whose values are always redacted in `Debug`.
pub const ALWAYS_SECRET_HEADERS: [&str; 4] = [
    "authorization",
    "cookie",
    "set-cookie",
    "proxy-authorization",
];

/// The credential headers of a request: captured with its access token, they are handed out only
/// while that token is installed (SPEC section 6).
pub const CREDENTIAL_HEADERS: [&str; 3] = ["authorization", "cookie", "proxy-authorization"];

/// Header names [`HeaderPolicy::default`] leaves out of a snapshot: the credential headers.
pub const DEFAULT_DROPPED_HEADERS: [&str; 3] = CREDENTIAL_HEADERS;

/// The default cap on the total bytes (names plus values) of captured headers: 64 KiB.
pub const DEFAULT_MAX_HEADER_BYTES: usize = 64 * 1024;

/// Up to this many entries, a name is found by a linear scan; beyond, through an index (so that
/// building a map stays linear in its size).
const LINEAR_SCAN_LIMIT: usize = 24;

/// The request's HTTP headers, in order, with lowercase names.
///
/// Inserting a name that is already present keeps the first one's position and takes the new
/// value (as a Python dict does). Values are zeroized on drop; values of
/// [`ALWAYS_SECRET_HEADERS`] and of headers marked secret are redacted in `Debug`. Equality
/// compares names and values in order, not the secret marks.
#[derive(Clone, Default)]
pub struct Headers {
    entries: Vec<Entry>,
    /// Name → entry position, built once the map outgrows a linear scan.
    index: Option<HashMap<String, usize>>,
}

#[derive(Clone)]
struct Entry {
    name: String,
    value: Zeroizing<String>,
    secret: bool,
}

/// Lowercases a header name with full Unicode lowercasing.
pub(crate) fn lowercase_name(name: &str) -> String {
    if name.is_ascii() {
        name.to_ascii_lowercase()
    } else {
        name.to_lowercase()
    }
}

impl Headers {
    /// An empty header map.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty header map with room for `headers` headers.
    #[must_use]
    pub fn with_capacity(headers: usize) -> Self {
        Self {
            entries: Vec::with_capacity(headers),
            index: None,
        }
    }

    /// Inserts a header; the name is lowercased. An existing name keeps its position and takes
    /// the new value.
    pub fn insert(&mut self, name: &str, value: impl AsRef<str>) {
        self.insert_with(name, value.as_ref(), false);
    }

    /// Inserts a header whose value is redacted in `Debug` (in addition to
    /// [`ALWAYS_SECRET_HEADERS`]). The native stored form keeps the mark; the reference's JSON
    /// cannot, so a reader re-applies its [`HeaderPolicy`] ([`apply_secret_marks`](Self::apply_secret_marks)).
    pub fn insert_secret(&mut self, name: &str, value: impl AsRef<str>) {
        self.insert_with(name, value.as_ref(), true);
    }

    /// Marks every header the policy calls secret ([`HeaderPolicy::is_secret`]); marks already
    /// set stay.
    pub fn apply_secret_marks(&mut self, policy: &HeaderPolicy) {
        for entry in &mut self.entries {
            entry.secret |= policy.is_secret(&entry.name);
        }
    }

    /// Keeps only the headers for which `keep(name, value)` is true, in order, with their marks.
    /// The removed values are zeroized.
    pub fn retain(&mut self, mut keep: impl FnMut(&str, &str) -> bool) {
        let before = self.entries.len();
        self.entries.retain(|entry| keep(&entry.name, &entry.value));
        if self.entries.len() != before && self.index.is_some() {
            self.index = None;
            self.build_index();
        }
    }

    /// The headers in order, as `(name, value, marked secret)`.
    pub(crate) fn iter_marked(&self) -> impl Iterator<Item = (&str, &str, bool)> + '_ {
        self.entries
            .iter()
            .map(|entry| (entry.name.as_str(), entry.value.as_str(), entry.secret))
    }

    /// Builds a map from `(name, value, marked secret)` triples read from a stored form.
    pub(crate) fn from_marked_pairs(pairs: &[(&str, &str, bool)]) -> Self {
        let mut headers = Self::with_capacity(pairs.len());
        for (name, value, secret) in pairs {
            headers.insert_with(name, value, *secret);
        }
        headers
    }

    /// Builds a map from `(name, value)` pairs, as repeated [`insert`](Self::insert) does, in
    /// time linear in the number of pairs.
    pub fn from_pairs<I, N, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (N, V)>,
        N: AsRef<str>,
        V: AsRef<str>,
    {
        let pairs = pairs.into_iter();
        let mut headers = Self::with_capacity(pairs.size_hint().0);
        for (name, value) in pairs {
            headers.insert(name.as_ref(), value.as_ref());
        }
        headers
    }

    fn position(&self, name: &str) -> Option<usize> {
        match &self.index {
            Some(index) => index.get(name).copied(),
            None => self.entries.iter().position(|entry| entry.name == name),
        }
    }

    fn build_index(&mut self) {
        if self.entries.len() > LINEAR_SCAN_LIMIT {
            let index = self.entries.iter().enumerate();
            self.index = Some(index.map(|(at, entry)| (entry.name.clone(), at)).collect());
        }
    }

    fn insert_with(&mut self, name: &str, value: &str, secret: bool) {
        self.insert_value(
            lowercase_name(name),
            Zeroizing::new(value.to_owned()),
            secret,
        );
    }

    /// Inserts a header whose name is already lowercase.
    fn insert_value(&mut self, name: String, value: Zeroizing<String>, secret: bool) {
        if let Some(entry) = self
            .position(&name)
            .and_then(|position| self.entries.get_mut(position))
        {
            // A duplicate: keep the first one's position, take the value.
            entry.value = value;
            entry.secret |= secret;
            return;
        }
        if let Some(index) = &mut self.index {
            index.insert(name.clone(), self.entries.len());
        }
        self.entries.push(Entry {
            name,
            value,
            secret,
        });
        if self.index.is_none() {
            self.build_index();
        }
    }

    /// The value of a header, looked up by its lowercase name.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&str> {
        self.position(name)
            .and_then(|position| self.entries.get(position))
            .map(|entry| entry.value.as_str())
    }

    /// Whether the map holds a header of that lowercase name.
    #[must_use]
    pub fn contains(&self, name: &str) -> bool {
        self.position(name).is_some()
    }

    /// The headers in order, as `(name, value)`.
    pub fn iter(&self) -> HeadersIter<'_> {
        HeadersIter {
            entries: self.entries.iter(),
        }
    }

    /// The number of headers.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no headers.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The total bytes of all names and values.
    #[must_use]
    pub fn total_bytes(&self) -> usize {
        self.entries
            .iter()
            .map(|entry| entry.name.len() + entry.value.len())
            .sum()
    }

    /// Whether a header's value is redacted in `Debug` (always-secret name, or marked secret).
    #[must_use]
    pub fn is_secret(&self, name: &str) -> bool {
        ALWAYS_SECRET_HEADERS.contains(&name)
            || self
                .position(name)
                .and_then(|position| self.entries.get(position))
                .is_some_and(|entry| entry.secret)
    }

    /// Captures headers from raw `(name, value bytes)` pairs under a policy. Values are decoded
    /// as Latin-1 (as the reference's ASGI stack does), so any byte sequence is accepted.
    pub fn capture<'a, I>(pairs: I, policy: &HeaderPolicy) -> Result<Self, CaptureError>
    where
        I: IntoIterator<Item = (&'a str, &'a [u8])>,
    {
        let mut headers = Self::new();
        let mut total = 0_usize;
        for (name, value) in pairs {
            let name = lowercase_name(name);
            if !policy.keeps(&name) {
                continue;
            }
            total = total.saturating_add(name.len()).saturating_add(value.len());
            if total > policy.max_total_bytes {
                return Err(CaptureError::TooLarge {
                    limit: policy.max_total_bytes,
                });
            }
            let secret = policy.is_secret(&name);
            let latin1 = Zeroizing::new(match std::str::from_utf8(value) {
                // ASCII is its own Latin-1 decoding.
                Ok(ascii) if ascii.is_ascii() => ascii.to_owned(),
                _ => value.iter().map(|&byte| char::from(byte)).collect(),
            });
            headers.insert_value(name, latin1, secret);
        }
        Ok(headers)
    }

    /// Captures the headers of an `http::HeaderMap` under a policy (see [`capture`](Self::capture)).
    #[cfg(feature = "http")]
    pub fn from_header_map(
        map: &http::HeaderMap,
        policy: &HeaderPolicy,
    ) -> Result<Self, CaptureError> {
        Self::capture(
            map.iter()
                .map(|(name, value)| (name.as_str(), value.as_bytes())),
            policy,
        )
    }
}

impl PartialEq for Headers {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for Headers {}

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        for entry in &self.entries {
            if entry.secret || ALWAYS_SECRET_HEADERS.contains(&entry.name.as_str()) {
                map.entry(&entry.name, &"[redacted]");
            } else {
                map.entry(&entry.name, &entry.value.as_str());
            }
        }
        map.finish()
    }
}

impl<'a> IntoIterator for &'a Headers {
    type Item = (&'a str, &'a str);
    type IntoIter = HeadersIter<'a>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// The headers of a [`Headers`] in order, as `(name, value)`.
#[derive(Clone)]
pub struct HeadersIter<'a> {
    entries: std::slice::Iter<'a, Entry>,
}

impl fmt::Debug for HeadersIter<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HeadersIter")
            .field("remaining", &self.entries.len())
            .finish()
    }
}

impl<'a> Iterator for HeadersIter<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        self.entries
            .next()
            .map(|entry| (entry.name.as_str(), entry.value.as_str()))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.entries.size_hint()
    }
}

impl ExactSizeIterator for HeadersIter<'_> {}

/// Which headers are kept in a snapshot, which are secret, and how many bytes they may take.
///
/// The default keeps every header except [`DEFAULT_DROPPED_HEADERS`] (credentials the worker
/// should not replay), marks none secret beyond [`ALWAYS_SECRET_HEADERS`], and caps the total at
/// [`DEFAULT_MAX_HEADER_BYTES`]. [`HeaderPolicy::all`] keeps every header, as the reference does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderPolicy {
    kept: Kept,
    secret: Vec<String>,
    max_total_bytes: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kept {
    AllExcept(Vec<String>),
    Only(Vec<String>),
}

impl Default for HeaderPolicy {
    fn default() -> Self {
        Self {
            kept: Kept::AllExcept(DEFAULT_DROPPED_HEADERS.map(String::from).to_vec()),
            secret: Vec::new(),
            max_total_bytes: DEFAULT_MAX_HEADER_BYTES,
        }
    }
}

impl HeaderPolicy {
    /// Keeps every header, credentials included (the reference's behaviour), with the default
    /// byte cap.
    #[must_use]
    pub fn all() -> Self {
        Self {
            kept: Kept::AllExcept(Vec::new()),
            ..Self::default()
        }
    }

    /// Keeps only the named headers.
    #[must_use]
    pub fn only<I, S>(names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Self {
            kept: Kept::Only(
                names
                    .into_iter()
                    .map(|name| lowercase_name(name.as_ref()))
                    .collect(),
            ),
            ..Self::default()
        }
    }

    /// Leaves a header out.
    #[must_use]
    pub fn without(mut self, name: &str) -> Self {
        let name = lowercase_name(name);
        match &mut self.kept {
            Kept::AllExcept(dropped) => {
                if !dropped.contains(&name) {
                    dropped.push(name);
                }
            }
            Kept::Only(kept) => kept.retain(|kept| *kept != name),
        }
        self
    }

    /// Keeps a header (undoing a default or earlier [`without`](Self::without)).
    #[must_use]
    pub fn with(mut self, name: &str) -> Self {
        let name = lowercase_name(name);
        match &mut self.kept {
            Kept::AllExcept(dropped) => dropped.retain(|dropped| *dropped != name),
            Kept::Only(kept) => {
                if !kept.contains(&name) {
                    kept.push(name);
                }
            }
        }
        self
    }

    /// Marks a header secret: its value is redacted in `Debug`, in the snapshot captured with
    /// this policy and (the native form keeps the mark; for JSON the reader re-applies its
    /// policy) after restore.
    #[must_use]
    pub fn secret(mut self, name: &str) -> Self {
        let name = lowercase_name(name);
        if !self.secret.contains(&name) {
            self.secret.push(name);
        }
        self
    }

    /// Sets the cap on the total bytes of kept names and values.
    #[must_use]
    pub fn max_total_bytes(mut self, max_total_bytes: usize) -> Self {
        self.max_total_bytes = max_total_bytes;
        self
    }

    /// Whether a header of this lowercase name is kept.
    #[must_use]
    pub fn keeps(&self, name: &str) -> bool {
        match &self.kept {
            Kept::AllExcept(dropped) => !dropped.iter().any(|dropped| dropped == name),
            Kept::Only(kept) => kept.iter().any(|kept| kept == name),
        }
    }

    /// Whether a header of this lowercase name is secret.
    #[must_use]
    pub fn is_secret(&self, name: &str) -> bool {
        ALWAYS_SECRET_HEADERS.contains(&name) || self.secret.iter().any(|secret| secret == name)
    }

    /// The cap on the total bytes of kept names and values.
    #[must_use]
    pub fn max_bytes(&self) -> usize {
        self.max_total_bytes
    }
}

/// Why headers could not be captured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CaptureError {
    /// The kept headers exceed the policy's byte cap.
    #[error(
        "the request's kept headers exceed the snapshot limit of {limit} bytes (names plus values); \
         raise HeaderPolicy::max_total_bytes or leave large headers out"
    )]
    TooLarge {
        /// The policy's cap.
        limit: usize,
    },
}
