//! A TCP fault proxy on 127.0.0.1 for the network fault tests: it sits between agents
//! and ledgerd (one proxy per port, HTTP or gRPC alike, it only sees bytes) and treats
//! connections according to the current [`Fault`], which the test switches during the
//! run. A switch applies to new connections at accept and to open ones at once, so a
//! pooled HTTP/1.1 connection or a long-lived HTTP/2 (gRPC) connection meets every
//! fault too, not only the first connection after the switch.
//!
//! Everything is bounded: a held connection is released after [`HOLD_LIMIT`], and
//! dropping the proxy ends every connection task.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

/// How long a half-open connection is held at most.
pub const HOLD_LIMIT: Duration = Duration::from_secs(600);

/// What the proxy does to connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Forward bytes both ways unchanged.
    Pass,
    /// Forward, but wait this long before each chunk in either direction.
    Delay(Duration),
    /// Close the connection (FIN) at once.
    Drop,
    /// Abort the connection: SO_LINGER 0 and close, so the client gets a TCP RST.
    Reset,
    /// Keep the connection open and never forward or answer anything again (a peer
    /// that vanished without a FIN, or a stalled middlebox), until [`HOLD_LIMIT`].
    HalfOpen,
    /// Forward at most this many more bytes from the server, then close: the client
    /// gets a truncated answer.
    Truncate(usize),
}

/// How many connections met each fault (at accept or while open); `truncated` counts
/// answers actually cut.
#[derive(Debug, Default)]
pub struct Counters {
    pub accepted: AtomicU64,
    pub delayed: AtomicU64,
    pub dropped: AtomicU64,
    pub reset: AtomicU64,
    pub held: AtomicU64,
    pub truncated: AtomicU64,
}

impl Counters {
    fn bump(&self, fault: Fault) {
        let c = match fault {
            Fault::Pass => return,
            Fault::Delay(_) => &self.delayed,
            Fault::Drop => &self.dropped,
            Fault::Reset => &self.reset,
            Fault::HalfOpen => &self.held,
            // Counted when an answer is actually cut (see `relay`).
            Fault::Truncate(_) => return,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// (accepted, delayed, dropped, reset, held, truncated).
    pub fn snapshot(&self) -> [u64; 6] {
        [
            &self.accepted,
            &self.delayed,
            &self.dropped,
            &self.reset,
            &self.held,
            &self.truncated,
        ]
        .map(|c| c.load(Ordering::Relaxed))
    }
}

/// A running proxy; dropping it stops it and ends its connections.
pub struct FaultProxy {
    pub addr: SocketAddr,
    pub counters: Arc<Counters>,
    mode: watch::Sender<Fault>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FaultProxy {
    /// Listens on a fresh 127.0.0.1 port and forwards to `upstream`, starting in
    /// [`Fault::Pass`].
    pub async fn start(upstream: SocketAddr) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("proxy listens");
        let addr = listener.local_addr().expect("proxy address");
        let (mode, rx) = watch::channel(Fault::Pass);
        let counters = Arc::new(Counters::default());
        let task = tokio::spawn(accept_loop(listener, upstream, rx, counters.clone()));
        FaultProxy {
            addr,
            counters,
            mode,
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Switches the fault, for new and open connections.
    pub fn set(&self, fault: Fault) {
        self.mode.send_replace(fault);
    }
}

async fn accept_loop(
    listener: TcpListener,
    upstream: SocketAddr,
    mode: watch::Receiver<Fault>,
    counters: Arc<Counters>,
) {
    // Owned here so that aborting this task aborts every connection task.
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((client, _)) = accepted else { continue };
                counters.accepted.fetch_add(1, Ordering::Relaxed);
                connections.spawn(connection(client, upstream, mode.clone(), counters.clone()));
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// Ends a connection the way `fault` says (for the faults that end it).
async fn end(client: TcpStream, fault: Fault) {
    match fault {
        Fault::Reset => {
            // SO_LINGER 0: close sends RST and discards unsent data.
            let _ = client.set_zero_linger();
            drop(client);
        }
        Fault::HalfOpen => hold(client).await,
        _ => drop(client),
    }
}

/// Holds the connection open without ever writing, reading (and discarding) what the
/// client sends so its writes never fail, until the client gives up or the limit.
async fn hold(mut client: TcpStream) {
    let mut buf = vec![0u8; 16 << 10];
    let _ = tokio::time::timeout(HOLD_LIMIT, async {
        while let Ok(n) = client.read(&mut buf).await {
            if n == 0 {
                // The client closed its side; keep ours open until it resets or the
                // limit passes, as a vanished peer would.
                tokio::time::sleep(HOLD_LIMIT).await;
            }
        }
    })
    .await;
}

async fn connection(
    client: TcpStream,
    upstream: SocketAddr,
    mut mode: watch::Receiver<Fault>,
    counters: Arc<Counters>,
) {
    let fault = *mode.borrow_and_update();
    counters.bump(fault);
    if matches!(fault, Fault::Drop | Fault::Reset | Fault::HalfOpen) {
        return end(client, fault).await;
    }
    let Ok(server) = TcpStream::connect(upstream).await else {
        // Upstream down: the client sees the connection closed.
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    relay(client, server, fault, &mut mode, &counters).await;
}

/// Forwards both ways under the current fault until either side closes or a fault
/// ends the connection.
async fn relay(
    mut client: TcpStream,
    mut server: TcpStream,
    mut fault: Fault,
    mode: &mut watch::Receiver<Fault>,
    counters: &Counters,
) {
    let mut up = vec![0u8; 16 << 10];
    let mut down = vec![0u8; 16 << 10];
    // Bytes from the server still to be forwarded under `Truncate`.
    let mut budget = match fault {
        Fault::Truncate(n) => Some(n),
        _ => None,
    };
    let mut client_open = true;
    loop {
        let delay = match fault {
            Fault::Delay(d) => d,
            _ => Duration::ZERO,
        };
        tokio::select! {
            changed = mode.changed() => {
                if changed.is_err() {
                    return;
                }
                fault = *mode.borrow_and_update();
                counters.bump(fault);
                match fault {
                    Fault::Drop | Fault::Reset | Fault::HalfOpen => {
                        drop(server);
                        return end(client, fault).await;
                    }
                    Fault::Truncate(n) => budget = Some(n),
                    Fault::Pass | Fault::Delay(_) => budget = None,
                }
            }
            r = client.read(&mut up), if client_open => match r {
                Ok(0) | Err(_) => {
                    client_open = false;
                    let _ = server.shutdown().await;
                }
                Ok(n) => {
                    tokio::time::sleep(delay).await;
                    if server.write_all(&up[..n]).await.is_err() {
                        return;
                    }
                }
            },
            r = server.read(&mut down) => match r {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    tokio::time::sleep(delay).await;
                    let n = budget.map_or(n, |left| n.min(left));
                    if client.write_all(&down[..n]).await.is_err() {
                        return;
                    }
                    if let Some(left) = budget.as_mut() {
                        *left -= n;
                        if *left == 0 {
                            // Truncated: close both sides mid-answer.
                            counters.truncated.fetch_add(1, Ordering::Relaxed);
                            return;
                        }
                    }
                }
            },
        }
    }
}
