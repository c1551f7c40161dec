//! frp's error strings as they travel on the wire. They are data: Go frpc and users' scripts match
//! on them, so they live in one place and are spelled exactly as frp v0.65.0 spells them.

pub const TOKEN_MISMATCH_LOGIN: &str = "token in login doesn't match token from configuration";
pub const TOKEN_MISMATCH_HEARTBEAT: &str =
    "token in heartbeat doesn't match token from configuration";
pub const TOKEN_MISMATCH_WORK_CONN: &str =
    "token in NewWorkConn doesn't match token from configuration";

pub const REGISTER_CONTROL: &str = "register control error";
pub const INVALID_NEW_WORK_CONN: &str = "invalid NewWorkConn";
pub const INVALID_PING: &str = "invalid ping";
pub const REGISTER_VISITOR: &str = "register visitor conn error";

pub const PORT_ALREADY_USED: &str = "port already used";
pub const PORT_NOT_ALLOWED: &str = "port not allowed";
pub const PORT_UNAVAILABLE: &str = "port unavailable";
pub const NO_AVAILABLE_PORT: &str = "no available port";
pub const EXCEED_MAX_PORTS: &str = "exceed the max_ports_per_client";

// Load-balancing groups and vhost routes.
pub const GROUP_AUTH_FAILED: &str = "group auth failed";
pub const GROUP_PARAMS_INVALID: &str = "group params invalid";
pub const GROUP_PROXY_REPEATED: &str = "group proxy repeated";
pub const GROUP_SAME_PORT: &str = "group should have same remote port";
pub const ROUTER_CONFIG_CONFLICT: &str = "router config conflict";

pub fn new_proxy_summary(name: &str) -> String {
    format!("new proxy [{name}] error")
}

pub fn proxy_already_exists(name: &str) -> String {
    format!("proxy [{name}] already exists")
}

pub fn unknown_proxy_type(t: &str) -> String {
    format!("unknown proxy type: {t}")
}

pub fn no_control_for_run_id(run_id: &str) -> String {
    format!("no client control found for run id [{run_id}]")
}

pub fn visitor_listener_missing(name: &str) -> String {
    format!("custom listener for [{name}] doesn't exist")
}

pub fn visitor_listener_repeated(name: &str) -> String {
    format!("custom listener for [{name}] is repeated")
}

pub fn visitor_auth_failed(name: &str) -> String {
    format!("visitor connection of [{name}] auth failed")
}

pub fn visitor_user_not_allowed(name: &str, user: &str) -> String {
    format!("visitor connection of [{name}] user [{user}] not allowed")
}
