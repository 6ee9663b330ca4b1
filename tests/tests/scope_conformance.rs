//! taskctx-scope against the vectors recorded from the Python reference (`keys.json`,
//! `scope.json`, and the Redis snapshot keys of `snapshots.json`).
//!
//! Every case where the reference succeeds must give the same result, unless it is listed in
//! the `*_DEVIATIONS` list of its vectors with the SPEC Deviation that covers it and the part the typed error must name;
//! every case where the reference raises must be an error. A listed deviation that no longer
//! deviates, or is never met, fails the test too.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests fail loudly on a broken assumption"
)]

use std::collections::BTreeMap;

use serde_json::{Value, json};
use taskctx_scope::{
    Component, Error, KeySpace, KeySuffix, Leg, Part, Scope, SubClaim, TaskId, TaskKey, TaskType,
    base_key, execution_key, hash_slot, leg_number, quote, scope_prefix, unquote,
};
use taskctx_tests::conformance::load;
use taskctx_worker_glue::store::StoreUrl;

const TASK_ID_RULE: &str = "SPEC §3 Deviation: task ids are 1-256 chars of A-Z a-z 0-9 - . _ ~";
const TASK_TYPE_RULE: &str = "SPEC §3 Deviation: task types are 1-64 chars of a-z 0-9 _ -";
const SEGMENTS_RULE: &str = "SPEC §3 Deviation: extra `:` segments are rejected, not folded";
const LEG_RULE: &str =
    "SPEC §3 Deviation: only `#leg` + ASCII decimal n >= 2 without leading zeros";
const ESCAPE_RULE: &str = "SPEC §1 Deviation: invalid escapes are rejected, not kept literally";
const UTF8_RULE: &str = "SPEC §1 Deviation: escapes decoding to invalid UTF-8 are rejected";
const RAW_RULE: &str = "SPEC §1 Deviation: raw bytes that Q would escape are rejected";
const CLIENT_ID_RULE: &str = "SPEC §2 Deviation: a client_id containing `|` is an error";
const SUB_RULE: &str = "SPEC §2 Deviation: a float, true, array or object sub is an error";
const QUEUE_RULE: &str = "SPEC §4: a queue name containing `{` or `}` is rejected";

/// A deviation: (section, input, part the error names, the Deviation covering it).
type Deviation = (&'static str, &'static str, Part, &'static str);

/// keys.json `non_roundtrip_cases`: building (keyed by the reference's key) and parsing.
#[rustfmt::skip]
const NON_ROUNDTRIP_DEVIATIONS: &[Deviation] = &[
    ("build", "auth:client-a:id:with:colons:tool:x", Part::TaskId, TASK_ID_RULE),
    ("build", "anon:id:with:colons:tool:x", Part::TaskId, TASK_ID_RULE),
    ("build", "auth:client-a:id#hash:tool:x", Part::TaskId, TASK_ID_RULE),
    ("build", "anon:id#leg5:tool:x", Part::TaskId, TASK_ID_RULE),
    ("build", "auth:client-a:t:to:ol:x", Part::TaskType, TASK_TYPE_RULE),
    ("build", "anon:t:to#ol:x", Part::TaskType, TASK_TYPE_RULE),
    ("build", "auth:client-a:::", Part::TaskId, TASK_ID_RULE),
    ("build", "anon:::", Part::TaskId, TASK_ID_RULE),
    ("build", "auth:client-a:id%20pct:tool:x", Part::TaskId, TASK_ID_RULE),
    ("parse", "auth:client-a:id:with:colons:tool:x", Part::Tag, SEGMENTS_RULE),
    ("parse", "anon:id:with:colons:tool:x", Part::Tag, SEGMENTS_RULE),
    ("parse", "auth:client-a:t:to:ol:x", Part::Tag, SEGMENTS_RULE),
    ("parse", "auth:client-a:::", Part::TaskId, TASK_ID_RULE),
    ("parse", "anon:::", Part::TaskId, TASK_ID_RULE),
    ("parse", "auth:client-a:id%20pct:tool:x", Part::TaskId, TASK_ID_RULE),
];

/// keys.json `malformed_or_edge_keys` the reference accepts (parse, and leg_number / base_key).
#[rustfmt::skip]
const MALFORMED_DEVIATIONS: &[Deviation] = &[
    ("parse", "anon:t:tool:x#legX", Part::LegSuffix, LEG_RULE),
    ("parse", "anon:t:tool:x#", Part::LegSuffix, LEG_RULE),
    ("parse", "anon:t:tool:x#leg2#leg3", Part::LegSuffix, LEG_RULE),
    ("parse", "auth:%ZZ:t:tool:x", Part::Scope, ESCAPE_RULE),
    ("parse", "auth:%:t:tool:x", Part::Scope, ESCAPE_RULE),
    ("parse", "auth:%zz%2g%G0:t:tool:x", Part::Scope, ESCAPE_RULE),
    ("parse", "anon:t:tool:%FF%FE", Part::Component, UTF8_RULE),
    ("parse", "anon:t:tool:%ED%A0%80", Part::Component, UTF8_RULE),
    ("parse", "anon:t:tool:%F4%90%80%80", Part::Component, UTF8_RULE),
    ("parse", "anon:t:tool:%E2%82%", Part::Component, ESCAPE_RULE),
    ("parse", "anon:t:tool:ü%C3%BC", Part::Component, RAW_RULE),
    ("parse", "anon:t:tool:x y", Part::Component, RAW_RULE),
    ("parse", "auth:a:b:c:d:e", Part::Tag, SEGMENTS_RULE),
    ("parse", "anon::::", Part::TaskId, TASK_ID_RULE),
    ("parse", "auth:::::", Part::TaskId, TASK_ID_RULE),
    ("leg", "anon:t:tool:x#legX", Part::LegSuffix, LEG_RULE),
    ("leg", "anon:t:tool:x#", Part::LegSuffix, LEG_RULE),
    ("leg", "anon:t:tool:x#leg2#leg3", Part::LegSuffix, LEG_RULE),
];

/// keys.json `leg_number_cases` the reference reads leniently.
#[rustfmt::skip]
const LEG_NUMBER_DEVIATIONS: &[Deviation] = &[
    ("leg", "k#leg-3", Part::LegSuffix, LEG_RULE),
    ("leg", "k#leg+5", Part::LegSuffix, LEG_RULE),
    ("leg", "k#leg5 ", Part::LegSuffix, LEG_RULE),
    ("leg", "k#leg\t7\n", Part::LegSuffix, LEG_RULE),
    ("leg", "k#leg1_000", Part::LegSuffix, LEG_RULE),
    ("leg", "k#leg_1", Part::LegSuffix, LEG_RULE),
    ("leg", "k#leg３", Part::LegSuffix, LEG_RULE),
    ("leg", "k#5", Part::LegSuffix, LEG_RULE),
    ("leg", "k#leg", Part::LegSuffix, LEG_RULE),
    ("leg", "k#legX", Part::LegSuffix, LEG_RULE),
    ("leg", "k#legleg4", Part::LegSuffix, LEG_RULE),
    ("leg", "k#leg2#leg3", Part::LegSuffix, LEG_RULE),
    ("leg", "k#leg0x10", Part::LegSuffix, LEG_RULE),
    ("leg", "k#leg1.0", Part::LegSuffix, LEG_RULE),
];

/// keys.json `unquote_samples`.
#[rustfmt::skip]
const UNQUOTE_DEVIATIONS: &[Deviation] = &[
    ("unquote", "%ZZ", Part::Component, ESCAPE_RULE),
    ("unquote", "%", Part::Component, ESCAPE_RULE),
    ("unquote", "%2", Part::Component, ESCAPE_RULE),
    ("unquote", "%2g", Part::Component, ESCAPE_RULE),
    ("unquote", "%zz%41", Part::Component, ESCAPE_RULE),
    ("unquote", "%E2%82", Part::Component, UTF8_RULE),
    ("unquote", "%FF", Part::Component, UTF8_RULE),
    ("unquote", "%C0%AF", Part::Component, UTF8_RULE),
    ("unquote", "%ED%A0%80", Part::Component, UTF8_RULE),
    ("unquote", "%F4%90%80%80", Part::Component, UTF8_RULE),
    ("unquote", "%F0%9F%98", Part::Component, UTF8_RULE),
    ("unquote", "%E2%82ü", Part::Component, UTF8_RULE),
    ("unquote", "ü%C3%BC", Part::Component, RAW_RULE),
    ("unquote", "a+b", Part::Component, RAW_RULE),
];

/// scope.json, keyed by description.
#[rustfmt::skip]
const SCOPE_DEVIATIONS: &[Deviation] = &[
    ("scope", "client_id contains '|' and no sub", Part::ClientId, CLIENT_ID_RULE),
    ("scope", "sub claim True", Part::SubClaim, SUB_RULE),
    ("scope", "sub claim float 1.5", Part::SubClaim, SUB_RULE),
    ("scope", "sub claim float 2.0 (str -> '2.0')", Part::SubClaim, SUB_RULE),
    ("scope", "sub claim float 1e100 (str -> '1e+100')", Part::SubClaim, SUB_RULE),
    ("scope", "sub claim list ['x'] (Python repr!)", Part::SubClaim, SUB_RULE),
    ("scope", "sub claim dict {'a': 1} (Python repr!)", Part::SubClaim, SUB_RULE),
];

/// snapshots.json `redis_snapshot_keys`, keyed by queue name.
const REDIS_DEVIATIONS: &[Deviation] = &[("redis", "my{app}", Part::QueueName, QUEUE_RULE)];

/// Cases skipped because Rust cannot express their input.
const SKIPPED: &[(&str, &str)] = &[(
    "keys.json lone_surrogate_inputs",
    "a Rust &str cannot hold a lone surrogate; the reference raises UnicodeEncodeError for them",
)];

/// Checks results against the reference and tracks which listed deviations were met.
struct Checker {
    deviations: BTreeMap<(&'static str, &'static str), (Part, &'static str)>,
    met: BTreeMap<(&'static str, &'static str), usize>,
    compared: usize,
}

impl Checker {
    fn new(listed: &[Deviation]) -> Self {
        let mut deviations = BTreeMap::new();
        for &(section, input, part, rule) in listed {
            assert!(
                deviations.insert((section, input), (part, rule)).is_none(),
                "duplicate deviation {section} {input:?}"
            );
        }
        Self {
            deviations,
            met: BTreeMap::new(),
            compared: 0,
        }
    }

    fn deviation(
        &self,
        section: &str,
        input: &str,
    ) -> Option<((&'static str, &'static str), Part, &'static str)> {
        self.deviations
            .iter()
            .find(|((s, i), _)| *s == section && *i == input)
            .map(|(&key, &(part, rule))| (key, part, rule))
    }

    /// `reference` is `{"ok": value}` or `{"raises": …}`.
    fn check<T: PartialEq<Value> + std::fmt::Debug>(
        &mut self,
        section: &str,
        input: &str,
        ours: Result<T, Error>,
        reference: &Value,
    ) {
        self.compared += 1;
        let deviation = self.deviation(section, input);
        if reference.get("raises").is_some() {
            assert!(
                ours.is_err(),
                "{section} {input:?}: the reference raises, taskctx gave {ours:?}"
            );
            assert!(
                deviation.is_none(),
                "{section} {input:?}: listed as a deviation but the reference raises"
            );
            return;
        }
        let expected = reference
            .get("ok")
            .unwrap_or_else(|| panic!("{section} {input:?}: no ok/raises"));
        match (ours, deviation) {
            (Ok(value), None) => {
                assert!(
                    value == *expected,
                    "{section} {input:?}: taskctx {value:?}, reference {expected}"
                );
            }
            (Ok(value), Some((_, _, rule))) => {
                panic!(
                    "{section} {input:?}: listed under {rule:?} but taskctx accepts it as {value:?}"
                )
            }
            (Err(error), None) => {
                panic!(
                    "{section} {input:?}: taskctx fails with {error} where the reference gives {expected}"
                )
            }
            (Err(error), Some((key, part, rule))) => {
                assert_eq!(
                    error.part(),
                    part,
                    "{section} {input:?} ({rule}): wrong error {error}"
                );
                *self.met.entry(key).or_default() += 1;
            }
        }
    }

    /// Every listed deviation must have been met at least once, and exactly `expected` results
    /// compared: an emptied or shortened vector section fails here.
    fn finish(self, expected: usize) {
        for (&(section, input), (_, rule)) in &self.deviations {
            assert!(
                self.met.contains_key(&(section, input)),
                "deviation {section} {input:?} ({rule}) was never met"
            );
        }
        assert!(expected > 0, "a section must compare something");
        assert_eq!(
            self.compared, expected,
            "compared {} results against the reference, expected {expected}",
            self.compared
        );
    }
}

fn str_of<'v>(value: &'v Value, field: &str) -> &'v str {
    value[field]
        .as_str()
        .unwrap_or_else(|| panic!("{field} is not a string in {value}"))
}

/// The identity as the reference reports it.
fn identity_json(key: &TaskKey<'_>) -> Value {
    json!({
        "task_scope": key.scope().map(|scope| scope.to_str().into_owned()),
        "client_task_id": key.task_id().as_str(),
        "task_type": key.task_type().as_str(),
        "component_identifier": key.component().to_str(),
    })
}

fn parse_json(key: &str) -> Result<Value, Error> {
    TaskKey::parse(key).map(|key| identity_json(&key))
}

/// Builds a key from the reference's input fields.
fn build(input: &Value) -> Result<TaskKey<'_>, Error> {
    Ok(TaskKey::new(
        input["task_scope"].as_str().map(Scope::new),
        TaskId::new(str_of(input, "client_task_id"))?,
        TaskType::new(str_of(input, "task_type"))?,
        Component::new(str_of(input, "component_identifier")),
    ))
}

struct Json(Value);

impl PartialEq<Value> for Json {
    fn eq(&self, other: &Value) -> bool {
        self.0 == *other
    }
}

impl std::fmt::Debug for Json {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

fn json_result<T: Into<Value>>(result: Result<T, Error>) -> Result<Json, Error> {
    result.map(|value| Json(value.into()))
}

#[test]
fn keys_cases_build_parse_prefix_and_legs() {
    let vectors = load("keys.json");
    let cases = vectors["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 252);
    let mut checker = Checker::new(&[]);
    for case in cases {
        let input = &case["input"];
        let reference_key = str_of(case, "build_task_key");
        let key = build(input).unwrap_or_else(|error| panic!("building {input}: {error}"));
        let built = key.to_key();
        assert_eq!(built, reference_key, "{input}");
        assert_eq!(
            scope_prefix(key.scope()),
            str_of(case, "task_redis_prefix"),
            "{input}"
        );
        assert_eq!(
            key.redis_scope_prefix(),
            str_of(case, "task_redis_prefix"),
            "{input}"
        );
        assert!(case["roundtrips"].as_bool().unwrap());
        checker.check(
            "parse",
            &built,
            json_result(parse_json(&built)),
            &case["parse_task_key"],
        );
        assert_eq!(TaskKey::parse(&built).unwrap(), key, "{built}");
        for leg_case in case["legs"].as_array().unwrap() {
            let leg = Leg::new(leg_case["leg"].as_u64().unwrap());
            let execution = key.execution_key(leg);
            assert_eq!(execution, str_of(leg_case, "leg_execution_key"));
            assert_eq!(execution_key(&built, leg), execution);
            assert_eq!(
                Some(leg_number(&execution).unwrap().get()),
                leg_case["leg_number_from_key"].as_u64()
            );
            assert_eq!(
                base_key(&execution).unwrap(),
                str_of(leg_case, "base_task_key")
            );
            checker.check(
                "parse",
                &execution,
                json_result(parse_json(&execution)),
                &leg_case["parse_task_key"],
            );
            let (parsed, parsed_leg) = TaskKey::parse_execution(&execution).unwrap();
            assert_eq!((parsed, parsed_leg), (key.clone(), leg));
        }
    }
    // Each case: its base key and four legs.
    checker.finish(252 * 5);
}

#[test]
fn keys_non_roundtrip_cases_are_rejected() {
    let vectors = load("keys.json");
    let cases = vectors["non_roundtrip_cases"].as_array().unwrap();
    assert_eq!(cases.len(), 9);
    let mut checker = Checker::new(NON_ROUNDTRIP_DEVIATIONS);
    for case in cases {
        let reference_key = str_of(case, "build_task_key");
        let ours = build(&case["input"]).map(|key| Json(key.to_key().into()));
        checker.check(
            "build",
            reference_key,
            ours,
            &json!({ "ok": reference_key }),
        );
        checker.check(
            "parse",
            reference_key,
            json_result(parse_json(reference_key)),
            &case["parse_task_key"],
        );
    }
    // Each case: build and parse.
    checker.finish(9 * 2);
}

#[test]
fn keys_malformed_or_edge_keys() {
    let vectors = load("keys.json");
    let cases = vectors["malformed_or_edge_keys"].as_array().unwrap();
    assert_eq!(cases.len(), 30);
    let mut checker = Checker::new(MALFORMED_DEVIATIONS);
    for case in cases {
        let key = str_of(case, "key");
        assert_eq!(
            case["raises_ValueError"].as_bool().unwrap(),
            case["parse_task_key"].get("raises").is_some()
        );
        checker.check(
            "parse",
            key,
            json_result(parse_json(key)),
            &case["parse_task_key"],
        );
        checker.check(
            "leg",
            key,
            json_result(base_key(key)),
            &json!({ "ok": case["base_task_key"] }),
        );
        checker.check(
            "leg",
            key,
            json_result(leg_number(key).map(Leg::get)),
            &json!({ "ok": case["leg_number_from_key"] }),
        );
    }
    // Each key: parse, base key and leg number.
    checker.finish(30 * 3);
}

#[test]
fn keys_leg_number_cases() {
    let vectors = load("keys.json");
    let cases = vectors["leg_number_cases"].as_array().unwrap();
    assert_eq!(cases.len(), 17);
    let mut checker = Checker::new(LEG_NUMBER_DEVIATIONS);
    for case in cases {
        let key = str_of(case, "key");
        checker.check(
            "leg",
            key,
            json_result(leg_number(key).map(Leg::get)),
            &case["leg_number_from_key"],
        );
        checker.check(
            "leg",
            key,
            json_result(base_key(key)),
            &json!({ "ok": case["base_task_key"] }),
        );
    }
    // Each key: leg number and base key.
    checker.finish(17 * 2);
}

#[test]
fn keys_leg_execution_key_cases() {
    let vectors = load("keys.json");
    let cases = vectors["leg_execution_key_cases"].as_array().unwrap();
    assert_eq!(cases.len(), 7);
    for case in cases {
        // The reference maps every leg <= 1 to the base key; Leg::new(0) is the first leg.
        let leg = Leg::new(u64::try_from(case["leg"].as_i64().unwrap()).unwrap_or(0));
        let base = str_of(case, "base");
        assert_eq!(
            execution_key(base, leg),
            str_of(case, "leg_execution_key"),
            "{case}"
        );
        let (parsed, parsed_leg) =
            TaskKey::parse_execution(str_of(case, "leg_execution_key")).unwrap();
        assert_eq!(parsed, TaskKey::parse(base).unwrap());
        assert_eq!(parsed_leg, leg);
    }
}

#[test]
fn keys_quote_table_and_unquote_samples() {
    let vectors = load("keys.json");
    let table = vectors["quote_safe_empty_ascii_table"].as_object().unwrap();
    assert_eq!(table.len(), 128);
    for (code, expected) in table {
        let byte = u8::from_str_radix(code.trim_start_matches("0x"), 16).unwrap();
        let text = char::from(byte).to_string();
        assert_eq!(quote(&text), expected.as_str().unwrap(), "{code}");
        assert_eq!(
            unquote(expected.as_str().unwrap(), Part::Component).unwrap(),
            text,
            "{code}"
        );
    }
    let unreserved = str_of(&vectors, "quote_safe_empty_unescaped_ascii");
    assert_eq!(quote(unreserved), unreserved);
    assert_eq!(quote(""), "");

    let samples = vectors["unquote_samples"].as_object().unwrap();
    assert_eq!(samples.len(), 21);
    let mut checker = Checker::new(UNQUOTE_DEVIATIONS);
    for (input, sample) in samples {
        let ours = json_result(unquote(input, Part::Component).map(|text| text.into_owned()));
        checker.check("unquote", input, ours, &json!({ "ok": sample["unquote"] }));
    }
    checker.finish(21);
}

#[test]
fn keys_skipped_cases_are_named() {
    let vectors = load("keys.json");
    let surrogates = vectors["lone_surrogate_inputs"].as_object().unwrap();
    assert_eq!(surrogates.len(), 2);
    assert!(surrogates.values().all(|case| case.get("raises").is_some()));
    assert!(
        SKIPPED
            .iter()
            .any(|(section, _)| section.contains("lone_surrogate_inputs"))
    );
}

/// Maps a token's `claims.sub` (pydantic's JSON dump) into a [`SubClaim`].
fn sub_claim(token: &Value) -> SubClaim<'_> {
    match token.get("claims").and_then(|claims| claims.get("sub")) {
        None => SubClaim::Absent,
        Some(Value::Null) => SubClaim::Null,
        Some(Value::Bool(value)) => SubClaim::Bool(*value),
        Some(Value::Number(number)) => match (number.as_i64(), number.as_u64()) {
            (Some(value), _) => SubClaim::Integer(value.into()),
            (None, Some(value)) => SubClaim::Integer(value.into()),
            (None, None) => SubClaim::Float(number.as_f64().unwrap()),
        },
        Some(Value::String(value)) => SubClaim::String(value),
        Some(Value::Array(_)) => SubClaim::Array,
        Some(Value::Object(_)) => SubClaim::Object,
    }
}

#[test]
fn scope_from_real_tokens() {
    let vectors = load("scope.json");
    let cases = vectors["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 19);
    let mut checker = Checker::new(SCOPE_DEVIATIONS);
    for case in cases {
        let description = str_of(case, "description");
        let token: Option<Value> = case["token"]
            .get("model_dump_json")
            .map(|dump| serde_json::from_str(dump.as_str().unwrap()).unwrap());
        let scope = match &token {
            None => Ok(None),
            Some(token) => {
                Scope::from_token(str_of(token, "client_id"), sub_claim(token)).map(Some)
            }
        };
        let ours = scope
            .as_ref()
            .map(|scope| Json(json!(scope.as_ref().map(|scope| scope.to_str()))))
            .map_err(Clone::clone);
        checker.check("scope", description, ours, &case["get_task_scope"]);
        if let Ok(scope) = scope {
            assert_eq!(
                scope_prefix(scope.as_ref()),
                str_of(case, "task_redis_prefix"),
                "{description}"
            );
            let key = TaskKey::new(
                scope,
                TaskId::new("T1").unwrap(),
                TaskType::TOOL,
                Component::new("echo"),
            );
            let built = key.to_key();
            assert_eq!(
                built,
                str_of(case, "build_task_key(scope,'T1','tool','echo')"),
                "{description}"
            );
            assert_eq!(TaskKey::parse(&built).unwrap(), key);
        }
    }
    checker.finish(19);
}

/// The `redis_snapshot_keys` array of `snapshots.json`, read on its own: other parts of that file
/// hold lone surrogate escapes that `serde_json` does not accept.
fn redis_snapshot_keys() -> Value {
    let path = taskctx_tests::conformance::dir().join("snapshots.json");
    let text = std::fs::read_to_string(&path).unwrap();
    let field = "\"redis_snapshot_keys\":";
    let start = text.find(field).unwrap() + field.len();
    serde_json::Deserializer::from_str(&text[start..])
        .into_iter::<Value>()
        .next()
        .unwrap()
        .unwrap()
}

#[test]
fn redis_snapshot_keys_standalone_and_cluster() {
    let vectors = redis_snapshot_keys();
    let cases = vectors.as_array().unwrap();
    assert_eq!(cases.len(), 40);
    let mut checker = Checker::new(REDIS_DEVIATIONS);
    for case in cases {
        let name = str_of(case, "docket_name");
        let url = str_of(case, "docket_url");
        let deployment = StoreUrl::parse(url).unwrap().deployment();
        let space = KeySpace::new(name, deployment);
        if let Ok(space) = &space {
            assert_eq!(
                space.queue_prefix(),
                str_of(case, "docket_prefix"),
                "{case}"
            );
        }
        let scope = case["task_scope"].as_str().map(Scope::new);
        let task_id = TaskId::new(str_of(case, "task_id")).unwrap();
        let ours = space.map(|space| {
            let snapshot = space.snapshot_key(scope.as_ref(), &task_id);
            // Every per-task key shares the snapshot's cluster slot.
            for suffix in KeySuffix::FIXED.into_iter().chain([
                KeySuffix::InputRequests(Leg::new(2)),
                KeySuffix::InputMap(Leg::FIRST),
            ]) {
                let other = space.task_key(scope.as_ref(), &task_id, suffix);
                assert!(
                    other.starts_with(snapshot.trim_end_matches("snapshot").trim_end_matches(':'))
                );
                if url.contains("+cluster") {
                    assert_eq!(
                        hash_slot(other.as_bytes()),
                        hash_slot(snapshot.as_bytes()),
                        "{other}"
                    );
                }
            }
            Json(snapshot.into())
        });
        checker.check("redis", name, ours, &json!({ "ok": case["snapshot_key"] }));
    }
    checker.finish(40);
}
