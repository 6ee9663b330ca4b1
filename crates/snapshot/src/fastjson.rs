//! A single-pass reader for the common shapes of the JSON stored form and the access token
//! text. It accepts only a strict subset (strings, null, objects of strings, and, inside token
//! claims, any well-formed JSON) and returns `None` on anything else, so the general serde
//! reader stays the authority for every unusual input and every error.

use std::borrow::Cow;

use crate::headers::{Headers, StoredHeaders};
use crate::swar;
use crate::wiped::Wiped;

/// Deeper nesting than this inside claims is left to the general reader.
const MAX_DEPTH: usize = 64;

/// Whether `text` nests arrays and objects more than `limit` levels deep anywhere (strings,
/// escapes included, are skipped). One pass over the bytes, no recursion; the general readers
/// run it first, so no input reaches serde deeper than the limit.
pub(crate) fn nests_deeper_than(text: &str, limit: usize) -> bool {
    let mut depth = 0_usize;
    let mut in_string = false;
    let mut escaped = false;
    for &byte in text.as_bytes() {
        if in_string {
            if escaped {
                escaped = false;
            } else if byte == b'\\' {
                escaped = true;
            } else if byte == b'"' {
                in_string = false;
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > limit {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// Appends the plain bytes of `bytes` from `*pos` to `out` a word at a time (each word appended
/// whole, then cut back at its first special byte, see [`special_bytes`]), and leaves `*pos` at
/// that byte, or where fewer than eight bytes are left.
#[inline(always)]
fn copy_plain_words(bytes: &[u8], pos: &mut usize, out: &mut Vec<u8>) {
    while let Some(chunk) = bytes.get(*pos..*pos + 8) {
        let mut word = [0_u8; 8];
        word.copy_from_slice(chunk);
        out.extend_from_slice(&word);
        let special = special_bytes(u64::from_le_bytes(word));
        if special != 0 {
            let run = (special.trailing_zeros() / 8) as usize;
            out.truncate(out.len() - 8 + run);
            *pos += run;
            return;
        }
        *pos += 8;
    }
}

/// A mask whose lowest set bit (the only meaningful one, see [`swar`]) marks the first byte of
/// `word` that needs attention inside a string: `"`, `\\` or a control character; zero when there
/// is none. (Flipping bit 1 of each byte turns `"` into 0x20 and keeps the control characters
/// below 0x20, so one test for bytes below 0x21 finds both.)
fn special_bytes(word: u64) -> u64 {
    swar::first_below(word ^ swar::splat(0x02), 0x21) | swar::first_equal(word, b'\\')
}

/// As [`special_bytes`], and also the uppercase ASCII letters and the bytes above 0x7F: the
/// lowest set bit marks the first byte of `word` that may not stand in a stored header name
/// read in place.
fn not_lowercase_plain(word: u64) -> u64 {
    special_bytes(word) | swar::non_ascii_or_upper(word)
}

/// The value of each hex digit, 0xFF for any other byte.
#[allow(
    clippy::indexing_slicing,
    reason = "const evaluation: an out-of-range index fails the build, never a run"
)]
const fn hex_values() -> [u8; 256] {
    let mut table = [0xff; 256];
    let mut value = 0_u8;
    while value < 16 {
        let digit = b"0123456789abcdef"[value as usize];
        table[digit as usize] = value;
        table[digit.to_ascii_uppercase() as usize] = value;
        value += 1;
    }
    table
}

static HEX_VALUES: [u8; 256] = hex_values();

pub(crate) struct Scanner<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Scanner<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        Self { text, pos: 0 }
    }

    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    fn peek(&self) -> Option<u8> {
        self.bytes().get(self.pos).copied()
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    fn eat(&mut self, byte: u8) -> Option<()> {
        self.ws();
        (self.peek()? == byte).then(|| self.pos += 1)
    }

    /// After whitespace: consumes `byte` if it is next.
    fn try_eat(&mut self, byte: u8) -> bool {
        self.ws();
        if self.peek() == Some(byte) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn literal(&mut self, word: &str) -> Option<()> {
        let end = self.pos.checked_add(word.len())?;
        (self.bytes().get(self.pos..end)? == word.as_bytes()).then(|| self.pos = end)
    }

    pub(crate) fn at_end(&mut self) -> bool {
        self.ws();
        self.pos == self.text.len()
    }

    /// Advances past bytes that need no attention inside a string (anything but `"`, `\\` and
    /// control characters), eight at a time.
    #[inline(always)]
    fn skip_plain(&mut self) {
        self.skip_words(special_bytes, |byte| {
            byte == b'"' || byte == b'\\' || byte < 0x20
        });
    }

    /// Advances past lowercase ASCII bytes that need no attention inside a string (anything but
    /// `"`, `\\`, control characters, uppercase letters and bytes above 0x7F), eight at a time.
    #[inline(always)]
    fn skip_lowercase_name(&mut self) {
        self.skip_words(not_lowercase_plain, |byte| {
            !(0x20..0x80).contains(&byte)
                || byte == b'"'
                || byte == b'\\'
                || byte.is_ascii_uppercase()
        });
    }

    /// Advances to the first byte `stops`, eight bytes at a time while `marks` (which sets the
    /// high bit of each such byte of a little-endian word) finds none, then byte by byte.
    #[inline(always)]
    fn skip_words(&mut self, marks: impl Fn(u64) -> u64, stops: impl Fn(u8) -> bool) {
        let bytes = self.bytes();
        while let Some(chunk) = bytes.get(self.pos..self.pos + 8) {
            let mut word = [0_u8; 8];
            word.copy_from_slice(chunk);
            let special = marks(u64::from_le_bytes(word));
            if special != 0 {
                self.pos += (special.trailing_zeros() / 8) as usize;
                return;
            }
            self.pos += 8;
        }
        while let Some(&byte) = bytes.get(self.pos) {
            if stops(byte) {
                return;
            }
            self.pos += 1;
        }
    }

    /// A string (after whitespace), borrowed when it has no escapes.
    #[inline]
    fn string(&mut self) -> Option<Cow<'a, str>> {
        self.eat(b'"')?;
        let start = self.pos;
        self.skip_plain();
        if self.peek()? == b'"' {
            let text = self.text.get(start..self.pos)?;
            self.pos += 1;
            Some(Cow::Borrowed(text))
        } else {
            self.escaped_string(start).map(Cow::Owned)
        }
    }

    /// The rest of a string that starts at `start` and has escapes (or a control character).
    #[inline(never)]
    fn escaped_string(&mut self, start: usize) -> Option<String> {
        if self.peek()? != b'\\' {
            return None;
        }
        // Decoded text is never longer than its escaped form; the bound keeps one allocation
        // for every string up to 4 KiB without reserving the whole rest.
        let mut out = Vec::with_capacity((self.text.len() - start).min(4096) + 8);
        self.escaped_rest(start, &mut out)?;
        String::from_utf8(out).ok()
    }

    /// A string (after whitespace) as a [`Part`]: its span in the input when it has no escapes,
    /// else its decoded text.
    fn string_part(&mut self) -> Option<Part> {
        self.eat(b'"')?;
        let start = self.pos;
        self.skip_plain();
        match self.peek()? {
            b'"' => {
                let end = self.pos;
                self.pos += 1;
                Some(Part::Span(start, end))
            }
            b'\\' => {
                let mut out = Vec::with_capacity((self.text.len() - start).min(4096) + 8);
                self.escaped_rest(start, &mut out)?;
                String::from_utf8(out)
                    .ok()
                    .map(|text| Part::Owned(Wiped::new(text)))
            }
            _ => None,
        }
    }

    /// A string (after whitespace): borrowed from the input when it has no escapes, else decoded
    /// into `scratch` (cleared first).
    fn string_in<'s>(&mut self, scratch: &'s mut Vec<u8>) -> Option<&'s str>
    where
        'a: 's,
    {
        self.eat(b'"')?;
        let start = self.pos;
        self.skip_plain();
        match self.peek()? {
            b'"' => {
                let text = self.text.get(start..self.pos)?;
                self.pos += 1;
                Some(text)
            }
            b'\\' => {
                scratch.clear();
                // Reserved once, so the buffer never moves (a move would leave a copy behind).
                scratch.reserve((self.text.len() - start).min(4096) + 8);
                self.escaped_rest(start, scratch)?;
                std::str::from_utf8(scratch).ok()
            }
            _ => None,
        }
    }

    /// Decodes the rest of a string into `out`: its plain prefix starts at `start`, and the
    /// scanner stands on the first byte that needs attention. Plain bytes are copied a word at
    /// a time: each word is appended whole, then the bytes past its first special byte are cut.
    fn escaped_rest(&mut self, start: usize, out: &mut Vec<u8>) -> Option<()> {
        let bytes = self.bytes();
        out.extend_from_slice(bytes.get(start..self.pos)?);
        loop {
            copy_plain_words(bytes, &mut self.pos, out);
            // The common escapes of embedded JSON, `\"` and `\\`, stay in this loop.
            if let (Some(b'\\'), Some(&escaped @ (b'"' | b'\\'))) =
                (bytes.get(self.pos), bytes.get(self.pos + 1))
            {
                out.push(escaped);
                self.pos += 2;
                continue;
            }
            let byte = *bytes.get(self.pos)?;
            self.pos += 1;
            match byte {
                b'"' => return Some(()),
                b'\\' => self.escape(out)?,
                0x00..=0x1f => return None,
                _ => out.push(byte),
            }
        }
    }

    /// One escape after its backslash.
    fn escape(&mut self, out: &mut Vec<u8>) -> Option<()> {
        let byte = self.peek()?;
        self.pos += 1;
        let simple = match byte {
            b'"' => b'"',
            b'\\' => b'\\',
            b'/' => b'/',
            b'b' => 0x08,
            b'f' => 0x0c,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            _ => 0,
        };
        if simple != 0 {
            out.push(simple);
            return Some(());
        }
        let ch = match byte {
            b'u' => self.unicode_escape()?,
            _ => return None,
        };
        // Appended as a whole 4 bytes, then cut to the character's length (no copy of a
        // variable length).
        let mut utf8 = [0_u8; 4];
        let len = ch.encode_utf8(&mut utf8).len();
        out.extend_from_slice(&utf8);
        out.truncate(out.len() - 4 + len);
        Some(())
    }

    /// A `\uXXXX` escape after its `u` (a surrogate pair as one character).
    fn unicode_escape(&mut self) -> Option<char> {
        let unit = self.hex4()?;
        match unit {
            0xd800..=0xdbff => {
                self.literal("\\u")?;
                let low = self.hex4()?;
                if !(0xdc00..=0xdfff).contains(&low) {
                    return None;
                }
                char::from_u32(0x1_0000 + ((unit - 0xd800) << 10) + (low - 0xdc00))
            }
            0xdc00..=0xdfff => None,
            _ => char::from_u32(unit),
        }
    }

    /// One escape after its backslash, as a character.
    fn escape_char(&mut self) -> Option<char> {
        let byte = self.peek()?;
        self.pos += 1;
        Some(match byte {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => self.unicode_escape()?,
            _ => return None,
        })
    }

    /// Decodes the rest of a string as [`escaped_rest`](Self::escaped_rest) does, into a
    /// `String` (which must have room for the rest of the text: it is never to grow, as a move
    /// would leave a copy behind).
    fn escaped_into(&mut self, start: usize, out: &mut String) -> Option<()> {
        let text = self.text;
        out.push_str(text.get(start..self.pos)?);
        loop {
            let byte = self.peek()?;
            self.pos += 1;
            match byte {
                b'"' => return Some(()),
                b'\\' => out.push(self.escape_char()?),
                _ => return None,
            }
            let run = self.pos;
            self.skip_plain();
            if self.pos > run {
                out.push_str(text.get(run..self.pos)?);
            }
        }
    }

    /// Four hex digits, as a UTF-16 unit.
    fn hex4(&mut self) -> Option<u32> {
        let digits = *self.bytes().get(self.pos..)?.first_chunk::<4>()?;
        let mut unit = 0_u32;
        let mut invalid = 0_u8;
        for digit in digits {
            let value = HEX_VALUES.get(usize::from(digit)).copied().unwrap_or(0xff);
            invalid |= value;
            unit = unit << 4 | u32::from(value & 0xf);
        }
        if invalid & 0xf0 != 0 {
            return None;
        }
        self.pos += 4;
        Some(unit)
    }

    /// `null` → `None`, a string → `Some`; anything else fails.
    fn string_or_null(&mut self) -> Option<Option<Cow<'a, str>>> {
        self.ws();
        if self.peek()? == b'n' {
            self.literal("null")?;
            Some(None)
        } else {
            self.string().map(Some)
        }
    }

    /// Iterates an object's members: calls `member` with each key, which must consume the value.
    fn object(
        &mut self,
        mut member: impl FnMut(&mut Self, Cow<'a, str>) -> Option<()>,
    ) -> Option<()> {
        self.eat(b'{')?;
        if self.try_eat(b'}') {
            return Some(());
        }
        loop {
            let key = self.string()?;
            self.eat(b':')?;
            member(self, key)?;
            if self.try_eat(b',') {
                continue;
            }
            return self.eat(b'}');
        }
    }

    /// Skips any well-formed JSON value.
    fn skip_value(&mut self, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.ws();
        match self.peek()? {
            b'"' => self.string().map(drop),
            b'n' => self.literal("null"),
            b't' => self.literal("true"),
            b'f' => self.literal("false"),
            b'{' => self.object(|scanner, _| scanner.skip_value(depth + 1)),
            b'[' => {
                self.pos += 1;
                if self.try_eat(b']') {
                    return Some(());
                }
                loop {
                    self.skip_value(depth + 1)?;
                    if self.try_eat(b',') {
                        continue;
                    }
                    return self.eat(b']');
                }
            }
            _ => self.number().map(drop),
        }
    }

    /// A number in JSON's grammar; returns its text.
    fn number(&mut self) -> Option<&'a str> {
        self.ws();
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek()? {
            b'0' => self.pos += 1,
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            self.some_digits()?;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            self.some_digits()?;
        }
        self.text.get(start..self.pos)
    }

    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
    }

    fn some_digits(&mut self) -> Option<()> {
        let start = self.pos;
        self.digits();
        (self.pos > start).then_some(())
    }
}

/// The snapshot's fields as read by the fast path (top-level duplicates: last wins).
#[derive(Default)]
pub(crate) struct FastSnapshot<'a> {
    pub(crate) access_token_json: Option<TokenText>,
    pub(crate) http_headers: Option<Headers>,
    /// The four identifier fields, borrowed from the text unless they had escapes.
    pub(crate) strings: [Option<Cow<'a, str>>; 4],
}

/// Consumes the top-level key the writer puts at position `next` (quotes included) if it is
/// next; each key a literal of its own, so that its comparison is inlined.
#[inline(always)]
fn writer_key(scanner: &mut Scanner<'_>, next: usize) -> bool {
    match next {
        0 => scanner.literal("\"access_token_json\""),
        1 => scanner.literal("\"http_headers\""),
        2 => scanner.literal("\"origin_request_id\""),
        3 => scanner.literal("\"session_id\""),
        4 => scanner.literal("\"owning_tool_name\""),
        5 => scanner.literal("\"owning_tool_version\""),
        _ => None,
    }
    .is_some()
}

/// The position in the writer's order (see [`writer_key`]) of a top-level key read as a string.
fn field_index(key: &str) -> Option<usize> {
    match key {
        "access_token_json" => Some(0),
        "http_headers" => Some(1),
        "origin_request_id" => Some(2),
        "session_id" => Some(3),
        "owning_tool_name" => Some(4),
        "owning_tool_version" => Some(5),
        _ => None,
    }
}

/// Reads the JSON stored form, or `None` when the input needs the general reader.
#[cfg(test)]
pub(crate) fn snapshot(text: &str) -> Option<FastSnapshot<'_>> {
    let mut fields = FastSnapshot::default();
    snapshot_into(text, &mut fields).map(|()| fields)
}

/// Reads the JSON stored form into `fields` (which start empty, and are filled in place rather
/// than moved out), or `None` when the input needs the general reader (`fields` are then to be
/// dropped). The key the writer puts next is matched as a literal; any other key is read as a
/// string.
pub(crate) fn snapshot_into<'a>(text: &'a str, fields: &mut FastSnapshot<'a>) -> Option<()> {
    let mut scanner = Scanner::new(text);
    scanner.eat(b'{')?;
    if !scanner.try_eat(b'}') {
        let mut next = 0;
        loop {
            scanner.ws();
            let field = if writer_key(&mut scanner, next) {
                next
            } else {
                field_index(&scanner.string()?)?
            };
            next = field + 1;
            // The writer's separators are matched as literals first.
            if scanner.literal(": ").is_none() {
                scanner.eat(b':')?;
            }
            match field {
                0 => fields.access_token_json = token_text(&mut scanner)?,
                1 => fields.http_headers = headers(&mut scanner)?,
                _ => {
                    let value = id_value(&mut scanner)?;
                    *fields.strings.get_mut(field - 2)? = value;
                }
            }
            if scanner.literal(", ").is_some() || scanner.try_eat(b',') {
                continue;
            }
            scanner.eat(b'}')?;
            break;
        }
    }
    scanner.at_end().then_some(())
}

/// An identifier field's value: `null` or a string, one without escapes right at the scanner
/// read inline.
#[inline(always)]
fn id_value<'a>(scanner: &mut Scanner<'a>) -> Option<Option<Cow<'a, str>>> {
    if scanner.peek() == Some(b'"') {
        let start = scanner.pos + 1;
        scanner.pos = start;
        scanner.skip_plain();
        if scanner.peek()? == b'"' {
            let text = scanner.text.get(start..scanner.pos)?;
            scanner.pos += 1;
            return Some(Some(Cow::Borrowed(text)));
        }
        scanner.pos = start - 1;
    }
    scanner.string_or_null()
}

/// An `access_token_json` value as read by the fast path.
pub(crate) enum TokenText {
    /// The decoded text, for the token reader.
    Text(String),
    /// The decoded text and its fields, read in the same pass.
    Parsed(Wiped<String>, FastToken),
}

/// The `access_token_json` value (after whitespace): `null`, or a string, read together with the
/// token's fields when the token has pydantic's compact layout (see [`compact_token`]).
fn token_text(scanner: &mut Scanner<'_>) -> Option<Option<TokenText>> {
    scanner.ws();
    let start = scanner.pos;
    if let Some(parsed) = compact_token(scanner) {
        return Some(Some(parsed));
    }
    scanner.pos = start;
    Some(
        scanner
            .string_or_null()?
            .map(|text| TokenText::Text(text.into_owned())),
    )
}

/// Reads a JSON string holding a token text in the layout of pydantic's compact
/// `model_dump_json()` (`{"token":…,"client_id":…,"scopes":[…],"expires_at":…,"resource":…,
/// "subject":…,"claims":{…},"original_client_id":…}`), decoding it and reading its fields in
/// one pass: up to `claims`, the fields are matched in the escaped text itself (strings without
/// escapes of their own), the rest is decoded and read as [`token`] does. `None` (the scanner
/// left anywhere) when the value is anything else; the caller then reads it the general way.
fn compact_token(scanner: &mut Scanner<'_>) -> Option<TokenText> {
    let mut json = Wiped::new(Vec::with_capacity(
        (scanner.text.len() - scanner.pos).min(4096) + 8,
    ));
    scanner.literal("\"{\\\"token\\\":\\\"")?;
    json.extend_from_slice(b"{\"token\":\"");
    let token = compact_string(scanner, &mut json)?;
    copy_literal(
        scanner,
        &mut json,
        ",\\\"client_id\\\":\\\"",
        ",\"client_id\":\"",
    )?;
    let client_id = compact_string(scanner, &mut json)?;
    copy_literal(scanner, &mut json, ",\\\"scopes\\\":[", ",\"scopes\":[")?;
    let scopes_start = json.len() - 1;
    if copy_literal(scanner, &mut json, "\\\"", "\"").is_some() {
        loop {
            compact_string(scanner, &mut json)?;
            if copy_literal(scanner, &mut json, ",\\\"", ",\"").is_none() {
                break;
            }
        }
    }
    copy_literal(scanner, &mut json, "]", "]")?;
    let scopes = (scopes_start, json.len());
    copy_literal(
        scanner,
        &mut json,
        ",\\\"expires_at\\\":",
        ",\"expires_at\":",
    )?;
    let expires_at = if copy_literal(scanner, &mut json, "null", "null").is_some() {
        None
    } else {
        let start = scanner.pos;
        let value = compact_integer(scanner)?;
        json.extend_from_slice(scanner.bytes().get(start..scanner.pos)?);
        Some(value)
    };
    copy_literal(scanner, &mut json, ",\\\"resource\\\":", ",\"resource\":")?;
    let resource = compact_optional(scanner, &mut json)?;
    copy_literal(scanner, &mut json, ",\\\"subject\\\":", ",\"subject\":")?;
    let subject = compact_optional(scanner, &mut json)?;
    copy_literal(scanner, &mut json, ",\\\"claims\\\":", ",\"claims\":")?;
    let sub = compact_claims(scanner, &mut json)?;
    copy_literal(
        scanner,
        &mut json,
        ",\\\"original_client_id\\\":",
        ",\"original_client_id\":",
    )?;
    let original_client_id = compact_optional(scanner, &mut json)?;
    copy_literal(scanner, &mut json, "}", "}")?;
    // The end of the `access_token_json` string.
    scanner.literal("\"")?;
    let json = Wiped::new(String::from_utf8(std::mem::take(&mut *json)).ok()?);
    let span_text = |span: Option<(usize, usize)>| -> Option<Option<String>> {
        span.map(|(start, end)| json.get(start..end).map(str::to_owned))
            .map_or(Some(None), |text| text.map(Some))
    };
    let resource = span_text(resource)?;
    let subject = span_text(subject)?;
    let original_client_id = span_text(original_client_id)?;
    let fast = FastToken {
        token: Part::Span(token.0, token.1),
        client_id: Part::Span(client_id.0, client_id.1),
        scopes,
        expires_at,
        resource,
        subject,
        sub,
        original_client_id,
    };
    Some(TokenText::Parsed(json, fast))
}

/// Consumes `escaped` from the escaped text and appends `decoded`, its decoded form.
#[inline(always)]
fn copy_literal(
    scanner: &mut Scanner<'_>,
    json: &mut Vec<u8>,
    escaped: &str,
    decoded: &str,
) -> Option<()> {
    scanner.literal(escaped)?;
    json.extend_from_slice(decoded.as_bytes());
    Some(())
}

/// A token-level string after its opening `\\"`, with no escapes of its own, up to and through
/// its closing `\\"`: appended to `json` (closing quote included); returns its content's span
/// in `json`.
#[inline(always)]
fn compact_string(scanner: &mut Scanner<'_>, json: &mut Vec<u8>) -> Option<(usize, usize)> {
    let bytes = scanner.bytes();
    let span_start = json.len();
    while let Some(chunk) = bytes.get(scanner.pos..scanner.pos + 8) {
        let mut word = [0_u8; 8];
        word.copy_from_slice(chunk);
        json.extend_from_slice(&word);
        let special = special_bytes(u64::from_le_bytes(word));
        if special != 0 {
            let run = (special.trailing_zeros() / 8) as usize;
            scanner.pos += run;
            let span_end = json.len() - 8 + run;
            // The closing `\"`: its `"` stored over the backslash appended with the word.
            if bytes.get(scanner.pos..scanner.pos + 2)? != b"\\\"" {
                return None;
            }
            scanner.pos += 2;
            *json.get_mut(span_end)? = b'"';
            json.truncate(span_end + 1);
            return Some((span_start, span_end));
        }
        scanner.pos += 8;
    }
    // Among the last seven bytes of the text.
    compact_text_end(scanner, json).map(|(_, end)| (span_start, end))
}

/// [`compact_text`] without `\\uXXXX` escapes, kept out of line: for the rare token-level string
/// among the last bytes of the text.
#[inline(never)]
fn compact_text_end(scanner: &mut Scanner<'_>, json: &mut Vec<u8>) -> Option<(usize, usize)> {
    compact_text(scanner, json, false)
}

/// The content of a token-level string after its opening `\\"`, up to and through its closing
/// `\\"`, decoded into `json` (closing quote included); returns the content's span in `json`.
/// With `unicode`, `\\uXXXX` escapes of the outer text are decoded (to characters that must not
/// be `"`, `\\` or control characters); any other escape fails. Plain bytes are copied a word at
/// a time, each word appended whole and cut back at its first special byte.
#[inline(always)]
fn compact_text(
    scanner: &mut Scanner<'_>,
    json: &mut Vec<u8>,
    unicode: bool,
) -> Option<(usize, usize)> {
    let bytes = scanner.bytes();
    let span_start = json.len();
    loop {
        copy_plain_words(bytes, &mut scanner.pos, json);
        match *bytes.get(scanner.pos)? {
            b'\\' => match *bytes.get(scanner.pos + 1)? {
                b'"' => {
                    scanner.pos += 2;
                    let span_end = json.len();
                    json.push(b'"');
                    return Some((span_start, span_end));
                }
                b'u' if unicode => {
                    scanner.pos += 2;
                    let ch = scanner.unicode_escape()?;
                    if ch < ' ' || ch == '"' || ch == '\\' {
                        return None;
                    }
                    let mut utf8 = [0_u8; 4];
                    let len = ch.encode_utf8(&mut utf8).len();
                    json.extend_from_slice(&utf8);
                    json.truncate(json.len() - 4 + len);
                }
                _ => return None,
            },
            // The end of the outer string, or a control character.
            b'"' | 0x00..=0x1f => return None,
            // A plain byte among the last seven of the text.
            byte => {
                json.push(byte);
                scanner.pos += 1;
            }
        }
    }
}

/// A token-level integer as [`integer_or_null`] takes it (an `i64` in JSON's grammar, not `-0`,
/// no fraction or exponent), its digits read as they are scanned; `None` for any other number
/// (the general reader then decides), and for whitespace before it (it would be part of the
/// token text).
fn compact_integer(scanner: &mut Scanner<'_>) -> Option<i64> {
    let bytes = scanner.bytes();
    let negative = scanner.peek()? == b'-';
    let digits = scanner.pos + usize::from(negative);
    let mut end = digits;
    let mut magnitude = 0_u64;
    while let Some(&digit @ b'0'..=b'9') = bytes.get(end) {
        magnitude = magnitude
            .wrapping_mul(10)
            .wrapping_add(u64::from(digit - b'0'));
        end += 1;
    }
    // No digits, more than 18 (which might not fit: the general reader decides), a leading
    // zero (`-0` included, which serde reads as a float), or a fraction or exponent next.
    if end == digits
        || end - digits > 18
        || (bytes.get(digits) == Some(&b'0') && (negative || end > digits + 1))
        || matches!(bytes.get(end), Some(b'.' | b'e' | b'E'))
    {
        return None;
    }
    let value = if negative {
        0_i64.checked_sub_unsigned(magnitude)?
    } else {
        i64::try_from(magnitude).ok()?
    };
    scanner.pos = end;
    Some(value)
}

/// A token-level number, copied (no whitespace before it: it would be part of the token text).
fn compact_number<'a>(scanner: &mut Scanner<'a>) -> Option<&'a str> {
    if !matches!(scanner.peek()?, b'-' | b'0'..=b'9') {
        return None;
    }
    scanner.number()
}

/// The token's claims object in the escaped text, decoded into `json`: every value checked as
/// [`claims_sub`] does, and the span (quotes included) of the last `sub`, which must be a
/// string.
fn compact_claims(scanner: &mut Scanner<'_>, json: &mut Vec<u8>) -> Option<Option<(usize, usize)>> {
    copy_literal(scanner, json, "{", "{")?;
    let mut sub = None;
    if copy_literal(scanner, json, "\\\"", "\"").is_none() {
        copy_literal(scanner, json, "}", "}")?;
        return Some(sub);
    }
    loop {
        let (start, end) = compact_string(scanner, json)?;
        let is_sub = json.get(start..end)? == b"sub".as_slice();
        copy_literal(scanner, json, ":", ":")?;
        let value_start = json.len();
        compact_item(scanner, json, 1)?;
        if is_sub {
            if json.get(value_start) != Some(&b'"') {
                return None;
            }
            sub = Some((value_start, json.len()));
        }
        // The next key's opening quote with its comma.
        if copy_literal(scanner, json, ",\\\"", ",\"").is_none() {
            copy_literal(scanner, json, "}", "}")?;
            return Some(sub);
        }
    }
}

/// Any token-level JSON value in the escaped text without whitespace, decoded into `json`.
/// Strings may hold `\\uXXXX` escapes of the outer text (decoded to their characters, which
/// must not be `"`, `\\` or control characters) but no escapes of their own.
fn compact_value(scanner: &mut Scanner<'_>, json: &mut Vec<u8>, depth: usize) -> Option<()> {
    if depth > MAX_DEPTH {
        return None;
    }
    match scanner.peek()? {
        b'\\' => {
            copy_literal(scanner, json, "\\\"", "\"")?;
            compact_text(scanner, json, true).map(drop)
        }
        b'n' => copy_literal(scanner, json, "null", "null"),
        b't' => copy_literal(scanner, json, "true", "true"),
        b'f' => copy_literal(scanner, json, "false", "false"),
        b'{' => {
            copy_literal(scanner, json, "{", "{")?;
            if copy_literal(scanner, json, "}", "}").is_some() {
                return Some(());
            }
            loop {
                copy_literal(scanner, json, "\\\"", "\"")?;
                compact_string(scanner, json)?;
                copy_literal(scanner, json, ":", ":")?;
                compact_item(scanner, json, depth + 1)?;
                if copy_literal(scanner, json, ",", ",").is_none() {
                    return copy_literal(scanner, json, "}", "}");
                }
            }
        }
        b'[' => {
            copy_literal(scanner, json, "[", "[")?;
            if copy_literal(scanner, json, "]", "]").is_some() {
                return Some(());
            }
            loop {
                compact_item(scanner, json, depth + 1)?;
                if copy_literal(scanner, json, ",", ",").is_none() {
                    return copy_literal(scanner, json, "]", "]");
                }
            }
        }
        _ => {
            let text = compact_number(scanner)?;
            json.extend_from_slice(text.as_bytes());
            Some(())
        }
    }
}

/// A token-level value as [`compact_value`] reads it (the same depth limit included), a string
/// (the common claim, array item and member) read here.
#[inline(always)]
fn compact_item(scanner: &mut Scanner<'_>, json: &mut Vec<u8>, depth: usize) -> Option<()> {
    if depth <= MAX_DEPTH && copy_literal(scanner, json, "\\\"", "\"").is_some() {
        return compact_text(scanner, json, true).map(drop);
    }
    compact_value(scanner, json, depth)
}

/// `null`, or a token-level string as [`compact_string`] reads it (its span).
#[inline(always)]
fn compact_optional(
    scanner: &mut Scanner<'_>,
    json: &mut Vec<u8>,
) -> Option<Option<(usize, usize)>> {
    if copy_literal(scanner, json, "null", "null").is_some() {
        return Some(None);
    }
    copy_literal(scanner, json, "\\\"", "\"")?;
    compact_string(scanner, json).map(Some)
}

fn headers(scanner: &mut Scanner<'_>) -> Option<Option<Headers>> {
    scanner.ws();
    if scanner.peek()? == b'n' {
        scanner.literal("null")?;
        return Some(None);
    }
    let start = scanner.pos;
    if let Some(headers) = stored_headers(scanner) {
        return Some(Some(headers));
    }
    scanner.pos = start;
    let mut headers = Headers::with_capacity(12, scanner.text.len().min(4096));
    // Escaped values are decoded here and copied into the map; the buffer is wiped after.
    let mut scratch = Wiped::new(Vec::new());
    let mut seen = 0;
    scanner.object(|scanner, name| {
        let value = scanner.string_in(&mut scratch)?;
        headers.push_stored(&mut seen, &name, value, false);
        Some(())
    })?;
    Some(Some(headers))
}

/// A header object (the scanner on its `{`) of the common shape [`StoredHeaders`] takes, read
/// in place; `None` (the scanner left anywhere) for any other. A name is scanned as lowercase
/// ASCII without escapes (any other byte before its closing quote declines the object), and the
/// writer's separators (`": "` after a name, `, "` after a value) are matched as literals, with
/// any other whitespace read the general way.
fn stored_headers(scanner: &mut Scanner<'_>) -> Option<Headers> {
    let text = scanner.text;
    let bytes = text.as_bytes();
    let start = scanner.pos;
    let mut headers = StoredHeaders::with_capacity((text.len() - start).min(4096));
    scanner.eat(b'{')?;
    if !scanner.try_eat(b'}') {
        scanner.eat(b'"')?;
        loop {
            let name = scanner.pos;
            scanner.skip_lowercase_name();
            let name = (name, scanner.pos);
            if scanner.literal("\": \"").is_none() {
                scanner.literal("\"")?;
                scanner.eat(b':')?;
                scanner.eat(b'"')?;
            }
            let value_start = scanner.pos;
            scanner.skip_plain();
            if scanner.peek()? == b'"' {
                let value = (value_start, scanner.pos);
                scanner.pos += 1;
                headers.push_checked(bytes, name, value, false)?;
            } else {
                // Decoded text is never longer than its escaped form.
                let buffer = headers.decoding(text.len() - value_start);
                let decoded_start = buffer.len();
                scanner.escaped_into(value_start, buffer)?;
                let value = (decoded_start, buffer.len());
                headers.push_checked(bytes, name, value, true)?;
            }
            if scanner.literal(", \"").is_some() {
                continue;
            }
            if scanner.try_eat(b',') {
                scanner.eat(b'"')?;
                continue;
            }
            scanner.eat(b'}')?;
            break;
        }
    }
    headers.finish(text, start, scanner.pos)
}

/// A string of a token text: its span in the text (no escapes), or its decoded text.
#[derive(Clone)]
pub(crate) enum Part {
    /// Start and end of the string's content in the text.
    Span(usize, usize),
    /// The decoded string (it had escapes, or was not read from a text).
    Owned(Wiped<String>),
}

impl Part {
    /// The string, given the text it was read from.
    pub(crate) fn get<'a>(&'a self, text: &'a str) -> &'a str {
        match self {
            Self::Span(start, end) => text.get(*start..*end).unwrap_or_default(),
            Self::Owned(owned) => owned,
        }
    }
}

/// The access token's fields as read by the fast path. The scopes and the `sub` claim are
/// checked here and kept as spans of the text, to be read when first asked for.
pub(crate) struct FastToken {
    pub(crate) token: Part,
    pub(crate) client_id: Part,
    /// The scopes array, brackets included.
    pub(crate) scopes: (usize, usize),
    pub(crate) expires_at: Option<i64>,
    pub(crate) resource: Option<String>,
    pub(crate) subject: Option<String>,
    /// The `sub` claim's string value, quotes included.
    pub(crate) sub: Option<(usize, usize)>,
    pub(crate) original_client_id: Option<String>,
}

/// The scopes array at `span` of a token text the fast path accepted.
pub(crate) fn scopes_at(text: &str, span: (usize, usize)) -> Vec<String> {
    text.get(span.0..span.1)
        .and_then(|array| string_array(&mut Scanner::new(array)))
        .unwrap_or_default()
}

/// The JSON string at `span` of a token text the fast path accepted.
pub(crate) fn string_at(text: &str, span: (usize, usize)) -> Option<String> {
    str_at(text, span).map(Cow::into_owned)
}

/// The JSON string at `span` of `text`, borrowed from it when it has no escapes.
pub(crate) fn str_at(text: &str, span: (usize, usize)) -> Option<Cow<'_, str>> {
    Scanner::new(text.get(span.0..span.1)?).string()
}

/// Reads an access token text, or `None` when it needs the general reader (which also rejects
/// duplicate fields, as serde does).
pub(crate) fn token(text: &str) -> Option<FastToken> {
    let mut scanner = Scanner::new(text);
    let mut token = None;
    let mut client_id = None;
    let mut scopes = None;
    let mut expires_at = None;
    let mut resource = None;
    let mut subject = None;
    let mut sub = None;
    let mut original_client_id = None;
    let mut seen = 0_u8;
    scanner.object(|scanner, key| {
        let bit = match &*key {
            "token" => {
                token = Some(scanner.string_part()?);
                1
            }
            "client_id" => {
                client_id = Some(scanner.string_part()?);
                2
            }
            "scopes" => {
                scanner.ws();
                let start = scanner.pos;
                skip_string_array(scanner)?;
                scopes = Some((start, scanner.pos));
                4
            }
            "expires_at" => {
                expires_at = integer_or_null(scanner)?;
                8
            }
            "resource" => {
                resource = scanner.string_or_null()?.map(Cow::into_owned);
                16
            }
            "subject" => {
                subject = scanner.string_or_null()?.map(Cow::into_owned);
                32
            }
            "claims" => {
                sub = claims_sub(scanner)?;
                64
            }
            "original_client_id" => {
                original_client_id = scanner.string_or_null()?.map(Cow::into_owned);
                128
            }
            _ => {
                scanner.skip_value(0)?;
                0
            }
        };
        if seen & bit != 0 {
            return None;
        }
        seen |= bit;
        Some(())
    })?;
    if !scanner.at_end() {
        return None;
    }
    Some(FastToken {
        token: token?,
        client_id: client_id?,
        scopes: scopes?,
        expires_at,
        resource,
        subject,
        sub,
        original_client_id,
    })
}

/// Checks an array of strings without keeping them.
fn skip_string_array(scanner: &mut Scanner<'_>) -> Option<()> {
    scanner.eat(b'[')?;
    if scanner.try_eat(b']') {
        return Some(());
    }
    loop {
        scanner.string()?;
        if scanner.try_eat(b',') {
            continue;
        }
        return scanner.eat(b']');
    }
}

fn string_array(scanner: &mut Scanner<'_>) -> Option<Vec<String>> {
    scanner.eat(b'[')?;
    let mut items = Vec::new();
    if scanner.try_eat(b']') {
        return Some(items);
    }
    loop {
        items.push(scanner.string()?.into_owned());
        if scanner.try_eat(b',') {
            continue;
        }
        scanner.eat(b']')?;
        return Some(items);
    }
}

fn integer_or_null(scanner: &mut Scanner<'_>) -> Option<Option<i64>> {
    scanner.ws();
    if scanner.peek()? == b'n' {
        scanner.literal("null")?;
        return Some(None);
    }
    let text = scanner.number()?;
    // serde_json reads `-0` as a float, and floats are not accepted here.
    if text.starts_with("-0") || text.bytes().any(|byte| matches!(byte, b'.' | b'e' | b'E')) {
        return None;
    }
    text.parse().ok().map(Some)
}

/// The claims object: every value skipped except `sub` (a string; anything else goes to the
/// general reader). Duplicate `sub`: last wins, as the general reader.
fn claims_sub(scanner: &mut Scanner<'_>) -> Option<Option<(usize, usize)>> {
    let mut sub = None;
    scanner.object(|scanner, key| {
        if key == "sub" {
            scanner.ws();
            let start = scanner.pos;
            scanner.string()?;
            sub = Some((start, scanner.pos));
            Some(())
        } else {
            scanner.skip_value(1)
        }
    })?;
    Some(sub)
}

#[cfg(test)]
mod tests {
    //! The fast path must agree with the general reader on every input: same snapshot, same
    //! token, same error.

    use proptest::prelude::*;

    use crate::json::{from_json_str, general_from_json_str};
    use crate::swar::{first_by_bytes, first_marked};
    use crate::token::AccessToken;
    use crate::wiped::Wiped;

    fn string_piece() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-zA-Z0-9 _./:-]{0,12}",
            Just(r"\u00e9".to_owned()),
            Just(r"\ud83d\ude00".to_owned()),
            Just(r"\ud800".to_owned()),
            Just(r"\udc00x".to_owned()),
            Just(r#"\""#.to_owned()),
            Just(r"\\".to_owned()),
            Just(r"\/".to_owned()),
            Just(r"\n\t\b\f\r".to_owned()),
            Just(r"\x".to_owned()),
            Just(r"\u12".to_owned()),
            Just("\u{1}".to_owned()),
            Just("é😀".to_owned()),
        ]
    }

    fn json_string() -> impl Strategy<Value = String> {
        prop::collection::vec(string_piece(), 0..4)
            .prop_map(|pieces| format!("\"{}\"", pieces.concat()))
    }

    fn scalar() -> BoxedStrategy<String> {
        prop_oneof![
            4 => json_string(),
            2 => Just("null".to_owned()),
            1 => Just("true".to_owned()),
            1 => Just("false".to_owned()),
            1 => prop_oneof![
                Just("0"), Just("-0"), Just("01"), Just("1."), Just("-"), Just("1e"), Just("1e400"),
                Just("1.5e-3"), Just("123456789012345678901234"), Just("9223372036854775807"),
                Just("-9223372036854775808"), Just("9223372036854775808"), Just("2.0"), Just("NaN"),
            ].prop_map(str::to_owned),
        ]
        .boxed()
    }

    fn value() -> impl Strategy<Value = String> {
        scalar().prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4)
                    .prop_map(|items| format!("[{}]", items.join(", "))),
                prop::collection::vec((key(), inner), 0..4).prop_map(|members| object(&members)),
            ]
        })
    }

    fn key() -> impl Strategy<Value = String> {
        prop_oneof![
            prop_oneof![
                Just("access_token_json"),
                Just("http_headers"),
                Just("origin_request_id"),
                Just("session_id"),
                Just("owning_tool_name"),
                Just("owning_tool_version"),
                Just("token"),
                Just("client_id"),
                Just("scopes"),
                Just("expires_at"),
                Just("resource"),
                Just("subject"),
                Just("claims"),
                Just("original_client_id"),
                Just("sub"),
                Just("X-Head"),
                Just("other"),
            ]
            .prop_map(|name| format!("\"{name}\"")),
            Just(r#""s\u0075b""#.to_owned()),
            json_string(),
        ]
    }

    fn object(members: &[(String, String)]) -> String {
        let body: Vec<String> = members
            .iter()
            .map(|(key, value)| format!("{key}: {value}"))
            .collect();
        format!("{{{}}}", body.join(", "))
    }

    fn token_text() -> impl Strategy<Value = String> {
        (
            json_string(),
            json_string(),
            prop::collection::vec(json_string(), 0..3),
            prop_oneof![
                Just("null".to_owned()),
                any::<i64>().prop_map(|n| n.to_string()),
                scalar()
            ],
            prop::collection::vec((key(), value()), 0..4),
            prop::collection::vec((key(), value()), 0..2),
            any::<bool>(),
        )
            .prop_map(
                |(token, client, scopes, expires, claims, extra, drop_client)| {
                    let mut members = vec![("\"token\"".to_owned(), token)];
                    if !drop_client {
                        members.push(("\"client_id\"".to_owned(), client));
                    }
                    members.push(("\"scopes\"".to_owned(), format!("[{}]", scopes.join(","))));
                    members.push(("\"expires_at\"".to_owned(), expires));
                    members.push(("\"claims\"".to_owned(), object(&claims)));
                    members.extend(extra);
                    object(&members)
                },
            )
    }

    /// Mostly strings without escapes, so that the compact token layout is read in one pass.
    fn plain_or_json_string() -> impl Strategy<Value = String> {
        prop_oneof![
            3 => "[a-zA-Z0-9 _./:-]{0,12}".prop_map(|text| format!("\"{text}\"")),
            1 => json_string(),
        ]
    }

    fn optional_string() -> impl Strategy<Value = String> {
        prop_oneof![Just("null".to_owned()), plain_or_json_string()]
    }

    /// Token texts in the layout of pydantic's compact `model_dump_json()`, as the reference
    /// writes them.
    fn compact_token_text() -> impl Strategy<Value = String> {
        (
            (plain_or_json_string(), plain_or_json_string()),
            prop::collection::vec(plain_or_json_string(), 0..3),
            prop_oneof![
                2 => Just("null".to_owned()),
                2 => any::<i64>().prop_map(|n| n.to_string()),
                1 => scalar()
            ],
            (optional_string(), optional_string(), optional_string()),
            prop::collection::vec((key(), value()), 0..4),
        )
            .prop_map(
                |((token, client), scopes, expires, (resource, subject, original), claims)| {
                    let claims: Vec<String> = claims
                        .iter()
                        .map(|(key, value)| format!("{key}:{value}"))
                        .collect();
                    format!(
                        "{{\"token\":{token},\"client_id\":{client},\"scopes\":[{}],\"expires_at\":{expires},\"resource\":{resource},\"subject\":{subject},\"claims\":{{{}}},\"original_client_id\":{original}}}",
                        scopes.join(","),
                        claims.join(",")
                    )
                },
            )
    }

    fn json_escape(text: &str) -> String {
        serde_json::to_string(text).unwrap()
    }

    fn snapshot_text() -> impl Strategy<Value = String> {
        prop::collection::vec(
            (
                key(),
                prop_oneof![
                    3 => scalar(),
                    2 => token_text().prop_map(|token| json_escape(&token)),
                    2 => compact_token_text().prop_map(|token| json_escape(&token)),
                    2 => prop::collection::vec((key(), scalar()), 0..5).prop_map(|members| object(&members)),
                    1 => value(),
                ],
            ),
            0..7,
        )
        .prop_map(|members| object(&members))
    }

    /// Applies a few byte-level edits (which may break the JSON) at char boundaries.
    fn mutate(text: &str, edits: &[(prop::sample::Index, u8)]) -> String {
        let mut chars: Vec<char> = text.chars().collect();
        for (index, op) in edits {
            if chars.is_empty() {
                break;
            }
            let at = index.index(chars.len());
            match op % 3 {
                0 => {
                    chars.remove(at);
                }
                1 => chars.insert(at, [' ', '"', '\\', ',', '}', 'n'][usize::from(*op % 6)]),
                _ => chars[at] = ['{', ']', ':', '0', 'u'][usize::from(*op % 5)],
            }
        }
        chars.into_iter().collect()
    }

    fn same_token(left: &AccessToken, right: &AccessToken) -> bool {
        left.json() == right.json()
            && left.token() == right.token()
            && left.client_id() == right.client_id()
            && left.scopes() == right.scopes()
            && left.expires_at() == right.expires_at()
            && left.resource() == right.resource()
            && left.subject() == right.subject()
            && left.sub_claim() == right.sub_claim()
            && left.original_client_id() == right.original_client_id()
            && left.claims() == right.claims()
    }

    fn check_token(text: &str) {
        let fast = AccessToken::from_json(text);
        let general = AccessToken::general_from_json(Wiped::new(text.to_owned()));
        match (&fast, &general) {
            (Ok(fast), Ok(general)) => assert!(same_token(fast, general), "{text}"),
            (Err(fast), Err(general)) => assert_eq!(fast, general, "{text}"),
            _ => panic!("fast {fast:?} general {general:?} for {text}"),
        }
    }

    fn check_snapshot(text: &str) {
        let fast = from_json_str(text);
        let general = general_from_json_str(text);
        assert_eq!(fast, general, "{text}");
        if let (Ok(fast), Ok(general)) = (&fast, &general)
            && let (Some(fast), Some(general)) = (fast.access_token(), general.access_token())
        {
            assert!(same_token(fast, general), "{text}");
        }
    }

    fn is_special(byte: u8) -> bool {
        byte == b'"' || byte == b'\\' || byte < 0x20
    }

    fn is_not_lowercase_plain(byte: u8) -> bool {
        is_special(byte) || byte >= 0x80 || byte.is_ascii_uppercase()
    }

    /// Both word masks mark the first byte of `word` that their byte-by-byte definition stops at.
    fn assert_masks_find_the_first(word: [u8; 8]) {
        let value = u64::from_le_bytes(word);
        assert_eq!(
            first_marked(super::special_bytes(value)),
            first_by_bytes(word, is_special),
            "{word:?}"
        );
        assert_eq!(
            first_marked(super::not_lowercase_plain(value)),
            first_by_bytes(word, is_not_lowercase_plain),
            "{word:?}"
        );
    }

    #[test]
    fn word_masks_find_every_byte_at_every_place() {
        for byte in 0..=u8::MAX {
            for at in 0..8 {
                for filler in [b'a', b' ', b'#', b'!', b'~'] {
                    let mut word = [filler; 8];
                    word[at] = byte;
                    assert_masks_find_the_first(word);
                }
            }
        }
    }

    #[test]
    fn word_masks_find_the_first_of_any_two_bytes() {
        for first in 0..=u8::MAX {
            for second in 0..=u8::MAX {
                for (at, then) in [(0, 1), (0, 7), (3, 4), (6, 7)] {
                    let mut word = [b'a'; 8];
                    word[at] = first;
                    word[then] = second;
                    assert_masks_find_the_first(word);
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn word_masks_find_the_first_byte(word in prop::collection::vec(prop_oneof![
            prop::sample::select(vec![
                b'"', b'\\', 0x00, 0x02, 0x1f, b' ', b'!', b'#', b'@', b'A', b'Z', b'[', b'`', b'a',
                b'z', 0x7f, 0x80, 0xa1, 0xff,
            ]),
            any::<u8>(),
        ], 8)) {
            let mut bytes = [0_u8; 8];
            bytes.copy_from_slice(&word);
            let value = u64::from_le_bytes(bytes);
            prop_assert_eq!(first_marked(super::special_bytes(value)), first_by_bytes(bytes, is_special));
            prop_assert_eq!(
                first_marked(super::not_lowercase_plain(value)),
                first_by_bytes(bytes, is_not_lowercase_plain)
            );
        }

        #[test]
        fn token_fast_path_agrees(text in token_text(), edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..3)) {
            check_token(&text);
            check_token(&mutate(&text, &edits));
        }

        #[test]
        fn compact_token_agrees(token in compact_token_text(), edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..3)) {
            let text = format!("{{\"access_token_json\": {}, \"session_id\": null}}", json_escape(&token));
            check_snapshot(&text);
            check_snapshot(&mutate(&text, &edits));
            check_token(&token);
        }

        #[test]
        fn snapshot_fast_path_agrees(text in snapshot_text(), edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..3)) {
            check_snapshot(&text);
            check_snapshot(&mutate(&text, &edits));
        }
    }

    #[test]
    fn header_objects_of_every_shape_agree() {
        let many: Vec<String> = (0..30).map(|n| format!("\"h{n}\": \"v{n}\"")).collect();
        let cases = [
            r#"{"a": "1", "b": "2\"x\u00e9", "c": "3"}"#.to_owned(),
            r#"{"a": "1", "A": "2", "b": "3"}"#.to_owned(),
            r#"{"a": "1", "b": "2", "a": "3"}"#.to_owned(),
            r#"{"a": "1\n", "b": "2", "a": "3\t"}"#.to_owned(),
            r#"{"\u0061": "1", "b": "2"}"#.to_owned(),
            r#"{"é": "1", "b": "2"}"#.to_owned(),
            r#"{"a": "1", "b": null}"#.to_owned(),
            r#"{"a": "1", "b": "x
y"}"#
                .to_owned(),
            r#"{ }"#.to_owned(),
            r#"{"a" : "1" , "bb":"2"}"#.to_owned(),
            r#"{"a": "1",  "b": "2" ,"c":"3"}"#.to_owned(),
            r#"{"content-type": "1", "content-Type": "2"}"#.to_owned(),
            r#"{"abcdefgh": "1", "abcdefghiJ": "2", "x-forwarded-forÉ": "3"}"#.to_owned(),
            r#"{"abcdefghijklmnoZ": "1"}"#.to_owned(),
            r#"{"abc\u0064": "1"}"#.to_owned(),
            "{\"a\u{7f}b\": \"1\", \"@[`{~\": \"2\"}".to_owned(),
            format!("{{{}}}", many.join(", ")),
            format!("{{{}, \"h3\": \"again\"}}", many.join(", ")),
        ];
        for headers in cases {
            let text = format!("{{\"http_headers\": {headers}, \"session_id\": \"s\"}}");
            check_snapshot(&text);
            for cut in 1..text.len() {
                if text.is_char_boundary(cut) {
                    check_snapshot(text.get(..cut).unwrap());
                }
            }
        }
    }

    #[test]
    fn top_level_separators_of_every_shape_agree() {
        let cases = [
            r#"{"session_id":"s","owning_tool_name" : "t" ,"origin_request_id":null}"#,
            r#"{ "session_id" :"a\"b", "owning_tool_version":"v"}"#,
            r#"{"session_id": "x\u0041", "session_id": "y",  "owning_tool_name": "n"}"#,
            r#"{"origin_request_id": "7", "session_id": "s", "owning_tool_name": "t", "owning_tool_version": "1.0"}"#,
            r#"{"origin_request_id": "7",, "session_id": "s"}"#,
            r#"{"origin_request_id": "7"  , "session_id":"s" }"#,
            r#"{"owning_tool_version": "1", "origin_request_id": "x
y"}"#,
            r#"{"session_id": 5}"#,
            r#"{"session_id": nul}"#,
        ];
        for text in cases {
            check_snapshot(text);
            for cut in 1..text.len() {
                if text.is_char_boundary(cut) {
                    check_snapshot(text.get(..cut).unwrap());
                }
            }
        }
        assert!(super::snapshot(cases[3]).is_some());
    }

    #[test]
    fn fast_path_takes_the_common_shapes() {
        let token = r#"{"token":"t\"x","client_id":"c","scopes":["a"],"expires_at":-5,"resource":null,"subject":"s","claims":{"sub":"u","n":[1,{"a":2.5e3}],"b":true},"original_client_id":null}"#;
        assert!(super::token(token).is_some());
        let snapshot = format!(
            "{{\"access_token_json\": {}, \"http_headers\": {{\"X-A\": \"\\u00e9\", \"x-a\": \"2\"}}, \"session_id\": null}}",
            json_escape(token)
        );
        assert!(super::snapshot(&snapshot).is_some());
        check_snapshot(&snapshot);
        check_token(token);
    }

    #[test]
    fn compact_claims_keep_the_depth_limit_for_strings() {
        // A claim's value is at depth 1, so a string inside `arrays` arrays is at `arrays + 1`.
        for (arrays, one_pass) in [(63, true), (64, false)] {
            let value = format!("{}\"x\"{}", "[".repeat(arrays), "]".repeat(arrays));
            let token = format!(
                r#"{{"token":"t","client_id":"c","scopes":[],"expires_at":null,"resource":null,"subject":null,"claims":{{"d":{value}}},"original_client_id":null}}"#
            );
            let snapshot = format!("{{\"access_token_json\": {}}}", json_escape(&token));
            let fast = super::snapshot(&snapshot).unwrap();
            assert_eq!(
                matches!(fast.access_token_json, Some(super::TokenText::Parsed(..))),
                one_pass,
                "{arrays} arrays"
            );
            check_snapshot(&snapshot);
        }
    }

    #[test]
    fn compact_tokens_are_read_in_one_pass() {
        let token = r#"{"token":"t.x","client_id":"c","scopes":["a","b"],"expires_at":-5,"resource":null,"subject":"s","claims":{"sub":"u","name":"Jürgen 😀","n":[1,{"a":2.5e3}],"e":{}},"original_client_id":"o"}"#;
        // As the writer stores it: every character outside ASCII as `\uXXXX`.
        let snapshot = crate::json::to_json(
            &crate::TaskContextSnapshot::builder()
                .access_token(AccessToken::from_json(token).unwrap())
                .build(),
        );
        assert!(snapshot.contains(r"J\u00fcrgen \ud83d\ude00"));
        let fast = super::snapshot(&snapshot).unwrap();
        let Some(super::TokenText::Parsed(json, _)) = fast.access_token_json else {
            panic!("the compact layout was not read in one pass");
        };
        assert_eq!(*json, token);
        check_snapshot(&snapshot);
        // An escape of the token text's own takes the general decode, with the same result.
        for escaped in [
            token.replace("t.x", r"t\\x"),
            token.replace("Jürgen", r"J\u00fcrgen"),
        ] {
            let snapshot = format!("{{\"access_token_json\": {}}}", json_escape(&escaped));
            assert!(matches!(
                super::snapshot(&snapshot).unwrap().access_token_json,
                Some(super::TokenText::Text(_))
            ));
            check_snapshot(&snapshot);
        }
    }
}
