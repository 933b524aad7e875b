//! Ctrl-C (SIGINT) and SIGTERM end `pub` and `sub` with a DISCONNECT, as mosquitto's clients
//! do: the broker then discards the will, which is meant for a client that vanished, not for
//! one that was told to stop.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use mqtt_sansio_mio::Client;

/// The connection to close on a signal. The handler holds the lock while it disconnects,
/// so the main thread cannot end the process under it.
static CONNECTED: Mutex<Option<Client>> = Mutex::new(None);

/// A signal came: the handler owns the end of the process.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// The exit code of a run stopped by a signal (128 + SIGINT, as shells report it).
const INTERRUPTED_EXIT: i32 = 130;

/// Installs the handler. Without it (it could not be installed) a signal ends the process
/// as usual, and the broker publishes the will.
pub(crate) fn install() {
    let _ = ctrlc::set_handler(|| {
        INTERRUPTED.store(true, Ordering::SeqCst);
        let connected = CONNECTED.lock();
        if let Ok(Some(client)) = connected.as_deref() {
            // Writes what is queued (bounded by the disconnect timeout), then DISCONNECT.
            client.disconnect();
        }
        std::process::exit(INTERRUPTED_EXIT);
    });
}

/// Closes `client` cleanly if a signal comes from now on.
pub(crate) fn watch(client: &Client) {
    if let Ok(mut c) = CONNECTED.lock() {
        *c = Some(client.clone());
    }
}

/// The connection is over: a signal now just ends the process.
pub(crate) fn forget() {
    if let Ok(mut c) = CONNECTED.lock() {
        *c = None;
    }
}

/// If a signal came, waits for the handler to end the process (with its exit code, after
/// its DISCONNECT): whatever the command returned meanwhile (the client closing under it)
/// is not the outcome.
pub(crate) fn defer_to_handler() {
    while INTERRUPTED.load(Ordering::SeqCst) {
        std::thread::park();
    }
}
