//! The connection manager: listens, dials, keeps one authenticated link per validator, and moves
//! frames between the links and the node (see the module above for the rules).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use keel_crypto::{Hash, Keypair, PublicKey};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::AbortHandle;
use tracing::{debug, info, warn};

use super::frame::{FrameReader, FrameWriter};
use super::handshake::{handshake, HandshakeContext, Role};

/// A frame to send, shared between the queues of all peers it is broadcast to.
pub type Frame = Arc<Vec<u8>>;
/// A frame received, with the verified key of the peer it came from.
pub type Inbound = (PublicKey, Vec<u8>);

/// A validator to connect to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerInfo {
    /// Its key, checked in the handshake.
    pub public_key: PublicKey,
    /// `host:port` to dial.
    pub address: String,
}

/// Settings of the transport.
#[derive(Debug, Clone)]
pub struct P2pConfig {
    /// Our validator key.
    pub keypair: Keypair,
    /// Our chain: peers on another genesis are refused.
    pub genesis_hash: Hash,
    /// The other validators.
    pub peers: Vec<PeerInfo>,
    /// Largest frame accepted, in bytes.
    pub frame_bytes_max: usize,
    /// Frames queued for one peer before new ones are dropped.
    pub peer_queue_len_max: usize,
    /// Frames received from all peers and not yet taken by the node before readers wait.
    pub inbound_queue_len_max: usize,
    /// First wait before redialing, in ms; doubles up to the max.
    pub reconnect_backoff_ms_min: u64,
    /// Longest wait before redialing, in ms.
    pub reconnect_backoff_ms_max: u64,
    /// Time allowed for connecting plus the handshake, in ms.
    pub handshake_timeout_ms: u64,
}

/// Counters of the transport, read by the metrics endpoint.
#[derive(Debug, Default)]
pub struct P2pMetrics {
    /// Frames handed to a connection's socket.
    pub frames_sent: AtomicU64,
    /// Frames received and passed to the node.
    pub frames_received: AtomicU64,
    /// Frames dropped because the peer's queue was full.
    pub frames_dropped: AtomicU64,
    /// Handshakes that failed or were refused.
    pub handshakes_failed: AtomicU64,
    /// Connections closed because of a bad or oversized frame or a socket error.
    pub connections_closed: AtomicU64,
    /// Connections established.
    pub connections_opened: AtomicU64,
}

struct PeerSlot {
    info: PeerInfo,
    queue: mpsc::Sender<Frame>,
    /// Taken by whichever connection to this peer is current.
    queue_receiver: tokio::sync::Mutex<mpsc::Receiver<Frame>>,
    connected: AtomicBool,
    /// The current connection's generation and task, so a newer one can replace it.
    current: Mutex<Option<(u64, AbortHandle)>>,
}

struct Inner {
    keypair: Keypair,
    genesis_hash: Hash,
    peers: BTreeMap<PublicKey, PeerSlot>,
    /// Peers that dial us: those whose key sorts below ours.
    inbound_allowed: BTreeSet<PublicKey>,
    inbound: mpsc::Sender<Inbound>,
    metrics: Arc<P2pMetrics>,
    frame_bytes_max: usize,
    backoff_ms: (u64, u64),
    handshake_timeout: Duration,
    next_generation: AtomicU64,
    tasks: Mutex<Vec<AbortHandle>>,
}

/// A running transport. Dropping it does not stop it; call [`P2p::shutdown`].
#[derive(Clone)]
pub struct P2p {
    inner: Arc<Inner>,
}

impl P2p {
    /// Starts listening on `listener` and dialing the peers this node dials. Returns the handle
    /// and the channel of inbound frames.
    pub fn start(listener: TcpListener, config: P2pConfig) -> (P2p, mpsc::Receiver<Inbound>) {
        assert!(config.peer_queue_len_max > 0 && config.inbound_queue_len_max > 0, "queues hold at least one frame");
        assert!(config.reconnect_backoff_ms_min > 0, "back-off starts above zero");
        assert!(config.reconnect_backoff_ms_min <= config.reconnect_backoff_ms_max, "back-off range is ordered");
        let own = config.keypair.public();
        let (inbound, inbound_receiver) = mpsc::channel(config.inbound_queue_len_max);
        let peers: BTreeMap<PublicKey, PeerSlot> = config
            .peers
            .iter()
            .filter(|p| p.public_key != own)
            .map(|info| {
                let (queue, receiver) = mpsc::channel(config.peer_queue_len_max);
                let slot = PeerSlot {
                    info: info.clone(),
                    queue,
                    queue_receiver: tokio::sync::Mutex::new(receiver),
                    connected: AtomicBool::new(false),
                    current: Mutex::new(None),
                };
                (info.public_key, slot)
            })
            .collect();
        let inbound_allowed = peers.keys().filter(|k| **k < own).copied().collect();
        let inner = Arc::new(Inner {
            keypair: config.keypair,
            genesis_hash: config.genesis_hash,
            peers,
            inbound_allowed,
            inbound,
            metrics: Arc::new(P2pMetrics::default()),
            frame_bytes_max: config.frame_bytes_max,
            backoff_ms: (config.reconnect_backoff_ms_min, config.reconnect_backoff_ms_max),
            handshake_timeout: Duration::from_millis(config.handshake_timeout_ms),
            next_generation: AtomicU64::new(0),
            tasks: Mutex::new(Vec::new()),
        });
        let mut tasks = vec![tokio::spawn(accept_loop(inner.clone(), listener)).abort_handle()];
        for key in inner.peers.keys().filter(|k| **k > own) {
            tasks.push(tokio::spawn(dial_loop(inner.clone(), *key)).abort_handle());
        }
        inner.tasks.lock().expect("task list lock").extend(tasks);
        (P2p { inner }, inbound_receiver)
    }

    /// Queues `frame` for `peer`. Returns false, and counts a drop, if the peer is unknown or its
    /// queue is full.
    pub fn send(&self, peer: &PublicKey, frame: Frame) -> bool {
        let Some(slot) = self.inner.peers.get(peer) else {
            return false;
        };
        match slot.queue.try_send(frame) {
            Ok(()) => true,
            Err(_) => {
                self.inner.metrics.frames_dropped.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }

    /// Queues `frame` for every peer.
    pub fn broadcast(&self, frame: Frame) {
        for key in self.inner.peers.keys() {
            self.send(key, frame.clone());
        }
    }

    /// Peers with a live authenticated connection.
    pub fn connected_peers(&self) -> Vec<PublicKey> {
        self.inner.peers.iter().filter(|(_, s)| s.connected.load(Ordering::Relaxed)).map(|(k, _)| *k).collect()
    }

    /// The transport's counters.
    pub fn metrics(&self) -> Arc<P2pMetrics> {
        self.inner.metrics.clone()
    }

    /// Closes the current connection to `peer` (for instance after it sent a frame that does
    /// not decode); it is redialed or accepted again as usual, after the back-off.
    pub fn disconnect(&self, peer: &PublicKey) {
        let Some(slot) = self.inner.peers.get(peer) else { return };
        if let Some((_, task)) = slot.current.lock().expect("slot lock").take() {
            task.abort();
            slot.connected.store(false, Ordering::Relaxed);
            self.inner.metrics.connections_closed.fetch_add(1, Ordering::Relaxed);
            info!(peer = %peer, "p2p connection closed by the node");
        }
    }

    /// Stops listening, dialing and every connection.
    pub fn shutdown(&self) {
        for task in self.inner.tasks.lock().expect("task list lock").drain(..) {
            task.abort();
        }
        for slot in self.inner.peers.values() {
            if let Some((_, task)) = slot.current.lock().expect("slot lock").take() {
                task.abort();
            }
        }
    }
}

async fn accept_loop(inner: Arc<Inner>, listener: TcpListener) {
    loop {
        let (stream, remote) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                // Usually out of file descriptors: wait rather than spin.
                warn!(%error, "p2p accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let inner = inner.clone();
        tokio::spawn(async move {
            let context = HandshakeContext {
                keypair: &inner.keypair,
                genesis_hash: inner.genesis_hash,
                allowed: &inner.inbound_allowed,
                frame_bytes_max: inner.frame_bytes_max,
            };
            let _ = stream.set_nodelay(true);
            let (reader, writer) = stream.into_split();
            let result = tokio::time::timeout(
                inner.handshake_timeout,
                handshake(reader, writer, Role::Listener, None, &context),
            )
            .await;
            match result {
                Ok(Ok((peer, frames_in, frames_out))) => {
                    start_connection(&inner, peer, frames_in, frames_out);
                }
                Ok(Err(error)) => {
                    inner.metrics.handshakes_failed.fetch_add(1, Ordering::Relaxed);
                    debug!(%remote, %error, "p2p inbound handshake refused");
                }
                Err(_) => {
                    inner.metrics.handshakes_failed.fetch_add(1, Ordering::Relaxed);
                    debug!(%remote, "p2p inbound handshake timed out");
                }
            }
        });
    }
}

async fn dial_loop(inner: Arc<Inner>, peer: PublicKey) {
    let (backoff_min, backoff_max) = inner.backoff_ms;
    let mut backoff = backoff_min;
    let address = inner.peers[&peer].info.address.clone();
    loop {
        match tokio::time::timeout(inner.handshake_timeout, dial(&inner, peer, &address)).await {
            Ok(Ok(connection)) => {
                backoff = backoff_min;
                let finished = start_connection(&inner, peer, connection.0, connection.1);
                let _ = finished.await;
            }
            Ok(Err(error)) => {
                inner.metrics.handshakes_failed.fetch_add(1, Ordering::Relaxed);
                debug!(peer = %peer, %address, %error, backoff_ms = backoff, "p2p dial failed");
            }
            Err(_) => debug!(peer = %peer, %address, backoff_ms = backoff, "p2p dial timed out"),
        }
        tokio::time::sleep(Duration::from_millis(backoff)).await;
        backoff = (backoff * 2).min(backoff_max);
    }
}

type Halves = (FrameReader<tokio::net::tcp::OwnedReadHalf>, FrameWriter<tokio::net::tcp::OwnedWriteHalf>);

async fn dial(inner: &Inner, peer: PublicKey, address: &str) -> anyhow::Result<Halves> {
    let stream = TcpStream::connect(address).await?;
    stream.set_nodelay(true)?;
    let (reader, writer) = stream.into_split();
    let allowed = BTreeSet::from([peer]);
    let context = HandshakeContext {
        keypair: &inner.keypair,
        genesis_hash: inner.genesis_hash,
        allowed: &allowed,
        frame_bytes_max: inner.frame_bytes_max,
    };
    let (_, frames_in, frames_out) = handshake(reader, writer, Role::Dialer, Some(peer), &context).await?;
    Ok((frames_in, frames_out))
}

/// Runs an authenticated connection in its own task, replacing any older one to the same peer.
/// The returned receiver resolves when the connection ends.
fn start_connection(
    inner: &Arc<Inner>,
    peer: PublicKey,
    frames_in: FrameReader<tokio::net::tcp::OwnedReadHalf>,
    frames_out: FrameWriter<tokio::net::tcp::OwnedWriteHalf>,
) -> tokio::sync::oneshot::Receiver<()> {
    let (done, finished) = tokio::sync::oneshot::channel();
    let generation = inner.next_generation.fetch_add(1, Ordering::Relaxed);
    let task_inner = inner.clone();
    let task = tokio::spawn(async move {
        let reason = run_connection(&task_inner, peer, frames_in, frames_out).await;
        let slot = &task_inner.peers[&peer];
        let mut current = slot.current.lock().expect("slot lock");
        if current.as_ref().is_some_and(|(g, _)| *g == generation) {
            *current = None;
            slot.connected.store(false, Ordering::Relaxed);
        }
        drop(current);
        task_inner.metrics.connections_closed.fetch_add(1, Ordering::Relaxed);
        info!(peer = %peer, reason = %reason, "p2p connection closed");
        let _ = done.send(());
    });
    let slot = &inner.peers[&peer];
    let previous = slot.current.lock().expect("slot lock").replace((generation, task.abort_handle()));
    if let Some((_, old)) = previous {
        old.abort();
    }
    slot.connected.store(true, Ordering::Relaxed);
    inner.metrics.connections_opened.fetch_add(1, Ordering::Relaxed);
    info!(peer = %peer, "p2p connection established");
    finished
}

/// Moves frames both ways until either direction fails; returns why it ended.
async fn run_connection(
    inner: &Inner,
    peer: PublicKey,
    mut frames_in: FrameReader<tokio::net::tcp::OwnedReadHalf>,
    mut frames_out: FrameWriter<tokio::net::tcp::OwnedWriteHalf>,
) -> String {
    let slot = &inner.peers[&peer];
    let mut queue = slot.queue_receiver.lock().await;
    let reading = async {
        loop {
            let frame = match frames_in.read_frame().await {
                Ok(frame) => frame,
                Err(error) => return format!("read: {error}"),
            };
            inner.metrics.frames_received.fetch_add(1, Ordering::Relaxed);
            if inner.inbound.send((peer, frame)).await.is_err() {
                return "the node stopped taking frames".to_owned();
            }
        }
    };
    let writing = async {
        while let Some(frame) = queue.recv().await {
            if let Err(error) = frames_out.write_frame(&frame).await {
                return format!("write: {error}");
            }
            inner.metrics.frames_sent.fetch_add(1, Ordering::Relaxed);
        }
        "the outbound queue closed".to_owned()
    };
    tokio::select! {
        reason = reading => reason,
        reason = writing => reason,
    }
}
