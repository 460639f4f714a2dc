//! The HTTP/1.1 server loop: hyper with the limits `axum::serve` does not
//! offer. A connection must send a complete request head within
//! `header_read_timeout` (partial request lines, slow headers), is closed
//! after `idle_timeout` without a byte either way (idle keep-alive, a stalled
//! client), and one client address holds at most `max_connections_per_client`
//! connections at once: the next ones are closed on accept. Shutdown stops
//! accepting, lets every request in flight finish and closes idle
//! connections.

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tower::ServiceExt;

/// Connection limits of the server loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Longest a connection may take to send a request's head (default 10 s).
    pub header_read_timeout: Duration,
    /// A connection with no byte read or written for this long is closed
    /// (default 60 s; keep it above the request timeout).
    pub idle_timeout: Duration,
    /// Most connections one client address holds at once (default 1024).
    pub max_connections_per_client: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections_per_client: 1024,
        }
    }
}

/// Open connections per client address.
#[derive(Debug, Default)]
struct Clients {
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One admitted connection; its client's count drops with it.
#[derive(Debug)]
struct Slot {
    clients: Arc<Clients>,
    ip: IpAddr,
}

impl Clients {
    fn admit(self: &Arc<Self>, ip: IpAddr, cap: usize) -> Option<Slot> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let n = open.entry(ip).or_insert(0);
        if *n >= cap {
            return None;
        }
        *n += 1;
        Some(Slot {
            clients: self.clone(),
            ip,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.clients.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// A socket that records when a byte last moved, for the idle timeout.
struct Watched {
    inner: TcpStream,
    epoch: Instant,
    last: Arc<AtomicU64>,
}

impl Watched {
    fn touch(&self) {
        let ms = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last.store(ms, Ordering::Relaxed);
    }
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.touch();
        }
        r
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        r
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Accept errors that concern one connection only (the loop goes on at once).
fn per_connection(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// Serves `router` on `listener` until `shutdown` resolves, then drains.
/// Handlers see the peer as `ConnectInfo<SocketAddr>`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let clients = Arc::new(Clients::default());
    let (close, closing) = watch::channel(false);
    // Every connection task holds a receiver; `closed()` resolves once the
    // last one ended.
    let (done, live) = watch::channel(());
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let builder = Arc::new(builder);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) if per_connection(&e) => continue,
                Err(e) => {
                    // Out of file descriptors and the like: wait, don't spin.
                    tracing::warn!(error = %e, "accept failed; retrying in 1 s");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(slot) = clients.admit(peer.ip(), limits.max_connections_per_client) else {
            tracing::debug!(client = %peer.ip(), "connection refused: too many from this client");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let last = Arc::new(AtomicU64::new(0));
        let io = TokioIo::new(Watched {
            inner: stream,
            epoch: Instant::now(),
            last: last.clone(),
        });
        let svc = router.clone().map_request(
            move |mut req: axum::extract::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                req
            },
        );
        let builder = builder.clone();
        let mut closing = closing.clone();
        let live = live.clone();
        let idle = limits.idle_timeout;
        tokio::spawn(async move {
            let _slot = slot;
            let _live = live;
            let epoch = Instant::now();
            let conn = builder.serve_connection(io, TowerToHyperService::new(svc));
            tokio::pin!(conn);
            let mut watch = tokio::time::interval((idle / 4).max(Duration::from_millis(10)));
            let idle_ms = u64::try_from(idle.as_millis()).unwrap_or(u64::MAX);
            let ended = loop {
                tokio::select! {
                    r = conn.as_mut() => break r,
                    _ = closing.changed() => {
                        conn.as_mut().graceful_shutdown();
                        break conn.as_mut().await;
                    }
                    _ = watch.tick() => {
                        let now = u64::try_from(epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
                        if now.saturating_sub(last.load(Ordering::Relaxed)) >= idle_ms {
                            // Lets a request in flight finish, then closes.
                            conn.as_mut().graceful_shutdown();
                            break conn.as_mut().await;
                        }
                    }
                }
            };
            if let Err(e) = ended {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    let _ = close.send(true);
    drop(live);
    done.closed().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_gets_at_most_its_cap_of_slots_and_they_come_back_when_dropped() {
        let clients = Arc::new(Clients::default());
        let a: IpAddr = [10, 0, 0, 1].into();
        let b: IpAddr = [10, 0, 0, 2].into();
        let first = clients.admit(a, 2).expect("first");
        let second = clients.admit(a, 2).expect("second");
        assert!(clients.admit(a, 2).is_none(), "a third over the cap");
        assert!(clients.admit(b, 2).is_some(), "caps are per client");
        drop(first);
        assert!(clients.admit(a, 2).is_some(), "a slot came back");
        drop(second);
        assert!(
            clients.open.lock().unwrap().is_empty(),
            "idle clients are forgotten"
        );
    }
}
