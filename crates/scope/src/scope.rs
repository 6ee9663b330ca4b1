//! The authorization scope of a task, and how it is composed from an access token (SPEC section 2).

use std::borrow::Cow;
use std::fmt::Write as _;

use crate::error::{Error, Part, SubClaimKind};
use crate::text::{Text, text_newtype};

text_newtype!(
    /// The authorization scope of an authenticated task: any text, the empty string included.
    ///
    /// A task without an authenticated caller has no scope at all: it is `None` wherever this crate
    /// takes an `Option<Scope>`, so anonymous can never be confused with a scope such as `"anon"`,
    /// `"_"` or `""`.
    ///
    /// Scopes compare by their decoded text, whether built from text or parsed from a key.
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
    /// non-empty string or a non-zero integer (decimal), else `client_id`.
    ///
    /// Borrows `client_id` (and a string `sub`): nothing is allocated unless `sub` is an integer.
    ///
    /// # Errors
    /// - [`Error::InvalidChar`] for [`Part::ClientId`] when `client_id` contains `|` (the
    ///   composition would be ambiguous);
    /// - [`Error::UnsupportedSubClaim`] for `true`, a float other than zero (which includes
    ///   integers beyond the 64-bit range, which JSON readers give as floats), an array or an
    ///   object.
    pub fn from_token(client_id: &'a str, sub: SubClaim<'a>) -> Result<Self, Error> {
        if let Some(offset) = client_id.find('|') {
            return Err(Error::InvalidChar {
                part: Part::ClientId,
                offset,
                found: '|',
            });
        }
        let composed = match sub {
            // Python's `if sub:`: every zero is false, `-0`, `0.0` and `0e5` included (JSON
            // readers give the first and the others as floats).
            SubClaim::Absent | SubClaim::Null | SubClaim::Bool(false) | SubClaim::Integer(0) => {
                None
            }
            SubClaim::Float(0.0) => None, // Matches -0.0 too (float patterns compare with `==`).
            SubClaim::String("") => None,
            SubClaim::String(sub) => {
                return Ok(Self(Text::Joined {
                    head: client_id,
                    tail: sub,
                }));
            }
            SubClaim::Integer(number) => {
                let mut text = String::with_capacity(client_id.len() + 21);
                text.push_str(client_id);
                // Writing to a String cannot fail.
                let _ = write!(text, "|{number}");
                Some(text)
            }
            SubClaim::Bool(true) => {
                return Err(Error::UnsupportedSubClaim {
                    kind: SubClaimKind::True,
                });
            }
            SubClaim::Float(_) => {
                return Err(Error::UnsupportedSubClaim {
                    kind: SubClaimKind::Float,
                });
            }
            SubClaim::Array => {
                return Err(Error::UnsupportedSubClaim {
                    kind: SubClaimKind::Array,
                });
            }
            SubClaim::Object => {
                return Err(Error::UnsupportedSubClaim {
                    kind: SubClaimKind::Object,
                });
            }
        };
        Ok(Self(Text::Plain(
            composed.map_or(Cow::Borrowed(client_id), Cow::Owned),
        )))
    }

    /// Whether this is the scope of a token with this `client_id` and `sub` claim, as
    /// [`Scope::from_token`] composes it; compared without composing it (nothing is allocated).
    /// `false` when the token gives no valid scope.
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
        // A client id with `|` gives no scope: `eq_joined` is false for it.
        let mut digits = [0u8; I128_DIGITS];
        let tail = match sub {
            SubClaim::Absent | SubClaim::Null | SubClaim::Bool(false) | SubClaim::Integer(0) => {
                None
            }
            SubClaim::Float(0.0) => None,
            SubClaim::String("") => None,
            SubClaim::String(sub) => Some(sub.as_bytes()),
            SubClaim::Integer(number) => Some(decimal(number, &mut digits)),
            SubClaim::Bool(true) | SubClaim::Float(_) | SubClaim::Array | SubClaim::Object => {
                return false;
            }
        };
        self.0.eq_joined(client_id.as_bytes(), tail)
    }
}

/// The most bytes an `i128` takes in decimal, its sign included.
const I128_DIGITS: usize = 40;

/// The decimal digits of `number` (with a leading `-` when negative), written at the end of
/// `buffer`.
fn decimal(number: i128, buffer: &mut [u8; I128_DIGITS]) -> &[u8] {
    let mut rest = number.unsigned_abs();
    let mut start = buffer.len();
    loop {
        start -= 1;
        if let Some(slot) = buffer.get_mut(start) {
            *slot = b'0' + u8::try_from(rest % 10).unwrap_or(0);
        }
        rest /= 10;
        if rest == 0 || start == 0 {
            break;
        }
    }
    if number < 0 && start > 0 {
        start -= 1;
        if let Some(slot) = buffer.get_mut(start) {
            *slot = b'-';
        }
    }
    buffer.get(start..).unwrap_or_default()
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
    fn token_scopes_compare_without_composing() {
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
    fn decimal_digits_match_display() {
        for number in [
            0,
            1,
            -1,
            9,
            10,
            -10,
            42,
            i128::from(u64::MAX),
            i128::MAX,
            i128::MIN,
        ] {
            let mut buffer = [0u8; I128_DIGITS];
            assert_eq!(decimal(number, &mut buffer), number.to_string().as_bytes());
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
