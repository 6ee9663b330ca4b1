//! Scopes from token inputs. The input is read two ways: as an `access_token_json` text (the
//! scope the submit path derives from it), and as raw `client_id` / `sub` text split at the first
//! newline. Either way a scope is a typed result, and composition is injective: the `client_id`
//! and `sub` come back out of the scope, and the scope survives a task key round trip.

#![no_main]

use libfuzzer_sys::fuzz_target;
use taskctx_scope::{Component, Scope, SubClaim, TaskId, TaskKey, TaskType, scope_prefix};
use taskctx_snapshot::{AccessToken, TaskContextSnapshot};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(token) = AccessToken::from_json(text) {
        let client_id = token.client_id().to_owned();
        let sub = token.sub_claim().cloned();
        let snapshot = TaskContextSnapshot::builder().access_token(token).build();
        match snapshot.access_token().map(AccessToken::scope).transpose() {
            Ok(Some(scope)) => {
                let decoded = scope.to_str();
                let (left, right) = decoded.split_once('|').unwrap_or((&decoded, ""));
                assert_eq!(left, client_id, "{decoded}");
                match sub {
                    Some(serde_json::Value::String(sub)) => assert_eq!(right, sub),
                    Some(serde_json::Value::Number(number)) if !right.is_empty() => {
                        assert_eq!(right, number.to_string());
                    }
                    _ => assert!(right.is_empty(), "{decoded}"),
                }
                round_trip(&scope);
            }
            Ok(None) => panic!("an authenticated snapshot has a scope"),
            Err(error) => assert!(error.to_string().len() <= 512),
        }
    }
    let (client_id, sub) = text.split_once('\n').unwrap_or((text, ""));
    for claim in [SubClaim::String(sub), SubClaim::Absent] {
        match Scope::from_token(client_id, claim) {
            Ok(scope) => {
                assert!(!client_id.contains('|'));
                let decoded = scope.to_str();
                let expected = if matches!(claim, SubClaim::String(s) if !s.is_empty()) {
                    format!("{client_id}|{sub}")
                } else {
                    client_id.to_owned()
                };
                assert_eq!(decoded, expected);
                round_trip(&scope);
            }
            Err(_) => assert!(client_id.contains('|')),
        }
    }
});

/// The scope names its own keyspace: a task key under it parses back to it, and its Redis prefix
/// is never the anonymous one.
fn round_trip(scope: &Scope<'_>) {
    let Ok(id) = TaskId::new("T1") else {
        return;
    };
    let key = TaskKey::new(Some(scope.clone()), id, TaskType::TOOL, Component::new("c"));
    let built = key.to_key();
    let parsed = TaskKey::parse(&built).expect("a built key parses");
    assert_eq!(parsed.scope(), Some(scope));
    assert_ne!(scope_prefix(Some(scope)), scope_prefix(None));
}
