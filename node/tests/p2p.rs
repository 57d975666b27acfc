//! The peer-to-peer transport on loopback: authenticated links form, frames of any size cross,
//! outsiders and bad bytes are refused without harming the others, and links come back.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use keel_crypto::{tagged_hash, Hash, Keypair, PublicKey};
use keel_node::p2p::handshake::{handshake, HandshakeContext, Role};
use keel_node::p2p::network::Inbound;
use keel_node::p2p::{P2p, P2pConfig, PeerInfo};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc::Receiver;

const WAIT: Duration = Duration::from_secs(20);

fn genesis() -> Hash {
    tagged_hash("keel/test/v1", b"genesis")
}

fn keys(n: u8) -> Vec<Keypair> {
    (0..n).map(|i| Keypair::from_secret_bytes(&[i + 1; 32])).collect()
}

fn config(keypair: &Keypair, peers: &[PeerInfo], genesis_hash: Hash) -> P2pConfig {
    P2pConfig {
        keypair: keypair.clone(),
        genesis_hash,
        peers: peers.to_vec(),
        frame_bytes_max: 4 * 1024 * 1024,
        peer_queue_len_max: 64,
        inbound_queue_len_max: 1024,
        reconnect_backoff_ms_min: 20,
        reconnect_backoff_ms_max: 200,
        handshake_timeout_ms: 2_000,
    }
}

struct Net {
    keys: Vec<Keypair>,
    peers: Vec<PeerInfo>,
    nodes: Vec<(P2p, Receiver<Inbound>)>,
}

async fn start(n: u8, adjust: impl Fn(usize, &mut P2pConfig)) -> Net {
    let keys = keys(n);
    let mut listeners = Vec::new();
    for _ in 0..n {
        listeners.push(TcpListener::bind("127.0.0.1:0").await.unwrap());
    }
    let peers: Vec<PeerInfo> = keys
        .iter()
        .zip(&listeners)
        .map(|(k, l)| PeerInfo { public_key: k.public(), address: l.local_addr().unwrap().to_string() })
        .collect();
    let nodes = listeners
        .into_iter()
        .enumerate()
        .map(|(i, listener)| {
            let mut config = config(&keys[i], &peers, genesis());
            adjust(i, &mut config);
            P2p::start(listener, config)
        })
        .collect();
    Net { keys, peers, nodes }
}

async fn until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !condition() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn receive(inbound: &mut Receiver<Inbound>) -> Inbound {
    tokio::time::timeout(WAIT, inbound.recv()).await.expect("a frame arrives in time").expect("channel open")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validators_connect_and_exchange_frames_of_any_size() {
    let mut net = start(3, |_, _| {}).await;
    for (p2p, _) in &net.nodes {
        until("all links are up", || p2p.connected_peers().len() == 2).await;
    }
    let sizes = [0usize, 1, 65_515, 65_516, 1_000_000];
    for (i, size) in sizes.iter().enumerate() {
        let payload: Vec<u8> = (0..*size).map(|b| (b * 7 + i) as u8).collect();
        assert!(net.nodes[0].0.send(&net.keys[2].public(), Arc::new(payload.clone())));
        let (from, got) = receive(&mut net.nodes[2].1).await;
        assert_eq!(from, net.keys[0].public());
        assert_eq!(got, payload, "frame of {size} bytes");
    }
    net.nodes[2].0.broadcast(Arc::new(b"hello all".to_vec()));
    for node in [0, 1] {
        let (from, got) = receive(&mut net.nodes[node].1).await;
        assert_eq!((from, got.as_slice()), (net.keys[2].public(), &b"hello all"[..]));
    }
}

/// Connects to `address` as a client with `keypair` and `genesis_hash`, returning the error if
/// the other side refuses or closes.
async fn try_handshake(address: &str, keypair: &Keypair, genesis_hash: Hash, expected: PublicKey) -> bool {
    let stream = TcpStream::connect(address).await.unwrap();
    let (reader, writer) = stream.into_split();
    let allowed = [expected].into();
    let context = HandshakeContext { keypair, genesis_hash, allowed: &allowed, frame_bytes_max: 1024 };
    let Ok((_, mut frames_in, _)) = handshake(reader, writer, Role::Dialer, Some(expected), &context).await else {
        return false;
    };
    // The listener checks our hello after sending its own; a refusal shows as a closed link.
    frames_in.read_frame().await.is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outsiders_other_chains_and_garbage_are_refused_without_harm() {
    let mut net = start(2, |_, _| {}).await;
    let (server, client) = if net.keys[0].public() > net.keys[1].public() { (0, 1) } else { (1, 0) };
    until("the link is up", || net.nodes[server].0.connected_peers().len() == 1).await;
    let address = net.peers[server].address.clone();
    let server_key = net.keys[server].public();
    let failed_before = net.nodes[server].0.metrics().handshakes_failed.load(Ordering::Relaxed);

    let outsider = Keypair::from_secret_bytes(&[99; 32]);
    assert!(!try_handshake(&address, &outsider, genesis(), server_key).await, "unknown key refused");
    let wrong_chain = tagged_hash("keel/test/v1", b"other");
    assert!(!try_handshake(&address, &net.keys[client], wrong_chain, server_key).await, "other genesis refused");
    let mut junk = TcpStream::connect(&address).await.unwrap();
    junk.write_all(&[0xff; 4096]).await.unwrap();
    drop(junk);

    let metrics = net.nodes[server].0.metrics();
    until("the three refusals are counted", || metrics.handshakes_failed.load(Ordering::Relaxed) >= failed_before + 3)
        .await;
    assert!(net.nodes[client].0.send(&server_key, Arc::new(b"still here".to_vec())));
    let (_, got) = receive(&mut net.nodes[server].1).await;
    assert_eq!(got, b"still here", "the genuine link kept working");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_frame_closes_the_link_which_then_comes_back() {
    let mut net = start(2, |i, config| {
        if i == 1 {
            config.frame_bytes_max = 1024;
        }
    })
    .await;
    until("the link is up", || net.nodes[0].0.connected_peers().len() == 1).await;
    let to_small = net.keys[1].public();
    let closed_before = net.nodes[1].0.metrics().connections_closed.load(Ordering::Relaxed);
    assert!(net.nodes[0].0.send(&to_small, Arc::new(vec![0; 2048])));
    let metrics = net.nodes[1].0.metrics();
    until("the oversized frame closes the link", || metrics.connections_closed.load(Ordering::Relaxed) > closed_before)
        .await;
    until("the link is back", || net.nodes[1].0.connected_peers().len() == 1).await;
    let mut delivered = false;
    for _ in 0..50 {
        net.nodes[0].0.send(&to_small, Arc::new(b"small".to_vec()));
        if let Ok(Some((_, got))) = tokio::time::timeout(Duration::from_millis(200), net.nodes[1].1.recv()).await {
            assert_eq!(got, b"small");
            delivered = true;
            break;
        }
    }
    assert!(delivered, "small frames flow again after the reconnect");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_peer_fills_its_queue_and_further_frames_are_dropped_not_blocked() {
    let keys = keys(2);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    // The peer's address accepts nothing: bind a port and close it again.
    let dead = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap().to_string();
    let peers = vec![
        PeerInfo { public_key: keys[0].public(), address: listener.local_addr().unwrap().to_string() },
        PeerInfo { public_key: keys[1].public(), address: dead },
    ];
    let mut cfg = config(&keys[0], &peers, genesis());
    cfg.peer_queue_len_max = 8;
    let (p2p, _inbound) = P2p::start(listener, cfg);
    let accepted = (0..20).filter(|_| p2p.send(&keys[1].public(), Arc::new(vec![1; 100]))).count();
    assert_eq!(accepted, 8, "the queue holds exactly its limit");
    assert_eq!(p2p.metrics().frames_dropped.load(Ordering::Relaxed), 12);
    assert!(!p2p.send(&Keypair::from_secret_bytes(&[42; 32]).public(), Arc::new(vec![])), "unknown peer");
    p2p.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_come_back_after_a_peer_restarts() {
    let mut net = start(2, |_, _| {}).await;
    until("the link is up", || net.nodes[0].0.connected_peers().len() == 1).await;
    let (p2p1, _) = net.nodes.remove(1);
    p2p1.shutdown();
    until("node 0 sees the link drop", || net.nodes[0].0.connected_peers().is_empty()).await;

    let address = net.peers[1].address.clone();
    let listener = loop {
        match TcpListener::bind(&address).await {
            Ok(listener) => break listener,
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    };
    let (restarted, mut inbound) = P2p::start(listener, config(&net.keys[1], &net.peers, genesis()));
    until("the link is back", || restarted.connected_peers().len() == 1).await;
    assert!(net.nodes[0].0.send(&net.keys[1].public(), Arc::new(b"welcome back".to_vec())));
    let (from, got) = receive(&mut inbound).await;
    assert_eq!((from, got.as_slice()), (net.keys[0].public(), &b"welcome back"[..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disconnected_peer_is_dropped_and_then_comes_back() {
    let net = start(2, |_, _| {}).await;
    until("the link is up", || net.nodes[0].0.connected_peers().len() == 1).await;
    let metrics = net.nodes[0].0.metrics();
    let closed_before = metrics.connections_closed.load(Ordering::Relaxed);
    net.nodes[0].0.disconnect(&net.keys[1].public());
    assert!(metrics.connections_closed.load(Ordering::Relaxed) > closed_before, "the close is counted");
    until("the link is back", || {
        net.nodes[0].0.connected_peers().len() == 1 && net.nodes[1].0.connected_peers().len() == 1
    })
    .await;
}
