//! The policy loader: arbitrary text read as a YAML (or, by the first byte, JSON) policy
//! file, and every profile of one that parses compiled. Checks: no panic; a bad file is an
//! error with a message, never a crash.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_sentinel_fuzz::policy::file::PolicyFile;

fuzz_target!(|data: &[u8]| {
    let Some((&flags, text)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    let json = flags & 1 != 0;
    let file = match PolicyFile::parse("fuzz.yaml", text, json) {
        Ok(f) => f,
        Err(e) => {
            assert!(!e.message.is_empty(), "an error without a message: {e:?}");
            return;
        }
    };
    for e in file.check_all() {
        assert!(!e.message.is_empty(), "an error without a message: {e:?}");
    }
    let _ = file.compile(None);
});
