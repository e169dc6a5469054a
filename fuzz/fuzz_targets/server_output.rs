//! The server side of the wire: server output fed to `scan::Scanner` in pseudo-random chunks.
//! Checks: no panic; every complete line that is JSON gets exactly the reports a real JSON
//! parse says it must (the ids of its responses and whether each failed), fed whole or byte
//! by byte; and a stream of lines gets, whatever its chunking, the reports of its lines one
//! after the other (no state leaks from one line into the next), wherever each line's
//! report does not depend on how it arrives.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_sentinel_fuzz::base::scan::Scanner;
use mcp_sentinel_fuzz::expect::{self, keyed};
use mcp_sentinel_fuzz::{split_seed, Pieces};

type Reports = Vec<(String, bool)>;

/// What a fresh scanner reports for `chunks`, and whether it ends mid-line.
fn scan<'a>(chunks: impl IntoIterator<Item = &'a [u8]>) -> (Reports, bool) {
    let mut s = Scanner::default();
    let mut got = Vec::new();
    for c in chunks {
        s.feed(c, &mut |id, failed| got.push((id.to_owned(), failed)));
    }
    (got, s.mid_line())
}

fuzz_target!(|data: &[u8]| {
    let (seed, stream) = split_seed(data, 2);
    let mut pieces = Pieces::new(seed, 1 + (seed % 97) as usize);

    let mut lines: Vec<&[u8]> = stream.split(|&b| b == b'\n').collect();
    // The text after the last newline is a line still being written.
    let partial = lines.pop().unwrap_or_default();

    // Each complete line alone: whole (the whole-line path) and byte by byte (the machine).
    let mut per_line: Vec<Option<Reports>> = Vec::new();
    for line in &lines {
        let mut framed = line.to_vec();
        framed.push(b'\n');
        let (whole, mid) = scan([&framed[..]]);
        assert!(!mid, "mid-line after a newline");
        let (bytes, _) = scan(framed.chunks(1));
        if let Some(want) = expect::line(line) {
            assert_eq!(
                keyed(&whole),
                keyed(&want),
                "line {:?} fed whole",
                String::from_utf8_lossy(line)
            );
            assert_eq!(
                keyed(&bytes),
                keyed(&want),
                "line {:?} fed byte by byte",
                String::from_utf8_lossy(line)
            );
        }
        per_line.push((whole == bytes).then_some(whole));
    }

    // The whole stream in pieces.
    let (got, mid) = scan(pieces.cut(stream));
    assert_eq!(
        mid,
        !partial.is_empty(),
        "mid_line at the end of the stream"
    );
    if partial.is_empty() && per_line.iter().all(Option::is_some) {
        let want: Reports = per_line.into_iter().flatten().flatten().collect();
        assert_eq!(
            got,
            want,
            "stream {:?} in pieces (seed {seed})",
            String::from_utf8_lossy(stream)
        );
    }
});
