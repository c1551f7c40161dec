//! Unix signals, turned into requests: SIGTERM and SIGINT ask for a stop (the second one forces
//! it, see [`super::shutdown`]), SIGHUP asks for a configuration reload. Handlers are installed
//! when [`listen`] runs, before the daemon reports ready, so a reload sent right after READY=1
//! never kills the process with SIGHUP's default action.

use tokio::sync::watch;

use super::shutdown::{self, ShutdownTrigger};

/// Reload requests: the value counts SIGHUPs; a changed value means "reload now". Several
/// signals arriving during one reload coalesce into one more reload.
pub type Reloads = watch::Receiver<u64>;

/// Install the handlers and spawn the task that forwards signals: stops to `trigger`, reloads
/// to the returned channel. Needs a tokio runtime.
pub fn listen(trigger: ShutdownTrigger) -> std::io::Result<Reloads> {
    let (reload_tx, reload_rx) = watch::channel(0u64);
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let mut hup = signal(SignalKind::hangup())?;
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    Some(()) = term.recv() => trigger.request(),
                    Some(()) = int.recv() => trigger.request(),
                    Some(()) = hup.recv() => {
                        reload_tx.send_modify(|n| *n += 1);
                    }
                    else => break,
                }
            }
        });
    }
    #[cfg(not(unix))]
    {
        let _ = &reload_tx;
        tokio::spawn(async move {
            while tokio::signal::ctrl_c().await.is_ok() {
                trigger.request();
            }
        });
    }
    Ok(reload_rx)
}

/// A reload channel that never fires (daemons run without signals, e.g. the demo).
pub fn no_reloads() -> Reloads {
    watch::channel(0u64).1
}

/// The next reload request; never resolves once nobody can send one.
pub async fn next_reload(reloads: &mut Reloads) {
    if reloads.changed().await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// SIGTERM or SIGINT as one future, for programs that only need "stop" (the demo).
pub async fn terminate() {
    let (trigger, stop) = shutdown::channel();
    match listen(trigger) {
        Ok(_) => stop.requested().await,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
