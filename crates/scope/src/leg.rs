//! Execution legs: a task may run in several legs; leg 1 runs under the base task key, leg n ≥ 2
//! under `{base}#leg{n}` (SPEC section 3).

use std::fmt;
use std::fmt::Write as _;
use std::num::NonZeroU64;

use crate::error::{Error, Excerpt};

/// The marker between a base key and its leg number.
const LEG_MARKER: &str = "#leg";

/// An execution leg number, at least 1.
///
/// ```
/// use taskctx_scope::Leg;
/// assert_eq!(Leg::new(0), Leg::FIRST);
/// assert_eq!(Leg::new(3).get(), 3);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Leg(NonZeroU64);

impl Leg {
    /// Leg 1: the base key itself.
    pub const FIRST: Self = Self(NonZeroU64::MIN);

    /// Leg `n`; 0 counts as the first leg, as the reference maps every `n ≤ 1` to the base key.
    #[must_use]
    pub const fn new(n: u64) -> Self {
        match NonZeroU64::new(n) {
            Some(n) => Self(n),
            None => Self::FIRST,
        }
    }

    /// The leg number.
    #[must_use]
    pub const fn get(self) -> u64 {
        self.0.get()
    }

    /// Whether this is leg 1 (no suffix).
    #[must_use]
    pub const fn is_first(self) -> bool {
        self.0.get() == 1
    }

    /// The next leg, unless the number would overflow.
    #[must_use]
    pub const fn next(self) -> Option<Self> {
        match self.0.checked_add(1) {
            Some(n) => Some(Self(n)),
            None => None,
        }
    }
}

impl Default for Leg {
    fn default() -> Self {
        Self::FIRST
    }
}

impl fmt::Display for Leg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// Splits an execution key into its base key and leg.
///
/// The suffix starts at the first `#` and must be `#leg` followed by a decimal number ≥ 2 with no
/// leading zeros (**Deviation** from the reference, which reads junk as leg 1).
///
/// # Errors
/// [`Error::InvalidLegSuffix`] for any other suffix.
///
/// ```
/// use taskctx_scope::{split_leg, Leg};
/// assert_eq!(split_leg("anon:t:tool:x#leg2")?, ("anon:t:tool:x", Leg::new(2)));
/// assert_eq!(split_leg("anon:t:tool:x")?, ("anon:t:tool:x", Leg::FIRST));
/// assert!(split_leg("anon:t:tool:x#legX").is_err());
/// # Ok::<(), taskctx_scope::Error>(())
/// ```
pub fn split_leg(key: &str) -> Result<(&str, Leg), Error> {
    let Some(hash) = key.find('#') else {
        return Ok((key, Leg::FIRST));
    };
    let (base, suffix) = key.split_at_checked(hash).unwrap_or((key, ""));
    // Digits only, as `parse` would also take a sign.
    let leg = suffix
        .strip_prefix(LEG_MARKER)
        .filter(|digits| !digits.starts_with('0') && digits.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|digits| digits.parse::<u64>().ok())
        .filter(|&n| n >= 2);
    match leg {
        Some(n) => Ok((base, Leg::new(n))),
        None => Err(Error::InvalidLegSuffix {
            found: Excerpt::new(suffix),
        }),
    }
}

/// The leg of an execution key (1 for a base key).
///
/// # Errors
/// As [`split_leg`].
pub fn leg_number(key: &str) -> Result<Leg, Error> {
    split_leg(key).map(|(_, leg)| leg)
}

/// The base key of an execution key (the key itself when it has no suffix).
///
/// # Errors
/// As [`split_leg`].
pub fn base_key(key: &str) -> Result<&str, Error> {
    split_leg(key).map(|(base, _)| base)
}

/// Appends `#leg{n}` unless `leg` is the first.
pub(crate) fn push_leg_suffix(leg: Leg, out: &mut String) {
    if !leg.is_first() {
        // Writing to a String cannot fail.
        let _ = write!(out, "{LEG_MARKER}{leg}");
    }
}

/// The execution key of `leg`: `base` for leg 1, else `{base}#leg{n}`.
///
/// ```
/// use taskctx_scope::{execution_key, Leg};
/// assert_eq!(execution_key("anon:t:tool:x", Leg::new(17)), "anon:t:tool:x#leg17");
/// assert_eq!(execution_key("anon:t:tool:x", Leg::FIRST), "anon:t:tool:x");
/// ```
#[must_use]
pub fn execution_key(base: &str, leg: Leg) -> String {
    let mut out = base.to_owned();
    push_leg_suffix(leg, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_suffixes() {
        assert_eq!(split_leg("k#leg2").unwrap(), ("k", Leg::new(2)));
        assert_eq!(split_leg("k#leg17").unwrap(), ("k", Leg::new(17)));
        assert_eq!(
            split_leg(&format!("k#leg{}", u64::MAX)).unwrap(),
            ("k", Leg::new(u64::MAX))
        );
        for bad in [
            "k#",
            "k#leg",
            "k#leg1",
            "k#leg0",
            "k#leg02",
            "k#leg-3",
            "k#leg+5",
            "k#leg5 ",
            "k#leg1_000",
            "k#leg３",
            "k#5",
            "k#legX",
            "k#leg2#leg3",
            "k#leg0x10",
            "k#leg1.0",
            "k#LEG2",
            "k#leg18446744073709551616",
        ] {
            assert!(
                matches!(split_leg(bad), Err(Error::InvalidLegSuffix { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn execution_keys_round_trip() {
        for n in [0, 1, 2, 9, 10, 99, 100, 12345, u64::MAX] {
            let key = execution_key("base", Leg::new(n));
            assert_eq!(split_leg(&key).unwrap(), ("base", Leg::new(n)));
        }
        assert_eq!(execution_key("b", Leg::new(100)), "b#leg100");
        assert_eq!(Leg::new(u64::MAX).next(), None);
        assert_eq!(Leg::FIRST.next(), Some(Leg::new(2)));
    }
}
