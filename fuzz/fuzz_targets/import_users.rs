//! Auth0's bulk-import file as the import job reads it ([`writ_server::fuzzing::import_file`]):
//! never panics; every entry is either refused with a code or accepted; an accepted password
//! hash splits for wrapping into hash bytes and a descriptor that is not the hash itself, but
//! for a degenerate all-zero hash (the legacy hash is stored only under argon2id).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(entries) = writ_server::fuzzing::import_file(data) else {
        return;
    };
    for e in entries {
        match e {
            Err(code) => assert!(!code.is_empty()),
            Ok(None) => {}
            Ok(Some((hash, split))) => {
                let (descriptor, bytes) =
                    split.unwrap_or_else(|| panic!("an accepted hash splits for wrapping: {hash}"));
                assert!(!bytes.is_empty(), "{hash}");
                // The descriptor is the form with its hash zeroed ('.' in bcrypt's alphabet):
                // the same text only for a degenerate, all-zero hash.
                assert!(
                    descriptor != hash || bytes.iter().all(|b| *b == b'.' || *b == 0),
                    "the descriptor holds no hash: {hash}"
                );
            }
        }
    }
});
