//! The client side of the wire: bytes as a client sends them, framed by `lines::read_line`
//! (through a reader that returns them in pseudo-random pieces and is sometimes interrupted)
//! and each line parsed by `jsonrpc::parse_line`. Checks: no panic; the framing is exactly a
//! split at newlines with the size bound; the strict reader (`json::Parser`) accepts exactly
//! what the serde_json oracle accepts, with the same values and the same kind of refusal;
//! and every message `parse_line` reads has the id, method and params the oracle reads.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_sentinel_fuzz::base::json::Parser;
use mcp_sentinel_fuzz::base::jsonrpc::{parse_line, Message, Parsed, Refusal};
use mcp_sentinel_fuzz::base::lines::{read_line, Line};
use mcp_sentinel_fuzz::strict::{self, Refused};
use mcp_sentinel_fuzz::{split_seed, Pieces};
use std::io::{self, BufReader, Read};

/// Hands out its bytes in pieces, with an `Interrupted` error now and then.
struct Trickle<'a> {
    data: &'a [u8],
    pieces: Pieces,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.data.is_empty() || buf.is_empty() {
            return Ok(0);
        }
        if self.pieces.next_u64().is_multiple_of(8) {
            return Err(io::ErrorKind::Interrupted.into());
        }
        let n = self.pieces.size(self.data.len()).min(buf.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

/// The lines `read_line` must produce: a split at `\n`, lines over `max` refused.
fn expected_lines(data: &[u8], max: usize) -> Vec<(Line, &[u8])> {
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let (line, terminated) = match rest.iter().position(|&b| b == b'\n') {
            Some(n) => (&rest[..n], true),
            None => (rest, false),
        };
        rest = &rest[(line.len() + usize::from(terminated)).min(rest.len())..];
        if line.len() > max {
            out.push((Line::TooLong, &b""[..]));
        } else {
            out.push((Line::Complete { terminated }, line));
        }
    }
    out.push((Line::Eof, &b""[..]));
    out
}

fuzz_target!(|data: &[u8]| {
    let (seed, data) = split_seed(data, 2);
    let capacity = 1 + (seed & 63) as usize;
    let max = match (seed >> 8) % 8 {
        0 => 0,
        1 => 1,
        2 => 16,
        3 => 100,
        _ => usize::MAX,
    };
    let mut reader = BufReader::with_capacity(
        capacity,
        Trickle {
            data,
            pieces: Pieces::new(seed, 1 + capacity * 2),
        },
    );
    let mut buf = Vec::new();
    for (want, text) in expected_lines(data, max) {
        let got = read_line(&mut reader, &mut buf, max).expect("reading from memory");
        assert_eq!(got, want);
        if let Line::Complete { .. } = got {
            assert_eq!(buf, text);
            check_line(&buf);
        }
    }
});

fn check_line(line: &[u8]) {
    if let Ok(text) = std::str::from_utf8(line) {
        check_json(text);
    }
    let ours = parse_line(line);
    let theirs = strict::line(line);
    let agree = match (&ours, &theirs) {
        (Ok(None), strict::Line::Blank) => true,
        (Err(r), strict::Line::Refused(code)) => r.code == *code,
        (Ok(Some(Parsed::Single(m))), strict::Line::Single(t)) => same_message(&Ok(m), t),
        (Err(r), strict::Line::Single(t)) => same_message(&Err(r), t),
        (Ok(Some(Parsed::Batch(ours))), strict::Line::Batch(theirs)) => {
            ours.len() == theirs.len()
                && ours.iter().zip(theirs).all(|((raw, m), (their_raw, t))| {
                    *raw == their_raw && same_message(&m.as_ref(), t)
                })
        }
        _ => false,
    };
    assert!(
        agree,
        "line {:?}\n  parse_line: {ours:?}\n  oracle:     {theirs:?}",
        String::from_utf8_lossy(line)
    );
}

fn same_message(ours: &Result<&Message, &Refusal>, theirs: &Result<strict::Msg, i64>) -> bool {
    match (ours, theirs) {
        (Ok(m), Ok(t)) => {
            m.id.as_ref().map(|id| id.as_json()) == t.id.as_deref()
                && m.method.as_deref() == t.method.as_deref()
                && match (&m.params, &t.params) {
                    (Some(p), Some(q)) => strict::same(p, q),
                    (None, None) => true,
                    _ => false,
                }
        }
        (Err(r), Err(code)) => r.code == *code,
        _ => false,
    }
}

/// The strict reader alone, on the line as one JSON text.
fn check_json(text: &str) {
    let mut p = Parser::new(text);
    let ours = p.value(1).and_then(|v| p.end().map(|()| v));
    let theirs = strict::value(text, 1);
    use mcp_sentinel_fuzz::base::json::Error;
    let agree = match (&ours, &theirs) {
        (Ok(v), Ok(w)) => strict::same(v, w),
        (Err(Error::Syntax(_)), Err(Refused::Syntax)) => true,
        (Err(Error::TooDeep), Err(Refused::TooDeep)) => true,
        (Err(Error::Duplicate(k)), Err(Refused::Duplicate(l))) => k == l,
        _ => false,
    };
    assert!(
        agree,
        "JSON {text:?}\n  json::Parser: {ours:?}\n  oracle:       {theirs:?}"
    );
    // Skipping (raw values) is syntax only, at any depth: serde_json's RawValue.
    let mut p = Parser::new(text);
    let skipped = p.skip().and_then(|_| p.end()).is_ok();
    let raw = serde_json::from_str::<&serde_json::value::RawValue>(text).is_ok();
    assert_eq!(
        skipped, raw,
        "JSON {text:?}: Parser::skip and serde_json's RawValue disagree"
    );
}
