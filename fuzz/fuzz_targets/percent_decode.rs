//! Strict percent decoding: any text either decodes or is a typed error, decoding what `quote`
//! wrote gives the text back, and a decoded segment re-encodes into a segment that decodes to the
//! same text.

#![no_main]

use libfuzzer_sys::fuzz_target;
use taskctx_scope::{Part, encoded_len, quote, unquote};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Any text round-trips through quote / unquote.
    let quoted = quote(text);
    assert_eq!(quoted.len(), encoded_len(text));
    assert!(!quoted.contains([':', '#', '{', '}', '|']), "{quoted}");
    assert_eq!(unquote(&quoted, Part::Scope).as_deref(), Ok(text));
    // Any text either decodes strictly or is an error naming the part.
    match unquote(text, Part::Component) {
        Ok(decoded) => {
            let requoted = quote(&decoded);
            assert_eq!(
                unquote(&requoted, Part::Component).as_deref(),
                Ok(&*decoded)
            );
            // Only unreserved bytes are accepted raw, and escapes are either case on read: the
            // canonical form is never longer, and is the text itself when nothing was escaped.
            assert!(requoted.len() <= text.len(), "{text} -> {requoted}");
            if !text.contains('%') {
                assert_eq!(requoted, text);
            }
        }
        Err(error) => {
            assert_eq!(error.part(), Part::Component);
            let message = error.to_string();
            assert!(message.len() <= 512, "{} bytes: {message}", message.len());
        }
    }
});
