//! Unit tests of pinning.
