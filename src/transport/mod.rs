//! Transports move bytes between a client, a server and the gateway, and own nothing about
//! verdicts: every line goes through `gateway::Gateway`. `stdio` is the stdio proxy (and the
//! demo mode), `lifecycle` its shutdown state machine, `server` the wrapped server process and
//! `signals` Sentinel's own signal handling (the platform code, one small module per concern).
//! `local` is the out-of-band approval channel on this host (a Unix socket per Sentinel in the
//! per-user directory of `rundir`). An HTTP transport will sit beside them.

mod hold;
pub mod http;
mod lifecycle;
pub mod local;
pub mod rundir;
pub mod server;
pub mod signals;
pub mod stdio;
