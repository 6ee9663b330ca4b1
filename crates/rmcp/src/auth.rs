//! A tower layer that verifies the request's bearer token and inserts the [`VerifiedToken`].

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use http::{HeaderValue, Request, Response, StatusCode};
use taskctx_snapshot::AccessToken;
use tower_layer::Layer;
use tower_service::Service;

use crate::VerifiedToken;

/// Why a verifier refused a bearer token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rejection {
    /// The token is not valid (unknown, revoked, expired, wrong audience): `401` with
    /// `WWW-Authenticate: Bearer error="invalid_token"`.
    InvalidToken,
    /// The token could not be checked right now (the authorization server is down): `503`.
    Unavailable,
}

/// Checks a bearer token and gives the caller's [`AccessToken`].
///
/// Implemented for every `Fn(String) -> impl Future<Output = Result<AccessToken, Rejection>>`
/// closure, so a verifier is usually an `async move` closure around your token introspection or
/// JWT validation.
pub trait BearerVerifier: Send + Sync + 'static {
    /// Verifies `bearer` (the token after `Bearer `).
    fn verify(&self, bearer: String)
    -> impl Future<Output = Result<AccessToken, Rejection>> + Send;
}

impl<F, Fut> BearerVerifier for F
where
    F: Fn(String) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<AccessToken, Rejection>> + Send,
{
    fn verify(
        &self,
        bearer: String,
    ) -> impl Future<Output = Result<AccessToken, Rejection>> + Send {
        self(bearer)
    }
}

/// A [`Layer`] that authenticates each HTTP request with a [`BearerVerifier`] and inserts the
/// caller's [`VerifiedToken`] into the request's extensions, where taskctx's capture finds it.
///
/// - `Authorization: Bearer <token>` (scheme case-insensitive): the verifier's token is
///   inserted; a refusal is `401` (`WWW-Authenticate: Bearer error="invalid_token"`) or `503`;
///   a token the verifier returns already expired is refused as invalid.
/// - No `Authorization` header: `401` (`WWW-Authenticate: Bearer`), or, after
///   [`allow_anonymous`](Self::allow_anonymous), passed on as an anonymous caller.
/// - Any other `Authorization` (another scheme, an empty token, several headers, bytes that are
///   not text): `401` (`WWW-Authenticate: Bearer error="invalid_request"`).
///
/// A `VerifiedToken` already in the request's extensions is removed first, so only this layer's
/// verdict reaches the handler. Refusal bodies are empty; tokens never appear in logs.
pub struct BearerAuthLayer<V> {
    verifier: Arc<V>,
    allow_anonymous: bool,
}

impl<V> Clone for BearerAuthLayer<V> {
    fn clone(&self) -> Self {
        Self {
            verifier: Arc::clone(&self.verifier),
            allow_anonymous: self.allow_anonymous,
        }
    }
}

impl<V> fmt::Debug for BearerAuthLayer<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BearerAuthLayer")
            .field("allow_anonymous", &self.allow_anonymous)
            .finish_non_exhaustive()
    }
}

impl<V: BearerVerifier> BearerAuthLayer<V> {
    /// A layer that verifies bearers with `verifier` and refuses requests without one.
    #[must_use]
    pub fn new(verifier: V) -> Self {
        Self {
            verifier: Arc::new(verifier),
            allow_anonymous: false,
        }
    }

    /// Passes requests without an `Authorization` header on as anonymous callers.
    #[must_use]
    pub fn allow_anonymous(mut self) -> Self {
        self.allow_anonymous = true;
        self
    }
}

impl<S, V> Layer<S> for BearerAuthLayer<V> {
    type Service = BearerAuth<S, V>;

    fn layer(&self, inner: S) -> Self::Service {
        BearerAuth {
            inner,
            verifier: Arc::clone(&self.verifier),
            allow_anonymous: self.allow_anonymous,
        }
    }
}

/// The [`Service`] of [`BearerAuthLayer`].
pub struct BearerAuth<S, V> {
    inner: S,
    verifier: Arc<V>,
    allow_anonymous: bool,
}

impl<S: Clone, V> Clone for BearerAuth<S, V> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            verifier: Arc::clone(&self.verifier),
            allow_anonymous: self.allow_anonymous,
        }
    }
}

impl<S, V> fmt::Debug for BearerAuth<S, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BearerAuth")
            .field("allow_anonymous", &self.allow_anonymous)
            .finish_non_exhaustive()
    }
}

/// What the `Authorization` header says.
enum Credentials {
    None,
    Bearer(String),
    Malformed,
}

fn credentials(headers: &http::HeaderMap) -> Credentials {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return if headers.contains_key(AUTHORIZATION) {
            Credentials::Malformed
        } else {
            Credentials::None
        };
    };
    let Ok(value) = value.to_str() else {
        return Credentials::Malformed;
    };
    match value.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Credentials::Bearer(token.trim().to_owned())
        }
        _ => Credentials::Malformed,
    }
}

fn refusal<B: Default>(status: StatusCode, challenge: Option<&'static str>) -> Response<B> {
    let mut response = Response::new(B::default());
    *response.status_mut() = status;
    if let Some(challenge) = challenge {
        response
            .headers_mut()
            .insert(WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
    }
    response
}

impl<S, V, B, RB> Service<Request<B>> for BearerAuth<S, V>
where
    S: Service<Request<B>, Response = Response<RB>> + Clone + Send + 'static,
    S::Future: Send,
    V: BearerVerifier,
    B: Send + 'static,
    RB: Default,
{
    type Response = Response<RB>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        // The service that was polled ready handles this request; a fresh clone waits for the next.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let verifier = Arc::clone(&self.verifier);
        let allow_anonymous = self.allow_anonymous;
        Box::pin(async move {
            request.extensions_mut().remove::<VerifiedToken>();
            match credentials(request.headers()) {
                Credentials::None if allow_anonymous => {}
                Credentials::None => {
                    return Ok(refusal(StatusCode::UNAUTHORIZED, Some("Bearer")));
                }
                Credentials::Malformed => {
                    return Ok(refusal(
                        StatusCode::UNAUTHORIZED,
                        Some("Bearer error=\"invalid_request\""),
                    ));
                }
                Credentials::Bearer(bearer) => match verifier.verify(bearer).await {
                    Ok(token) if !token.is_expired_now() => {
                        request.extensions_mut().insert(VerifiedToken::new(token));
                    }
                    Ok(_) | Err(Rejection::InvalidToken) => {
                        tracing::debug!("bearer token refused");
                        return Ok(refusal(
                            StatusCode::UNAUTHORIZED,
                            Some("Bearer error=\"invalid_token\""),
                        ));
                    }
                    Err(Rejection::Unavailable) => {
                        tracing::warn!("bearer token could not be verified: verifier unavailable");
                        return Ok(refusal(StatusCode::SERVICE_UNAVAILABLE, None));
                    }
                },
            }
            inner.call(request).await
        })
    }
}
