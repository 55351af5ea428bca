//! A loopback TCP proxy in front of a test server whose open connections
//! can be stalled: their bytes stop flowing both ways while both sockets
//! stay open, as when segments are lost for good or a middlebox forgets
//! the flow. Nothing is refused or reset, so a client learns of it only by
//! its own deadlines; connections opened after the stall flow normally,
//! which is what a client that gives up on a stalled connection gets.
//!
//! Two narrower faults: [`StallProxy::stall_replies`] lets requests reach
//! the server but holds its answers (a request applied, its reply lost),
//! and [`StallProxy::cut`] stalls every connection, present and future (a
//! node cut from the server).

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

/// What the proxy does to connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Mode {
    /// Moves on each stall: connections open then stop both ways.
    stalls: u64,
    /// Moves on each reply stall: connections open then stop answering.
    reply_stalls: u64,
    /// Every connection, new ones too, moves nothing.
    cut: bool,
    /// Every connection, new ones too, carries requests but no replies.
    replies_held: bool,
}

/// The proxy; it stops (and drops every connection) when dropped.
pub struct StallProxy {
    /// `http://127.0.0.1:<port>`: where clients connect instead of the server.
    pub url: String,
    mode: watch::Sender<Mode>,
    task: JoinHandle<()>,
}

impl StallProxy {
    /// Listens on a fresh loopback port and forwards to `127.0.0.1:<port>`.
    pub async fn start(port: u16) -> StallProxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the stall proxy");
        let url = format!("http://{}", listener.local_addr().expect("proxy address"));
        let (mode, _) = watch::channel(Mode::default());
        let task = tokio::spawn(accept(listener, port, mode.clone()));
        StallProxy { url, mode, task }
    }

    /// Stalls every connection open now, for good.
    pub fn stall(&self) {
        self.mode.send_modify(|m| m.stalls += 1);
    }

    /// Every connection open now keeps carrying requests to the server but
    /// no longer carries its answers back, for good.
    pub fn stall_replies(&self) {
        self.mode.send_modify(|m| m.reply_stalls += 1);
    }

    /// Every connection, open now or opened later, carries requests but no
    /// replies, until [`StallProxy::release_replies`].
    pub fn hold_replies(&self) {
        self.mode.send_modify(|m| m.replies_held = true);
    }

    /// Lets connections opened from now on carry replies again (the ones
    /// held stay held).
    pub fn release_replies(&self) {
        self.mode.send_modify(|m| m.replies_held = false);
    }

    /// Stalls every connection, open now or opened later, until
    /// [`StallProxy::mend`].
    pub fn cut(&self) {
        self.mode.send_modify(|m| m.cut = true);
    }

    /// Lets new connections flow again after a [`StallProxy::cut`] (the
    /// ones it stalled stay stalled).
    pub fn mend(&self) {
        self.mode.send_modify(|m| m.cut = false);
    }
}

impl Drop for StallProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept(listener: TcpListener, port: u16, mode: watch::Sender<Mode>) {
    // Owned here, so aborting this task closes every connection.
    let mut conns = JoinSet::new();
    while let Ok((down, _)) = listener.accept().await {
        // Subscribed at accept: only a stall after this moment stops it.
        conns.spawn(forward(down, port, mode.subscribe()));
    }
}

async fn forward(down: TcpStream, port: u16, mode: watch::Receiver<Mode>) {
    let at_start = *mode.borrow();
    if at_start.cut {
        // Hold it open and move nothing.
        let _down = down;
        return std::future::pending().await;
    }
    let Ok(up) = TcpStream::connect(("127.0.0.1", port)).await else {
        return;
    };
    let (down_r, down_w) = down.into_split();
    let (up_r, up_w) = up.into_split();
    tokio::join!(
        pump(down_r, up_w, mode.clone(), at_start, false),
        pump(up_r, down_w, mode, at_start, true),
    );
}

/// Copies `src` to `dst` until either closes, or until a stall (a reply
/// stall, for the direction that carries `replies`) since `at_start`:
/// then both halves are held open and nothing moves, for good.
async fn pump<R, W>(
    mut src: R,
    mut dst: W,
    mut mode: watch::Receiver<Mode>,
    at_start: Mode,
    replies: bool,
) where
    R: AsyncReadExt + Unpin,
    W: AsyncWriteExt + Unpin,
{
    let stalled = |m: &Mode| {
        m.stalls != at_start.stalls
            || m.cut
            || (replies && (m.reply_stalls != at_start.reply_stalls || m.replies_held))
    };
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        if stalled(&mode.borrow_and_update()) {
            let _held = (src, dst);
            return std::future::pending().await;
        }
        tokio::select! {
            r = mode.changed() => if r.is_err() { return },
            n = src.read(&mut buf) => match n {
                Ok(0) | Err(_) => {
                    let _ = dst.shutdown().await;
                    return;
                }
                Ok(n) => if dst.write_all(&buf[..n]).await.is_err() { return },
            },
        }
    }
}
