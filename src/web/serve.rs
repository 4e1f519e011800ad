//! The web server's accept loop: hyper's HTTP/1 connection driver under limits that axum's
//! `serve` does not have, so that nothing a client does can take files, memory or time away
//! from the checks.
//!
//! - **Connection cap** (`web.max_connections`, and never more than a quarter of the open-file
//!   limit): a connection over the cap is closed at once. Probes, the store and channels
//!   always keep the rest of the file descriptors.
//! - **Header timeout** (`web.header_timeout`): a request's headers must arrive within it (a
//!   client trickling header bytes is cut off); an idle keep-alive connection waiting for its
//!   next request is closed after it too.
//! - **Idle timeout** (`web.idle_timeout`): a connection that neither sends nor receives a
//!   byte for this long (a stalled body, a client that stopped reading) is closed.
//! - Accept errors (out of file descriptors) back off briefly; the loop never ends on them.

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};
use tokio::task::JoinSet;

/// The limits one server runs under.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub max_connections: usize,
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
}

/// Connection figures for `/metrics`.
#[derive(Debug, Default)]
pub struct ConnStats {
    pub(crate) open: AtomicU64,
    pub(crate) refused: AtomicU64,
    pub(crate) timed_out: AtomicU64,
    pub(crate) max: AtomicU64,
}

/// At most one warning this often for a repeated condition (a flood must not flood the log).
const WARN_EVERY: Duration = Duration::from_secs(10);

/// The share of the open-file limit web connections may take, at most.
const FD_SHARE: u64 = 4;

/// `configured`, but no more than a quarter of the open-file limit (and at least 1).
pub(crate) fn effective_cap(configured: usize, open_files: u64) -> usize {
    let share = usize::try_from(open_files / FD_SHARE).unwrap_or(usize::MAX);
    configured.min(share).max(1)
}

/// Serves `router` on `listener` until `stop` fires (or the task is aborted, which drops every
/// connection with it).
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    stats: Arc<ConnStats>,
    mut stop: oneshot::Receiver<()>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    stats
        .max
        .store(limits.max_connections as u64, Ordering::Relaxed);
    let mut conns = JoinSet::new();
    let mut warned_full: Option<Instant> = None;
    let mut warned_accept: Option<Instant> = None;
    let due = |last: &mut Option<Instant>| {
        let now = Instant::now();
        let due = last.is_none_or(|t| now.duration_since(t) >= WARN_EVERY);
        if due {
            *last = Some(now);
        }
        due
    };
    loop {
        tokio::select! {
            _ = &mut stop => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => match slots.clone().try_acquire_owned() {
                    Ok(permit) => {
                        conns.spawn(serve_one(stream, router.clone(), limits, permit, stats.clone()));
                    }
                    Err(_) => {
                        // Closed at once: the cap keeps file descriptors for the checks.
                        drop(stream);
                        stats.refused.fetch_add(1, Ordering::Relaxed);
                        if due(&mut warned_full) {
                            tracing::warn!(
                                max_connections = limits.max_connections,
                                "web: connection limit reached; closing new connections"
                            );
                        }
                    }
                },
                Err(e) => {
                    // Out of file descriptors, or a connection reset before it was taken:
                    // wait a little rather than spin, and keep serving.
                    if due(&mut warned_accept) {
                        tracing::warn!("web: cannot accept a connection: {e}");
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
    conns.shutdown().await;
}

/// One connection: HTTP/1 with the header timeout, closed when idle for `idle_timeout`.
async fn serve_one(
    stream: TcpStream,
    router: Router,
    limits: Limits,
    _slot: OwnedSemaphorePermit,
    stats: Arc<ConnStats>,
) {
    stats.open.fetch_add(1, Ordering::Relaxed);
    let epoch = Instant::now();
    let last = Arc::new(AtomicU64::new(0));
    let io = TokioIo::new(Tracked {
        inner: stream,
        epoch,
        last: last.clone(),
    });
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    let conn = http.serve_connection(io, TowerToHyperService::new(router));
    tokio::pin!(conn);
    loop {
        let quiet = epoch
            .elapsed()
            .saturating_sub(Duration::from_millis(last.load(Ordering::Relaxed)));
        let wait = limits.idle_timeout.saturating_sub(quiet);
        tokio::select! {
            done = conn.as_mut() => {
                if let Err(e) = done {
                    if e.is_timeout() {
                        stats.timed_out.fetch_add(1, Ordering::Relaxed);
                    }
                    tracing::debug!("web: connection ended: {e}");
                }
                break;
            }
            _ = tokio::time::sleep(wait) => {
                let quiet = epoch
                    .elapsed()
                    .saturating_sub(Duration::from_millis(last.load(Ordering::Relaxed)));
                if quiet >= limits.idle_timeout {
                    stats.timed_out.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!("web: closing a connection idle for {quiet:?}");
                    break;
                }
            }
        }
    }
    stats.open.fetch_sub(1, Ordering::Relaxed);
}

/// A stream that notes when it last moved a byte (ms since `epoch`).
struct Tracked {
    inner: TcpStream,
    epoch: Instant,
    last: Arc<AtomicU64>,
}

impl Tracked {
    fn touch(&self) {
        let ms = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last.store(ms, Ordering::Relaxed);
    }
}

impl AsyncRead for Tracked {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let r = Pin::new(&mut this.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.touch();
        }
        r
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write(cx, data);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            this.touch();
        }
        r
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            this.touch();
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_leaves_three_quarters_of_the_files() {
        assert_eq!(effective_cap(256, 1024), 256);
        assert_eq!(effective_cap(256, 512), 128);
        assert_eq!(effective_cap(5000, 20_000), 5000);
        assert_eq!(effective_cap(256, 2), 1);
        assert_eq!(effective_cap(0, 1024), 1);
    }
}
