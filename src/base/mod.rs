//! Foundations: small pieces that know nothing of policy, used by every layer above. Strict
//! JSON (`json`) and JSON-RPC framing, ids and answers (`jsonrpc`); the scanner of server
//! output (`scan`); bounded line framing (`lines`) and word-at-a-time byte searches (`bytes`);
//! inline strings and the map of request ids (`small_str`); human output on stderr (`term`);
//! the clock seam and RFC 3339 time (`clock`); `*`/`?` globs (`glob`); the per-user state
//! directory (`dirs`); the connection to a Redis server for shared state (`redis`). Nothing here imports
//! from outside `base`.

pub mod bytes;
pub mod clock;
pub mod dirs;
pub mod glob;
pub mod hex;
pub mod json;
pub mod jsonrpc;
pub mod lines;
pub mod redis;
pub mod scan;
pub mod small_str;
pub mod term;
pub mod visible;

/// A small deterministic generator (xorshift64*) for the differential tests' inputs.
#[cfg(test)]
pub struct Rng(pub u64);

#[cfg(test)]
impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}
