//! What frps sends plugins for each operation, and what they may send back: the content types
//! mirror frp's (`pkg/plugin/server/types.go`) by embedding the protocol messages, so the JSON
//! field names and `omitempty` rules are the wire's.

use std::fmt;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize, Serializer};

use crate::proto::msg::{self, StrMap};
use crate::server::session::ControlHandle;

/// The plugin API version frp sends (`pkg/plugin/server/plugin.go`).
pub const API_VERSION: &str = "0.1.0";

/// The operations a plugin may subscribe to (`ops`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Login,
    NewProxy,
    CloseProxy,
    Ping,
    NewWorkConn,
    NewUserConn,
}

impl Op {
    pub const ALL: [Op; 6] = [
        Op::Login,
        Op::NewProxy,
        Op::CloseProxy,
        Op::Ping,
        Op::NewWorkConn,
        Op::NewUserConn,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Op::Login => "Login",
            Op::NewProxy => "NewProxy",
            Op::CloseProxy => "CloseProxy",
            Op::Ping => "Ping",
            Op::NewWorkConn => "NewWorkConn",
            Op::NewUserConn => "NewUserConn",
        }
    }

    pub(super) fn parse(s: &str) -> Option<Op> {
        Op::ALL.into_iter().find(|op| op.as_str() == s)
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The client an operation concerns. Never `omitempty`; empty `metas` are `null` (Go's nil map).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct UserInfo {
    pub user: String,
    #[serde(serialize_with = "null_if_empty")]
    pub metas: StrMap,
    pub run_id: String,
}

impl UserInfo {
    pub fn of(ctl: &ControlHandle) -> UserInfo {
        UserInfo {
            user: ctl.user.clone(),
            metas: ctl.metas.clone(),
            run_id: ctl.run_id.clone(),
        }
    }
}

fn null_if_empty<S: Serializer>(m: &StrMap, s: S) -> Result<S::Ok, S::Error> {
    if m.is_empty() {
        s.serialize_none()
    } else {
        m.serialize(s)
    }
}

/// `Login`: the Login message and the address frpc connected from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LoginContent {
    #[serde(flatten)]
    pub login: msg::Login,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub client_address: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NewProxyContent {
    pub user: UserInfo,
    #[serde(flatten)]
    pub new_proxy: msg::NewProxy,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CloseProxyContent {
    pub user: UserInfo,
    #[serde(flatten)]
    pub close_proxy: msg::CloseProxy,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PingContent {
    pub user: UserInfo,
    #[serde(flatten)]
    pub ping: msg::Ping,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NewWorkConnContent {
    pub user: UserInfo,
    #[serde(flatten)]
    pub new_work_conn: msg::NewWorkConn,
}

/// `NewUserConn`: no `omitempty` anywhere.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NewUserConnContent {
    pub user: UserInfo,
    pub proxy_name: String,
    pub proxy_type: String,
    pub remote_addr: String,
}

/// The content of one operation.
pub trait Content: Serialize + DeserializeOwned + Send + Sync + 'static {
    const OP: Op;
}

impl Content for LoginContent {
    const OP: Op = Op::Login;
}
impl Content for NewProxyContent {
    const OP: Op = Op::NewProxy;
}
impl Content for CloseProxyContent {
    const OP: Op = Op::CloseProxy;
}
impl Content for PingContent {
    const OP: Op = Op::Ping;
}
impl Content for NewWorkConnContent {
    const OP: Op = Op::NewWorkConn;
}
impl Content for NewUserConnContent {
    const OP: Op = Op::NewUserConn;
}
