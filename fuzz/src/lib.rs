//! What the fuzz targets share: Sentinel's own modules, compiled from `../src` by path (the
//! main crate is a binary with no library target, and this keeps it that way), and the
//! oracles the targets hold them to: a strict serde_json reading of client lines
//! (`strict`), the expected scanner report of a server line from a real JSON parse
//! (`expect`), the tests' SQLite differential oracle (`sql_oracle`, from
//! `tests/support/`), and a deterministic chunking of input bytes (`Pieces`).
//!
//! The modules are the binary's, unchanged: `crate::base::...` paths inside them resolve here
//! because this crate's root declares the same top-level modules. Only the layers the targets
//! reach are compiled (`policy` needs `guards`, `audit` and `base`); `#[cfg(test)]` code in
//! them is not.

// The binary's modules have items only the layers above them (not compiled here) use.
#![allow(dead_code, unused_imports, clippy::all)]

#[path = "../../src/audit/mod.rs"]
pub mod audit;
#[path = "../../src/base/mod.rs"]
pub mod base;
#[path = "../../src/guards/mod.rs"]
pub mod guards;
#[path = "../../src/policy/mod.rs"]
pub mod policy;

pub mod expect;
#[path = "../../tests/support/sql_oracle.rs"]
pub mod sql_oracle;
pub mod strict;

/// Splits input into pieces of pseudo-random sizes (1 to `most` bytes) drawn from a seed, so
/// one fuzz input decides both the bytes and how they arrive.
pub struct Pieces {
    state: u64,
    most: usize,
}

impl Pieces {
    pub fn new(seed: u64, most: usize) -> Pieces {
        Pieces {
            state: seed | 1,
            most: most.max(1),
        }
    }

    /// xorshift64*.
    pub fn next_u64(&mut self) -> u64 {
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        self.state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// The size of the next piece of what is left (`left` > 0).
    pub fn size(&mut self, left: usize) -> usize {
        1 + (self.next_u64() as usize) % left.min(self.most)
    }

    /// `data` cut into pieces.
    pub fn cut<'a>(&mut self, mut data: &'a [u8]) -> Vec<&'a [u8]> {
        let mut out = Vec::new();
        while !data.is_empty() {
            let (piece, rest) = data.split_at(self.size(data.len()));
            out.push(piece);
            data = rest;
        }
        out
    }
}

/// The first `n` bytes of `data` as a seed, and the rest.
pub fn split_seed(data: &[u8], n: usize) -> (u64, &[u8]) {
    let n = n.min(data.len()).min(8);
    let mut seed = [0u8; 8];
    seed[..n].copy_from_slice(&data[..n]);
    (u64::from_le_bytes(seed), &data[n..])
}
