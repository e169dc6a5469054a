//! `sentinel pins list|diff|accept|reset` (being built).

use std::ffi::OsString;

pub fn run(args: Vec<OsString>) -> u8 {
    let _ = args;
    eprintln!("sentinel: error: sentinel pins is not built yet");
    2
}
