//! What can go wrong in a run, and the exit code each gives scripts.

use std::fmt;

use mqtt_sansio_mio::ClientError;

/// A failed run.
#[derive(Debug)]
pub(crate) enum CliError {
    /// The arguments do not make sense together (exit code 2, as clap's own usage errors).
    Usage(String),
    /// The first connection failed: network, TLS, or the proxy's or the broker's refusal
    /// (exit code 3).
    Connect(ClientError),
    /// A publish or subscribe failed, or input could not be read (exit code 1).
    Failed(String),
    /// `sub -W` ran out before `-C` messages came (exit code 4).
    TimedOut(String),
}

impl CliError {
    /// The process exit code.
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            Self::Failed(_) => 1,
            Self::Usage(_) => 2,
            Self::Connect(_) => 3,
            Self::TimedOut(_) => 4,
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Usage(m) | Self::Failed(m) | Self::TimedOut(m) => f.write_str(m),
            Self::Connect(e) => write!(f, "cannot connect: {e}"),
        }
    }
}

impl From<ClientError> for CliError {
    fn from(e: ClientError) -> Self {
        Self::Failed(e.to_string())
    }
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> Self {
        Self::Failed(e.to_string())
    }
}
