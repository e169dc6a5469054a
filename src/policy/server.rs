//! What the policy asks of the server side (being built): description scanning, pinning,
//! hidden tools and response caps.

/// The `server:` section of a profile, compiled.
#[derive(Clone, Debug, Default)]
pub struct ServerPolicy {}
