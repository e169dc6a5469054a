//! A copy of the server's output, line by line, for the gateway, taken only while the gateway
//! asks for it (see `Gateway::wants_server_lines`): the bytes themselves are forwarded as they
//! arrive, whatever the tap does. A line that began before the tap opened is skipped whole;
//! one longer than [`MAX_TAPPED`] is dropped, so the copy's memory is bounded.

/// The longest line copied (a `tools/list` answer of thousands of tools fits).
pub const MAX_TAPPED: usize = 8 << 20;

#[derive(Default)]
pub struct Tap {
    line: Vec<u8>,
    /// Copying the current line (false: skipping to its end).
    copying: bool,
    /// The tap is taking lines (between a `want` and the end of the line it was in).
    open: bool,
}

impl Tap {
    /// Feeds one chunk of the server's output. `want` says whether the gateway asks for lines
    /// now; `mid_line` whether the chunk starts in the middle of a line; `line` receives each
    /// complete line copied.
    pub fn feed(&mut self, chunk: &[u8], want: bool, mid_line: bool, line: &mut dyn FnMut(&[u8])) {
        if self.open && !want && !mid_line {
            // At a line boundary and no longer wanted.
            self.open = false;
            self.line = Vec::new();
        }
        if !self.open {
            if !want {
                return;
            }
            self.open = true;
            self.copying = !mid_line;
            self.line.clear();
        }
        let mut rest = chunk;
        while !rest.is_empty() {
            match crate::base::bytes::find_byte(b'\n', rest) {
                Some(n) => {
                    if self.copying && self.line.len() + n <= MAX_TAPPED {
                        self.line.extend_from_slice(&rest[..n]);
                        line(&self.line);
                    }
                    self.line.clear();
                    self.copying = true;
                    rest = &rest[n + 1..];
                }
                None => {
                    if self.copying && self.line.len() + rest.len() <= MAX_TAPPED {
                        self.line.extend_from_slice(rest);
                    } else {
                        self.copying = false;
                        self.line = Vec::new();
                    }
                    rest = &[];
                }
            }
        }
        if !want && self.line.is_empty() {
            self.open = false;
            self.line = Vec::new();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(chunks: &[(&[u8], bool, bool)]) -> Vec<String> {
        let mut tap = Tap::default();
        let mut out = Vec::new();
        for (c, want, mid) in chunks {
            tap.feed(c, *want, *mid, &mut |l| {
                out.push(String::from_utf8_lossy(l).into_owned())
            });
        }
        out
    }

    #[test]
    fn copies_whole_lines_only_while_wanted() {
        assert_eq!(
            lines(&[
                (b"skip\n", false, false),
                (b"tail of a line\n{\"a\"", true, true),
                (b":1}\nnext\n", true, true),
                (b"not wanted\n", false, false),
            ]),
            ["{\"a\":1}", "next"]
        );
    }

    #[test]
    fn an_overlong_line_is_dropped() {
        let big = vec![b'x'; MAX_TAPPED + 1];
        let mut tap = Tap::default();
        let mut out = Vec::new();
        tap.feed(&big, true, false, &mut |l| out.push(l.len()));
        tap.feed(b"\nok\n", true, true, &mut |l| out.push(l.len()));
        assert_eq!(out, [2]);
    }
}
