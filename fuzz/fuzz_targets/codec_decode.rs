//! `Codec::decode` of arbitrary bytes, for every codec setup: keyless (JSON, native), Fernet with
//! one key and with several (rotation), sealed native, and the mixed readers used while moving
//! between forms. Any bytes either decode or are a typed error with a bounded message; a decoded
//! snapshot encodes again and decodes to the same snapshot; a keyless reader never opens
//! ciphertext and a keyed reader never accepts plaintext.

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use taskctx_snapshot::fernet::FernetKeys;
use taskctx_snapshot::{
    Codec, DecodeError, FernetKey, KeyRing, SealingKey, SnapshotCodec, StoredForm,
};

/// The key of the recorded Fernet vectors in `tests/conformance/encryption.json`, so the seeds'
/// tokens decrypt.
const RECORDED_KEY: &str = "WvXjW8gl9t4lQtorL9Fmoam_94mkZsNYNKpMxn5y0D0=";
/// The vectors' "wrong key".
const OTHER_KEY: &str = "32CEaIK_T04BRDWmtdQaVTEUeUdIUstB03z1aeNhCHc=";
const REDIS_KEY: &str = "fastmcp:fastmcp:task:auth:client-a%7Cuser-1:T1:snapshot";

fn codecs() -> &'static [Codec] {
    static CODECS: OnceLock<Vec<Codec>> = OnceLock::new();
    CODECS.get_or_init(|| {
        let recorded = FernetKey::from_base64(RECORDED_KEY).expect("a valid key");
        let other = FernetKey::from_base64(OTHER_KEY).expect("a valid key");
        let ring = KeyRing::with_reading_keys(
            SealingKey::new("k2", [2; 32]).expect("a valid id"),
            [SealingKey::new("k1", [1; 32]).expect("a valid id")],
        )
        .expect("distinct ids");
        vec![
            Codec::json(),
            Codec::native(),
            Codec::json_fernet(recorded.clone()),
            Codec::json_fernet_keys(FernetKeys::with_reading_keys(
                other.clone(),
                [recorded.clone()],
            )),
            Codec::json_fernet(other),
            Codec::native_sealed(ring.clone()),
            Codec::native_sealed(ring.clone()).reading_fernet(recorded.clone()),
            Codec::json_fernet(recorded).reading_sealed(ring),
        ]
    })
}

fuzz_target!(|data: &[u8]| {
    let form = StoredForm::detect(data);
    for codec in codecs() {
        match codec.decode(data, REDIS_KEY) {
            Ok(snapshot) => {
                // A keyed reader accepts no plaintext and a keyless one no ciphertext. (A keyed
                // reader does open a Fernet token that does not start with `gAAAAA`, such as one
                // after a space: the reference's base64 reader skips characters outside its
                // alphabet.)
                if codec.protected() {
                    assert!(!starts_as_json(data), "{codec:?} accepted JSON");
                    assert_ne!(
                        form,
                        StoredForm::Native,
                        "{codec:?} accepted a native value"
                    );
                } else {
                    assert!(!form.is_encrypted(), "{codec:?} opened a {form} value");
                }
                let stored = codec.encode(&snapshot, REDIS_KEY).expect("encodes");
                assert_eq!(codec.decode(&stored, REDIS_KEY).as_ref(), Ok(&snapshot));
            }
            Err(error) => {
                let message = error.to_string();
                assert!(message.len() <= 512, "{} bytes: {message}", message.len());
                if let DecodeError::MissingKey { form } = error {
                    assert!(form.is_encrypted());
                }
            }
        }
    }
});

/// Whether the first byte after JSON whitespace is `{`.
fn starts_as_json(data: &[u8]) -> bool {
    data.iter()
        .find(|byte| !matches!(byte, b' ' | b'\t' | b'\n' | b'\r'))
        == Some(&b'{')
}
