//! Socket options both transports apply to their TCP connections.

use std::io;

use socket2::{SockRef, TcpKeepalive};

use crate::hosted::SockKeepalive;

/// Sets TCP_NODELAY (MQTT packets are small and latency matters) and, when asked, TCP
/// keepalive on a freshly connected socket (std, mio or async-io: anything socket2 can
/// borrow).
pub fn apply_socket_options<S>(tcp: &S, keepalive: Option<SockKeepalive>) -> io::Result<()>
where
    for<'a> SockRef<'a>: From<&'a S>,
{
    let sock = SockRef::from(tcp);
    sock.set_tcp_nodelay(true)?;
    if let Some(k) = keepalive {
        let params = TcpKeepalive::new()
            .with_time(k.idle)
            .with_interval(k.interval)
            .with_retries(k.count);
        sock.set_tcp_keepalive(&params)?;
    }
    Ok(())
}

impl SockKeepalive {
    /// The TCP keepalive settings in effect on `tcp` (`None`: keepalive off).
    pub fn read<S>(tcp: &S) -> io::Result<Option<Self>>
    where
        for<'a> SockRef<'a>: From<&'a S>,
    {
        let sock = SockRef::from(tcp);
        if !sock.keepalive()? {
            return Ok(None);
        }
        Ok(Some(Self {
            count: sock.tcp_keepalive_retries()?,
            idle: sock.tcp_keepalive_time()?,
            interval: sock.tcp_keepalive_interval()?,
        }))
    }
}
