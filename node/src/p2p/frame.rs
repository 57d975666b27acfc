//! Length-prefixed frames over a Noise transport (see the wire protocol in the module above).

use std::io;

use snow::TransportState;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Largest Noise message, ciphertext included (the Noise specification's limit).
pub const NOISE_MESSAGE_BYTES_MAX: usize = 65_535;
/// Authentication tag appended to each Noise transport message.
const NOISE_TAG_BYTES: usize = 16;
/// Largest plaintext carried by one Noise transport message.
pub const NOISE_PLAINTEXT_BYTES_MAX: usize = NOISE_MESSAGE_BYTES_MAX - NOISE_TAG_BYTES;

/// Why a frame could not be read or written. Every variant closes the connection.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The socket failed or closed.
    #[error("connection: {0}")]
    Io(#[from] io::Error),
    /// A Noise message did not decrypt: corrupted, forged or out of order.
    #[error("noise: {0}")]
    Noise(#[from] snow::Error),
    /// The peer announced a frame larger than we accept.
    #[error("frame of {announced} bytes exceeds the limit of {max}")]
    TooLarge {
        /// The length the peer announced.
        announced: u64,
        /// Our limit.
        max: usize,
    },
    /// The peer's bytes do not follow the framing.
    #[error("malformed frame: {0}")]
    Malformed(&'static str),
}

/// Writes one raw Noise message: 2-byte big-endian length, then the bytes.
pub async fn write_noise_message<W: AsyncWriteExt + Unpin>(writer: &mut W, message: &[u8]) -> io::Result<()> {
    let length = u16::try_from(message.len()).expect("noise messages are at most 65535 bytes");
    writer.write_all(&length.to_be_bytes()).await?;
    writer.write_all(message).await
}

/// Reads one raw Noise message into `buffer`, returning its length.
pub async fn read_noise_message<R: AsyncReadExt + Unpin>(reader: &mut R, buffer: &mut [u8]) -> io::Result<usize> {
    let mut length = [0u8; 2];
    reader.read_exact(&mut length).await?;
    let length = usize::from(u16::from_be_bytes(length));
    reader.read_exact(&mut buffer[..length]).await?;
    Ok(length)
}

/// The sending half of an encrypted link.
pub struct FrameWriter<W> {
    writer: W,
    noise: std::sync::Arc<std::sync::Mutex<TransportState>>,
    ciphertext: Vec<u8>,
}

/// The receiving half of an encrypted link.
pub struct FrameReader<R> {
    reader: R,
    noise: std::sync::Arc<std::sync::Mutex<TransportState>>,
    frame_bytes_max: usize,
    ciphertext: Vec<u8>,
    plaintext: Vec<u8>,
}

/// Splits a finished Noise session over a socket's two halves.
pub fn split<R, W>(
    reader: R,
    writer: W,
    noise: TransportState,
    frame_bytes_max: usize,
) -> (FrameReader<R>, FrameWriter<W>) {
    // Noise keeps independent nonces per direction, so one shared state serves both halves; the
    // lock is held only for one encryption or decryption, never across an await.
    let noise = std::sync::Arc::new(std::sync::Mutex::new(noise));
    (
        FrameReader {
            reader,
            noise: noise.clone(),
            frame_bytes_max,
            ciphertext: vec![0; NOISE_MESSAGE_BYTES_MAX],
            plaintext: vec![0; NOISE_MESSAGE_BYTES_MAX],
        },
        FrameWriter { writer, noise, ciphertext: vec![0; NOISE_MESSAGE_BYTES_MAX] },
    )
}

impl<W: AsyncWriteExt + Unpin> FrameWriter<W> {
    /// Sends `payload` as one frame.
    pub async fn write_frame(&mut self, payload: &[u8]) -> Result<(), FrameError> {
        let length = u32::try_from(payload.len()).map_err(|_| FrameError::Malformed("frame over 4 GiB"))?;
        let header = length.to_be_bytes();
        // The first Noise message carries the length and as much payload as fits.
        let first_len = payload.len().min(NOISE_PLAINTEXT_BYTES_MAX - header.len());
        let mut first = Vec::with_capacity(header.len() + first_len);
        first.extend_from_slice(&header);
        first.extend_from_slice(&payload[..first_len]);
        self.write_encrypted(&first).await?;
        for chunk in payload[first_len..].chunks(NOISE_PLAINTEXT_BYTES_MAX) {
            self.write_encrypted(chunk).await?;
        }
        self.writer.flush().await?;
        Ok(())
    }

    async fn write_encrypted(&mut self, plaintext: &[u8]) -> Result<(), FrameError> {
        let length =
            self.noise.lock().expect("noise lock is never poisoned").write_message(plaintext, &mut self.ciphertext)?;
        write_noise_message(&mut self.writer, &self.ciphertext[..length]).await?;
        Ok(())
    }
}

impl<R: AsyncReadExt + Unpin> FrameReader<R> {
    /// Changes the largest frame accepted (the handshake reads its hello under a small limit).
    pub fn set_frame_bytes_max(&mut self, frame_bytes_max: usize) {
        self.frame_bytes_max = frame_bytes_max;
    }

    /// Receives one frame. Refuses, before buffering it, a frame longer than the limit.
    pub async fn read_frame(&mut self) -> Result<Vec<u8>, FrameError> {
        let first = self.read_decrypted().await?;
        if first.len() < 4 {
            return Err(FrameError::Malformed("first message shorter than the length header"));
        }
        let announced = u32::from_be_bytes(first[..4].try_into().expect("4 bytes"));
        let announced = usize::try_from(announced).expect("u32 fits usize");
        if announced > self.frame_bytes_max {
            return Err(FrameError::TooLarge { announced: announced as u64, max: self.frame_bytes_max });
        }
        let mut payload = Vec::with_capacity(announced);
        payload.extend_from_slice(&first[4..]);
        while payload.len() < announced {
            let chunk = self.read_decrypted().await?;
            if chunk.is_empty() {
                return Err(FrameError::Malformed("empty continuation message"));
            }
            payload.extend_from_slice(&chunk);
        }
        if payload.len() != announced {
            return Err(FrameError::Malformed("frame longer than its header says"));
        }
        Ok(payload)
    }

    async fn read_decrypted(&mut self) -> Result<Vec<u8>, FrameError> {
        let length = read_noise_message(&mut self.reader, &mut self.ciphertext).await?;
        let plain = self
            .noise
            .lock()
            .expect("noise lock is never poisoned")
            .read_message(&self.ciphertext[..length], &mut self.plaintext)?;
        Ok(self.plaintext[..plain].to_vec())
    }
}
