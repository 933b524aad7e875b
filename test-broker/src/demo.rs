//! What the examples share: `--host H --port P` parsing, and an in-process broker (the
//! `rumqttd` crate, on 127.0.0.1) for when no broker is given, so they run on a fresh machine.

use std::error::Error;
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

/// `--host H --port P` from the command line (port 1883 by default), or `None` without
/// `--host`.
pub fn host_port_from_args() -> Result<Option<(String, u16)>, Box<dyn Error>> {
    let mut host = None;
    let mut port = 1883;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--host" => host = Some(args.next().ok_or("--host needs a value")?),
            "--port" => port = args.next().ok_or("--port needs a value")?.parse()?,
            other => {
                return Err(format!("unknown argument {other:?}; use --host H --port P").into())
            }
        }
    }
    Ok(host.map(|h| (h, port)))
}

/// The broker named on the command line, or a new in-process one on a free loopback port.
pub fn broker_from_args_or_in_process() -> Result<(String, u16), Box<dyn Error>> {
    match host_port_from_args()? {
        Some(addr) => Ok(addr),
        None => {
            let port = start_in_process_broker()?;
            println!("started an in-process broker on 127.0.0.1:{port}");
            Ok(("127.0.0.1".to_string(), port))
        }
    }
}

/// Starts rumqttd in this process on a free loopback port and waits until it listens. It
/// runs until the process exits.
pub fn start_in_process_broker() -> Result<u16, Box<dyn Error>> {
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let config = format!(
        r#"
id = 0
[router]
id = 0
max_connections = 16
max_outgoing_packet_count = 200
max_segment_size = 1048576
max_segment_count = 10
[v4.1]
name = "v4-1"
listen = "127.0.0.1:{port}"
next_connection_delay_ms = 1
[v4.1.connections]
connection_timeout_ms = 60000
max_payload_size = 20480
max_inflight_count = 100
dynamic_filters = true
"#
    );
    let config: rumqttd::Config = toml::from_str(&config)?;
    let mut broker = rumqttd::Broker::new(config);
    thread::Builder::new()
        .name("rumqttd".into())
        .spawn(move || {
            if let Err(e) = broker.start() {
                eprintln!("in-process broker stopped: {e}");
            }
        })?;
    for _ in 0..100 {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
        thread::sleep(Duration::from_millis(20));
    }
    Err("the in-process broker did not start listening".into())
}
