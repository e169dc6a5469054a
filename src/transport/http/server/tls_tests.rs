//! The listener over TLS: a request and keep-alive round-trip with a rustls client trusting a
//! self-signed certificate that `openssl` makes for each test, a stalled handshake dropped at
//! the head deadline, and `tls_config` naming the file that is missing or not PEM.

use super::tests::{closed, connect, echo, read_answer, start_with};
use super::*;
use std::io::{BufReader, Write};
use std::sync::atomic::Ordering;

/// A self-signed certificate for `localhost` and 127.0.0.1, made by `openssl` in a fresh
/// folder: (folder, certificate, key).
fn test_certificate() -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    use std::sync::atomic::AtomicU32;
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "sentinel-tls-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = (dir.join("c.pem"), dir.join("k.pem"));
    let made = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-subj", "/CN=localhost", "-days", "2"])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        // A leaf, not a CA (webpki refuses a CA certificate as a server's).
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .args(["-addext", "extendedKeyUsage=serverAuth"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl runs");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    (dir, cert, key)
}

#[test]
fn a_request_over_tls_round_trips() {
    let (dir, cert, key) = test_certificate();
    let config = tls_config(&cert, &key).unwrap();
    let server = start_with(Limits::default(), Some(config), echo);

    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::pem::PemObject::from_pem_file(&cert).unwrap())
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(Arc::new(client), name).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, connect(server.addr));
    tls.write_all(b"GET /secure?q HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let mut r = BufReader::new(tls);
    let a = read_answer(&mut r);
    assert_eq!(
        (a.status, a.body.as_str()),
        (200, "GET /secure?q /secure - tls=true []")
    );
    // Keep-alive over TLS too.
    r.get_mut()
        .write_all(b"POST /two HTTP/1.1\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc")
        .unwrap();
    assert_eq!(read_answer(&mut r).body, "POST /two /two - tls=true [abc]");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_stalled_tls_handshake_is_dropped() {
    let (dir, cert, key) = test_certificate();
    let limits = Limits {
        head_timeout: Duration::from_millis(500),
        ..Limits::default()
    };
    let server = start_with(limits, Some(tls_config(&cert, &key).unwrap()), echo);
    let started = Instant::now();
    let mut sock = connect(server.addr);
    sock.write_all(&[0x16, 0x03, 0x01]).unwrap(); // the start of a ClientHello, never finished
    assert!(closed(&mut sock));
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn tls_config_names_the_file_that_is_wrong() {
    let (dir, cert, key) = test_certificate();
    let missing = dir.join("missing.pem");
    let err = tls_config(&missing, &key).unwrap_err();
    assert!(
        err.contains("missing.pem") && err.contains("--tls-cert"),
        "{err}"
    );
    let err = tls_config(&cert, &missing).unwrap_err();
    assert!(
        err.contains("missing.pem") && err.contains("--tls-key"),
        "{err}"
    );
    let text = dir.join("not-pem.txt");
    std::fs::write(&text, "this is not a certificate\n").unwrap();
    let err = tls_config(&text, &key).unwrap_err();
    assert!(
        err.contains("not-pem.txt") && err.contains("no CERTIFICATE"),
        "{err}"
    );
    let err = tls_config(&cert, &text).unwrap_err();
    assert!(
        err.contains("not-pem.txt") && err.contains("no private key"),
        "{err}"
    );
    // Key and certificate swapped.
    assert!(tls_config(&key, &cert).is_err());
    let _ = std::fs::remove_dir_all(dir);
}
