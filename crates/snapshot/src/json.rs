//! The fastmcp-compatible JSON stored form: byte-identical to the reference's `to_json`, and a
//! reader that accepts everything the reference writes.

use std::borrow::Cow;
use std::fmt;
use std::io;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::ser::Formatter;

use crate::headers::{Headers, lowercase_name};
use crate::nesting::nests_deeper_than;
use crate::snapshot::{TRACEPARENT, TRACESTATE, TaskContextSnapshot};
use crate::token::{AccessToken, TokenError};

pub use crate::nesting::MAX_NESTING;

/// The most bytes of a header name an error message repeats.
const NAME_EXCERPT_MAX_BYTES: usize = 64;

const FIELD_NAMES: [&str; 6] = [
    "access_token_json",
    "http_headers",
    "origin_request_id",
    "session_id",
    "owning_tool_name",
    "owning_tool_version",
];

/// Encodes a snapshot as the reference's `to_json` does, as a `String` (always ASCII).
#[must_use]
pub fn to_json(snapshot: &TaskContextSnapshot) -> String {
    let mut out = Vec::new();
    write_json(snapshot, &mut out);
    // Every byte written is ASCII, so this never fails; fall back to lossy just in case.
    String::from_utf8(out)
        .unwrap_or_else(|error| String::from_utf8_lossy(error.as_bytes()).into_owned())
}

/// Appends the reference's `to_json` of a snapshot to `out`.
///
/// Fields in the reference's order, separators `", "` and `": "`, every character outside
/// 0x20–0x7E escaped as `\uXXXX` (lowercase hex, surrogate pairs above the BMP) except the short
/// escapes, `/` unescaped. A trace-context field not already present as a header is appended to
/// the header object under its header name.
pub fn write_json(snapshot: &TaskContextSnapshot, out: &mut Vec<u8>) {
    out.reserve(size_hint(snapshot));
    let mut serializer = serde_json::Serializer::with_formatter(out, ReferenceFormatter);
    // Serialising strings into memory cannot fail.
    let _ = Stored(snapshot).serialize(&mut serializer);
}

/// A first guess at the size of a snapshot's JSON: its texts with room for some escapes, the
/// field names and the separators.
fn size_hint(snapshot: &TaskContextSnapshot) -> usize {
    let token = snapshot
        .access_token
        .as_ref()
        .map_or(0, |token| token.json().len());
    let headers = snapshot
        .http_headers
        .as_ref()
        .map_or(0, |headers| headers.total_bytes() + 8 * headers.len());
    let fields = [
        &snapshot.origin_request_id,
        &snapshot.session_id,
        &snapshot.owning_tool_name,
        &snapshot.owning_tool_version,
        &snapshot.traceparent,
        &snapshot.tracestate,
    ];
    let text = token
        + headers
        + fields
            .iter()
            .map(|field| field.as_ref().map_or(0, String::len))
            .sum::<usize>();
    text + text / 4 + 192
}

/// A snapshot as the reference's `to_json` lays it out.
struct Stored<'a>(&'a TaskContextSnapshot);

impl Serialize for Stored<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let snapshot = self.0;
        let mut map = serializer.serialize_map(Some(FIELD_NAMES.len()))?;
        map.serialize_entry(
            "access_token_json",
            &snapshot.access_token.as_ref().map(AccessToken::json),
        )?;
        map.serialize_entry("http_headers", &StoredHeaders(snapshot))?;
        map.serialize_entry("origin_request_id", &snapshot.origin_request_id)?;
        map.serialize_entry("session_id", &snapshot.session_id)?;
        map.serialize_entry("owning_tool_name", &snapshot.owning_tool_name)?;
        map.serialize_entry("owning_tool_version", &snapshot.owning_tool_version)?;
        map.end()
    }
}

/// The `http_headers` object: the headers, then each trace-context field not among them, or null
/// when there are neither.
struct StoredHeaders<'a>(&'a TaskContextSnapshot);

impl Serialize for StoredHeaders<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let headers = self.0.http_headers.as_ref();
        let extra_trace = [
            (TRACEPARENT, self.0.traceparent.as_deref()),
            (TRACESTATE, self.0.tracestate.as_deref()),
        ]
        .into_iter()
        .filter_map(|(name, value)| Some((name, value?)))
        .filter(|(name, _)| !headers.is_some_and(|headers| headers.contains(name)));
        if headers.is_none() && extra_trace.clone().next().is_none() {
            return serializer.serialize_none();
        }
        serializer.collect_map(headers.into_iter().flatten().chain(extra_trace))
    }
}

/// The reference's `json.dumps` layout: separators `", "` and `": "`, and `ensure_ascii`
/// escaping (serde_json writes the short escapes and `\u00xx` for the other control
/// characters; this escapes DEL and everything beyond ASCII as `\uxxxx`).
struct ReferenceFormatter;

impl Formatter for ReferenceFormatter {
    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if first {
            Ok(())
        } else {
            writer.write_all(b", ")
        }
    }

    fn begin_object_value<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        writer.write_all(b": ")
    }

    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut rest = fragment;
        while let Some(at) = rest.bytes().position(|byte| !matches!(byte, b' '..=b'~')) {
            let (plain, tail) = rest.split_at(at);
            writer.write_all(plain.as_bytes())?;
            let mut chars = tail.chars();
            let Some(ch) = chars.next() else { break };
            let mut units = [0_u16; 2];
            for unit in ch.encode_utf16(&mut units) {
                writer.write_all(&unicode_escape(*unit))?;
            }
            rest = chars.as_str();
        }
        writer.write_all(rest.as_bytes())
    }
}

/// `\uXXXX` with lowercase hex, as Python's `json` writes it.
fn unicode_escape(unit: u16) -> [u8; 6] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digit = |shift: u16| {
        HEX.get(usize::from((unit >> shift) & 0xf))
            .copied()
            .unwrap_or(b'0')
    };
    [b'\\', b'u', digit(12), digit(8), digit(4), digit(0)]
}

/// The JSON type of a value, as named in errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonKind {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool,
    /// A number.
    Number,
    /// A string.
    String,
    /// An array.
    Array,
    /// An object.
    Object,
}

impl fmt::Display for JsonKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Null => "null",
            Self::Bool => "a boolean",
            Self::Number => "a number",
            Self::String => "a string",
            Self::Array => "an array",
            Self::Object => "an object",
        })
    }
}

/// Why a JSON stored value is not a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JsonError {
    /// The bytes are not UTF-8.
    #[error("the snapshot JSON is not valid UTF-8 (first invalid byte at offset {valid_up_to})")]
    InvalidUtf8 {
        /// Length of the valid prefix.
        valid_up_to: usize,
    },
    /// The text nests arrays and objects deeper than [`MAX_NESTING`] levels.
    #[error("the snapshot JSON nests arrays and objects deeper than {limit} levels")]
    TooDeep {
        /// The limit, [`MAX_NESTING`].
        limit: usize,
    },
    /// The text is not JSON.
    #[error("the snapshot is not valid JSON (line {line}, column {column})")]
    Syntax {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
    },
    /// The JSON is not an object.
    #[error("the snapshot JSON is {found}, not an object")]
    NotAnObject {
        /// What was found.
        found: JsonKind,
    },
    /// A field has the wrong type (the reference would keep it as is; this is a Deviation).
    #[error("snapshot field `{field}` is {found}; expected {expected}")]
    WrongFieldType {
        /// The field.
        field: &'static str,
        /// What was found.
        found: JsonKind,
        /// What was expected.
        expected: &'static str,
    },
    /// A header value is not a string (the reference would `str()` it; this is a Deviation).
    #[error("header `{name}` has {found} as its value; header values must be strings")]
    NonStringHeaderValue {
        /// The header name (at most 64 bytes of it).
        name: String,
        /// What was found.
        found: JsonKind,
    },
    /// `access_token_json` is not a valid access token.
    #[error("snapshot field `access_token_json` is not a valid access token")]
    AccessToken(#[from] TokenError),
}

/// Decodes the JSON stored form.
///
/// Missing fields are `None`, unknown fields are ignored, a repeated field takes its last value,
/// header names are lowercased (a later duplicate keeps the first one's position and takes its
/// value). Non-string header values and fields of the wrong type are errors.
pub fn from_json(bytes: &[u8]) -> Result<TaskContextSnapshot, JsonError> {
    let text = std::str::from_utf8(bytes).map_err(|error| JsonError::InvalidUtf8 {
        valid_up_to: error.valid_up_to(),
    })?;
    from_json_str(text)
}

/// Decodes the JSON stored form from text (see [`from_json`]).
pub fn from_json_str(text: &str) -> Result<TaskContextSnapshot, JsonError> {
    if nests_deeper_than(text, MAX_NESTING) {
        return Err(JsonError::TooDeep { limit: MAX_NESTING });
    }
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let raw = deserializer
        .deserialize_any(TopVisitor)
        .and_then(|raw| deserializer.end().map(|()| raw))
        .map_err(|error| JsonError::Syntax {
            line: error.line(),
            column: error.column(),
        })?;
    raw.into_snapshot()
}

/// The access token of an `access_token_json` value: an empty text is no token, as in the
/// reference's restore (`if snapshot.access_token_json:`), and re-encodes as `null`.
fn token_of(text: Option<String>) -> Result<Option<AccessToken>, JsonError> {
    match text {
        Some(text) if !text.is_empty() => Ok(Some(AccessToken::from_json_string(text)?)),
        _ => Ok(None),
    }
}

/// One top-level field as read: last assignment wins, a wrong type is kept to report later.
type Slot<T> = Result<Option<T>, JsonKind>;

#[derive(Default)]
struct RawSnapshot {
    not_an_object: Option<JsonKind>,
    access_token_json: Option<Slot<String>>,
    http_headers: Option<Result<Option<Headers>, HeadersProblem>>,
    strings: [Option<Slot<String>>; 4],
}

enum HeadersProblem {
    NotAnObject(JsonKind),
    Value { name: String, found: JsonKind },
}

fn take_slot(slot: Option<Slot<String>>, field: &'static str) -> Result<Option<String>, JsonError> {
    match slot {
        None | Some(Ok(None)) => Ok(None),
        Some(Ok(Some(text))) => Ok(Some(text)),
        Some(Err(found)) => Err(JsonError::WrongFieldType {
            field,
            found,
            expected: "a string or null",
        }),
    }
}

impl RawSnapshot {
    fn into_snapshot(self) -> Result<TaskContextSnapshot, JsonError> {
        if let Some(found) = self.not_an_object {
            return Err(JsonError::NotAnObject { found });
        }
        let access_token = token_of(take_slot(self.access_token_json, "access_token_json")?)?;
        let http_headers = match self.http_headers {
            None => None,
            Some(Ok(headers)) => headers,
            Some(Err(HeadersProblem::NotAnObject(found))) => {
                return Err(JsonError::WrongFieldType {
                    field: "http_headers",
                    found,
                    expected: "an object or null",
                });
            }
            Some(Err(HeadersProblem::Value { name, found })) => {
                return Err(JsonError::NonStringHeaderValue { name, found });
            }
        };
        let [
            origin_request_id,
            session_id,
            owning_tool_name,
            owning_tool_version,
        ] = self.strings;
        Ok(TaskContextSnapshot {
            access_token,
            http_headers,
            origin_request_id: take_slot(origin_request_id, "origin_request_id")?,
            session_id: take_slot(session_id, "session_id")?,
            owning_tool_name: take_slot(owning_tool_name, "owning_tool_name")?,
            owning_tool_version: take_slot(owning_tool_version, "owning_tool_version")?,
            traceparent: None,
            tracestate: None,
        })
    }
}

/// Which top-level field a key names.
enum Field {
    AccessTokenJson,
    HttpHeaders,
    String(usize),
    Unknown,
}

impl Field {
    fn of(name: &str) -> Self {
        match name {
            "access_token_json" => Self::AccessTokenJson,
            "http_headers" => Self::HttpHeaders,
            "origin_request_id" => Self::String(0),
            "session_id" => Self::String(1),
            "owning_tool_name" => Self::String(2),
            "owning_tool_version" => Self::String(3),
            _ => Self::Unknown,
        }
    }
}

impl<'de> de::Deserialize<'de> for Field {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FieldVisitor;
        impl Visitor<'_> for FieldVisitor {
            type Value = Field;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E: de::Error>(self, name: &str) -> Result<Field, E> {
                Ok(Field::of(name))
            }
        }
        deserializer.deserialize_str(FieldVisitor)
    }
}

/// A value that should be a string or null; anything else is drained and reported by kind.
struct StringOrNull(Slot<String>);

impl<'de> de::Deserialize<'de> for StringOrNull {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(KindVisitor).map(|value| {
            StringOrNull(match value {
                Kinded::Null => Ok(None),
                Kinded::Text(text) => Ok(Some(text.into_owned())),
                Kinded::Other(kind) => Err(kind),
            })
        })
    }
}

/// A value of any type: text and null kept, anything else drained and named by kind.
enum Kinded<'de> {
    Null,
    Text(Cow<'de, str>),
    Other(JsonKind),
}

struct KindVisitor;

impl<'de> Visitor<'de> for KindVisitor {
    type Value = Kinded<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Kinded::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Kinded::Null)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Kinded::Other(JsonKind::Bool))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Kinded::Other(JsonKind::Number))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Kinded::Other(JsonKind::Number))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Kinded::Other(JsonKind::Number))
    }
    fn visit_borrowed_str<E: de::Error>(self, text: &'de str) -> Result<Self::Value, E> {
        Ok(Kinded::Text(Cow::Borrowed(text)))
    }
    fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
        Ok(Kinded::Text(Cow::Owned(text.to_owned())))
    }
    fn visit_string<E: de::Error>(self, text: String) -> Result<Self::Value, E> {
        Ok(Kinded::Text(Cow::Owned(text)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Kinded::Other(JsonKind::Array))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Kinded::Other(JsonKind::Object))
    }
}

/// The `http_headers` field: an object of strings, or null.
struct HeadersField(Result<Option<Headers>, HeadersProblem>);

impl<'de> de::Deserialize<'de> for HeadersField {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(HeadersVisitor)
    }
}

struct HeadersVisitor;

impl<'de> Visitor<'de> for HeadersVisitor {
    type Value = HeadersField;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object of header names to string values, or null")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(HeadersField(Ok(None)))
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(HeadersField(Ok(None)))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(not_an_object(JsonKind::Bool))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(not_an_object(JsonKind::Number))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(not_an_object(JsonKind::Number))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(not_an_object(JsonKind::Number))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(not_an_object(JsonKind::String))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(not_an_object(JsonKind::Array))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut headers = Headers::with_capacity(map.size_hint().unwrap_or(12));
        let mut problem = None;
        while let Some(name) = map.next_key_seed(KindSeed)? {
            let Kinded::Text(name) = name else {
                // Object keys are always strings in JSON.
                map.next_value::<IgnoredAny>()?;
                continue;
            };
            match map.next_value_seed(KindSeed)? {
                Kinded::Text(value) => headers.insert(&name, &*value),
                Kinded::Null => {
                    problem.get_or_insert_with(|| value_problem(&name, JsonKind::Null));
                }
                Kinded::Other(kind) => {
                    problem.get_or_insert_with(|| value_problem(&name, kind));
                }
            }
        }
        Ok(HeadersField(match problem {
            Some(problem) => Err(problem),
            None => Ok(Some(headers)),
        }))
    }
}

struct KindSeed;

impl<'de> de::DeserializeSeed<'de> for KindSeed {
    type Value = Kinded<'de>;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(KindVisitor)
    }
}

fn not_an_object(found: JsonKind) -> HeadersField {
    HeadersField(Err(HeadersProblem::NotAnObject(found)))
}

fn value_problem(name: &str, found: JsonKind) -> HeadersProblem {
    let name = lowercase_name(name);
    let mut end = name.len().min(NAME_EXCERPT_MAX_BYTES);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    HeadersProblem::Value {
        name: name.get(..end).unwrap_or_default().to_owned(),
        found,
    }
}

struct TopVisitor;

impl<'de> Visitor<'de> for TopVisitor {
    type Value = RawSnapshot;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "an object with the fields {FIELD_NAMES:?}")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(top_level(JsonKind::Null))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(top_level(JsonKind::Bool))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(top_level(JsonKind::Number))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(top_level(JsonKind::Number))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(top_level(JsonKind::Number))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(top_level(JsonKind::String))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(top_level(JsonKind::Array))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut raw = RawSnapshot::default();
        while let Some(field) = map.next_key::<Field>()? {
            match field {
                Field::AccessTokenJson => {
                    raw.access_token_json = Some(map.next_value::<StringOrNull>()?.0);
                }
                Field::HttpHeaders => raw.http_headers = Some(map.next_value::<HeadersField>()?.0),
                Field::String(index) => {
                    let value = map.next_value::<StringOrNull>()?.0;
                    if let Some(slot) = raw.strings.get_mut(index) {
                        *slot = Some(value);
                    }
                }
                Field::Unknown => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(raw)
    }
}

fn top_level(found: JsonKind) -> RawSnapshot {
    RawSnapshot {
        not_an_object: Some(found),
        ..RawSnapshot::default()
    }
}
