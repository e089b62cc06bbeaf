//! A loopback TCP proxy a test controls: it stands between a service and a dependency
//! (RabbitMQ, Postgres) so the test can cut the link (live connections closed, new ones
//! refused) and restore it on the same port, as a network partition or a restart would.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

pub struct TcpProxy {
    pub addr: SocketAddr,
    upstream: SocketAddr,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl TcpProxy {
    /// A proxy to `upstream` on an ephemeral loopback port, accepting at once.
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding the proxy");
        let proxy = Self {
            addr: listener.local_addr().expect("a bound proxy has an address"),
            upstream,
            tasks: Arc::new(Mutex::new(Vec::new())),
        };
        proxy.accept_on(listener, true);
        proxy
    }

    /// Accepts on `listener`; forwards each connection, or (`forward` false) holds it open
    /// without a byte either way, as a hung dependency would.
    fn accept_on(&self, listener: TcpListener, forward: bool) {
        let (upstream, tasks) = (self.upstream, Arc::clone(&self.tasks));
        let acceptor = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let connection = tokio::spawn(async move {
                    if !forward {
                        std::future::pending::<()>().await;
                    }
                    if let Ok(mut server) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                tasks.lock().unwrap().push(connection);
            }
        });
        self.tasks.lock().unwrap().push(acceptor);
    }

    /// Closes every live connection and stops listening: connections are refused until
    /// [`restore`](Self::restore).
    pub fn cut(&self) {
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
    }

    /// Listens again on the same port.
    pub async fn restore(&self) {
        self.listen_again(true).await;
    }

    /// Closes every live connection, then accepts new ones but never answers: calls through
    /// the proxy hang until their deadline.
    pub async fn stall(&self) {
        self.cut();
        self.listen_again(false).await;
    }

    async fn listen_again(&self, forward: bool) {
        // The aborted acceptor drops its listener asynchronously: retry the bind briefly.
        for _ in 0..100 {
            if let Ok(listener) = TcpListener::bind(self.addr).await {
                self.accept_on(listener, forward);
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("the proxy could not listen on {} again", self.addr);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.cut();
    }
}
