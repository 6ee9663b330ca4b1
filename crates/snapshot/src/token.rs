//! The caller's access token, kept exactly as the reference serialised it.

use std::borrow::Cow;
use std::fmt;
use std::sync::OnceLock;

use serde::Deserialize;
use serde::de::{self, IgnoredAny, MapAccess, Visitor};
use serde_json::{Map, Value};

use crate::fastjson::{FastToken, Part};
use crate::wiped::Wiped;

/// An OAuth access token as the reference stores it inside a snapshot (`access_token_json`).
///
/// The original JSON text is kept, so re-encoding a decoded token is byte-identical. The token
/// string and the JSON text (which contains it) are zeroized when the value is dropped, and
/// `Debug` never shows either.
#[derive(Clone)]
pub struct AccessToken {
    /// The token string: a span of `json`, or its own (zeroized) text.
    token: Part,
    client_id: Part,
    /// The scopes; when read by the fast path, checked there and built from `scopes_span` of
    /// `json` on first use.
    scopes: OnceLock<Vec<String>>,
    scopes_span: (usize, usize),
    expires_at: Option<i64>,
    resource: Option<String>,
    subject: Option<String>,
    /// The `sub` claim (it feeds the task scope); when read by the fast path, checked there and
    /// built from `sub_span` of `json` on first use.
    sub: OnceLock<Option<Value>>,
    sub_span: Option<(usize, usize)>,
    /// All claims, parsed from `json` on first use.
    claims: OnceLock<Map<String, Value>>,
    original_client_id: Option<String>,
    json: Wiped<String>,
}

/// Why an `access_token_json` text is not a valid access token.
///
/// The error names where the text went wrong, never its content (it holds the token).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// The text nests arrays and objects deeper than [`MAX_NESTING`](crate::json::MAX_NESTING)
    /// levels (in its claims, or anywhere else).
    #[error("access token JSON nests arrays and objects deeper than {limit} levels")]
    TooDeep {
        /// The limit.
        limit: usize,
    },
    /// The text is not JSON.
    #[error("access token JSON is not valid JSON (line {line}, column {column})")]
    Syntax {
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
    },
    /// The text is JSON, but a field is missing or has the wrong type.
    #[error(
        "access token JSON has a missing field or a field of the wrong type (line {line}, column {column}); \
         required: token, client_id (strings), scopes (array of strings); optional: expires_at (integer), \
         resource, subject, original_client_id (strings), claims (object)"
    )]
    Shape {
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
    },
}

impl TokenError {
    fn from_json(error: &serde_json::Error) -> Self {
        let (line, column) = (error.line(), error.column());
        match error.classify() {
            serde_json::error::Category::Data => Self::Shape { line, column },
            _ => Self::Syntax { line, column },
        }
    }
}

#[derive(Deserialize)]
struct TokenFields {
    token: String,
    client_id: String,
    scopes: Vec<String>,
    #[serde(default)]
    expires_at: Option<i64>,
    #[serde(default)]
    resource: Option<String>,
    #[serde(default)]
    subject: Option<String>,
    #[serde(default)]
    claims: ClaimsProbe,
    #[serde(default)]
    original_client_id: Option<String>,
}

/// Checks that `claims` is an object and keeps only its `sub` (last one wins).
#[derive(Default)]
struct ClaimsProbe {
    sub: Option<Value>,
}

impl<'de> Deserialize<'de> for ClaimsProbe {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ProbeVisitor;
        impl<'de> Visitor<'de> for ProbeVisitor {
            type Value = ClaimsProbe;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of claims")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ClaimsProbe, A::Error> {
                let mut probe = ClaimsProbe::default();
                while let Some(key) = map.next_key::<ClaimName>()? {
                    if key.0 {
                        probe.sub = Some(map.next_value::<Value>()?);
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(probe)
            }
        }
        deserializer.deserialize_map(ProbeVisitor)
    }
}

/// A claim name: whether it is `sub`.
struct ClaimName(bool);

impl<'de> Deserialize<'de> for ClaimName {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NameVisitor;
        impl Visitor<'_> for NameVisitor {
            type Value = ClaimName;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a claim name")
            }
            fn visit_str<E: de::Error>(self, name: &str) -> Result<ClaimName, E> {
                Ok(ClaimName(name == "sub"))
            }
        }
        deserializer.deserialize_str(NameVisitor)
    }
}

/// Only the claims of a token text, for the lazy full parse.
#[derive(Deserialize)]
struct ClaimsOnly {
    #[serde(default)]
    claims: Map<String, Value>,
}

impl AccessToken {
    /// Parses the reference's `access_token_json` text, keeping it verbatim for re-encoding.
    ///
    /// Unknown fields are ignored (as pydantic does); missing required fields and wrong types are
    /// a [`TokenError`].
    pub fn from_json(json: &str) -> Result<Self, TokenError> {
        Self::from_json_string(json.to_owned())
    }

    /// Parses an owned `access_token_json` text (no copy of the text is made).
    pub fn from_json_string(json: String) -> Result<Self, TokenError> {
        let json = Wiped::new(json);
        if let Some(fast) = crate::fastjson::token(&json) {
            return Ok(Self::from_fast(json, fast));
        }
        Self::general_from_json(json)
    }

    /// A token from its text and the fields the fast path read from it.
    pub(crate) fn from_fast(json: Wiped<String>, fast: FastToken) -> Self {
        {
            Self {
                token: fast.token,
                client_id: fast.client_id,
                scopes: OnceLock::new(),
                scopes_span: fast.scopes,
                expires_at: fast.expires_at,
                resource: fast.resource,
                subject: fast.subject,
                sub: OnceLock::new(),
                sub_span: fast.sub,
                claims: OnceLock::new(),
                original_client_id: fast.original_client_id,
                json,
            }
        }
    }

    /// The general reader: accepts every token text the fast path declines, and names errors.
    pub(crate) fn general_from_json(json: Wiped<String>) -> Result<Self, TokenError> {
        // Within the limit, the lazy parse of all claims cannot fail on depth either.
        if crate::fastjson::nests_deeper_than(&json, crate::json::MAX_NESTING) {
            return Err(TokenError::TooDeep {
                limit: crate::json::MAX_NESTING,
            });
        }
        let fields: TokenFields =
            serde_json::from_str(&json).map_err(|error| TokenError::from_json(&error))?;
        Ok(Self::from_fields(fields, json))
    }

    fn from_fields(fields: TokenFields, json: Wiped<String>) -> Self {
        Self {
            token: Part::Owned(Wiped::new(fields.token)),
            client_id: Part::Owned(Wiped::new(fields.client_id)),
            scopes: OnceLock::from(fields.scopes),
            scopes_span: (0, 0),
            expires_at: fields.expires_at,
            resource: fields.resource,
            subject: fields.subject,
            sub: OnceLock::from(fields.claims.sub),
            sub_span: None,
            claims: OnceLock::new(),
            original_client_id: fields.original_client_id,
            json,
        }
    }

    /// Starts building a token from its parts; the JSON text is produced as the reference's
    /// pydantic `model_dump_json()` would (compact, raw UTF-8, fields in the reference's order).
    #[must_use]
    pub fn builder(token: impl Into<String>, client_id: impl Into<String>) -> AccessTokenBuilder {
        AccessTokenBuilder {
            token: Wiped::new(token.into()),
            client_id: client_id.into(),
            scopes: Vec::new(),
            expires_at: None,
            resource: None,
            subject: None,
            claims: Vec::new(),
            original_client_id: None,
        }
    }

    /// The bearer token itself. Handle with care: it authorises as the caller.
    #[must_use]
    pub fn token(&self) -> &str {
        self.token.get(&self.json)
    }

    /// The OAuth client the token was issued to.
    #[must_use]
    pub fn client_id(&self) -> &str {
        self.client_id.get(&self.json)
    }

    /// The granted scopes.
    #[must_use]
    pub fn scopes(&self) -> &[String] {
        self.scopes
            .get_or_init(|| crate::fastjson::scopes_at(&self.json, self.scopes_span))
    }

    /// Expiry in unix seconds, if the token has one.
    #[must_use]
    pub fn expires_at(&self) -> Option<i64> {
        self.expires_at
    }

    /// The resource (audience) the token was issued for, if any.
    #[must_use]
    pub fn resource(&self) -> Option<&str> {
        self.resource.as_deref()
    }

    /// The token's subject field, if any (distinct from the `sub` claim).
    #[must_use]
    pub fn subject(&self) -> Option<&str> {
        self.subject.as_deref()
    }

    /// All claims, as decoded from the token (parsed on first use, then kept).
    #[must_use]
    pub fn claims(&self) -> &Map<String, Value> {
        self.claims.get_or_init(|| {
            // The text was validated when the token was made; this cannot fail.
            serde_json::from_str::<ClaimsOnly>(&self.json)
                .map(|only| only.claims)
                .unwrap_or_default()
        })
    }

    /// The `sub` claim, the second input (after [`client_id`](Self::client_id)) of the task scope.
    #[must_use]
    pub fn sub_claim(&self) -> Option<&Value> {
        self.sub
            .get_or_init(|| {
                self.sub_span
                    .and_then(|span| crate::fastjson::string_at(&self.json, span))
                    .map(Value::String)
            })
            .as_ref()
    }

    /// The `sub` claim when it is a string (`None` without one, or when it is of another JSON
    /// type: [`sub_claim`](Self::sub_claim) has those). A decoded token's string `sub` without
    /// escapes is read in place, without building it as a JSON value.
    #[must_use]
    pub fn sub_claim_str(&self) -> Option<&str> {
        if self.sub.get().is_none()
            && let Some(Cow::Borrowed(text)) = self
                .sub_span
                .and_then(|span| crate::fastjson::str_at(&self.json, span))
        {
            return Some(text);
        }
        self.sub_claim().and_then(Value::as_str)
    }

    /// The client id before any token exchange, if the token records one.
    #[must_use]
    pub fn original_client_id(&self) -> Option<&str> {
        self.original_client_id.as_deref()
    }

    /// The token as the reference's `access_token_json` text (byte-identical to what was parsed).
    #[must_use]
    pub fn json(&self) -> &str {
        &self.json
    }

    /// Whether the token has expired at `now` (unix seconds): `expires_at` is set and `< now`.
    #[must_use]
    pub fn is_expired(&self, now: i64) -> bool {
        self.expires_at.is_some_and(|expires_at| expires_at < now)
    }

    /// [`is_expired`](Self::is_expired) at the system clock's current time.
    #[must_use]
    pub fn is_expired_now(&self) -> bool {
        self.is_expired(unix_now())
    }
}

/// The current unix time in whole seconds (0 before the epoch, saturating far in the future).
pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX)
        })
}

impl PartialEq for AccessToken {
    fn eq(&self, other: &Self) -> bool {
        self.json == other.json
    }
}

impl Eq for AccessToken {}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("token", &"[redacted]")
            .field("client_id", &self.client_id())
            .field("scopes", &self.scopes())
            .field("expires_at", &self.expires_at)
            .field("resource", &self.resource)
            .field("subject", &self.subject)
            .field("claims", &ClaimNames(self.claims()))
            .field("original_client_id", &self.original_client_id)
            .finish()
    }
}

/// Shows only the names of the claims: their values may be personal data.
struct ClaimNames<'a>(&'a Map<String, Value>);

impl fmt::Debug for ClaimNames<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

/// Builds an [`AccessToken`] from its parts (see [`AccessToken::builder`]).
#[derive(Clone)]
pub struct AccessTokenBuilder {
    token: Wiped<String>,
    client_id: String,
    scopes: Vec<String>,
    expires_at: Option<i64>,
    resource: Option<String>,
    subject: Option<String>,
    /// Claims in insertion order (the JSON text keeps it; the parsed map does not need to).
    claims: Vec<(String, Value)>,
    original_client_id: Option<String>,
}

impl fmt::Debug for AccessTokenBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessTokenBuilder")
            .field("token", &"[redacted]")
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

impl AccessTokenBuilder {
    /// Sets the granted scopes.
    #[must_use]
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the expiry (unix seconds).
    #[must_use]
    pub fn expires_at(mut self, expires_at: i64) -> Self {
        self.expires_at = Some(expires_at);
        self
    }

    /// Sets the resource (audience).
    #[must_use]
    pub fn resource(mut self, resource: impl Into<String>) -> Self {
        self.resource = Some(resource.into());
        self
    }

    /// Sets the subject field.
    #[must_use]
    pub fn subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    /// Sets one claim (for example `"sub"`). Claims are written in insertion order; setting a
    /// claim again keeps its position and takes the new value.
    #[must_use]
    pub fn claim(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        let name = name.into();
        let value = value.into();
        match self
            .claims
            .iter_mut()
            .find(|(existing, _)| *existing == name)
        {
            Some((_, slot)) => *slot = value,
            None => self.claims.push((name, value)),
        }
        self
    }

    /// Replaces all claims.
    #[must_use]
    pub fn claims(mut self, claims: Map<String, Value>) -> Self {
        self.claims = claims.into_iter().collect();
        self
    }

    /// Sets the original client id.
    #[must_use]
    pub fn original_client_id(mut self, original_client_id: impl Into<String>) -> Self {
        self.original_client_id = Some(original_client_id.into());
        self
    }

    /// Finishes the token, writing its JSON text in the reference's form.
    #[must_use]
    pub fn build(self) -> AccessToken {
        let mut json = Wiped::new(String::with_capacity(160 + self.token.len()));
        write_token_json(&mut json, &self);
        AccessToken {
            token: Part::Owned(self.token),
            client_id: Part::Owned(Wiped::new(self.client_id)),
            scopes: OnceLock::from(self.scopes),
            scopes_span: (0, 0),
            expires_at: self.expires_at,
            resource: self.resource,
            subject: self.subject,
            sub: OnceLock::from(
                self.claims
                    .iter()
                    .find(|(name, _)| name == "sub")
                    .map(|(_, value)| value.clone()),
            ),
            sub_span: None,
            claims: OnceLock::from(self.claims.into_iter().collect::<Map<String, Value>>()),
            original_client_id: self.original_client_id,
            json,
        }
    }
}

/// Writes pydantic's compact `model_dump_json()` of the token: fields in the reference's order,
/// no spaces, raw UTF-8 with JSON's mandatory escapes only.
fn write_token_json(out: &mut String, parts: &AccessTokenBuilder) {
    out.push_str("{\"token\":");
    push_compact_str(out, &parts.token);
    out.push_str(",\"client_id\":");
    push_compact_str(out, &parts.client_id);
    out.push_str(",\"scopes\":[");
    for (index, scope) in parts.scopes.iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        push_compact_str(out, scope);
    }
    out.push_str("],\"expires_at\":");
    match parts.expires_at {
        Some(expires_at) => out.push_str(&expires_at.to_string()),
        None => out.push_str("null"),
    }
    out.push_str(",\"resource\":");
    push_optional(out, parts.resource.as_deref());
    out.push_str(",\"subject\":");
    push_optional(out, parts.subject.as_deref());
    out.push_str(",\"claims\":{");
    for (index, (name, value)) in parts.claims.iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        push_compact_str(out, name);
        out.push(':');
        // `Value`'s Display is its compact JSON and cannot fail.
        out.push_str(&value.to_string());
    }
    out.push('}');
    out.push_str(",\"original_client_id\":");
    push_optional(out, parts.original_client_id.as_deref());
    out.push('}');
}

fn push_optional(out: &mut String, value: Option<&str>) {
    match value {
        Some(text) => push_compact_str(out, text),
        None => out.push_str("null"),
    }
}

/// Writes `text` as a JSON string the way serde_json (and so pydantic-core) does: quote and backslash
/// escaped, control characters as short escapes or `\u00xx`, everything else raw UTF-8.
fn push_compact_str(out: &mut String, text: &str) {
    out.push('"');
    for ch in text.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            control if u32::from(control) < 0x20 => {
                out.push_str(&format!("\\u{:04x}", u32::from(control)));
            }
            other => out.push(other),
        }
    }
    out.push('"');
}
