//! Server-Sent Events (the `text/event-stream` format of the HTML standard): writing one event
//! (`id`, `event`, `data` split on line breaks) and reading a stream of them (`Parser`).

/// One event as written on a stream: `id:` and `event:` when given, a `data:` line per line of
/// `data`, then the blank line that ends it.
pub fn event(id: Option<&str>, kind: Option<&str>, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 32);
    if let Some(id) = id {
        out.extend_from_slice(b"id: ");
        out.extend_from_slice(id.as_bytes());
        out.push(b'\n');
    }
    if let Some(kind) = kind {
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(kind.as_bytes());
        out.push(b'\n');
    }
    let data = data.strip_suffix(b"\n").unwrap_or(data);
    for line in data.split(|&b| b == b'\n') {
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(line.strip_suffix(b"\r").unwrap_or(line));
        out.push(b'\n');
    }
    out.push(b'\n');
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_event_has_its_id_kind_and_one_data_line_per_line() {
        assert_eq!(
            super::event(Some("7"), Some("message"), b"{\"a\":1}\n"),
            b"id: 7\nevent: message\ndata: {\"a\":1}\n\n"
        );
        assert_eq!(super::event(None, None, b"a\nb"), b"data: a\ndata: b\n\n");
    }
}
