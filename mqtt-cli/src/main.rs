//! `mqtt`: publish, subscribe and benchmark from the command line, on the mqtt-sansio
//! blocking client (MQTT 3.1.1 and 5.0, TLS, WebSocket, HTTP CONNECT and SOCKS5 proxies).
//!
//! `mqtt pub` and `mqtt sub` take the options mosquitto_pub and mosquitto_sub users know
//! (`-h -p -t -m -q -r -i -c -u -P -k -V -C -W -v`, `--will-*`, `--cafile`, `--insecure`,
//! `-L URL`, with `ws://` and `wss://` too) and `--proxy URL`; `mqtt bench` runs publishers and subscribers against a broker and prints a
//! table of throughput and latency.
//!
//! Exit codes: 0 success, 1 a publish, subscribe or bench failed, 2 bad arguments, 3 the
//! connection failed, 4 `sub -W` ran out before `-C` messages, 130 interrupted (Ctrl-C or
//! SIGTERM: `pub` and `sub` disconnect cleanly first, so the broker discards the will).

mod bench;
mod conn;
mod error;
mod interrupt;
mod output;
mod publish;
mod subscribe;
mod tls;
mod url;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// MQTT from the command line: publish, subscribe and benchmark (MQTT 3.1.1 and 5.0, TLS,
/// WebSocket, proxies).
#[derive(Debug, Parser)]
#[command(
    name = "mqtt",
    version,
    after_help = "Examples:\n  \
        mqtt sub -h broker.local -t 'sensors/#' -v\n  \
        mqtt pub -h broker.local -t sensors/t1 -m 21.5 -q 1\n  \
        mqtt pub -L mqtts://user:pass@broker.local/sensors/t1 --cafile ca.pem -m 21.5\n  \
        mqtt sub -L wss://broker.local/mqtt -t 'sensors/#' --proxy http://proxy.local:3128\n  \
        mqtt bench -h broker.local --publishers 4 --subscribers 2 -q 1 -n 10000"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Publish messages (like mosquitto_pub): one message, a file, or standard input.
    ///
    /// Waits until the broker has acknowledged every QoS 1/2 message, then disconnects.
    /// The connection is not retried: if it drops, the command fails.
    #[command(
        disable_help_flag = true,
        after_help = "Examples:\n  \
            mqtt pub -t sensors/t1 -m 21.5\n  \
            mqtt pub -h broker.local -p 1884 -t cfg/device7 -f config.json -q 2 -r\n  \
            mqtt pub -L ws://broker.local:8080/mqtt -t sensors/t1 -m 21.5   # WebSocket\n  \
            mqtt pub -L mqtt://broker.local/sensors/t1 -m 21.5 --proxy socks5://127.0.0.1:1080\n  \
            tail -f app.log | mqtt pub -t logs/app -l -q 1\n  \
            mqtt pub -V 5 -t req/time -m now --response-topic re/time --correlation-data 42 \\\n    \
                --user-property origin=cli --message-expiry 30"
    )]
    Pub {
        #[command(flatten)]
        args: publish::PubArgs,
        /// Print help.
        #[arg(long, action = clap::ArgAction::Help)]
        help: Option<bool>,
    },
    /// Subscribe and print messages (like mosquitto_sub).
    ///
    /// Prints each message's payload on a line of its own; -v adds the topic, --format json
    /// prints one JSON object per message for scripts. Reconnects by itself if the
    /// connection drops.
    #[command(
        disable_help_flag = true,
        after_help = "Examples:\n  \
            mqtt sub -t 'sensors/#' -v\n  \
            mqtt sub -t cfg/device7 -C 1 -W 5          # one message, at most 5 s\n  \
            mqtt sub -V 5 -t 'a/#' --format json --no-local --retain-handling 2\n  \
            mqtt sub -c -i logger -q 1 -t 'logs/#'      # persistent session\n  \
            mqtt sub -L wss://broker.local/mqtt -t 'a/#' --proxy http://proxy.local:3128"
    )]
    Sub {
        #[command(flatten)]
        args: subscribe::SubArgs,
        /// Print help.
        #[arg(long, action = clap::ArgAction::Help)]
        help: Option<bool>,
    },
    /// Measure a broker: N publishers and M subscribers, throughput and latency.
    ///
    /// Every message carries its send time, so the latency is end to end (publisher to
    /// subscriber, through the broker). Prints a table (or --json) with messages per
    /// second, MB/s, latency percentiles and lost/duplicated counts; fails when a QoS 1/2
    /// message was lost or a QoS 2 message delivered twice. A progress bar shows while
    /// standard output is a terminal.
    #[command(
        disable_help_flag = true,
        after_help = "Examples:\n  \
            mqtt bench --publishers 4 --subscribers 2 -q 1 -n 10000 -s 256\n  \
            mqtt bench -L mqtt://broker.local:1884 -q 2 --rate 500 -n 5000 --json\n  \
            mqtt bench -L ws://broker.local:8080/mqtt --publishers 2 -n 1000"
    )]
    Bench {
        #[command(flatten)]
        args: bench::BenchArgs,
        /// Print help.
        #[arg(long, action = clap::ArgAction::Help)]
        help: Option<bool>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    interrupt::install();
    let result = match &cli.command {
        Cmd::Pub { args, .. } => publish::run(args),
        Cmd::Sub { args, .. } => subscribe::run(args),
        Cmd::Bench { args, .. } => bench::run(args),
    };
    interrupt::defer_to_handler();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mqtt: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
