//! Pinning tool definitions per server: being built.
