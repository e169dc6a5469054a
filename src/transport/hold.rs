//! Holding the server's lines for inspection. While the gateway awaits an answer it reads
//! (`Gateway::wants_server_lines`), each line the server starts is held whole, up to
//! `Gateway::inspect_limit`, and its verdict (`Gateway::server_line`) decides what the client
//! gets: the line, or a replacement. A line that outgrows the limit is either sent on as it
//! comes (nothing enforced depends on it) or dropped and answered by the gateway
//! (`Gateway::server_discarded`), so memory stays bounded. A line already under way when
//! holding starts is streamed. Outside those times the pump copies bytes as they arrive and
//! this module is not involved.

use crate::base::bytes::find_byte;
use crate::base::scan::Scanner;
use crate::gateway::{Gateway, Overflow, ServerVerdict};

/// What happens to the line being read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// At a line boundary.
    Idle,
    /// Sent on as it comes.
    Streaming,
    /// Kept until it ends.
    Holding,
    /// Dropped to its end; the gateway answers for it.
    Discarding,
}

/// The per-line state of the server->client pump while lines are held.
pub struct Holder {
    state: State,
    line: Vec<u8>,
    /// Response ids the scanner read in the current line.
    ids: Vec<String>,
    /// Bytes of the current line so far.
    size: usize,
    /// The current line outgrew the limit and is being streamed on.
    overflowed: bool,
}

impl Default for Holder {
    fn default() -> Self {
        Holder {
            state: State::Idle,
            line: Vec::new(),
            ids: Vec::new(),
            size: 0,
            overflowed: false,
        }
    }
}

/// Where the pump's output goes: `write(bytes, line_done)`; `line_done` says the bytes end a
/// line (the writer may release the client's stdout).
pub trait Sink {
    fn write(&mut self, bytes: &[u8], line_done: bool);
}

impl Holder {
    /// True while a line is held or dropped: the pump must come here for the next chunk.
    pub fn busy(&self) -> bool {
        matches!(self.state, State::Holding | State::Discarding)
    }

    /// Feeds one chunk of the server's output, line by line. `response(id, failed)` is the
    /// scanner's report of each answer (for the session's bookkeeping); `publish` runs before
    /// anything is written, so answers are published before the client can read them.
    pub fn feed(
        &mut self,
        chunk: &[u8],
        gateway: &Gateway,
        scanner: &mut Scanner,
        response: &mut dyn FnMut(&str, bool),
        publish: &mut dyn FnMut(),
        out: &mut dyn Sink,
    ) {
        let mut rest = chunk;
        while !rest.is_empty() {
            let (seg, ends) = match find_byte(b'\n', rest) {
                Some(i) => (&rest[..=i], true),
                None => (rest, false),
            };
            rest = &rest[seg.len()..];
            if !scanner.mid_line() {
                self.ids.clear();
                self.size = 0;
                self.overflowed = false;
                self.state = if gateway.wants_server_lines() {
                    State::Holding
                } else {
                    State::Streaming
                };
            } else if self.state == State::Idle {
                self.state = State::Streaming; // begun before holding started
            }
            let ids = &mut self.ids;
            scanner.feed(seg, &mut |id, failed| {
                response(id, failed);
                if ids.len() < 64 {
                    ids.push(id.to_owned());
                }
            });
            self.size += seg.len();
            match self.state {
                State::Idle | State::Streaming => {
                    // Reported before the client can read its end.
                    if ends && self.overflowed {
                        gateway.server_streamed(&self.ids, self.size);
                        self.overflowed = false;
                    }
                    publish();
                    out.write(seg, ends);
                }
                State::Holding => {
                    let body = if ends { &seg[..seg.len() - 1] } else { seg };
                    if self.line.len() + body.len() > gateway.inspect_limit() {
                        match gateway.server_overflow() {
                            Overflow::Stream => {
                                if ends {
                                    gateway.server_streamed(&self.ids, self.size);
                                } else {
                                    self.overflowed = true;
                                }
                                publish();
                                out.write(&std::mem::take(&mut self.line), false);
                                out.write(seg, ends);
                                self.state = State::Streaming;
                            }
                            Overflow::Discard => {
                                self.line = Vec::new();
                                self.state = State::Discarding;
                                if ends {
                                    let bytes = gateway.server_discarded(&self.ids, self.size);
                                    publish();
                                    out.write(&bytes, true);
                                }
                            }
                        }
                    } else {
                        self.line.extend_from_slice(body);
                        if ends {
                            let verdict = gateway.server_line(&self.line, &self.ids);
                            publish();
                            match verdict {
                                ServerVerdict::Forward => {
                                    self.line.push(b'\n');
                                    out.write(&self.line, true);
                                }
                                ServerVerdict::Replace(bytes) => out.write(&bytes, true),
                            }
                            self.line.clear();
                            if self.line.capacity() > 1 << 20 {
                                self.line = Vec::new();
                            }
                        }
                    }
                }
                State::Discarding => {
                    if ends {
                        let bytes = gateway.server_discarded(&self.ids, self.size);
                        publish();
                        out.write(&bytes, true);
                    }
                }
            }
            if ends {
                self.state = State::Idle;
            }
        }
    }

    /// The server's output ended: a line still held is incomplete and is dropped (its
    /// request is answered by the gateway when the server is gone). True when a line was
    /// being streamed (it needs ending).
    pub fn end(&mut self) -> bool {
        let streaming = self.state == State::Streaming;
        self.line = Vec::new();
        self.state = State::Idle;
        streaming
    }
}
