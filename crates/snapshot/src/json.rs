//! The fastmcp-compatible JSON stored form: byte-identical to the reference's `to_json`, and a
//! reader that accepts everything the reference writes.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::fastjson::TokenText;
use crate::headers::{Headers, lowercase_name};
use crate::snapshot::{Ids, TRACEPARENT, TRACESTATE, TaskContextSnapshot};
use crate::swar;
use crate::token::{AccessToken, TokenError};

/// The deepest nesting of arrays and objects a stored JSON value (and the access token's own
/// JSON text inside it) may have, the outermost object counting as one: 127, one below
/// serde_json's recursion limit, so every reader (fast path, general reader, the lazy claims
/// parse) sees the same limit. Deeper values, in unknown fields and claims too, are
/// [`JsonError::TooDeep`] (or [`TokenError::TooDeep`] inside the token).
pub const MAX_NESTING: usize = 127;

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
    let mut out = Vec::with_capacity(estimated_len(snapshot));
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
    out.reserve(estimated_len(snapshot));
    out.extend_from_slice(b"{\"access_token_json\": ");
    write_optional(out, snapshot.access_token.as_ref().map(AccessToken::json));
    out.extend_from_slice(b", \"http_headers\": ");
    write_headers(out, snapshot);
    out.extend_from_slice(b", \"origin_request_id\": ");
    write_optional(out, snapshot.origin_request_id());
    out.extend_from_slice(b", \"session_id\": ");
    write_optional(out, snapshot.session_id());
    out.extend_from_slice(b", \"owning_tool_name\": ");
    write_optional(out, snapshot.owning_tool_name());
    out.extend_from_slice(b", \"owning_tool_version\": ");
    write_optional(out, snapshot.owning_tool_version());
    out.push(b'}');
}

/// Room for the written form of `snapshot`, so that writing it does not grow the buffer: the
/// token's text with a quarter more (its quotes escaped), the headers' text with an eighth more,
/// their quotes and separators, and the rest of the object; at least the room the token's text
/// takes while it is written (every byte doubled, see [`write_long_str`]). The full snapshot of
/// the conformance vectors (924 bytes written) gets 965.
fn estimated_len(snapshot: &TaskContextSnapshot) -> usize {
    let token = snapshot
        .access_token
        .as_ref()
        .map_or(0, |token| token.json().len());
    let (header_bytes, headers) = snapshot
        .http_headers
        .as_ref()
        .map_or((0, 0), |headers| (headers.total_bytes(), headers.len()));
    let usual = 176 + token * 5 / 4 + header_bytes * 9 / 8 + headers * 8;
    usual.max(40 + 2 * token + 16)
}

fn write_headers(out: &mut Vec<u8>, snapshot: &TaskContextSnapshot) {
    let extra_trace = [
        (TRACEPARENT, snapshot.traceparent.as_deref()),
        (TRACESTATE, snapshot.tracestate.as_deref()),
    ];
    let headers = snapshot.http_headers.as_ref();
    let has_extra = extra_trace.iter().any(|(name, value)| {
        value.is_some() && !headers.is_some_and(|headers| headers.contains(name))
    });
    if headers.is_none() && !has_extra {
        out.extend_from_slice(b"null");
        return;
    }
    out.push(b'{');
    let mut first = true;
    let mut entry = |out: &mut Vec<u8>, name: &str, value: &str| {
        if !first {
            out.extend_from_slice(b", ");
        }
        first = false;
        write_str(out, name);
        out.extend_from_slice(b": ");
        write_str(out, value);
    };
    if let Some(headers) = headers {
        for (name, value) in headers {
            entry(out, name, value);
        }
    }
    for (name, value) in extra_trace {
        if let Some(value) = value
            && !headers.is_some_and(|headers| headers.contains(name))
        {
            entry(out, name, value);
        }
    }
    out.push(b'}');
}

fn write_optional(out: &mut Vec<u8>, value: Option<&str>) {
    match value {
        Some(text) => write_str(out, text),
        None => out.extend_from_slice(b"null"),
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// `true` for the ASCII bytes written as they are.
#[allow(
    clippy::indexing_slicing,
    reason = "const evaluation: an out-of-range index fails the build, never a run"
)]
const fn plain_table() -> [bool; 256] {
    let mut table = [false; 256];
    let mut byte = 0x20;
    while byte < 0x7f {
        table[byte] = byte != b'"' as usize && byte != b'\\' as usize;
        byte += 1;
    }
    table
}

static PLAIN: [bool; 256] = plain_table();

fn push_unit(out: &mut Vec<u8>, unit: u32) {
    let digit = |shift: u32| {
        HEX.get(((unit >> shift) & 0xf) as usize)
            .copied()
            .unwrap_or(b'0')
    };
    out.extend_from_slice(&[b'\\', b'u', digit(12), digit(8), digit(4), digit(0)]);
}

/// A mask whose lowest set bit is the high bit of the first byte of `word` (little-endian) that
/// is not written as it is (anything but printable ASCII other than `"` and `\\`); zero when
/// there is none. Bits above the lowest one may be spurious.
fn escape_mask(word: u64) -> u64 {
    swar::first_equal(word, b'"')
        | swar::first_equal(word, b'\\')
        | swar::first_equal(word, 0x7f)
        | swar::first_below(word, 0x20)
        | (word & swar::HIGHS)
}

/// The last 1–7 bytes of `bytes`, from `index`, as a word whose bytes past them are `a` (a byte
/// written as it is), and their count; `None` when there are none (or 8 or more).
#[inline]
fn tail_word(bytes: &[u8], index: usize) -> Option<(u64, usize)> {
    let len = bytes.len().checked_sub(index)?;
    if len == 0 || len >= 8 {
        return None;
    }
    let pad = u64::from_le_bytes([b'a'; 8]) << (8 * len);
    // A text of 8 bytes or more: its last word, shifted down.
    if let Some(last) = bytes.last_chunk::<8>() {
        return Some((u64::from_le_bytes(*last) >> (8 * (8 - len)) | pad, len));
    }
    let mut word = 0;
    for (at, &byte) in bytes.get(index..)?.iter().enumerate() {
        word |= u64::from(byte) << (8 * at);
    }
    Some((word | pad, len))
}

/// Writes a JSON string with Python's `ensure_ascii=True` escaping. Plain bytes are copied a
/// word at a time: each word is appended whole, then the bytes from its first special one are
/// cut and handled one by one. Long texts take [`write_long_str`].
fn write_str(out: &mut Vec<u8>, text: &str) {
    if text.len() >= LONG_TEXT {
        write_long_str(out, text);
        return;
    }
    out.push(b'"');
    let bytes = text.as_bytes();
    let mut index = 0;
    loop {
        while let Some(chunk) = bytes.get(index..index + 8) {
            let mut word = [0_u8; 8];
            word.copy_from_slice(chunk);
            out.extend_from_slice(&word);
            let special = escape_mask(u64::from_le_bytes(word));
            if special != 0 {
                let run = (special.trailing_zeros() / 8) as usize;
                out.truncate(out.len() - 8 + run);
                index += run;
                // `"` and `\\`, the common escapes of the embedded token JSON, stay in this loop.
                if let Some(&quoted @ (b'"' | b'\\')) = bytes.get(index) {
                    out.extend_from_slice(&[b'\\', quoted]);
                    index += 1;
                    continue;
                }
                break;
            }
            index += 8;
        }
        if write_tail(out, bytes, index) {
            break;
        }
        let Some(step) = write_char(out, text, index) else {
            break;
        };
        index += step;
    }
    out.push(b'"');
}

/// From this length on, a text is written by [`write_long_str`].
const LONG_TEXT: usize = 64;

/// Writes a long JSON string as [`write_str`] does, its words into zero-filled room past the end
/// of `out` (sized for every byte doubled, so `"` and `\\` need no check), at a cursor: a word is
/// stored whole, and each `"` and `\\` in it escaped in place (a backslash stored over it, then
/// the rest of the word stored again one byte further on). Any other byte to escape is written by
/// [`write_char`], and the room made again after it.
fn write_long_str(out: &mut Vec<u8>, text: &str) {
    out.push(b'"');
    let bytes = text.as_bytes();
    let mut index = 0;
    loop {
        let start = out.len();
        out.resize(start + 2 * (bytes.len() - index) + 16, 0);
        let written = write_words(out.get_mut(start..).unwrap_or_default(), bytes, &mut index);
        out.truncate(start + written);
        if write_tail(out, bytes, index) {
            break;
        }
        if bytes.len() - index < 8 {
            while let Some(step) = write_char(out, text, index) {
                index += step;
            }
            break;
        }
        // The byte to escape, and any that follow it directly (a run of non-ASCII text stays
        // here rather than making the room again for each character).
        while let Some(&byte) = bytes.get(index)
            && !PLAIN.get(usize::from(byte)).copied().unwrap_or(false)
            && byte != b'"'
            && byte != b'\\'
        {
            let Some(step) = write_char(out, text, index) else {
                break;
            };
            index += step;
        }
        if index >= bytes.len() {
            break;
        }
    }
    out.push(b'"');
}

/// The word loop of [`write_long_str`]: writes whole words of `bytes` from `index` into `room`
/// (which holds at least twice their length, plus 16) until fewer than 8 bytes are left or a
/// byte needs an escape other than that of `"` and `\\`; returns the bytes written, `index`
/// left on the first byte not written.
fn write_words(room: &mut [u8], bytes: &[u8], index: &mut usize) -> usize {
    let mut at = *index;
    let mut written = 0;
    while let Some(chunk) = bytes.get(at..at + 8) {
        let mut word = [0_u8; 8];
        word.copy_from_slice(chunk);
        let value = u64::from_le_bytes(word);
        store_word(room, written, value);
        let mut special = escape_mask(value);
        // The word's bytes from `from` on stand at `written`.
        let mut from = 0;
        while special != 0 {
            let byte_at = (special.trailing_zeros() / 8) as usize;
            special &= special - 1;
            match bytes.get(at + byte_at) {
                Some(b'"' | b'\\') => {
                    written += byte_at - from;
                    if let Some(slot) = room.get_mut(written) {
                        *slot = b'\\';
                    }
                    written += 1;
                    store_word(room, written, value >> (8 * byte_at));
                    from = byte_at;
                }
                // Only the mask's lowest bit is exact.
                Some(&byte) if PLAIN.get(usize::from(byte)).copied().unwrap_or(false) => {}
                _ => {
                    *index = at + byte_at;
                    return written + byte_at - from;
                }
            }
        }
        written += 8 - from;
        at += 8;
    }
    *index = at;
    written
}

/// Stores the 8 bytes of `value` (little-endian) at `at` of `room`.
#[inline]
fn store_word(room: &mut [u8], at: usize, value: u64) {
    if let Some(slot) = room.get_mut(at..at + 8) {
        slot.copy_from_slice(&value.to_le_bytes());
    }
}

/// Writes the last 1–7 bytes of `bytes` (from `index`) as one word padded with a plain byte when
/// none of them needs escaping; `true` when the text is written to its end.
fn write_tail(out: &mut Vec<u8>, bytes: &[u8], index: usize) -> bool {
    if index >= bytes.len() {
        return true;
    }
    if let Some((word, len)) = tail_word(bytes, index)
        && escape_mask(word) == 0
    {
        out.extend_from_slice(&word.to_le_bytes());
        out.truncate(out.len() - 8 + len);
        return true;
    }
    false
}

/// Writes the character at `index` of `text`, escaped if it needs to be; returns its length in
/// bytes (`None` past the end).
fn write_char(out: &mut Vec<u8>, text: &str, index: usize) -> Option<usize> {
    let byte = *text.as_bytes().get(index)?;
    if PLAIN.get(usize::from(byte)).copied().unwrap_or(false) {
        out.push(byte);
        return Some(1);
    }
    if byte < 0x80 {
        match byte {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            other => push_unit(out, u32::from(other)),
        }
        return Some(1);
    }
    let ch = text
        .get(index..)
        .and_then(|rest| rest.chars().next())
        .unwrap_or(char::REPLACEMENT_CHARACTER);
    let code = u32::from(ch);
    if code >= 0x1_0000 {
        let offset = code - 0x1_0000;
        push_unit(out, 0xd800 | (offset >> 10));
        push_unit(out, 0xdc00 | (offset & 0x3ff));
    } else {
        push_unit(out, code);
    }
    Some(ch.len_utf8())
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
    let mut fast = crate::fastjson::FastSnapshot::default();
    if crate::fastjson::snapshot_into(text, &mut fast).is_some() {
        return Ok(TaskContextSnapshot {
            access_token: match fast.access_token_json {
                Some(TokenText::Parsed(json, token)) => Some(AccessToken::from_fast(json, token)),
                Some(TokenText::Text(text)) => token_of(Some(text))?,
                None => None,
            },
            http_headers: fast.http_headers,
            ids: Ids::new(fast.strings.each_ref().map(Option::as_deref)),
            traceparent: None,
            tracestate: None,
        });
    }
    general_from_json_str(text)
}

/// The access token of an `access_token_json` value: an empty text is no token, as in the
/// reference's restore (`if snapshot.access_token_json:`), and re-encodes as `null`.
fn token_of(text: Option<String>) -> Result<Option<AccessToken>, JsonError> {
    match text {
        Some(text) if !text.is_empty() => Ok(Some(AccessToken::from_json_string(text)?)),
        _ => Ok(None),
    }
}

/// The general reader: accepts every JSON the fast path declines, and names every error.
pub(crate) fn general_from_json_str(text: &str) -> Result<TaskContextSnapshot, JsonError> {
    if crate::fastjson::nests_deeper_than(text, MAX_NESTING) {
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
            ids: Ids::new([
                take_slot(origin_request_id, "origin_request_id")?.as_deref(),
                take_slot(session_id, "session_id")?.as_deref(),
                take_slot(owning_tool_name, "owning_tool_name")?.as_deref(),
                take_slot(owning_tool_version, "owning_tool_version")?.as_deref(),
            ]),
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
        let mut headers = Headers::with_capacity(map.size_hint().unwrap_or(12), 1024);
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

#[cfg(test)]
mod tests {
    //! The word-at-a-time string writers against a character-by-character one.

    use proptest::prelude::*;

    use super::write_str;

    /// Python's `json.dumps(text, ensure_ascii=True)`, one character at a time.
    fn reference(text: &str) -> String {
        let mut out = String::from("\"");
        for ch in text.chars() {
            match ch {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\u{8}' => out.push_str("\\b"),
                '\u{c}' => out.push_str("\\f"),
                ' '..='~' => out.push(ch),
                _ => {
                    let mut units = [0_u16; 2];
                    for unit in ch.encode_utf16(&mut units) {
                        out.push_str(&format!("\\u{unit:04x}"));
                    }
                }
            }
        }
        out.push('"');
        out
    }

    fn written(text: &str) -> Vec<u8> {
        let mut out = b"ab".to_vec();
        write_str(&mut out, text);
        out
    }

    fn expected(text: &str) -> Vec<u8> {
        let mut out = b"ab".to_vec();
        out.extend_from_slice(reference(text).as_bytes());
        out
    }

    fn piece() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => "[a-z0-9 ./:_#\\]~-]{0,11}",
            3 => prop_oneof![
                Just("\""), Just("\\"), Just("\"\""), Just("\\\""), Just("\u{7f}"), Just("\u{0}"),
                Just("\n"), Just("\t"), Just("\u{1f}"), Just("é"), Just("日本"), Just("😀"),
                Just("\u{2028}"), Just("~"), Just(" "),
            ]
            .prop_map(str::to_owned),
            1 => any::<String>(),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

        #[test]
        fn strings_are_escaped_as_the_reference_does(pieces in prop::collection::vec(piece(), 0..40)) {
            let text = pieces.concat();
            prop_assert_eq!(written(&text), expected(&text));
        }
    }

    #[test]
    fn long_and_quote_dense_texts() {
        let token = r#"{"token":"eyJhbGciOiJSUzI1NiJ9.payload.sig","client_id":"client-a","claims":{"name":"Jürgen 😀","q":"\\\"x"}}"#;
        let texts = [
            token.to_owned(),
            "\"".repeat(70),
            "\\".repeat(65),
            "\"a".repeat(40),
            "é".repeat(50),
            format!("{}\u{1}{}", "x".repeat(63), "\"".repeat(9)),
            format!("{}😀", "y".repeat(64)),
            "日本語".repeat(30),
        ];
        for text in texts {
            assert_eq!(written(&text), expected(&text), "{text:?}");
        }
    }

    /// The room reserved up front holds the whole written form: writing never grows the buffer
    /// (a growth would have doubled its capacity), with and without a token or headers, and for a
    /// token long enough that its room while written is the larger bound.
    #[test]
    fn the_estimate_holds_the_written_form() {
        use crate::sample;
        let full = sample::full_snapshot();
        let long_token = full
            .clone()
            .into_builder()
            .access_token(
                crate::AccessToken::builder("t".repeat(4000), "client-a")
                    .claim("sub", "user-1")
                    .build(),
            )
            .build();
        let bare = crate::TaskContextSnapshot::builder().build();
        for snapshot in [full, long_token, bare] {
            let mut out = Vec::new();
            super::write_json(&snapshot, &mut out);
            assert_eq!(
                out.capacity(),
                super::estimated_len(&snapshot),
                "{}",
                out.len()
            );
        }
    }
}
