//! Task key parsing, base and execution keys: any text either parses or is a typed error, and a
//! parsed key rebuilds into a key that parses back to the same identity and leg.

#![no_main]

use libfuzzer_sys::fuzz_target;
use taskctx_scope::{TaskKey, base_key, leg_number, split_leg};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let split = split_leg(text);
    match TaskKey::parse_execution(text) {
        Ok((key, leg)) => {
            // The leg functions agree with the parser.
            assert_eq!(split.as_ref().map(|(_, leg)| *leg).ok(), Some(leg));
            assert_eq!(leg_number(text).ok(), Some(leg));
            let base = base_key(text).expect("a parsed key has a base");
            assert_eq!(TaskKey::parse(base).as_ref(), Ok(&key));
            // Rebuilt (canonical escapes), it parses back to the same identity and leg.
            let rebuilt = key.execution_key(leg);
            let (again, again_leg) =
                TaskKey::parse_execution(&rebuilt).expect("a rebuilt key parses");
            assert_eq!((&again, again_leg), (&key, leg), "{rebuilt}");
            assert_eq!(again.to_key(), key.to_key());
            // The decoded scope and component encode back into the same segments.
            if let Some(scope) = key.scope() {
                assert_eq!(taskctx_scope::quote(&scope.to_str()), scope.encoded());
            }
        }
        Err(error) => {
            // A typed error with a bounded message: never more than an excerpt of the input.
            let message = error.to_string();
            assert!(message.len() <= 512, "{} bytes: {message}", message.len());
            assert!(TaskKey::parse(text).is_err());
        }
    }
});
