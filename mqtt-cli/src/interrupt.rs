//! Ctrl-C (SIGINT) and SIGTERM end `pub` and `sub` with a DISCONNECT, as mosquitto's clients
//! do: the broker then discards the will, which is meant for a client that vanished, not for
//! one that was told to stop.

use std::sync::Mutex;

use mqtt_sansio_mio::Client;

/// The connection to close on a signal.
static CONNECTED: Mutex<Option<Client>> = Mutex::new(None);

/// The exit code of a run stopped by a signal (128 + SIGINT, as shells report it).
const INTERRUPTED: i32 = 130;

/// Installs the handler. Without it (it could not be installed) a signal ends the process
/// as usual, and the broker publishes the will.
pub(crate) fn install() {
    let _ = ctrlc::set_handler(|| {
        let client = CONNECTED.lock().ok().and_then(|mut c| c.take());
        if let Some(client) = client {
            // Writes what is queued (bounded by the disconnect timeout), then DISCONNECT.
            client.disconnect();
        }
        std::process::exit(INTERRUPTED);
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
