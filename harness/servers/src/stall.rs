//! A loopback TCP proxy in front of a test server whose open connections
//! can be stalled: their bytes stop flowing both ways while both sockets
//! stay open, as when segments are lost for good or a middlebox forgets
//! the flow. Nothing is refused or reset, so a client learns of it only by
//! its own deadlines; connections opened after the stall flow normally,
//! which is what a client that gives up on a stalled connection gets.

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

/// The proxy; it stops (and drops every connection) when dropped.
pub struct StallProxy {
    /// `http://127.0.0.1:<port>`: where clients connect instead of the server.
    pub url: String,
    stalls: watch::Sender<()>,
    task: JoinHandle<()>,
}

impl StallProxy {
    /// Listens on a fresh loopback port and forwards to `127.0.0.1:<port>`.
    pub async fn start(port: u16) -> StallProxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the stall proxy");
        let url = format!("http://{}", listener.local_addr().expect("proxy address"));
        let (stalls, _) = watch::channel(());
        let task = tokio::spawn(accept(listener, port, stalls.clone()));
        StallProxy { url, stalls, task }
    }

    /// Stalls every connection open now, for good.
    pub fn stall(&self) {
        // A watch wakes every receiver on each send; the value says nothing.
        self.stalls.send_replace(());
    }
}

impl Drop for StallProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept(listener: TcpListener, port: u16, stalls: watch::Sender<()>) {
    // Owned here, so aborting this task closes every connection.
    let mut conns = JoinSet::new();
    while let Ok((down, _)) = listener.accept().await {
        // Subscribed at accept: only a stall after this moment stops it.
        conns.spawn(forward(down, port, stalls.subscribe()));
    }
}

async fn forward(mut down: TcpStream, port: u16, mut stall: watch::Receiver<()>) {
    let Ok(mut up) = TcpStream::connect(("127.0.0.1", port)).await else {
        return;
    };
    let stalled = tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut down, &mut up) => false,
        r = stall.changed() => r.is_ok(),
    };
    if stalled {
        // Hold both sockets open and move nothing.
        std::future::pending::<()>().await;
    }
}
