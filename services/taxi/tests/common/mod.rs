//! What the `taxi` binary's process tests share: a free loopback port and a child server
//! that is killed whatever the test did. (Each test binary uses part of it.)
#![allow(dead_code)]

use std::net::TcpListener;

/// A loopback port free at the time of asking.
pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Kills the server on drop, whatever the test did.
pub(crate) struct Child(pub(crate) std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
