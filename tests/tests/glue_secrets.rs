//! Secrets after restore: a header the capture policy marks secret stays redacted in every
//! stored form (the native form carries the mark; for the reference's JSON the reader re-applies
//! its policy), and the credential headers captured with a token that is not installed (expired)
//! are not handed out.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests fail loudly on a broken assumption"
)]

mod glue_common;

use glue_common::{runtime, submit_key, token};
use taskctx_worker_glue::{
    CREDENTIAL_HEADERS, Codec, FernetKey, HeaderPolicy, KeyRing, RestoreOutcome, RestorePolicy,
    SealingKey, StoredForm, TaskContextSnapshot, TaskGlue, current, headers,
};

const API_KEY: &str = "api-key-value-5f3a";

/// A request with every header kept (as the reference does) and `x-api-key` marked secret.
fn policy() -> HeaderPolicy {
    HeaderPolicy::all().secret("x-api-key")
}

fn captured(expires_at: Option<i64>) -> TaskContextSnapshot {
    let request: [(&str, &[u8]); 5] = [
        ("X-Api-Key", API_KEY.as_bytes()),
        ("Authorization", b"Bearer secret-token-of-client-a-user-1"),
        ("Cookie", b"sid=cookie-secret"),
        ("Proxy-Authorization", b"Basic proxy-secret"),
        ("X-Request-Id", b"req-7"),
    ];
    TaskContextSnapshot::builder()
        .access_token(token("client-a", "user-1", expires_at))
        .capture_headers(request, &policy())
        .unwrap()
        .build()
}

fn glue_for(form: StoredForm, header_policy: HeaderPolicy) -> TaskGlue {
    let codec = match form {
        StoredForm::Json => Codec::json(),
        StoredForm::JsonFernet => Codec::json_fernet(FernetKey::from_bytes([3; 32])),
        StoredForm::Native => Codec::native(),
        StoredForm::NativeSealed => {
            Codec::native_sealed(KeyRing::new(SealingKey::new("k1", [4; 32]).unwrap()))
        }
    };
    TaskGlue::builder()
        .store_url("memory://glue-secrets")
        .codec(codec)
        .restore_policy(RestorePolicy::FailOpen)
        .header_policy(header_policy)
        .build()
        .unwrap()
}

/// What the task's code sees of the secret header: whether `Debug` of the context and of the
/// headers hides it, and whether the value itself is still there for the code to use.
async fn seen_by_worker(glue: &TaskGlue, key: &str) -> (bool, bool, bool) {
    glue.run(key, async {
        let context = current().unwrap();
        let headers = headers().unwrap();
        let shown = format!("{context:?} {headers:?} {:?}", current());
        (
            !shown.contains(API_KEY),
            headers.is_secret("x-api-key"),
            headers.get("x-api-key") == Some(API_KEY),
        )
    })
    .await
    .unwrap()
}

#[test]
fn a_secret_header_stays_redacted_in_every_stored_form() {
    runtime().block_on(async {
        let snapshot = captured(None);
        assert!(!format!("{snapshot:?}").contains(API_KEY));
        for form in [
            StoredForm::Json,
            StoredForm::JsonFernet,
            StoredForm::Native,
            StoredForm::NativeSealed,
        ] {
            let glue = glue_for(form, policy());
            let task_id = format!("T-secret-{form:?}");
            let key = submit_key(&glue, &snapshot, &task_id).await;
            assert_eq!(
                seen_by_worker(&glue, &key).await,
                (true, true, true),
                "{form}"
            );
        }
    });
}

/// The native form carries the mark itself: a reader whose policy does not name the header still
/// redacts it.
#[test]
fn the_native_form_carries_the_mark_to_any_reader() {
    runtime().block_on(async {
        let snapshot = captured(None);
        for form in [StoredForm::Native, StoredForm::NativeSealed] {
            let writer = glue_for(form, policy());
            let reader = glue_for(form, HeaderPolicy::all());
            let task_id = format!("T-carried-{form:?}");
            let key = submit_key(&writer, &snapshot, &task_id).await;
            assert_eq!(
                seen_by_worker(&reader, &key).await,
                (true, true, true),
                "{form}"
            );
        }
    });
}

#[test]
fn credential_headers_are_withheld_with_an_expired_token() {
    runtime().block_on(async {
        let glue = glue_for(StoredForm::Json, policy());
        // An expired token: not installed, and its credential headers are not handed out.
        let expired = captured(Some(1_000));
        let key = submit_key(&glue, &expired, "T-expired-credentials").await;
        let seen = glue
            .run(&key, async {
                let context = current().unwrap();
                let headers = headers().unwrap();
                (
                    context.outcome(),
                    context.access_token().is_none(),
                    CREDENTIAL_HEADERS
                        .iter()
                        .all(|name| headers.get(name).is_none() && !headers.contains(name)),
                    headers.get("x-request-id").map(str::to_owned),
                    headers.get("x-api-key").map(str::to_owned),
                    format!("{context:?}"),
                )
            })
            .await
            .unwrap();
        assert_eq!(seen.0, RestoreOutcome::ExpiredToken);
        assert!(seen.1);
        assert!(seen.2, "a credential header was handed out with no token");
        assert_eq!(seen.3.as_deref(), Some("req-7"));
        assert_eq!(seen.4.as_deref(), Some(API_KEY));
        for secret in ["secret-token", "cookie-secret", "proxy-secret", API_KEY] {
            assert!(!seen.5.contains(secret), "{secret} in {}", seen.5);
        }
        // A valid token: installed, with its credential headers.
        let valid = captured(None);
        let key = submit_key(&glue, &valid, "T-valid-credentials").await;
        let authorization = glue
            .run(&key, async {
                headers().and_then(|h| h.get("authorization").map(str::to_owned))
            })
            .await
            .unwrap();
        assert_eq!(
            authorization.as_deref(),
            Some("Bearer secret-token-of-client-a-user-1")
        );
    });
}
