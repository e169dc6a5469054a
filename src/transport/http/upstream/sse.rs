//! Reading Server-Sent Events (the `text/event-stream` format of the HTML standard) from a
//! byte stream as they arrive: lines ended by CRLF, LF or CR (also split across reads), a
//! leading BOM, comments, the `event`, `data` (several lines joined with `\n`), `id` and
//! `retry` fields, and the last event id and reconnection time the stream has set. Lines are
//! bounded, so an endless line cannot exhaust memory. The writer side is `http/sse.rs`.

use std::io::{self, Read};

/// Longest field line accepted; past it the stream is treated as broken.
const MAX_FIELD_LINE: usize = 64 * 1024 * 1024;
/// The byte order mark a stream may start with.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The `event:` field, `message` when there was none.
    pub kind: String,
    /// The `data:` lines joined with `\n`.
    pub data: Vec<u8>,
}

/// An event-stream reader over `R` (an HTTP body read as it arrives).
pub struct Parser<R> {
    input: R,
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    /// The line being read (without its end).
    line: Vec<u8>,
    /// A CR ended the last line: a LF right after it belongs to it.
    after_cr: bool,
    at_start: bool,
    eof: bool,
    kind: String,
    data: Vec<u8>,
    has_data: bool,
    last_id: Option<String>,
    retry: Option<u64>,
}

impl<R: Read> Parser<R> {
    pub fn new(input: R) -> Self {
        Parser {
            input,
            buf: vec![0; 16 * 1024].into_boxed_slice(),
            start: 0,
            end: 0,
            line: Vec::new(),
            after_cr: false,
            at_start: true,
            eof: false,
            kind: String::new(),
            data: Vec::new(),
            has_data: false,
            last_id: None,
            retry: None,
        }
    }

    /// The last event id the stream set (`id:`), which a reconnection sends as
    /// `Last-Event-ID`.
    pub fn last_id(&self) -> Option<&str> {
        self.last_id.as_deref()
    }

    /// The reconnection time the stream asked for (`retry:`), in milliseconds.
    pub fn retry(&self) -> Option<u64> {
        self.retry
    }

    /// The next event; `None` at the end of the stream (an event not ended by a blank line is
    /// dropped, as the standard says).
    pub fn next_event(&mut self) -> io::Result<Option<Event>> {
        while self.next_line()? {
            if self.line.is_empty() {
                let kind = std::mem::take(&mut self.kind);
                if !self.has_data {
                    continue;
                }
                self.has_data = false;
                let mut data = std::mem::take(&mut self.data);
                if data.last() == Some(&b'\n') {
                    data.pop();
                }
                let kind = if kind.is_empty() {
                    "message".to_owned()
                } else {
                    kind
                };
                return Ok(Some(Event { kind, data }));
            }
            self.field();
        }
        Ok(None)
    }

    /// Applies the field line in `self.line`.
    fn field(&mut self) {
        let line = &self.line;
        if line[0] == b':' {
            return;
        }
        let (name, value) = match line.iter().position(|&b| b == b':') {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (&line[..], &[][..]),
        };
        match name {
            b"event" => self.kind = String::from_utf8_lossy(value).into_owned(),
            b"data" => {
                self.data.extend_from_slice(value);
                self.data.push(b'\n');
                self.has_data = true;
            }
            b"id" if !value.contains(&0) => {
                self.last_id = Some(String::from_utf8_lossy(value).into_owned())
            }
            b"retry" if !value.is_empty() && value.iter().all(u8::is_ascii_digit) => {
                self.retry = std::str::from_utf8(value).ok().and_then(|v| v.parse().ok());
            }
            _ => {}
        }
    }

    /// Reads the next line into `self.line`; false at the end of the stream.
    fn next_line(&mut self) -> io::Result<bool> {
        self.line.clear();
        loop {
            if self.start == self.end {
                if self.eof {
                    return Ok(false);
                }
                let n = loop {
                    match self.input.read(&mut self.buf) {
                        Ok(n) => break n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => return Err(e),
                    }
                };
                if n == 0 {
                    // A last line without its end is dropped with the unfinished event.
                    self.eof = true;
                    return Ok(false);
                }
                self.start = 0;
                self.end = n;
            }
            let chunk = &self.buf[self.start..self.end];
            if self.after_cr {
                self.after_cr = false;
                if chunk[0] == b'\n' {
                    self.start += 1;
                    continue;
                }
            }
            match chunk.iter().position(|&b| b == b'\n' || b == b'\r') {
                Some(i) => {
                    self.line.extend_from_slice(&chunk[..i]);
                    self.after_cr = chunk[i] == b'\r';
                    self.start += i + 1;
                    if std::mem::take(&mut self.at_start) && self.line.starts_with(BOM) {
                        self.line.drain(..BOM.len());
                    }
                    return Ok(true);
                }
                None => {
                    if self.line.len() + chunk.len() > MAX_FIELD_LINE {
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            "an event-stream line longer than 64 MiB",
                        ));
                    }
                    self.line.extend_from_slice(chunk);
                    self.start = self.end;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hands out `bytes` a few at a time, so lines and CRLFs are split across reads.
    struct Trickle<'a>(&'a [u8], usize);

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let n = self.1.min(self.0.len()).min(out.len());
            out[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    fn events(text: &[u8], step: usize) -> (Vec<(String, String)>, Option<String>, Option<u64>) {
        let mut p = Parser::new(Trickle(text, step));
        let mut out = Vec::new();
        while let Some(e) = p.next_event().unwrap() {
            out.push((e.kind, String::from_utf8(e.data).unwrap()));
        }
        (out, p.last_id().map(str::to_owned), p.retry())
    }

    #[test]
    fn fields_comments_and_multi_line_data() {
        let text = b": hello\nid: 7\nretry: 1500\nevent: endpoint\ndata: /messages?s=1\n\n\
                     data:{\"a\":\ndata: 1}\n\nid: 8\ndata\n\n";
        for step in [1, 2, 3, 1000] {
            let (ev, id, retry) = events(text, step);
            assert_eq!(
                ev,
                [
                    ("endpoint".into(), "/messages?s=1".into()),
                    ("message".into(), "{\"a\":\n1}".into()),
                    ("message".into(), String::new()),
                ],
                "step {step}"
            );
            assert_eq!(id.as_deref(), Some("8"));
            assert_eq!(retry, Some(1500));
        }
    }

    #[test]
    fn crlf_lf_and_cr_line_ends_and_a_bom() {
        let text = b"\xEF\xBB\xBFdata: a\r\n\r\ndata: b\r\rdata: c\n\ndata: d\r\n\r\n";
        for step in [1, 2, 5, 1000] {
            let (ev, _, _) = events(text, step);
            let data: Vec<&str> = ev.iter().map(|(_, d)| d.as_str()).collect();
            assert_eq!(data, ["a", "b", "c", "d"], "step {step}");
        }
    }

    #[test]
    fn an_id_without_data_sets_the_last_id_and_dispatches_nothing() {
        let (ev, id, _) = events(b"id: prime-1\ndata:\n\n", 4);
        // `data:` with an empty value is data (an empty event): only `id` alone is not.
        assert_eq!(ev.len(), 1);
        assert_eq!(id.as_deref(), Some("prime-1"));
        let (ev, id, _) = events(b"id: prime-2\n\n", 4);
        assert!(ev.is_empty());
        assert_eq!(id.as_deref(), Some("prime-2"));
    }

    #[test]
    fn an_unfinished_event_at_the_end_is_dropped_and_a_bad_retry_ignored() {
        let (ev, _, retry) = events(b"retry: 1x\ndata: whole\n\ndata: half", 3);
        assert_eq!(ev, [("message".into(), "whole".into())]);
        assert_eq!(retry, None);
    }
}
