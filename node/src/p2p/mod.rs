//! Peer-to-peer transport: authenticated, encrypted, length-framed links between validators.
//!
//! ## Wire protocol (version 1)
//!
//! 1. **Noise.** Over a fresh TCP connection the dialer and the listener run the Noise handshake
//!    `Noise_NN_25519_ChaChaPoly_SHA256` with prologue `keel/p2p/v1`. Each handshake message is
//!    sent as a 2-byte big-endian length and the message. NN uses fresh ephemeral keys only, so
//!    the session keys are forward-secret; identities come next.
//! 2. **Hello.** Each side sends one frame (below) holding the borsh encoding of
//!    [`Hello`](handshake::Hello): protocol version, genesis hash, its ed25519 public key, and a
//!    signature in the `keel/handshake/v1` domain over
//!    `noise_handshake_hash ‖ genesis_hash ‖ role` (role 0 for the dialer, 1 for the listener).
//!    The handshake hash is unique to this session and covers both ephemeral keys, so the
//!    signature proves the key holder is the other end of *this* encrypted channel: it cannot be
//!    replayed into another session or relayed by a man in the middle, and the role byte stops a
//!    peer from reflecting our own hello back. A side refuses a peer whose genesis hash differs,
//!    whose key is not in the validator set (or is its own), whose signature fails, or — for the
//!    dialer — whose key is not the one it meant to reach.
//! 3. **Frames.** Every application message is a frame: a 4-byte big-endian length followed by
//!    that many bytes, the whole split into Noise transport messages of at most 65,535 bytes,
//!    each on the wire as a 2-byte length and the ciphertext. A frame longer than the configured
//!    `frame_bytes_max` closes the connection before any of it is buffered.
//!
//! ## Connections
//!
//! One connection per pair of validators: the side whose public key sorts lower dials, the
//! other only listens, so the two never race to connect. A lost connection is redialed with
//! exponential back-off up to a cap. Each peer has a bounded outbound queue; when it is full the
//! message is dropped and counted, so a slow or dead peer never stalls the sender (consensus
//! recovers lost messages through timeouts and block sync). Inbound frames from all peers go to
//! one bounded channel, which the node drains.

pub mod frame;
pub mod handshake;
pub mod network;

pub use network::{P2p, P2pConfig, P2pMetrics, PeerInfo};
