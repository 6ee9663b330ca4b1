//! The error every command returns: a sentence for stderr and the exit code it maps to.

use std::fmt;

/// Why a command did not succeed.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Bad usage or input (exit code 2).
    Input(String),
    /// A check failed or an operation could not complete (exit code 1).
    Check(String),
}

impl Failure {
    /// Bad input: `what` went wrong, because of `cause`.
    pub(crate) fn input(what: &str, cause: impl fmt::Display) -> Self {
        Self::Input(format!("{what}: {cause}"))
    }

    /// Bad input: `what` went wrong, because of `error` and each error of its source chain, in
    /// order (each shows its own cause once, so none is repeated).
    pub(crate) fn input_chain(what: &str, error: impl std::error::Error) -> Self {
        let mut message = format!("{what}: {error}");
        let mut source = error.source();
        while let Some(cause) = source {
            message.push_str(&format!(": {cause}"));
            source = cause.source();
        }
        Self::Input(message)
    }

    /// A failed check or operation: `what` went wrong, because of `cause`.
    pub(crate) fn check(what: &str, cause: impl fmt::Display) -> Self {
        Self::Check(format!("{what}: {cause}"))
    }

    /// The process exit code.
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            Self::Input(_) => 2,
            Self::Check(_) => 1,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Input(message) | Self::Check(message) => f.write_str(message),
        }
    }
}
