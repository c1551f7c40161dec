//! The 12-byte yamux frame header (hashicorp/yamux `const.go`).
//!
//! ```text
//! offset size field
//! 0      1    version (always 0)
//! 1      1    type: 0 Data, 1 WindowUpdate, 2 Ping, 3 GoAway
//! 2      2    flags: 0x1 SYN, 0x2 ACK, 0x4 FIN, 0x8 RST
//! 4      4    stream id (0 for Ping / GoAway)
//! 8      4    length: payload size (Data), window delta (WindowUpdate),
//!             ping id (Ping), error code (GoAway)
//! ```
//! All integers are big-endian.

use bytes::BufMut;

/// Size of every frame header.
pub const HEADER_LEN: usize = 12;
/// The only protocol version yamux defines.
pub const PROTO_VERSION: u8 = 0;

/// Flag: opens a stream (or marks a ping request).
pub const FLAG_SYN: u16 = 0x1;
/// Flag: acknowledges a stream open (or marks a ping reply).
pub const FLAG_ACK: u16 = 0x2;
/// Flag: half-closes the sender's side of a stream.
pub const FLAG_FIN: u16 = 0x4;
/// Flag: resets a stream.
pub const FLAG_RST: u16 = 0x8;

/// GoAway code: normal termination.
pub const GOAWAY_NORMAL: u32 = 0;
/// GoAway code: protocol error.
pub const GOAWAY_PROTO_ERR: u32 = 1;
/// GoAway code: internal error.
pub const GOAWAY_INTERNAL_ERR: u32 = 2;

/// Frame type (second header byte).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum FrameType {
    /// Stream payload follows the header; `length` is its size.
    Data = 0,
    /// Stream window delta and/or stream flags.
    WindowUpdate = 1,
    /// Keepalive / RTT probe; `length` is the opaque ping id.
    Ping = 2,
    /// Session termination; `length` is the error code.
    GoAway = 3,
}

impl FrameType {
    /// Decodes the type byte.
    pub fn from_u8(v: u8) -> Option<FrameType> {
        match v {
            0 => Some(FrameType::Data),
            1 => Some(FrameType::WindowUpdate),
            2 => Some(FrameType::Ping),
            3 => Some(FrameType::GoAway),
            _ => None,
        }
    }
}

/// Why a header could not be decoded; either one terminates the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The version byte was not 0.
    #[error("invalid yamux protocol version {0}")]
    InvalidVersion(u8),
    /// The type byte was not 0..=3.
    #[error("invalid yamux message type {0}")]
    InvalidType(u8),
}

/// A decoded frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Frame type.
    pub frame_type: FrameType,
    /// Bitwise OR of `FLAG_*`.
    pub flags: u16,
    /// Stream id (0 for session-level frames).
    pub stream_id: u32,
    /// Type-dependent length / delta / ping id / code.
    pub length: u32,
}

impl Header {
    /// A header from its parts.
    pub const fn new(frame_type: FrameType, flags: u16, stream_id: u32, length: u32) -> Header {
        Header {
            frame_type,
            flags,
            stream_id,
            length,
        }
    }

    /// Data frame header announcing `len` payload bytes.
    pub const fn data(flags: u16, stream_id: u32, len: u32) -> Header {
        Header::new(FrameType::Data, flags, stream_id, len)
    }

    /// Window update (also carries SYN/ACK/FIN/RST).
    pub const fn window_update(flags: u16, stream_id: u32, delta: u32) -> Header {
        Header::new(FrameType::WindowUpdate, flags, stream_id, delta)
    }

    /// Ping request (`FLAG_SYN`) or reply (`FLAG_ACK`).
    pub const fn ping(flags: u16, id: u32) -> Header {
        Header::new(FrameType::Ping, flags, 0, id)
    }

    /// GoAway with the given code.
    pub const fn go_away(code: u32) -> Header {
        Header::new(FrameType::GoAway, 0, 0, code)
    }

    /// True when every bit of `flag` is set.
    pub const fn has(&self, flag: u16) -> bool {
        self.flags & flag == flag
    }

    /// The 12 wire bytes.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0] = PROTO_VERSION;
        b[1] = self.frame_type as u8;
        b[2..4].copy_from_slice(&self.flags.to_be_bytes());
        b[4..8].copy_from_slice(&self.stream_id.to_be_bytes());
        b[8..12].copy_from_slice(&self.length.to_be_bytes());
        b
    }

    /// Appends the 12 wire bytes to `buf`.
    pub fn put(&self, buf: &mut impl BufMut) {
        buf.put_slice(&self.encode());
    }

    /// Decodes and validates (version, type) a header.
    pub fn decode(b: &[u8; HEADER_LEN]) -> Result<Header, FrameError> {
        if b[0] != PROTO_VERSION {
            return Err(FrameError::InvalidVersion(b[0]));
        }
        let frame_type = FrameType::from_u8(b[1]).ok_or(FrameError::InvalidType(b[1]))?;
        Ok(Header {
            frame_type,
            flags: u16::from_be_bytes([b[2], b[3]]),
            stream_id: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
            length: u32::from_be_bytes([b[8], b[9], b[10], b[11]]),
        })
    }

    /// Decodes the first 12 bytes of `b`; `None` when `b` is shorter.
    pub fn decode_slice(b: &[u8]) -> Option<Result<Header, FrameError>> {
        let arr: &[u8; HEADER_LEN] = b.get(..HEADER_LEN)?.try_into().ok()?;
        Some(Header::decode(arr))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    /// Every row of protocol.md §12.8.
    #[test]
    fn spec_vectors_encode_and_decode() {
        let rows: &[(Header, &str)] = &[
            (
                Header::window_update(FLAG_SYN, 1, 6_029_312),
                "0001000100000001005c0000",
            ),
            (
                Header::window_update(FLAG_ACK, 1, 6_029_312),
                "0001000200000001005c0000",
            ),
            (Header::data(0, 1, 5), "000000000000000100000005"),
            (
                Header::window_update(FLAG_FIN, 1, 0),
                "000100040000000100000000",
            ),
            (
                Header::window_update(FLAG_RST, 1, 0),
                "000100080000000100000000",
            ),
            (Header::ping(FLAG_SYN, 0), "000200010000000000000000"),
            (Header::ping(FLAG_ACK, 0), "000200020000000000000000"),
            (
                Header::go_away(GOAWAY_PROTO_ERR),
                "000300000000000000000001",
            ),
        ];
        for (h, want) in rows {
            let enc = h.encode();
            assert_eq!(hex(&enc), *want, "encode {h:?}");
            assert_eq!(Header::decode(&enc), Ok(*h), "decode {want}");
            let mut buf = bytes::BytesMut::new();
            h.put(&mut buf);
            assert_eq!(hex(&buf), *want);
        }
        // The data row continues with the payload "hello".
        let mut frame = Header::data(0, 1, 5).encode().to_vec();
        frame.extend_from_slice(b"hello");
        assert_eq!(hex(&frame), "00000000000000010000000568656c6c6f");
        let h = Header::decode_slice(&frame).unwrap().unwrap();
        assert_eq!(&frame[HEADER_LEN..HEADER_LEN + h.length as usize], b"hello");
    }

    #[test]
    fn rejects_bad_version_and_type() {
        let mut b = Header::data(0, 1, 5).encode();
        b[0] = 1;
        assert_eq!(Header::decode(&b), Err(FrameError::InvalidVersion(1)));
        b[0] = b'o'; // a Login frame fed to a mux session
        assert_eq!(Header::decode(&b), Err(FrameError::InvalidVersion(b'o')));
        let mut b = Header::data(0, 1, 5).encode();
        b[1] = 4;
        assert_eq!(Header::decode(&b), Err(FrameError::InvalidType(4)));
        assert!(Header::decode_slice(&b[..11]).is_none());
    }

    #[test]
    fn flags_and_big_endian_fields() {
        let h = Header::window_update(FLAG_ACK | FLAG_FIN, 0x0102_0304, 0xa0b0_c0d0);
        assert_eq!(hex(&h.encode()), "0001000601020304a0b0c0d0");
        assert!(h.has(FLAG_ACK) && h.has(FLAG_FIN) && !h.has(FLAG_SYN) && !h.has(FLAG_RST));
    }
}
