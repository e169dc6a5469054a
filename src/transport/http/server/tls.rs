//! TLS for the listener, by rustls with the ring provider: `tls_config` loads the certificate
//! chain and private key from PEM files (errors name the file and what to do), and
//! `handshake` runs a connection's handshake under a deadline (a client that starts one and
//! stalls is dropped), giving the stream the connection code reads and writes like a socket.

use super::conn::Conn;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ServerConfig, ServerConnection, StreamOwned};
use std::io::ErrorKind;
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A TLS stream over its socket.
pub(super) type TlsStream = StreamOwned<ServerConnection, TcpStream>;

impl Conn for TlsStream {
    fn tcp(&self) -> &TcpStream {
        &self.sock
    }

    fn end(&mut self) {
        self.conn.send_close_notify();
    }

    /// Over TLS a peek cannot tell a `close_notify` (or a pipelined request) from other
    /// records, so what the socket holds is read, without blocking, into the session: the
    /// plaintext stays in its buffer for the connection's next read, and an end of stream, a
    /// `close_notify`, a broken record or a reset means gone.
    fn peer_gone(&mut self) -> bool {
        if self.sock.set_nonblocking(true).is_err() {
            return false;
        }
        let gone = loop {
            match self.conn.read_tls(&mut self.sock) {
                Ok(0) => break true,
                Ok(_) => match self.conn.process_new_packets() {
                    Ok(state) if state.peer_has_closed() => break true,
                    Ok(_) => {}
                    Err(_) => break true,
                },
                Err(e) if e.kind() == ErrorKind::WouldBlock => break false,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    break matches!(
                        e.kind(),
                        ErrorKind::ConnectionReset
                            | ErrorKind::ConnectionAborted
                            | ErrorKind::BrokenPipe
                    )
                }
            }
        };
        let _ = self.sock.set_nonblocking(false);
        gone
    }
}

/// The server's TLS configuration from a PEM certificate chain (the server's certificate
/// first) and a PEM private key (PKCS#8, PKCS#1 or SEC1); TLS 1.2 and 1.3, ALPN `http/1.1`.
pub fn tls_config(cert_pem: &Path, key_pem: &Path) -> Result<Arc<ServerConfig>, String> {
    let cert_name = cert_pem.display();
    let key_name = key_pem.display();
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_pem)
        .map_err(|e| read_error(&cert_name.to_string(), "--tls-cert", e))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{cert_name}: not a readable PEM certificate file ({e}); pass the server's certificate chain in PEM to --tls-cert"))?;
    if certs.is_empty() {
        return Err(format!(
            "{cert_name}: no CERTIFICATE in it; pass the server's certificate chain in PEM (-----BEGIN CERTIFICATE-----) to --tls-cert"
        ));
    }
    let key = PrivateKeyDer::from_pem_file(key_pem).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => format!(
            "{key_name}: no private key in it; pass the certificate's private key in PEM (-----BEGIN PRIVATE KEY-----) to --tls-key"
        ),
        e => read_error(&key_name.to_string(), "--tls-key", e),
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup failed: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| {
            format!("{key_name} and {cert_name} do not make a usable certificate ({e}); pass the private key that belongs to the certificate")
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn read_error(name: &str, option: &str, e: rustls::pki_types::pem::Error) -> String {
    match e {
        rustls::pki_types::pem::Error::Io(io) => {
            format!("cannot read {name}: {io}; check the path given to {option}")
        }
        e => format!("{name}: not a valid PEM file ({e}); pass a PEM file to {option}"),
    }
}

/// Runs the server side of the handshake until it completes or `deadline` passes (then, or on
/// any failure, None: the connection is dropped).
pub(super) fn handshake(
    sock: TcpStream,
    config: Arc<ServerConfig>,
    deadline: Instant,
) -> Option<TlsStream> {
    let conn = ServerConnection::new(config).ok()?;
    let mut stream = StreamOwned::new(conn, sock);
    while stream.conn.is_handshaking() {
        let now = Instant::now();
        if now >= deadline {
            return None;
        }
        let left = (deadline - now).max(Duration::from_millis(1));
        stream.sock.set_read_timeout(Some(left)).ok()?;
        match stream.conn.complete_io(&mut stream.sock) {
            Ok((0, 0)) if stream.conn.wants_read() => return None,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::Interrupted | ErrorKind::WouldBlock | ErrorKind::TimedOut
                ) => {}
            Err(_) => return None,
        }
    }
    Some(stream)
}
