//! Log records through the [`log`](https://docs.rs/log) facade, or nothing without the `log`
//! feature.
//!
//! Why `log` and not `tracing`: `log` is what most libraries of the ecosystem emit, every
//! logger implementation (env_logger, simplelog, fern, ...) consumes it, and `tracing`
//! subscribers pick its records up through `tracing-log`; the opposite direction needs the
//! application to opt in. It is also tiny and `no_std`.
//!
//! What is logged never includes a payload, a password or another secret: records name
//! servers (host, port, transport), reasons, packet types, identifiers and sizes only.

/// Expands to the `log` macro of the same level, or, without the feature, to a
/// `format_args!` that is never printed (so the arguments still count as used).
macro_rules! log_at {
    ($level:ident, $($arg:tt)*) => {{
        #[cfg(feature = "log")]
        ::log::$level!($($arg)*);
        #[cfg(not(feature = "log"))]
        let _ = format_args!($($arg)*);
    }};
}

macro_rules! log_trace { ($($arg:tt)*) => { log_at!(trace, $($arg)*) }; }
macro_rules! log_debug { ($($arg:tt)*) => { log_at!(debug, $($arg)*) }; }
macro_rules! log_info { ($($arg:tt)*) => { log_at!(info, $($arg)*) }; }
macro_rules! log_warn { ($($arg:tt)*) => { log_at!(warn, $($arg)*) }; }
