//! The authorization scope of a task, and how it is composed from an access token (SPEC section 2).

use std::borrow::Cow;

use crate::error::{Error, Part, SubClaimKind, check_chars};
use crate::text::encoded_text;

encoded_text!(
    /// The authorization scope of an authenticated task: any text, the empty string included.
    ///
    /// A task without an authenticated caller has no scope at all: it is `None` wherever this crate
    /// takes an `Option<Scope>`, so anonymous can never be confused with a scope such as `"anon"`,
    /// `"_"` or `""`.
    ///
    /// Scopes hold and compare their decoded text, whether built from text or parsed from a key.
    ///
    /// ```
    /// use taskctx_scope::{Scope, SubClaim};
    /// let scope = Scope::from_token("client-a", SubClaim::String("user-1"))?;
    /// assert_eq!(scope, "client-a|user-1");
    /// assert_eq!(scope.encoded(), "client-a%7Cuser-1");
    /// assert_eq!(Scope::from_token("client-a", SubClaim::Absent)?, "client-a");
    /// # Ok::<(), taskctx_scope::Error>(())
    /// ```
    Scope,
    Part::Scope
);

/// The `sub` claim of an access token, as its JSON value (upper layers map their JSON into this).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SubClaim<'a> {
    /// No `sub` claim, or no claims at all.
    Absent,
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// An integer.
    Integer(i128),
    /// A number that is not an integer.
    Float(f64),
    /// A string.
    String(&'a str),
    /// An array (its contents do not matter).
    Array,
    /// An object (its contents do not matter).
    Object,
}

impl<'a> Scope<'a> {
    /// The scope of a token with this `client_id` and `sub` claim: `client_id|sub` when `sub` is a
    /// non-empty string or a non-zero integer (decimal), else `client_id` (borrowed).
    ///
    /// # Errors
    /// - [`Error::InvalidChar`] for [`Part::ClientId`] when `client_id` contains `|` (the
    ///   composition would be ambiguous);
    /// - [`Error::UnsupportedSubClaim`] for `true`, a float other than zero (which includes
    ///   integers beyond the 64-bit range, which JSON readers give as floats), an array or an
    ///   object.
    pub fn from_token(client_id: &'a str, sub: SubClaim<'_>) -> Result<Self, Error> {
        check_chars(client_id, Part::ClientId, |b| b != b'|')?;
        let kind = match sub {
            // Python's `if sub:`: every zero is false, `-0`, `0.0` and `0e5` included (JSON
            // readers give the first and the others as floats; `0.0` matches `-0.0` too).
            SubClaim::Absent
            | SubClaim::Null
            | SubClaim::Bool(false)
            | SubClaim::Integer(0)
            | SubClaim::Float(0.0)
            | SubClaim::String("") => return Ok(Self(Cow::Borrowed(client_id))),
            SubClaim::String(sub) => {
                let mut scope = String::with_capacity(client_id.len() + 1 + sub.len());
                scope.push_str(client_id);
                scope.push('|');
                scope.push_str(sub);
                return Ok(Self(Cow::Owned(scope)));
            }
            SubClaim::Integer(n) => return Ok(Self(Cow::Owned(format!("{client_id}|{n}")))),
            SubClaim::Bool(true) => SubClaimKind::True,
            SubClaim::Float(_) => SubClaimKind::Float,
            SubClaim::Array => SubClaimKind::Array,
            SubClaim::Object => SubClaimKind::Object,
        };
        Err(Error::UnsupportedSubClaim { kind })
    }

    /// Whether this is the scope of a token with this `client_id` and `sub` claim, as
    /// [`Scope::from_token`] composes it; `false` when the token gives no valid scope.
    ///
    /// ```
    /// use taskctx_scope::{Scope, SubClaim};
    /// let scope = Scope::from_encoded("client-a%7Cuser-1")?;
    /// assert!(scope.is_of_token("client-a", SubClaim::String("user-1")));
    /// assert!(!scope.is_of_token("client-a", SubClaim::Absent));
    /// assert!(Scope::new("c|42").is_of_token("c", SubClaim::Integer(42)));
    /// assert!(!Scope::new("a|b").is_of_token("a|b", SubClaim::Absent));
    /// # Ok::<(), taskctx_scope::Error>(())
    /// ```
    #[must_use]
    pub fn is_of_token(&self, client_id: &str, sub: SubClaim<'_>) -> bool {
        match sub {
            // The common case, compared part by part rather than composed.
            SubClaim::String(sub) if !sub.is_empty() => {
                !client_id.contains('|')
                    && self
                        .0
                        .strip_prefix(client_id)
                        .and_then(|rest| rest.strip_prefix('|'))
                        == Some(sub)
            }
            _ => Scope::from_token(client_id, sub).is_ok_and(|scope| scope == *self),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn composition_follows_the_claim() {
        let scope = |sub| Scope::from_token("c", sub).map(|s| s.to_str().into_owned());
        assert_eq!(scope(SubClaim::Absent).unwrap(), "c");
        assert_eq!(scope(SubClaim::Null).unwrap(), "c");
        assert_eq!(scope(SubClaim::Bool(false)).unwrap(), "c");
        assert_eq!(scope(SubClaim::Integer(0)).unwrap(), "c");
        assert_eq!(scope(SubClaim::String("")).unwrap(), "c");
        assert_eq!(scope(SubClaim::String(" ")).unwrap(), "c| ");
        assert_eq!(scope(SubClaim::String("b|c")).unwrap(), "c|b|c");
        assert_eq!(scope(SubClaim::Integer(-42)).unwrap(), "c|-42");
        assert_eq!(
            scope(SubClaim::Integer(i128::MAX)).unwrap(),
            format!("c|{}", i128::MAX)
        );
        for (sub, kind) in [
            (SubClaim::Bool(true), SubClaimKind::True),
            (SubClaim::Float(1.5), SubClaimKind::Float),
            (SubClaim::Array, SubClaimKind::Array),
            (SubClaim::Object, SubClaimKind::Object),
        ] {
            assert_eq!(scope(sub), Err(Error::UnsupportedSubClaim { kind }));
        }
    }

    #[test]
    fn every_zero_is_no_sub_as_in_python() {
        // `json.loads` reads `-0` as the integer 0 and `0.0` as a float; both are false in
        // `if sub:`, so the reference's scope is the client id alone. JSON readers here give
        // `-0` as the float -0.0.
        for zero in [0.0, -0.0] {
            assert_eq!(
                Scope::from_token("c", SubClaim::Float(zero)).unwrap(),
                "c",
                "{zero:?}"
            );
        }
        // Integers beyond 64 bits also arrive as floats, their digits possibly rounded: refused.
        assert_eq!(
            Scope::from_token("c", SubClaim::Float(18_446_744_073_709_551_616.0)),
            Err(Error::UnsupportedSubClaim {
                kind: SubClaimKind::Float
            })
        );
    }

    #[test]
    fn a_pipe_in_the_client_id_is_rejected_with_or_without_sub() {
        for sub in [SubClaim::Absent, SubClaim::String("c")] {
            assert_eq!(
                Scope::from_token("a|b", sub),
                Err(Error::InvalidChar {
                    part: Part::ClientId,
                    offset: 1,
                    found: '|'
                })
            );
        }
    }

    #[test]
    fn token_scopes_compare_as_composed() {
        let subs = [
            SubClaim::Absent,
            SubClaim::Null,
            SubClaim::Bool(false),
            SubClaim::Bool(true),
            SubClaim::Integer(0),
            SubClaim::Integer(42),
            SubClaim::Integer(-7),
            SubClaim::Integer(i128::MAX),
            SubClaim::Integer(i128::MIN),
            SubClaim::Float(0.0),
            SubClaim::Float(-0.0),
            SubClaim::Float(1.5),
            SubClaim::String(""),
            SubClaim::String("user-1"),
            SubClaim::String("b|c"),
            SubClaim::String("ü/😀"),
            SubClaim::Array,
            SubClaim::Object,
        ];
        let clients = ["client-a", "", "a|b", "ü"];
        let mut scopes: Vec<Scope<'static>> = Vec::new();
        for client in clients {
            for sub in subs {
                if let Ok(scope) = Scope::from_token(client, sub) {
                    scopes.push(scope.into_owned());
                }
            }
        }
        scopes.push(Scope::new("client-a|"));
        scopes.push(Scope::new("client-a|user-1|x"));
        for scope in &scopes {
            for client in clients {
                for sub in subs {
                    let expected = Scope::from_token(client, sub).is_ok_and(|s| &s == scope);
                    assert_eq!(
                        scope.is_of_token(client, sub),
                        expected,
                        "{scope:?} {client:?} {sub:?}"
                    );
                    // Parsed from a key (escaped or not), the same.
                    let encoded = scope.encoded();
                    let parsed = Scope::from_encoded(&encoded).unwrap();
                    assert_eq!(parsed.is_of_token(client, sub), expected, "{encoded}");
                }
            }
        }
    }

    #[test]
    fn scopes_compare_by_decoded_text() {
        let parsed = Scope::from_encoded("client-a%7cuser-1").unwrap();
        assert_eq!(parsed, Scope::new("client-a|user-1"));
        assert_eq!(parsed.encoded(), "client-a%7Cuser-1");
        assert_ne!(Scope::new("a"), Scope::new("b"));
    }
}
