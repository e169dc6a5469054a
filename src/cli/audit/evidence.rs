//! `sentinel audit keygen` and `sentinel audit verify` (being built).

use std::ffi::OsString;

pub fn run(sub: &str, _args: Vec<OsString>) -> u8 {
    eprintln!("sentinel: error: sentinel audit {sub} is not built yet");
    2
}
