//! HTTP headers of the submitting request: an ordered map with lowercase names, and the policy
//! deciding which headers are captured.

use std::collections::HashMap;
use std::fmt;

use crate::swar;
use crate::wiped::Wiped;

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

/// Up to this many entries, duplicate names are found by a linear scan.
const LINEAR_SCAN_LIMIT: usize = 24;

/// The request's HTTP headers, in order, with lowercase names.
///
/// Inserting a name that is already present keeps the first one's position and takes the new
/// value (as a Python dict does). Names and values live in one buffer that is zeroized on drop
/// (and when it grows); values of [`ALWAYS_SECRET_HEADERS`] and of headers marked secret are
/// redacted in `Debug`. Equality compares names and values in order, not the secret marks.
#[derive(Clone, Default)]
pub struct Headers {
    text: Wiped<String>,
    entries: Vec<Entry>,
    /// Name → entry position, built once the map outgrows a linear scan.
    index: Option<HashMap<Box<str>, usize>>,
}

#[derive(Clone, Copy)]
struct Entry {
    name_start: usize,
    name_end: usize,
    value_start: usize,
    value_end: usize,
    secret: bool,
}

/// Lowercases a header name with full Unicode lowercasing, without allocating twice for the
/// common all-lowercase ASCII case.
/// Header names up to this length are lowercased on the stack when captured.
const STACK_NAME_BYTES: usize = 64;

pub(crate) fn lowercase_name(name: &str) -> String {
    if name
        .bytes()
        .all(|byte| byte.is_ascii() && !byte.is_ascii_uppercase())
    {
        name.to_owned()
    } else if name.is_ascii() {
        name.to_ascii_lowercase()
    } else {
        name.to_lowercase()
    }
}

/// Whether `name` is ASCII without uppercase letters, eight bytes at a time (a name of 8 bytes
/// or more ends with its last 8 bytes, overlapping the word before).
fn is_lowercase_ascii(bytes: &[u8]) -> bool {
    if bytes.len() < 8 {
        return bytes
            .iter()
            .all(|&byte| byte.is_ascii() && !byte.is_ascii_uppercase());
    }
    let (words, _) = bytes.as_chunks::<8>();
    words
        .iter()
        .chain(bytes.last_chunk::<8>())
        .all(|word| swar::non_ascii_or_upper(u64::from_le_bytes(*word)) == 0)
}

/// Builds a [`Headers`] from a stored header object read in place: the names and values are
/// kept as spans of the object's text, which is copied into the map's buffer in one piece when
/// the object ends ([`finish`](Self::finish)); only values with escapes are decoded, into the
/// front of the buffer. It takes the common shape only (names lowercase ASCII without escapes,
/// which the caller checks, none repeated, at most [`LINEAR_SCAN_LIMIT`] of them):
/// [`push_checked`](Self::push_checked) declines a repeated name or one too many, and the
/// caller reads the object the general way instead.
pub(crate) struct StoredHeaders {
    /// The decoded values, then (after `finish`) the object's text.
    text: Wiped<String>,
    /// Spans in the input, except the values marked in `decoded` (spans of `text`).
    entries: Vec<Entry>,
    decoded: u32,
    /// A filter of the names pushed so far.
    seen: u64,
}

impl StoredHeaders {
    /// A builder whose buffer has room for `bytes` bytes.
    pub(crate) fn with_capacity(bytes: usize) -> Self {
        Self {
            text: Wiped::new(String::with_capacity(bytes)),
            entries: Vec::with_capacity(12),
            decoded: 0,
            seen: 0,
        }
    }

    /// The buffer escaped values are decoded into, at its end, with room for `bytes` more bytes
    /// (grown first if need be, the old buffer zeroized), so that decoding into it never moves it.
    pub(crate) fn decoding(&mut self, bytes: usize) -> &mut String {
        reserve_zeroized(&mut self.text, bytes);
        &mut self.text
    }

    /// Adds a header: its name is `input[name.0..name.1]`, which the caller has checked to be
    /// lowercase ASCII, its value `input[value.0..value.1]` or, when `decoded`, the buffer's
    /// bytes `value.0..value.1`. `None` when the name is repeated or there are too many (the
    /// builder is then to be dropped).
    #[inline(always)]
    pub(crate) fn push_checked(
        &mut self,
        input: &[u8],
        name: (usize, usize),
        value: (usize, usize),
        decoded: bool,
    ) -> Option<()> {
        let text = input.get(name.0..name.1)?;
        if self.entries.len() >= LINEAR_SCAN_LIMIT {
            return None;
        }
        let last = usize::from(text.last().copied().unwrap_or(0));
        let bit = 1_u64 << ((text.len().wrapping_mul(31) ^ last) % 64);
        if self.seen & bit != 0
            && self.entries.iter().any(|entry| {
                entry.name_end - entry.name_start == text.len()
                    && input.get(entry.name_start..entry.name_end) == Some(text)
            })
        {
            return None;
        }
        self.seen |= bit;
        if decoded {
            self.decoded |= 1 << self.entries.len();
        }
        self.entries.push(Entry {
            name_start: name.0,
            name_end: name.1,
            value_start: value.0,
            value_end: value.1,
            secret: false,
        });
        Some(())
    }

    /// The map, given the object's text `input[start..end]` (every span pushed lies in it).
    pub(crate) fn finish(mut self, input: &str, start: usize, end: usize) -> Option<Headers> {
        let object = input.get(start..end)?;
        let base = self.text.len();
        push_zeroized(&mut self.text, object);
        for (position, entry) in self.entries.iter_mut().enumerate() {
            entry.name_start = entry.name_start - start + base;
            entry.name_end = entry.name_end - start + base;
            if self.decoded & (1 << position) == 0 {
                entry.value_start = entry.value_start - start + base;
                entry.value_end = entry.value_end - start + base;
            }
        }
        Some(Headers {
            text: self.text,
            entries: self.entries,
            index: None,
        })
    }
}

/// Makes room for `bytes` more bytes in a zeroized buffer; on growth the old buffer is zeroized
/// before it is freed.
fn reserve_zeroized(buffer: &mut Wiped<String>, bytes: usize) {
    if buffer.capacity() - buffer.len() < bytes {
        let wanted = (buffer.len() + bytes).max(buffer.capacity() * 2).max(64);
        let mut grown = Wiped::new(String::with_capacity(wanted));
        grown.push_str(buffer);
        *buffer = grown;
    }
}

/// Appends to a zeroized buffer; on growth the old buffer is zeroized before it is freed.
fn push_zeroized(buffer: &mut Wiped<String>, text: &str) {
    reserve_zeroized(buffer, text.len());
    buffer.push_str(text);
}

impl Headers {
    /// An empty header map.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty header map with room for `headers` headers totalling `bytes` bytes.
    #[must_use]
    pub fn with_capacity(headers: usize, bytes: usize) -> Self {
        Self {
            text: Wiped::new(String::with_capacity(bytes)),
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
        if policy.secret.is_empty() {
            return;
        }
        let text = &self.text;
        for entry in &mut self.entries {
            let name = text
                .get(entry.name_start..entry.name_end)
                .unwrap_or_default();
            entry.secret |= policy.is_secret(name);
        }
    }

    /// Keeps only the headers for which `keep(name, value)` is true, in order, with their marks.
    /// The removed values are zeroized.
    pub fn retain(&mut self, mut keep: impl FnMut(&str, &str) -> bool) {
        let kept: Vec<(&str, &str, bool)> = self
            .entries
            .iter()
            .map(|entry| (self.name_of(entry), self.value_of(entry), entry.secret))
            .filter(|(name, value, _)| keep(name, value))
            .collect();
        if kept.len() == self.entries.len() {
            return;
        }
        let rebuilt = Self::from_marked_pairs(&kept);
        *self = rebuilt;
    }

    /// The headers in order, as `(name, value, marked secret)`.
    pub(crate) fn iter_marked(&self) -> impl Iterator<Item = (&str, &str, bool)> + '_ {
        self.entries
            .iter()
            .map(|entry| (self.name_of(entry), self.value_of(entry), entry.secret))
    }

    /// Builds a map from borrowed `(name, value, marked secret)` triples read from a stored form,
    /// sizing the buffer once.
    pub(crate) fn from_marked_pairs(pairs: &[(&str, &str, bool)]) -> Self {
        let bytes = pairs
            .iter()
            .map(|(name, value, _)| name.len() + value.len())
            .sum();
        let mut headers = Self::with_capacity(pairs.len(), bytes);
        let mut seen = 0;
        for (name, value, secret) in pairs {
            headers.push_stored(&mut seen, name, value, *secret);
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
        let mut headers = Self::with_capacity(pairs.size_hint().0, 0);
        for (name, value) in pairs {
            headers.insert(name.as_ref(), value.as_ref());
        }
        headers
    }

    /// Appends a header read from a stored form, in order. Names that are already lowercase
    /// ASCII and not yet present (the shape every writer produces) are appended without the
    /// general insert's lowercasing and, thanks to `seen`, mostly without a duplicate scan;
    /// anything else takes [`insert`](Self::insert)'s path. `seen` is a filter of the names
    /// appended so far: start it at 0 and pass the same one for every header of the map. A
    /// header `secret` is marked secret (a repeated name's mark is kept, as `insert` keeps it).
    pub(crate) fn push_stored(&mut self, seen: &mut u64, name: &str, value: &str, secret: bool) {
        let plain = self.index.is_none()
            && self.entries.len() < LINEAR_SCAN_LIMIT
            && is_lowercase_ascii(name.as_bytes());
        if !plain {
            // From here on every name takes the general path, which needs no filter.
            *seen = u64::MAX;
            self.insert_with(name, value, secret);
            return;
        }
        let last = usize::from(name.as_bytes().last().copied().unwrap_or(0));
        let bit = 1_u64 << ((name.len().wrapping_mul(31) ^ last) % 64);
        if *seen & bit != 0 && self.position(name).is_some() {
            self.insert_with(name, value, secret);
            return;
        }
        *seen |= bit;
        let name_start = self.text.len();
        let value_start = name_start + name.len();
        if self.text.capacity() - name_start < name.len() + value.len() {
            self.push_text(name);
        } else {
            self.text.push_str(name);
        }
        self.push_text(value);
        self.entries.push(Entry {
            name_start,
            name_end: value_start,
            value_start,
            value_end: self.text.len(),
            secret,
        });
    }

    /// Appends text to the buffer; on growth the old buffer is zeroized before it is freed.
    fn push_text(&mut self, text: &str) {
        push_zeroized(&mut self.text, text);
    }

    fn push_lowercase(&mut self, name: &str) {
        if name
            .bytes()
            .any(|byte| byte.is_ascii_uppercase() || !byte.is_ascii())
        {
            self.push_text(&lowercase_name(name));
        } else {
            self.push_text(name);
        }
    }

    fn slice(&self, start: usize, end: usize) -> &str {
        self.text.get(start..end).unwrap_or_default()
    }

    fn name_of(&self, entry: &Entry) -> &str {
        self.slice(entry.name_start, entry.name_end)
    }

    fn value_of(&self, entry: &Entry) -> &str {
        self.slice(entry.value_start, entry.value_end)
    }

    fn position(&self, name: &str) -> Option<usize> {
        match &self.index {
            Some(index) => index.get(name).copied(),
            None => self.entries.iter().position(|entry| {
                entry.name_end - entry.name_start == name.len() && self.name_of(entry) == name
            }),
        }
    }

    fn insert_with(&mut self, name: &str, value: &str, secret: bool) {
        let name_start = self.text.len();
        self.push_lowercase(name);
        let name_end = self.text.len();
        let lowered = self.slice(name_start, name_end);
        if let Some(position) = self.position(lowered) {
            // A duplicate: drop the new name, keep the first one's position, take the value.
            self.text.truncate(name_start);
            let value_start = self.text.len();
            self.push_text(value);
            let value_end = self.text.len();
            if let Some(entry) = self.entries.get_mut(position) {
                entry.value_start = value_start;
                entry.value_end = value_end;
                entry.secret |= secret;
            }
            return;
        }
        let value_start = self.text.len();
        self.push_text(value);
        let entry = Entry {
            name_start,
            name_end,
            value_start,
            value_end: self.text.len(),
            secret,
        };
        let position = self.entries.len();
        self.entries.push(entry);
        if let Some(index) = &mut self.index {
            let name: Box<str> = self
                .text
                .get(name_start..name_end)
                .unwrap_or_default()
                .into();
            index.insert(name, position);
        } else if self.entries.len() > LINEAR_SCAN_LIMIT {
            let index = self
                .entries
                .iter()
                .enumerate()
                .map(|(position, entry)| (Box::from(self.name_of(entry)), position))
                .collect();
            self.index = Some(index);
        }
    }

    /// The value of a header, looked up by its lowercase name.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&str> {
        self.position(name)
            .and_then(|position| self.entries.get(position))
            .map(|entry| self.value_of(entry))
    }

    /// Whether the map holds a header of that lowercase name.
    #[must_use]
    pub fn contains(&self, name: &str) -> bool {
        self.position(name).is_some()
    }

    /// The headers in order, as `(name, value)`.
    pub fn iter(&self) -> HeadersIter<'_> {
        HeadersIter {
            headers: self,
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
            .map(|entry| {
                (entry.name_end - entry.name_start) + (entry.value_end - entry.value_start)
            })
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
        let pairs: Vec<(&str, &[u8])> = pairs.into_iter().collect();
        Self::capture_all(&pairs, policy)
    }

    /// [`capture`](Self::capture) of pairs already collected: the map is sized once for all of
    /// them (at most the policy's cap), so its buffer is not regrown, and rewiped, per header.
    pub(crate) fn capture_all(
        pairs: &[(&str, &[u8])],
        policy: &HeaderPolicy,
    ) -> Result<Self, CaptureError> {
        let bytes = pairs
            .iter()
            .map(|(name, value)| name.len().saturating_add(value.len()))
            .fold(0_usize, usize::saturating_add)
            .min(policy.max_total_bytes);
        let mut headers = Self::with_capacity(pairs.len(), bytes);
        let mut total = 0_usize;
        // Short ASCII names are lowercased on the stack and ASCII values (every common header)
        // are their own Latin-1 decoding: neither needs a copy of its own before the insert.
        let mut lowered = [0_u8; STACK_NAME_BYTES];
        for &(name, value) in pairs {
            let owned_name;
            let name = match lowered.get_mut(..name.len()) {
                Some(buffer) if name.is_ascii() => {
                    buffer.copy_from_slice(name.as_bytes());
                    buffer.make_ascii_lowercase();
                    std::str::from_utf8(buffer).unwrap_or_default()
                }
                _ => {
                    owned_name = lowercase_name(name);
                    owned_name.as_str()
                }
            };
            if !policy.keeps(name) {
                continue;
            }
            total = total.saturating_add(name.len()).saturating_add(value.len());
            if total > policy.max_total_bytes {
                return Err(CaptureError::TooLarge {
                    limit: policy.max_total_bytes,
                });
            }
            let latin1: Wiped<String>;
            let value = match std::str::from_utf8(value) {
                Ok(text) if text.is_ascii() => text,
                _ => {
                    latin1 = Wiped::new(value.iter().map(|&byte| char::from(byte)).collect());
                    latin1.as_str()
                }
            };
            headers.insert_with(name, value, policy.is_secret(name));
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
            let name = self.name_of(entry);
            if entry.secret || ALWAYS_SECRET_HEADERS.contains(&name) {
                map.entry(&name, &"[redacted]");
            } else {
                map.entry(&name, &self.value_of(entry));
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
    headers: &'a Headers,
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
        let headers = self.headers;
        self.entries
            .next()
            .map(|entry| (headers.name_of(entry), headers.value_of(entry)))
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

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::Headers;

    proptest! {
        /// Stored triples are read with a shortcut for lowercase names not seen before; the map,
        /// its order and its secret marks must be what inserting each triple in turn gives,
        /// repeated and uppercase names included, below and above the linear-scan limit.
        #[test]
        fn stored_triples_read_as_inserting_each(
            triples in prop::collection::vec(("[a-cA-C]{1,3}|é", "[a-z]{0,3}", any::<bool>()), 0..60)
        ) {
            let borrowed: Vec<(&str, &str, bool)> = triples
                .iter()
                .map(|(name, value, secret)| (name.as_str(), value.as_str(), *secret))
                .collect();
            let read = Headers::from_marked_pairs(&borrowed);
            let mut inserted = Headers::with_capacity(0, 0);
            for (name, value, secret) in &borrowed {
                inserted.insert_with(name, value, *secret);
            }
            prop_assert_eq!(
                read.iter_marked().collect::<Vec<_>>(),
                inserted.iter_marked().collect::<Vec<_>>()
            );
        }
    }
}
