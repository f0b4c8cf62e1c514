//! A minimal HTTP/1.1 server that records raw requests (headers and body as
//! sent), for checks the OTLP receiver cannot make: exporter headers and
//! compressed bodies.

use std::collections::HashMap;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// One captured request.
#[derive(Debug, Clone)]
pub struct Captured {
    /// Header names lowercased; a repeated header keeps its last value.
    pub headers: HashMap<String, String>,
    /// The raw body, as sent (possibly compressed).
    pub body: Vec<u8>,
}

/// A minimal HTTP/1.1 server that answers every request with an empty
/// OTLP success and records its headers (lowercased) and raw body.
#[derive(Debug)]
pub struct CaptureServer {
    port: u16,
    requests: Arc<Mutex<Vec<Captured>>>,
}

// === impl CaptureServer ===

impl CaptureServer {
    /// Starts on a free loopback port; the server thread lives until the
    /// process ends.
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let port = listener.local_addr().expect("local address").port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let store = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let store = store.clone();
                std::thread::spawn(move || serve_connection(stream, &store));
            }
        });
        Self { port, requests }
    }

    /// `http://127.0.0.1:{port}`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Asserts at least one request arrived and every one carries each
    /// `(header, value)` of `expected`; returns the requests.
    ///
    /// # Panics
    ///
    /// When no request arrived or a header is missing or different.
    pub fn assert_every_request_has(&self, expected: &[(&str, &str)]) -> Vec<Captured> {
        let requests = self.requests();
        assert!(!requests.is_empty(), "the capture server got the export");
        for request in &requests {
            for (name, value) in expected {
                assert_eq!(
                    request.headers.get(*name).map(String::as_str),
                    Some(*value),
                    "header {name}"
                );
            }
        }
        requests
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<Captured> {
        self.requests.lock().expect("capture lock").clone()
    }
}

fn serve_connection(stream: TcpStream, store: &Mutex<Vec<Captured>>) {
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut headers = HashMap::new();
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((k, v)) = header.split_once(':') {
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
            }
        }
        let len = headers
            .get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        store
            .lock()
            .expect("capture lock")
            .push(Captured { headers, body });
        let response =
            "HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n";
        if reader.get_mut().write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}
