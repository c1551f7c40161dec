//! Message framing (protocol.md §4.1): `type:u8 ‖ length:i64 BE ‖ JSON body`, body ≤ 10240 bytes.
//!
//! Reads are exact (no read-ahead), because on work connections the proxied bytes follow the
//! first message directly on the same stream.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::msg::Message;

pub const MAX_MSG_LEN: i64 = 10240;

#[derive(Debug, thiserror::Error)]
pub enum ProtoError {
    #[error("message type error: unknown type byte {0:#04x}")]
    UnknownType(u8),
    #[error("message length error: {0}")]
    NegativeLength(i64),
    #[error("message length exceed the limit: {0} > {MAX_MSG_LEN}")]
    TooLong(i64),
    #[error("invalid {kind} message body: {source}")]
    Json {
        kind: char,
        #[source]
        source: serde_json::Error,
    },
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl ProtoError {
    /// True when the peer simply went away (EOF or reset) rather than sending garbage.
    pub fn is_disconnect(&self) -> bool {
        matches!(self, ProtoError::Io(e) if matches!(e.kind(),
            std::io::ErrorKind::UnexpectedEof
                | std::io::ErrorKind::ConnectionReset
                | std::io::ErrorKind::BrokenPipe
                | std::io::ErrorKind::ConnectionAborted))
    }
}

/// The whole frame of a message, as written in one `write` call.
pub fn encode_frame(msg: &Message) -> Vec<u8> {
    let body = msg.encode_body();
    let mut frame = Vec::with_capacity(9 + body.len());
    frame.push(msg.type_byte());
    frame.extend_from_slice(&(body.len() as i64).to_be_bytes());
    frame.extend_from_slice(&body);
    frame
}

/// Parse one complete frame from the start of `buf`, returning the message and bytes used.
/// `Ok(None)` means more bytes are needed.
pub fn decode_frame(buf: &[u8]) -> Result<Option<(Message, usize)>, ProtoError> {
    let Some(&t) = buf.first() else {
        return Ok(None);
    };
    if !Message::is_known_type(t) {
        return Err(ProtoError::UnknownType(t));
    }
    if buf.len() < 9 {
        return Ok(None);
    }
    let mut len_bytes = [0u8; 8];
    len_bytes.copy_from_slice(&buf[1..9]);
    let len = checked_len(i64::from_be_bytes(len_bytes))?;
    if buf.len() < 9 + len {
        return Ok(None);
    }
    let msg = Message::decode(t, &buf[9..9 + len]).map_err(|source| ProtoError::Json {
        kind: t as char,
        source,
    })?;
    Ok(Some((msg, 9 + len)))
}

fn checked_len(len: i64) -> Result<usize, ProtoError> {
    if len < 0 {
        return Err(ProtoError::NegativeLength(len));
    }
    if len > MAX_MSG_LEN {
        return Err(ProtoError::TooLong(len));
    }
    Ok(len as usize)
}

pub async fn read_msg<R: AsyncRead + Unpin + ?Sized>(r: &mut R) -> Result<Message, ProtoError> {
    let t = r.read_u8().await?;
    if !Message::is_known_type(t) {
        return Err(ProtoError::UnknownType(t));
    }
    let len = checked_len(r.read_i64().await?)?;
    let mut body = vec![0u8; len];
    r.read_exact(&mut body).await?;
    Message::decode(t, &body).map_err(|source| ProtoError::Json {
        kind: t as char,
        source,
    })
}

pub async fn write_msg<W: AsyncWrite + Unpin + ?Sized>(
    w: &mut W,
    msg: &Message,
) -> Result<(), ProtoError> {
    w.write_all(&encode_frame(msg)).await?;
    w.flush().await?;
    Ok(())
}

/// Read messages in a task of their own and hand them over a channel. `read_msg` is not
/// cancellation-safe (a half-read frame would be lost), so it must never be a losing branch of
/// a `select!`; the channel end can be. The last item is the error that ended the stream.
pub fn spawn_reader<R>(
    mut r: R,
) -> (
    tokio::sync::mpsc::Receiver<Result<Message, ProtoError>>,
    tokio::task::JoinHandle<()>,
)
where
    R: AsyncRead + Unpin + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    let task = tokio::spawn(async move {
        loop {
            let m = read_msg(&mut r).await;
            let stop = m.is_err();
            if tx.send(m).await.is_err() || stop {
                break;
            }
        }
    });
    (rx, task)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::msg::*;

    #[test]
    fn frames_of_12_3_and_12_4() {
        let login = Message::Login(Login {
            version: "0.65.0".into(),
            os: "linux".into(),
            arch: "amd64".into(),
            privilege_key: "3d8aac6cc09d79da303be74c311e5808".into(),
            timestamp: 1700000000,
            pool_count: 1,
            ..Default::default()
        });
        let cases: Vec<(Message, &str)> = vec![
            (login, "6f000000000000009a7b2276657273696f6e223a22302e36352e30222c226f73223a226c696e7578222c2261726368223a22616d643634222c2270726976696c6567655f6b6579223a223364386161633663633039643739646133303362653734633331316535383038222c2274696d657374616d70223a313730303030303030302c22636c69656e745f73706563223a7b7d2c22706f6f6c5f636f756e74223a317d"),
            (Message::LoginResp(LoginResp { version: "0.65.0".into(), run_id: "a1b2c3d4e5f60718".into(), ..Default::default() }),
             "3100000000000000307b2276657273696f6e223a22302e36352e30222c2272756e5f6964223a2261316232633364346535663630373138227d"),
            (Message::Ping(Ping::default()), "6800000000000000027b7d"),
            (Message::ReqWorkConn(ReqWorkConn {}), "7200000000000000027b7d"),
            (Message::NewWorkConn(NewWorkConn { run_id: "a1b2c3d4e5f60718".into(), ..Default::default() }),
             "77000000000000001d7b2272756e5f6964223a2261316232633364346535663630373138227d"),
            (Message::NewProxy(NewProxy { proxy_name: "ssh".into(), proxy_type: "tcp".into(), remote_port: 6000, ..Default::default() }),
             "70000000000000003a7b2270726f78795f6e616d65223a22737368222c2270726f78795f74797065223a22746370222c2272656d6f74655f706f7274223a363030307d"),
            (Message::StartWorkConn(StartWorkConn { proxy_name: "ssh".into(), src_addr: "1.2.3.4".into(), dst_addr: "10.0.0.1".into(), src_port: 5678, dst_port: 6000, ..Default::default() }),
             "73000000000000005f7b2270726f78795f6e616d65223a22737368222c227372635f61646472223a22312e322e332e34222c226473745f61646472223a2231302e302e302e31222c227372635f706f7274223a353637382c226473745f706f7274223a363030307d"),
            (Message::UdpPacket(UdpPacket { c: "aGVsbG8=".into(), l: None, r: Some(UdpAddr { ip: "1.2.3.4".into(), port: 5678, zone: String::new() }) }),
             "75000000000000003b7b2263223a22614756736247383d222c2272223a7b224950223a22312e322e332e34222c22506f7274223a353637382c225a6f6e65223a22227d7d"),
        ];
        for (msg, want) in cases {
            let frame = encode_frame(&msg);
            assert_eq!(hex::encode(&frame), want, "{}", msg.name());
            let (back, used) = decode_frame(&frame).unwrap().unwrap();
            assert_eq!(used, frame.len());
            assert_eq!(back, msg);
            assert_eq!(decode_frame(&frame[..frame.len() - 1]).unwrap(), None);
        }
    }

    #[tokio::test]
    async fn bad_input_is_refused() {
        let mut unknown: &[u8] = b"z\x00\x00";
        assert!(matches!(
            read_msg(&mut unknown).await,
            Err(ProtoError::UnknownType(b'z'))
        ));
        let mut long = vec![b'o'];
        long.extend_from_slice(&10241i64.to_be_bytes());
        assert!(matches!(
            read_msg(&mut long.as_slice()).await,
            Err(ProtoError::TooLong(10241))
        ));
        let mut neg = vec![b'o'];
        neg.extend_from_slice(&(-1i64).to_be_bytes());
        assert!(matches!(
            read_msg(&mut neg.as_slice()).await,
            Err(ProtoError::NegativeLength(-1))
        ));
        let mut garbage = vec![b'o'];
        garbage.extend_from_slice(&3i64.to_be_bytes());
        garbage.extend_from_slice(b"{{{");
        assert!(matches!(
            read_msg(&mut garbage.as_slice()).await,
            Err(ProtoError::Json { .. })
        ));
        let mut short: &[u8] = b"o\x00\x00\x00";
        assert!(read_msg(&mut short).await.unwrap_err().is_disconnect());
    }
}
