//! The caller's access token, kept exactly as the reference serialised it.

use std::fmt;
use std::sync::{Arc, OnceLock};

use serde::de::{self, IgnoredAny, MapAccess, Visitor};
use serde::ser::{SerializeMap, SerializeStruct};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};
use taskctx_scope::{Error as ScopeError, Scope, SubClaim};
use zeroize::Zeroizing;

use crate::nesting::{MAX_NESTING, nests_deeper_than};

/// An OAuth access token as the reference stores it inside a snapshot (`access_token_json`).
///
/// The original JSON text is kept, so re-encoding a decoded token is byte-identical. A token is
/// immutable and its clones share one copy of it, so the secret is held once however many
/// snapshots carry it: the token string and the JSON text (which contains it) are zeroized when
/// the last clone is dropped, and `Debug` never shows either.
#[derive(Clone)]
pub struct AccessToken {
    parts: Arc<Parts>,
}

/// The parts of an [`AccessToken`], shared by its clones.
struct Parts {
    token: Zeroizing<String>,
    client_id: String,
    scopes: Vec<String>,
    expires_at: Option<i64>,
    resource: Option<String>,
    subject: Option<String>,
    /// The `sub` claim (it feeds the task scope).
    sub: Option<Value>,
    /// All claims, parsed from `json` on first use.
    claims: OnceLock<Map<String, Value>>,
    original_client_id: Option<String>,
    json: Zeroizing<String>,
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
        let json = Zeroizing::new(json);
        // Within the limit, the lazy parse of all claims cannot fail on depth either.
        if nests_deeper_than(&json, MAX_NESTING) {
            return Err(TokenError::TooDeep { limit: MAX_NESTING });
        }
        let fields: TokenFields =
            serde_json::from_str(&json).map_err(|error| TokenError::from_json(&error))?;
        Ok(Self::from_parts(Parts {
            token: Zeroizing::new(fields.token),
            client_id: fields.client_id,
            scopes: fields.scopes,
            expires_at: fields.expires_at,
            resource: fields.resource,
            subject: fields.subject,
            sub: fields.claims.sub,
            claims: OnceLock::new(),
            original_client_id: fields.original_client_id,
            json,
        }))
    }

    fn from_parts(parts: Parts) -> Self {
        Self {
            parts: Arc::new(parts),
        }
    }

    /// Starts building a token from its parts; the JSON text is produced as the reference's
    /// pydantic `model_dump_json()` would (compact, raw UTF-8, fields in the reference's order).
    #[must_use]
    pub fn builder(token: impl Into<String>, client_id: impl Into<String>) -> AccessTokenBuilder {
        AccessTokenBuilder {
            token: Zeroizing::new(token.into()),
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
        &self.parts.token
    }

    /// The OAuth client the token was issued to.
    #[must_use]
    pub fn client_id(&self) -> &str {
        &self.parts.client_id
    }

    /// The granted scopes.
    #[must_use]
    pub fn scopes(&self) -> &[String] {
        &self.parts.scopes
    }

    /// Expiry in unix seconds, if the token has one.
    #[must_use]
    pub fn expires_at(&self) -> Option<i64> {
        self.parts.expires_at
    }

    /// The resource (audience) the token was issued for, if any.
    #[must_use]
    pub fn resource(&self) -> Option<&str> {
        self.parts.resource.as_deref()
    }

    /// The token's subject field, if any (distinct from the `sub` claim).
    #[must_use]
    pub fn subject(&self) -> Option<&str> {
        self.parts.subject.as_deref()
    }

    /// All claims, as decoded from the token (parsed on first use, then kept).
    #[must_use]
    pub fn claims(&self) -> &Map<String, Value> {
        self.parts.claims.get_or_init(|| {
            // The text was validated when the token was made; this cannot fail.
            serde_json::from_str::<ClaimsOnly>(&self.parts.json)
                .map(|only| only.claims)
                .unwrap_or_default()
        })
    }

    /// The `sub` claim, the second input (after [`client_id`](Self::client_id)) of the task scope.
    #[must_use]
    pub fn sub_claim(&self) -> Option<&Value> {
        self.parts.sub.as_ref()
    }

    /// The `sub` claim when it is a string (`None` without one, or when it is of another JSON
    /// type: [`sub_claim`](Self::sub_claim) has those).
    #[must_use]
    pub fn sub_claim_str(&self) -> Option<&str> {
        self.parts.sub.as_ref().and_then(Value::as_str)
    }

    /// The `sub` claim as the key layer reads it when it composes the task scope.
    #[must_use]
    pub fn sub(&self) -> SubClaim<'_> {
        match &self.parts.sub {
            None => SubClaim::Absent,
            Some(Value::Null) => SubClaim::Null,
            Some(Value::Bool(value)) => SubClaim::Bool(*value),
            Some(Value::Number(number)) => match (number.as_i64(), number.as_u64()) {
                (Some(value), _) => SubClaim::Integer(i128::from(value)),
                (None, Some(value)) => SubClaim::Integer(i128::from(value)),
                (None, None) => SubClaim::Float(number.as_f64().unwrap_or(f64::NAN)),
            },
            Some(Value::String(text)) => SubClaim::String(text),
            Some(Value::Array(_)) => SubClaim::Array,
            Some(Value::Object(_)) => SubClaim::Object,
        }
    }

    /// The scope this token stands for (SPEC §2): `client_id|sub`, or `client_id` without a
    /// `sub`.
    ///
    /// # Errors
    /// The key layer's error when the token gives no valid scope (a `client_id` with `|`, or a
    /// `sub` claim that is `true`, a float, an array or an object).
    pub fn scope(&self) -> Result<Scope<'_>, ScopeError> {
        Scope::from_token(self.client_id(), self.sub())
    }

    /// The client id before any token exchange, if the token records one.
    #[must_use]
    pub fn original_client_id(&self) -> Option<&str> {
        self.parts.original_client_id.as_deref()
    }

    /// The token as the reference's `access_token_json` text (byte-identical to what was parsed).
    #[must_use]
    pub fn json(&self) -> &str {
        &self.parts.json
    }

    /// Whether the token has expired at `now` (unix seconds): `expires_at` is set and `< now`.
    #[must_use]
    pub fn is_expired(&self, now: i64) -> bool {
        self.parts
            .expires_at
            .is_some_and(|expires_at| expires_at < now)
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
        self.parts.json == other.parts.json
    }
}

impl Eq for AccessToken {}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("token", &"[redacted]")
            .field("client_id", &self.client_id())
            .field("scopes", &self.scopes())
            .field("expires_at", &self.parts.expires_at)
            .field("resource", &self.parts.resource)
            .field("subject", &self.parts.subject)
            .field("claims", &ClaimNames(self.claims()))
            .field("original_client_id", &self.parts.original_client_id)
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
    token: Zeroizing<String>,
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
        // Serialising strings and JSON values into memory cannot fail.
        let json = Zeroizing::new(serde_json::to_string(&self).unwrap_or_default());
        AccessToken::from_parts(Parts {
            sub: self
                .claims
                .iter()
                .find(|(name, _)| name == "sub")
                .map(|(_, value)| value.clone()),
            claims: OnceLock::from(self.claims.into_iter().collect::<Map<String, Value>>()),
            token: self.token,
            client_id: self.client_id,
            scopes: self.scopes,
            expires_at: self.expires_at,
            resource: self.resource,
            subject: self.subject,
            original_client_id: self.original_client_id,
            json,
        })
    }
}

/// pydantic's compact `model_dump_json()` of the token, which serde_json's compact writer
/// reproduces: fields in the reference's order, no spaces, raw UTF-8 with JSON's mandatory
/// escapes only, claims in insertion order.
impl Serialize for AccessTokenBuilder {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut token = serializer.serialize_struct("AccessToken", 8)?;
        token.serialize_field("token", self.token.as_str())?;
        token.serialize_field("client_id", &self.client_id)?;
        token.serialize_field("scopes", &self.scopes)?;
        token.serialize_field("expires_at", &self.expires_at)?;
        token.serialize_field("resource", &self.resource)?;
        token.serialize_field("subject", &self.subject)?;
        token.serialize_field("claims", &Claims(&self.claims))?;
        token.serialize_field("original_client_id", &self.original_client_id)?;
        token.end()
    }
}

/// Claims as a JSON object, in insertion order.
struct Claims<'a>(&'a [(String, Value)]);

impl Serialize for Claims<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, value) in self.0 {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}
