//! Config builders for the daemons under test, so a test says what is special about its setup
//! and nothing else: `FrpsToml::new(bind).line("maxPortsPerClient = 2").start()`,
//! `FrpcToml::new(bind).proxy(Proxy::tcp("ssh", local, remote)).start()`.
//!
//! Top-level keys come from the builder's own methods or from `line` (raw TOML, one or more
//! lines); a key must not be given twice (TOML refuses duplicates, and so does the daemon).

use std::fmt;
use std::time::Duration;

use super::{frpc_bin, frps_bin, wait_port, Daemon};

/// frps.toml: `bindAddr = "127.0.0.1"`, `bindPort`, `auth.token = "t"`, then the lines given.
#[derive(Clone, Debug)]
pub struct FrpsToml {
    bind_port: u16,
    token: Option<String>,
    lines: Vec<String>,
}

impl FrpsToml {
    pub fn new(bind_port: u16) -> FrpsToml {
        FrpsToml {
            bind_port,
            token: Some("t".into()),
            lines: Vec::new(),
        }
    }

    pub fn token(mut self, token: &str) -> FrpsToml {
        self.token = Some(token.into());
        self
    }

    /// No `auth.token` line: frp's default, the empty token.
    pub fn no_token(mut self) -> FrpsToml {
        self.token = None;
        self
    }

    /// Raw TOML: top-level keys (before any table given here).
    pub fn line(mut self, toml: impl Into<String>) -> FrpsToml {
        self.lines.push(toml.into());
        self
    }

    /// The dashboard on 127.0.0.1:`port` with user admin, password pw.
    pub fn dashboard(self, port: u16) -> FrpsToml {
        self.line(format!(
            "webServer.addr = \"127.0.0.1\"\nwebServer.port = {port}\nwebServer.user = \"admin\"\nwebServer.password = \"pw\""
        ))
    }

    /// `allowPorts` = the `n` ports from `first` (one of the port allocator's blocks).
    pub fn allow_ports(self, first: u16, n: u16) -> FrpsToml {
        self.line(format!(
            "allowPorts = [{{ start = {first}, end = {} }}]",
            first + n - 1
        ))
    }

    /// Start frps and wait until its bind port accepts connections.
    pub fn start(&self) -> Daemon {
        let d = Daemon::start(frps_bin(), "frps", &self.to_string());
        wait_port(self.bind_port, Duration::from_secs(10));
        d
    }
}

impl fmt::Display for FrpsToml {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "bindAddr = \"127.0.0.1\"\nbindPort = {}", self.bind_port)?;
        if let Some(t) = &self.token {
            writeln!(f, "auth.token = \"{t}\"")?;
        }
        for l in &self.lines {
            writeln!(f, "{l}")?;
        }
        Ok(())
    }
}

/// frpc.toml: `serverAddr = "127.0.0.1"`, `serverPort`, `auth.token = "t"`,
/// `loginFailExit = false` (a test's frpc keeps trying rather than exiting when frps is not up
/// yet), the top-level lines given, then the `[[proxies]]`/`[[visitors]]` sections.
#[derive(Clone, Debug)]
pub struct FrpcToml {
    server_addr: String,
    server_port: u16,
    token: Option<String>,
    login_fail_exit: Option<bool>,
    lines: Vec<String>,
    sections: Vec<String>,
}

impl FrpcToml {
    pub fn new(server_port: u16) -> FrpcToml {
        FrpcToml {
            server_addr: "127.0.0.1".into(),
            server_port,
            token: Some("t".into()),
            login_fail_exit: Some(false),
            lines: Vec::new(),
            sections: Vec::new(),
        }
    }

    pub fn server_addr(mut self, addr: &str) -> FrpcToml {
        self.server_addr = addr.into();
        self
    }

    pub fn token(mut self, token: &str) -> FrpcToml {
        self.token = Some(token.into());
        self
    }

    /// `loginFailExit = exit`.
    pub fn login_fail_exit(mut self, exit: bool) -> FrpcToml {
        self.login_fail_exit = Some(exit);
        self
    }

    /// No `loginFailExit` line: frp's default (true: the first failed login ends frpc).
    pub fn default_login_fail_exit(mut self) -> FrpcToml {
        self.login_fail_exit = None;
        self
    }

    /// Raw TOML: top-level keys.
    pub fn line(mut self, toml: impl Into<String>) -> FrpcToml {
        self.lines.push(toml.into());
        self
    }

    /// The admin API on 127.0.0.1:`port`, without a password.
    pub fn admin(self, port: u16) -> FrpcToml {
        self.line(format!(
            "webServer.addr = \"127.0.0.1\"\nwebServer.port = {port}"
        ))
    }

    /// A `[[proxies]]` or `[[visitors]]` section (a [`Proxy`], a [`Visitor`] or raw TOML).
    pub fn section(mut self, section: impl ToString) -> FrpcToml {
        self.sections.push(section.to_string());
        self
    }

    pub fn proxy(self, proxy: Proxy) -> FrpcToml {
        self.section(proxy)
    }

    pub fn start(&self) -> Daemon {
        Daemon::start(frpc_bin(), "frpc", &self.to_string())
    }
}

impl fmt::Display for FrpcToml {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "serverAddr = \"{}\"\nserverPort = {}",
            self.server_addr, self.server_port
        )?;
        if let Some(t) = &self.token {
            writeln!(f, "auth.token = \"{t}\"")?;
        }
        if let Some(exit) = self.login_fail_exit {
            writeln!(f, "loginFailExit = {exit}")?;
        }
        for l in &self.lines {
            writeln!(f, "{l}")?;
        }
        for s in &self.sections {
            write!(f, "\n{}", s.trim_end())?;
            writeln!(f)?;
        }
        Ok(())
    }
}

/// One `[[proxies]]` section: name and type, then the lines given (keys of the proxy, and its
/// sub-tables such as `[proxies.plugin]` last).
#[derive(Clone, Debug)]
pub struct Proxy {
    text: String,
}

impl Proxy {
    pub fn new(name: &str, kind: &str) -> Proxy {
        Proxy {
            text: format!("[[proxies]]\nname = \"{name}\"\ntype = \"{kind}\"\n"),
        }
    }

    /// A tcp proxy from 127.0.0.1:`local` to frps's `remote`.
    pub fn tcp(name: &str, local: u16, remote: u16) -> Proxy {
        Proxy::new(name, "tcp")
            .local(local)
            .line(format!("remotePort = {remote}"))
    }

    /// A udp proxy from 127.0.0.1:`local` to frps's `remote`.
    pub fn udp(name: &str, local: u16, remote: u16) -> Proxy {
        Proxy::new(name, "udp")
            .local(local)
            .line(format!("remotePort = {remote}"))
    }

    /// `localIP = "127.0.0.1"`, `localPort`.
    pub fn local(self, port: u16) -> Proxy {
        self.line(format!("localIP = \"127.0.0.1\"\nlocalPort = {port}"))
    }

    /// Raw TOML lines for this proxy.
    pub fn line(mut self, toml: impl AsRef<str>) -> Proxy {
        let toml = toml.as_ref();
        if !toml.is_empty() {
            self.text.push_str(toml);
            if !toml.ends_with('\n') {
                self.text.push('\n');
            }
        }
        self
    }
}

impl fmt::Display for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// One `[[visitors]]` section: name, type and `serverName`, then the lines given.
#[derive(Clone, Debug)]
pub struct Visitor {
    text: String,
}

impl Visitor {
    pub fn new(name: &str, kind: &str, server_name: &str) -> Visitor {
        Visitor {
            text: format!(
                "[[visitors]]\nname = \"{name}\"\ntype = \"{kind}\"\nserverName = \"{server_name}\"\n"
            ),
        }
    }

    /// Raw TOML lines for this visitor.
    pub fn line(mut self, toml: impl AsRef<str>) -> Visitor {
        let toml = toml.as_ref();
        if !toml.is_empty() {
            self.text.push_str(toml);
            if !toml.ends_with('\n') {
                self.text.push('\n');
            }
        }
        self
    }
}

impl fmt::Display for Visitor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}
