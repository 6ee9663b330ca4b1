//! Edges of the reference's JSON form: an empty token text, and the one nesting limit that every
//! reader applies (the snapshot's reader, the token's reader and its lazy claims).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail loudly on a broken assumption"
)]

use serde_json::Value;
use taskctx_snapshot::json::{self, JsonError, MAX_NESTING};
use taskctx_snapshot::{AccessToken, TokenError};

fn nested(depth: usize) -> String {
    format!("{}1{}", "[".repeat(depth), "]".repeat(depth))
}

/// A snapshot whose token text is `token` (escaped into the snapshot as the reference does).
fn snapshot_with_token(token: &str) -> String {
    format!(
        "{{\"access_token_json\": {}, \"session_id\": \"s\"}}",
        serde_json::to_string(token).unwrap()
    )
}

#[test]
fn an_empty_token_text_is_no_token_and_re_encodes_as_null() {
    // Without and with an unknown field.
    for text in [
        r#"{"access_token_json": "", "session_id": "s"}"#,
        r#"{"access_token_json": "", "session_id": "s", "extra": [1]}"#,
    ] {
        let snapshot = json::from_json(text.as_bytes()).unwrap();
        assert!(snapshot.access_token().is_none(), "{text}");
        assert_eq!(snapshot.session_id(), Some("s"));
        assert_eq!(
            json::to_json(&snapshot),
            r#"{"access_token_json": null, "http_headers": null, "origin_request_id": null, "session_id": "s", "owning_tool_name": null, "owning_tool_version": null}"#
        );
    }
    // Whitespace is not empty: it is still a token text, and not a valid one.
    assert!(matches!(
        json::from_json(br#"{"access_token_json": " "}"#),
        Err(JsonError::AccessToken(_))
    ));
}

#[test]
fn deep_unknown_fields_are_refused_with_the_limit() {
    // The outermost object is level one, so the field's value may nest MAX_NESTING - 1 deep.
    let within = format!(
        "{{\"session_id\": \"s\", \"extra\": {}}}",
        nested(MAX_NESTING - 1)
    );
    assert_eq!(
        json::from_json(within.as_bytes()).unwrap().session_id(),
        Some("s")
    );
    for depth in [MAX_NESTING, 100_000] {
        let text = format!("{{\"session_id\": \"s\", \"extra\": {}}}", nested(depth));
        assert_eq!(
            json::from_json(text.as_bytes()),
            Err(JsonError::TooDeep { limit: MAX_NESTING }),
            "depth {depth}"
        );
    }
    // Brackets inside strings do not count.
    let quoted = format!("{{\"extra\": \"{}\"}}", "[".repeat(1000));
    assert!(json::from_json(quoted.as_bytes()).is_ok());
}

#[test]
fn deep_claims_are_refused_never_emptied() {
    let token = |claims: &str| {
        format!(
            r#"{{"token":"t","client_id":"c","scopes":[],"claims":{{"sub":"u","deep":{claims}}}}}"#
        )
    };
    // Token object, claims object, then the value: MAX_NESTING - 2 levels fit.
    let within = AccessToken::from_json(&token(&nested(MAX_NESTING - 2))).unwrap();
    assert_eq!(within.claims().len(), 2);
    assert!(matches!(within.claims().get("deep"), Some(Value::Array(_))));
    for depth in [MAX_NESTING - 1, 100_000] {
        let text = token(&nested(depth));
        assert_eq!(
            AccessToken::from_json(&text).map(|_| ()),
            Err(TokenError::TooDeep { limit: MAX_NESTING }),
            "depth {depth}"
        );
        assert_eq!(
            json::from_json(snapshot_with_token(&text).as_bytes()),
            Err(JsonError::AccessToken(TokenError::TooDeep {
                limit: MAX_NESTING
            })),
            "depth {depth}"
        );
    }
    // Unknown token fields are held to the same limit.
    let unknown = format!(
        r#"{{"token":"t","client_id":"c","scopes":[],"x":{}}}"#,
        nested(100_000)
    );
    assert_eq!(
        AccessToken::from_json(&unknown).map(|_| ()),
        Err(TokenError::TooDeep { limit: MAX_NESTING })
    );
}

#[test]
fn every_sub_number_is_kept_as_read() {
    // `-0` and integers beyond 64 bits arrive as floats; the scope layer decides what they mean.
    for (claim, expected) in [
        ("-0", -0.0_f64),
        ("18446744073709551616", 18_446_744_073_709_551_616.0),
    ] {
        let text =
            format!(r#"{{"token":"t","client_id":"c","scopes":[],"claims":{{"sub":{claim}}}}}"#);
        let token = AccessToken::from_json(&text).unwrap();
        let sub = token.sub_claim().and_then(Value::as_f64).unwrap();
        assert_eq!(sub.to_bits(), expected.to_bits(), "{claim}");
    }
}
