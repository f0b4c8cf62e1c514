//! Free loopback ports for fixtures and rendered Envoy configs.
//!
//! The ports are found by binding `127.0.0.1:0` and dropping the socket, so
//! there is a window between [`free_port`] returning and the real server
//! binding in which another process could take the port. On a test machine
//! that race is rare and shows up as a clear bind error (Envoy logs
//! "cannot bind"); fixtures that serve themselves bind port 0 directly and
//! keep the socket, so they have no such window. Use these helpers only for
//! ports a *different* process (Envoy, nats-server) has to bind.

use std::io;
use std::net::{Ipv4Addr, TcpListener};

/// A TCP port on `127.0.0.1` that was free a moment ago (see the module docs
/// for the race).
///
/// # Errors
///
/// If the loopback interface cannot bind at all.
pub fn free_port() -> io::Result<u16> {
    free_ports::<1>().map(|[port]| port)
}

/// `N` distinct TCP ports on `127.0.0.1` that were free a moment ago: all are
/// held until every one is picked, so they never repeat.
///
/// # Errors
///
/// If the loopback interface cannot bind at all.
pub fn free_ports<const N: usize>() -> io::Result<[u16; N]> {
    let listeners = (0..N)
        .map(|_| TcpListener::bind((Ipv4Addr::LOCALHOST, 0)))
        .collect::<io::Result<Vec<_>>>()?;
    let mut ports = [0; N];
    for (port, listener) in ports.iter_mut().zip(&listeners) {
        *port = listener.local_addr()?.port();
    }
    Ok(ports)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_ports_are_distinct_and_bindable() {
        let ports = free_ports::<4>().expect("loopback binds");
        for (i, a) in ports.iter().enumerate() {
            assert_ne!(*a, 0, "port 0 is not a real port");
            assert!(
                !ports[i + 1..].contains(a),
                "port {a} picked twice in {ports:?}"
            );
        }
        let port = free_port().expect("loopback binds");
        TcpListener::bind((Ipv4Addr::LOCALHOST, port)).expect("a free port binds");
    }
}
