//! The systemd side of the daemon: readiness, the watchdog and the stop notice.
//!
//! - `READY=1` is sent once the API listens (systemd then starts what comes `After=` us
//!   and `systemctl start` returns).
//! - With `WatchdogSec=` set, systemd expects `WATCHDOG=1` at least that often. The pings
//!   come from [`watchdog`], a plain thread that, every half period, asks the daemon's
//!   own `GET /api/health` over loopback and pings only when it answers 200 with the
//!   database `ok` in time. A wedged HTTP pipeline, a stuck store mutex or a frozen
//!   process (`kill -STOP`) therefore all end in a restart. A disconnected camera, low
//!   disk or a dead uplink do not: they are states the daemon reports and recovers from.
//! - `STOPPING=1` when SIGTERM arrives, so `systemctl status` says "deactivating".
//!
//! Outside systemd (`NOTIFY_SOCKET` unset) every call is a no-op.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::time::Duration;

use sd_notify::NotifyState;

/// Tells systemd the daemon is ready, with a status line for `systemctl status`.
pub fn ready(addr: SocketAddr) {
    let status = format!("serving http://{addr}");
    notify(&[NotifyState::Ready, NotifyState::Status(&status)]);
}

/// Tells systemd the daemon is stopping.
pub fn stopping() {
    notify(&[NotifyState::Stopping, NotifyState::Status("stopping")]);
}

fn notify(state: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(state) {
        log::warn!(error = e.to_string().as_str(); "systemd notification failed: {e}");
    }
}

/// The watchdog period systemd asked for (`WATCHDOG_USEC`, for this process).
pub fn watchdog_period() -> Option<Duration> {
    sd_notify::watchdog_enabled()
}

/// Pings the watchdog every `period / 2` while the daemon's own health check passes.
/// Runs on the calling thread until the process ends. Logs once when the check starts
/// failing and once when it passes again, not on every miss.
pub fn watchdog(addr: SocketAddr, period: Duration) {
    let every = period / 2;
    // A check must finish well within the period, or a slow answer would be a miss
    // and a late ping at once.
    let timeout = (period / 4).max(Duration::from_millis(200));
    let target = loopback(addr);
    log::info!(period_ms = period.as_millis() as u64; "watchdog armed: pinging every {} ms while /api/health answers", every.as_millis());
    let mut failing = false;
    loop {
        match self_check(target, timeout) {
            Ok(()) => {
                notify(&[NotifyState::Watchdog]);
                if failing {
                    log::info!("watchdog: health check passes again, pinging");
                    failing = false;
                }
            }
            Err(e) => {
                if !failing {
                    log::error!(error = e.as_str(); "watchdog: health check failed, not pinging (systemd restarts the daemon if this lasts): {e}");
                    failing = true;
                }
            }
        }
        std::thread::sleep(every);
    }
}

/// Where to reach our own listener: a wildcard bind is reached on loopback.
pub fn loopback(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => (Ipv4Addr::LOCALHOST, addr.port()).into(),
        IpAddr::V6(ip) if ip.is_unspecified() => (Ipv6Addr::LOCALHOST, addr.port()).into(),
        _ => addr,
    }
}

/// One `GET /api/health` to ourselves: passes on a 200 whose database state is `ok`.
pub fn self_check(target: SocketAddr, timeout: Duration) -> Result<(), String> {
    let mut s =
        TcpStream::connect_timeout(&target, timeout).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(timeout))
        .and_then(|_| s.set_write_timeout(Some(timeout)))
        .map_err(|e| format!("socket: {e}"))?;
    s.write_all(b"GET /api/health HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .map_err(|e| format!("send: {e}"))?;
    let mut reply = Vec::new();
    s.take(1 << 20)
        .read_to_end(&mut reply)
        .map_err(|e| format!("no answer within {} ms: {e}", timeout.as_millis()))?;
    let reply = String::from_utf8_lossy(&reply);
    let (head, body) = reply
        .split_once("\r\n\r\n")
        .ok_or_else(|| "truncated answer".to_string())?;
    let status = head.split(' ').nth(1).unwrap_or("");
    if status != "200" {
        return Err(format!("status {status}"));
    }
    crate::api::database_ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn a_wildcard_bind_is_checked_on_loopback() {
        let a: SocketAddr = "0.0.0.0:8080".parse().unwrap();
        assert_eq!(loopback(a), "127.0.0.1:8080".parse().unwrap());
        let a: SocketAddr = "[::]:8080".parse().unwrap();
        assert_eq!(loopback(a), "[::1]:8080".parse().unwrap());
        let a: SocketAddr = "192.168.1.20:8080".parse().unwrap();
        assert_eq!(loopback(a), a);
    }

    fn answer_once(reply: &'static str) -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf);
            if !reply.is_empty() {
                s.write_all(reply.as_bytes()).unwrap();
            } else {
                // Never answer: hold the connection past the check's timeout.
                std::thread::sleep(Duration::from_secs(2));
            }
        });
        addr
    }

    #[test]
    fn the_check_passes_only_on_a_200_with_the_database_ok() {
        let t = Duration::from_millis(500);
        let ok = answer_once(
            "HTTP/1.1 200 OK\r\n\r\n{\"status\":\"degraded\",\"database\":{\"state\":\"ok\"}}",
        );
        assert_eq!(self_check(ok, t), Ok(()));
        let db = answer_once("HTTP/1.1 200 OK\r\n\r\n{\"database\":{\"state\":\"error\"}}");
        assert!(self_check(db, t).unwrap_err().contains("database"));
        let status = answer_once("HTTP/1.1 503 Service Unavailable\r\n\r\n{}");
        assert_eq!(self_check(status, t), Err("status 503".into()));
        let silent = answer_once("");
        assert!(self_check(silent, t).unwrap_err().contains("no answer"));
    }
}
