//! The text types of a task's identity (scope, component, task id, task type): newtypes over
//! `Cow<str>` that share their formatting, comparisons and conversions.

/// Display (the text), Debug (`Name("text")`), comparison with `str`, `AsRef<str>` and
/// `into_owned` for a newtype over `Cow<'a, str>`.
macro_rules! str_impls {
    ($name:ident) => {
        impl $name<'_> {
            /// Detaches from any borrowed input.
            #[must_use]
            pub fn into_owned(self) -> $name<'static> {
                $name(::std::borrow::Cow::Owned(self.0.into_owned()))
            }
        }

        impl ::std::fmt::Display for $name<'_> {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.pad(&self.0)
            }
        }

        impl ::std::fmt::Debug for $name<'_> {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                write!(f, "{}({:?})", stringify!($name), &*self.0)
            }
        }

        impl AsRef<str> for $name<'_> {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq<str> for $name<'_> {
            fn eq(&self, other: &str) -> bool {
                *self.0 == *other
            }
        }

        impl PartialEq<&str> for $name<'_> {
            fn eq(&self, other: &&str) -> bool {
                *self.0 == **other
            }
        }
    };
}

/// A newtype over any text that travels percent-encoded (`Q`) in keys.
macro_rules! encoded_text {
    ($(#[$meta:meta])* $name:ident, $part:expr) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name<'a>(pub(crate) ::std::borrow::Cow<'a, str>);

        impl<'a> $name<'a> {
            /// From its plain text; every string is allowed.
            #[must_use]
            pub fn new(text: impl Into<::std::borrow::Cow<'a, str>>) -> Self {
                Self(text.into())
            }

            /// From its percent-encoded form, strictly validated (hex of either case); borrows it
            /// unless it holds escapes.
            ///
            /// # Errors
            /// As [`unquote`](crate::unquote): an invalid escape, a raw byte that `Q` would have
            /// escaped, or escapes that decode to invalid UTF-8.
            pub fn from_encoded(encoded: &'a str) -> Result<Self, $crate::Error> {
                $crate::unquote(encoded, $part).map(Self)
            }

            /// The text.
            #[must_use]
            pub fn to_str(&self) -> ::std::borrow::Cow<'_, str> {
                ::std::borrow::Cow::Borrowed(&self.0)
            }

            /// Whether the text is empty.
            #[must_use]
            pub fn is_empty(&self) -> bool {
                self.0.is_empty()
            }

            /// Appends the encoding `Q(text)` to `out`.
            pub fn write_encoded(&self, out: &mut String) {
                $crate::quote_into(&self.0, out);
            }

            /// The encoding `Q(text)`.
            #[must_use]
            pub fn encoded(&self) -> String {
                $crate::quote(&self.0).into_owned()
            }

            /// Length in bytes of `Q(text)`.
            #[must_use]
            pub fn encoded_len(&self) -> usize {
                $crate::encoded_len(&self.0)
            }
        }

        $crate::text::str_impls!($name);

        impl<'a> From<&'a str> for $name<'a> {
            fn from(text: &'a str) -> Self {
                Self::new(text)
            }
        }

        impl From<String> for $name<'static> {
            fn from(text: String) -> Self {
                Self::new(text)
            }
        }
    };
}

pub(crate) use {encoded_text, str_impls};
