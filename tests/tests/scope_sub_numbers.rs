//! The task scope of tokens whose `sub` claim is a number the JSON readers give as a float: every
//! zero (`-0`, `0.0`) is no `sub`, as Python's `if sub:` reads it; an integer beyond 64 bits is
//! refused (a Deviation, see docs/key-format.md) rather than composed from rounded digits.

#![allow(
    clippy::unwrap_used,
    reason = "tests fail loudly on a broken assumption"
)]

use taskctx_scope::{Error, SubClaimKind};
use taskctx_snapshot::{AccessToken, TaskContextSnapshot};
use taskctx_worker_glue::scope_of;

fn scope(sub: &str) -> Result<Option<String>, Error> {
    let token = AccessToken::from_json(&format!(
        r#"{{"token":"t","client_id":"client-a","scopes":[],"claims":{{"sub":{sub}}}}}"#
    ))
    .unwrap();
    let snapshot = TaskContextSnapshot::builder().access_token(token).build();
    scope_of(&snapshot).map(|scope| scope.map(|scope| scope.to_str().into_owned()))
}

#[test]
fn zeros_of_every_spelling_are_no_sub() {
    for zero in ["0", "-0", "0.0", "-0.0", "0e5"] {
        assert_eq!(scope(zero), Ok(Some("client-a".to_owned())), "{zero}");
    }
}

#[test]
fn sixty_four_bit_integers_compose_and_larger_ones_are_refused() {
    assert_eq!(scope("-7"), Ok(Some("client-a|-7".to_owned())));
    assert_eq!(
        scope("18446744073709551615"),
        Ok(Some("client-a|18446744073709551615".to_owned()))
    );
    for sub in ["18446744073709551616", "-9223372036854775809", "1.5"] {
        assert_eq!(
            scope(sub),
            Err(Error::UnsupportedSubClaim {
                kind: SubClaimKind::Float
            }),
            "{sub}"
        );
    }
}
