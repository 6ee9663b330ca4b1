//! The JSON fast paths against the general readers, on any text: the snapshot reader and the
//! access-token reader give the same snapshot or token, field by field, or the same error.

#![no_main]

use libfuzzer_sys::fuzz_target;
use taskctx_snapshot::fuzzing::{general_from_json_str, general_token_from_json};
use taskctx_snapshot::{AccessToken, TaskContextSnapshot, json};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let fast = json::from_json_str(text);
    let general = general_from_json_str(text);
    match (&fast, &general) {
        (Ok(fast), Ok(general)) => same_snapshot(fast, general),
        (Err(fast), Err(general)) => assert_eq!(fast, general, "{text:?}"),
        _ => panic!("fast path {fast:?}, general reader {general:?} for {text:?}"),
    }
    let fast = AccessToken::from_json(text);
    let general = general_token_from_json(text);
    match (&fast, &general) {
        (Ok(fast), Ok(general)) => same_token(fast, general),
        (Err(fast), Err(general)) => assert_eq!(fast, general, "{text:?}"),
        _ => panic!("fast path {fast:?}, general reader {general:?} for {text:?}"),
    }
});

fn same_snapshot(fast: &TaskContextSnapshot, general: &TaskContextSnapshot) {
    assert_eq!(fast, general);
    match (fast.access_token(), general.access_token()) {
        (Some(fast), Some(general)) => same_token(fast, general),
        (None, None) => {}
        (fast, general) => panic!("tokens differ: {fast:?} / {general:?}"),
    }
    let headers = |snapshot: &TaskContextSnapshot| {
        snapshot.http_headers().map(|headers| {
            headers
                .iter()
                .map(|(name, value)| (name.to_owned(), value.to_owned(), headers.is_secret(name)))
                .collect::<Vec<_>>()
        })
    };
    assert_eq!(headers(fast), headers(general));
    assert_eq!(json::to_json(fast), json::to_json(general));
}

fn same_token(fast: &AccessToken, general: &AccessToken) {
    assert_eq!(fast.json(), general.json());
    assert!(fast.token() == general.token(), "token text differs");
    assert_eq!(fast.client_id(), general.client_id());
    assert_eq!(fast.scopes(), general.scopes());
    assert_eq!(fast.expires_at(), general.expires_at());
    assert_eq!(fast.resource(), general.resource());
    assert_eq!(fast.subject(), general.subject());
    assert_eq!(fast.sub_claim(), general.sub_claim());
    assert_eq!(fast.original_client_id(), general.original_client_id());
    assert_eq!(fast.claims(), general.claims());
}
