//! The general readers behind the JSON fast paths, exposed (feature `fuzzing`, off by default) so
//! the fuzz targets in `fuzz/` can check that both paths give the same result. Not part of the
//! API: nothing outside `fuzz/` turns the feature on.

use crate::json::JsonError;
use crate::snapshot::TaskContextSnapshot;
use crate::token::{AccessToken, TokenError};
use crate::wiped::Wiped;

/// The general snapshot reader alone, without the fast path in front of it.
pub fn general_from_json_str(text: &str) -> Result<TaskContextSnapshot, JsonError> {
    crate::json::general_from_json_str(text)
}

/// The general access-token reader alone, without the fast path in front of it.
pub fn general_token_from_json(text: &str) -> Result<AccessToken, TokenError> {
    AccessToken::general_from_json(Wiped::new(text.to_owned()))
}
