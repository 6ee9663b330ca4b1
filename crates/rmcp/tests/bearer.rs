//! The bearer layer in front of an axum router: which requests reach the handler, with which
//! `VerifiedToken`, and how the others are refused.

#![allow(
    clippy::expect_used,
    reason = "tests: a failed expectation is the test failing"
)]

use std::future::poll_fn;

use axum::body::Body;
use axum::extract::Request;
use http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use http::{HeaderValue, StatusCode};
use taskctx_rmcp::{BearerAuthLayer, Rejection, VerifiedToken};
use taskctx_snapshot::AccessToken;
use tower_service::Service;

async fn verify(bearer: String) -> Result<AccessToken, Rejection> {
    match bearer.as_str() {
        "good" => Ok(AccessToken::builder(bearer, "client-a").build()),
        "expired" => Ok(AccessToken::builder(bearer, "client-a")
            .expires_at(1)
            .build()),
        "down" => Err(Rejection::Unavailable),
        _ => Err(Rejection::InvalidToken),
    }
}

/// Answers with the client id of the request's verified token, or `anonymous`.
async fn who(request: Request) -> String {
    request.extensions().get::<VerifiedToken>().map_or_else(
        || "anonymous".to_owned(),
        |token| token.token().client_id().to_owned(),
    )
}

fn router(allow_anonymous: bool) -> axum::Router {
    let layer = BearerAuthLayer::new(verify);
    let layer = if allow_anonymous {
        layer.allow_anonymous()
    } else {
        layer
    };
    axum::Router::new()
        .route("/", axum::routing::post(who))
        .layer(layer)
}

/// Status, `WWW-Authenticate` and body of one request through the router.
async fn send(
    router: &mut axum::Router,
    request: http::Request<Body>,
) -> (StatusCode, Option<String>, String) {
    poll_fn(|cx| Service::<Request>::poll_ready(router, cx))
        .await
        .expect("the router is ready");
    let response = router.call(request).await.expect("the router answers");
    let status = response.status();
    let challenge = response
        .headers()
        .get(WWW_AUTHENTICATE)
        .map(|value| value.to_str().expect("ASCII").to_owned());
    let body = axum::body::to_bytes(response.into_body(), 1024)
        .await
        .expect("a small body");
    (
        status,
        challenge,
        String::from_utf8(body.to_vec()).expect("UTF-8"),
    )
}

fn request(authorization: &[&str]) -> http::Request<Body> {
    let mut request = http::Request::post("/")
        .body(Body::empty())
        .expect("a request");
    for value in authorization {
        request.headers_mut().append(
            AUTHORIZATION,
            HeaderValue::from_str(value).expect("a header value"),
        );
    }
    request
}

#[tokio::test]
async fn a_verified_bearer_reaches_the_handler_as_its_token() {
    let mut router = router(false);
    for authorization in ["Bearer good", "bearer good", "BEARER  good "] {
        let answer = send(&mut router, request(&[authorization])).await;
        assert_eq!(
            answer,
            (StatusCode::OK, None, "client-a".to_owned()),
            "{authorization}"
        );
    }
}

#[tokio::test]
async fn refused_bearers_never_reach_the_handler() {
    let mut router = router(true);
    let invalid_token = Some("Bearer error=\"invalid_token\"".to_owned());
    let invalid_request = Some("Bearer error=\"invalid_request\"".to_owned());
    let cases: [(&[&str], StatusCode, Option<String>); 7] = [
        (
            &["Bearer forged"],
            StatusCode::UNAUTHORIZED,
            invalid_token.clone(),
        ),
        (&["Bearer expired"], StatusCode::UNAUTHORIZED, invalid_token),
        (&["Bearer down"], StatusCode::SERVICE_UNAVAILABLE, None),
        (
            &["Basic Z29vZA=="],
            StatusCode::UNAUTHORIZED,
            invalid_request.clone(),
        ),
        (
            &["Bearer "],
            StatusCode::UNAUTHORIZED,
            invalid_request.clone(),
        ),
        (
            &["Bearer"],
            StatusCode::UNAUTHORIZED,
            invalid_request.clone(),
        ),
        (
            &["Bearer good", "Bearer good"],
            StatusCode::UNAUTHORIZED,
            invalid_request,
        ),
    ];
    for (authorization, status, challenge) in cases {
        let answer = send(&mut router, request(authorization)).await;
        assert_eq!(
            answer,
            (status, challenge, String::new()),
            "{authorization:?}"
        );
    }
}

#[tokio::test]
async fn without_a_bearer_the_caller_is_anonymous_or_refused() {
    let answer = send(&mut router(true), request(&[])).await;
    assert_eq!(answer, (StatusCode::OK, None, "anonymous".to_owned()));

    let answer = send(&mut router(false), request(&[])).await;
    assert_eq!(
        answer,
        (
            StatusCode::UNAUTHORIZED,
            Some("Bearer".to_owned()),
            String::new()
        )
    );
}

#[tokio::test]
async fn a_token_put_in_the_request_before_the_layer_is_dropped() {
    let mut planted = request(&[]);
    planted.extensions_mut().insert(VerifiedToken::new(
        AccessToken::builder("planted", "client-z").build(),
    ));
    let answer = send(&mut router(true), planted).await;
    assert_eq!(answer, (StatusCode::OK, None, "anonymous".to_owned()));
}

#[test]
fn debug_never_shows_the_token() {
    let token = VerifiedToken::new(AccessToken::builder("s3cr3t-value", "client-a").build());
    assert!(!format!("{token:?}").contains("s3cr3t-value"));
    let layer = BearerAuthLayer::new(verify);
    assert_eq!(
        format!("{layer:?}"),
        "BearerAuthLayer { allow_anonymous: false, .. }"
    );
}
