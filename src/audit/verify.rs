//! `sentinel audit verify` (being built).
