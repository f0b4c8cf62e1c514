//! Free loopback ports for fixtures and rendered Envoy configs.
//!
//! The ports are found by binding `127.0.0.1:0` and dropping the socket, so
//! there is a window between [`free_port`] returning and the real server
//! binding in which another process could take the port. On a test machine
//! that race is rare and shows up as a clear bind error (Envoy logs
//! "cannot bind"); fixtures that serve themselves bind port 0 directly and
//! keep the socket, so they have no such window. Use these helpers only for
//! ports a *different* process (Envoy, nats-server) has to bind.

use std::net::{Ipv4Addr, TcpListener};

/// A TCP port on `127.0.0.1` that was free a moment ago (see the module docs
/// for the race).
///
/// # Panics
///
/// If the loopback interface cannot bind at all.
pub fn free_port() -> u16 {
    free_ports::<1>()[0]
}

/// `N` distinct TCP ports on `127.0.0.1` that were free a moment ago: all are
/// held until every one is picked, so they never repeat.
///
/// # Panics
///
/// If the loopback interface cannot bind at all.
pub fn free_ports<const N: usize>() -> [u16; N] {
    let listeners: Vec<TcpListener> = (0..N)
        .map(|_| {
            TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
                .unwrap_or_else(|e| panic!("cannot bind 127.0.0.1:0 to find a free port: {e}"))
        })
        .collect();
    let mut ports = [0; N];
    for (port, listener) in ports.iter_mut().zip(&listeners) {
        *port = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("cannot read a bound socket's address: {e}"))
            .port();
    }
    ports
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_ports_are_distinct_and_bindable() {
        let ports = free_ports::<4>();
        for (i, a) in ports.iter().enumerate() {
            assert_ne!(*a, 0, "port 0 is not a real port");
            assert!(
                !ports[i + 1..].contains(a),
                "port {a} picked twice in {ports:?}"
            );
        }
        let port = free_port();
        TcpListener::bind((Ipv4Addr::LOCALHOST, port)).expect("a free port binds");
    }
}
