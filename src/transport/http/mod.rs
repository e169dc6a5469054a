//! MCP over HTTP. `server` is the HTTP/1.1 listener (limits, TLS); `serve` is `sentinel
//! serve` on it: the Streamable HTTP and legacy SSE endpoints and their sessions, each with
//! its own `Gateway` and server process, run by the stdio transport's pumps; `auth` is the
//! bearer tokens file and the tenants its tokens map to; `origin` the `Origin` allow-list
//! that protects a listener against DNS rebinding; `sse` Server-Sent Events as written on a
//! stream; `upstream` the client side, the stdio<->HTTP bridge `--upstream` runs as its
//! server process. Nothing here decides about a message: the session's gateway does.

pub mod auth;
pub mod origin;
pub mod serve;
pub mod server;
pub mod sse;
pub mod upstream;
