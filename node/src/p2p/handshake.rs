//! The connection handshake: Noise NN for an encrypted channel, then signed hellos that bind both
//! validator identities and the genesis hash to it (see the wire protocol in the module above).

use std::collections::BTreeSet;

use borsh::{BorshDeserialize, BorshSerialize};
use keel_crypto::{Hash, Keypair, PublicKey, Signature, SigningDomain};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::frame::{self, FrameError, FrameReader, FrameWriter, NOISE_MESSAGE_BYTES_MAX};

/// The Noise protocol name.
pub const NOISE_PATTERN: &str = "Noise_NN_25519_ChaChaPoly_SHA256";
/// Mixed into the Noise handshake hash so that no other protocol's handshake can pass as ours.
pub const NOISE_PROLOGUE: &[u8] = b"keel/p2p/v1";
/// The wire protocol version in the hello.
pub const PROTOCOL_VERSION: u32 = 1;
/// A hello is small; anything longer is refused before it is read.
const HELLO_BYTES_MAX: usize = 1024;

/// Which end of the connection we are: it goes into the signed bytes so hellos cannot be
/// reflected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// We dialed.
    Dialer,
    /// We accepted.
    Listener,
}

impl Role {
    fn byte(self) -> u8 {
        match self {
            Role::Dialer => 0,
            Role::Listener => 1,
        }
    }

    fn other(self) -> Role {
        match self {
            Role::Dialer => Role::Listener,
            Role::Listener => Role::Dialer,
        }
    }
}

/// The first frame each side sends.
#[derive(Debug, Clone, BorshSerialize, BorshDeserialize)]
pub struct Hello {
    /// [`PROTOCOL_VERSION`].
    pub version: u32,
    /// The sender's genesis hash.
    pub genesis_hash: Hash,
    /// The sender's validator key.
    pub public_key: PublicKey,
    /// Over `handshake_hash ‖ genesis_hash ‖ role`, domain `keel/handshake/v1`.
    pub signature: Signature,
}

/// Why a peer was refused during the handshake.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    /// The socket, Noise or the framing failed.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// The hello did not decode.
    #[error("hello does not decode: {0}")]
    Decode(String),
    /// Another protocol version.
    #[error("peer speaks protocol version {theirs}, we speak {ours}")]
    Version {
        /// Theirs.
        theirs: u32,
        /// Ours.
        ours: u32,
    },
    /// Another chain.
    #[error("peer is on genesis {theirs}, we are on {ours}")]
    GenesisMismatch {
        /// Theirs.
        theirs: Hash,
        /// Ours.
        ours: Hash,
    },
    /// Not a validator of this chain, or ourselves.
    #[error("peer key {0} is not an allowed peer")]
    UnknownPeer(String),
    /// The dialed address answered with another validator's key.
    #[error("dialed {expected} but {actual} answered")]
    WrongPeer {
        /// Whom we meant to reach (hex key).
        expected: String,
        /// Who answered (hex key).
        actual: String,
    },
    /// The hello's signature does not verify.
    #[error("peer {0}'s hello signature does not verify")]
    BadSignature(String),
}

/// What the handshake needs to know about us and whom we accept.
pub struct HandshakeContext<'a> {
    /// Our key.
    pub keypair: &'a Keypair,
    /// Our genesis hash.
    pub genesis_hash: Hash,
    /// Keys we accept a connection from (never our own).
    pub allowed: &'a BTreeSet<PublicKey>,
    /// Largest frame accepted after the handshake.
    pub frame_bytes_max: usize,
}

/// A finished handshake: the peer's verified identity and the two halves of the encrypted link.
pub type Established<R, W> = (PublicKey, FrameReader<R>, FrameWriter<W>);

/// Runs the handshake on a connected socket's halves. `expected` is the peer a dialer meant to
/// reach.
pub async fn handshake<R, W>(
    mut reader: R,
    mut writer: W,
    role: Role,
    expected: Option<PublicKey>,
    context: &HandshakeContext<'_>,
) -> Result<Established<R, W>, HandshakeError>
where
    R: AsyncReadExt + Unpin,
    W: AsyncWriteExt + Unpin,
{
    let builder =
        snow::Builder::new(NOISE_PATTERN.parse().expect("a valid Noise pattern name")).prologue(NOISE_PROLOGUE);
    let builder = builder.map_err(FrameError::from)?;
    let mut noise = match role {
        Role::Dialer => builder.build_initiator(),
        Role::Listener => builder.build_responder(),
    }
    .map_err(FrameError::from)?;
    let mut message = vec![0u8; NOISE_MESSAGE_BYTES_MAX];
    let mut payload = vec![0u8; NOISE_MESSAGE_BYTES_MAX];
    // NN: -> e, then <- e, ee.
    for step in 0..2 {
        let we_write = (step == 0) == (role == Role::Dialer);
        if we_write {
            let length = noise.write_message(&[], &mut message).map_err(FrameError::from)?;
            frame::write_noise_message(&mut writer, &message[..length]).await.map_err(FrameError::from)?;
            writer.flush().await.map_err(FrameError::from)?;
        } else {
            let length = frame::read_noise_message(&mut reader, &mut message).await.map_err(FrameError::from)?;
            noise.read_message(&message[..length], &mut payload).map_err(FrameError::from)?;
        }
    }
    let handshake_hash = Hash::try_from_slice(noise.get_handshake_hash()).expect("SHA-256 handshake hash is 32 bytes");
    let transport = noise.into_transport_mode().map_err(FrameError::from)?;
    let (mut frames_in, mut frames_out) = frame::split(reader, writer, transport, HELLO_BYTES_MAX);

    let ours = Hello {
        version: PROTOCOL_VERSION,
        genesis_hash: context.genesis_hash,
        public_key: context.keypair.public(),
        signature: context
            .keypair
            .sign(SigningDomain::Handshake, &signed_bytes(&handshake_hash, &context.genesis_hash, role)),
    };
    frames_out.write_frame(&borsh::to_vec(&ours).expect("borsh into a Vec cannot fail")).await?;
    let theirs_bytes = frames_in.read_frame().await?;
    let theirs = Hello::try_from_slice(&theirs_bytes).map_err(|e| HandshakeError::Decode(e.to_string()))?;
    verify_hello(&theirs, &handshake_hash, role.other(), expected, context)?;
    frames_in.set_frame_bytes_max(context.frame_bytes_max);
    Ok((theirs.public_key, frames_in, frames_out))
}

fn signed_bytes(handshake_hash: &Hash, genesis_hash: &Hash, role: Role) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(65);
    bytes.extend_from_slice(handshake_hash.as_bytes());
    bytes.extend_from_slice(genesis_hash.as_bytes());
    bytes.push(role.byte());
    bytes
}

fn verify_hello(
    hello: &Hello,
    handshake_hash: &Hash,
    their_role: Role,
    expected: Option<PublicKey>,
    context: &HandshakeContext<'_>,
) -> Result<(), HandshakeError> {
    if hello.version != PROTOCOL_VERSION {
        return Err(HandshakeError::Version { theirs: hello.version, ours: PROTOCOL_VERSION });
    }
    if hello.genesis_hash != context.genesis_hash {
        return Err(HandshakeError::GenesisMismatch { theirs: hello.genesis_hash, ours: context.genesis_hash });
    }
    if hello.public_key == context.keypair.public() || !context.allowed.contains(&hello.public_key) {
        return Err(HandshakeError::UnknownPeer(hello.public_key.to_string()));
    }
    if let Some(expected) = expected {
        if expected != hello.public_key {
            return Err(HandshakeError::WrongPeer {
                expected: expected.to_string(),
                actual: hello.public_key.to_string(),
            });
        }
    }
    let message = signed_bytes(handshake_hash, &hello.genesis_hash, their_role);
    hello
        .public_key
        .verify(SigningDomain::Handshake, &message, &hello.signature)
        .map_err(|_| HandshakeError::BadSignature(hello.public_key.to_string()))
}
