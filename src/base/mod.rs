//! Foundations: small pieces that know nothing of policy, used by every layer above. Strict
//! JSON (`json`) and JSON-RPC framing, ids and answers (`jsonrpc`); the scanner of server
//! output (`scan`); bounded line framing (`lines`) and word-at-a-time byte searches (`bytes`);
//! inline strings and the map of request ids (`small_str`); human output on stderr (`term`);
//! the clock seam and RFC 3339 time (`clock`); `*`/`?` globs (`glob`). Nothing here imports
//! from outside `base`.

pub mod bytes;
pub mod clock;
pub mod glob;
pub mod json;
pub mod jsonrpc;
pub mod lines;
pub mod scan;
pub mod small_str;
pub mod term;
