//! Transports move bytes between a client, a server and the gateway, and own nothing about
//! verdicts: every line goes through `gateway::Gateway`. `stdio` is the stdio proxy (and the
//! demo mode), `server` the wrapped server process and Sentinel's own signal handling. An HTTP
//! transport will sit beside them.

pub mod server;
pub mod stdio;
