//! frp's wire protocol: framed JSON messages, auth keys and the control-channel cipher.

pub mod codec;
pub mod crypto;
pub mod errors;
pub mod msg;
pub mod udp;

pub use codec::{read_msg, write_msg, ProtoError, MAX_MSG_LEN};
pub use msg::Message;
