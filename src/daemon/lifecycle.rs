//! What a daemon reacts to besides its peers: stop requests and reload requests, in one value
//! handed to the service's `run`.

use super::shutdown::{self, Shutdown, ShutdownTrigger};
use super::signals::{self, Reloads};

#[derive(Clone)]
pub struct Lifecycle {
    pub stop: Shutdown,
    pub reloads: Reloads,
    /// Lets the daemon stop itself the way a signal would (frpc's `POST /api/stop`).
    pub trigger: ShutdownTrigger,
}

impl Lifecycle {
    /// Driven by Unix signals: SIGTERM/SIGINT stop, SIGHUP reloads. Needs a tokio runtime.
    pub fn from_signals() -> std::io::Result<Lifecycle> {
        let (trigger, stop) = shutdown::channel();
        let reloads = signals::listen(trigger.clone())?;
        Ok(Lifecycle {
            stop,
            reloads,
            trigger,
        })
    }

    /// Driven by the caller (the demo, embedding): stop through the trigger, no reloads.
    pub fn manual() -> (ShutdownTrigger, Lifecycle) {
        let (trigger, stop) = shutdown::channel();
        let life = Lifecycle {
            stop,
            reloads: signals::no_reloads(),
            trigger: trigger.clone(),
        };
        (trigger, life)
    }
}
