//! A real Redis for the login store's tests: [`RedisServer::start`] runs `redis-server` on a
//! free loopback port with no persistence (`--save "" --appendonly no`, a fresh temporary
//! `--dir`), waits until it answers (`INFO server` naming its own process id, so that another
//! Redis that took the port meanwhile is not mistaken for it), and kills it by PID when dropped. A test can
//! [`stop`](RedisServer::stop) it (an outage) and [`restart`](RedisServer::restart) it on the
//! same port (an empty Redis: nothing survives a stop), or [`pause`](RedisServer::pause) it (a
//! Redis that hangs: connected, answering nothing) and [`resume`](RedisServer::resume) it.
//!
//! It returns `None`, after printing why, only when `redis-server` is not installed and the
//! environment variable `CI` is unset (the rule of [`crate::interop`] for node); under `CI` a
//! missing `redis-server` is an error. Each test starts its own server, so that one test's
//! outage is not another's.

use std::io::{self, BufRead as _, BufReader, Read as _, Write as _};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The server binary, looked up on `PATH`.
const BINARY: &str = "redis-server";
/// How long a start may take before it counts as failed.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(10);
/// The oldest Redis the store runs on: `GETDEL` came with 6.2.
const MIN_VERSION: (u32, u32) = (6, 2);
/// How many free ports [`RedisServer::start`] tries (another process may take the one picked
/// between its release and redis-server's bind).
const PORT_ATTEMPTS: usize = 3;

/// A running `redis-server` of this test (see the [module](self) documentation).
#[derive(Debug)]
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
}

impl RedisServer {
    /// Start a server on a free loopback port and wait until it answers.
    ///
    /// `Ok(None)` (with a note on stderr) when `redis-server` is not on `PATH` and `CI` is
    /// unset: the caller skips its test.
    ///
    /// # Errors
    /// `redis-server` missing while `CI` is set, or older than 6.2; no temporary directory;
    /// the server exits or does not answer within 10 s (the error holds its log).
    pub fn start() -> io::Result<Option<Self>> {
        if !installed()? {
            return Ok(None);
        }
        let mut server = Self {
            child: None,
            port: 0,
            dir: fresh_dir()?,
        };
        let mut last_error = None;
        for _ in 0..PORT_ATTEMPTS {
            server.port = free_port()?;
            match server.spawn() {
                Ok(()) => return Ok(Some(server)),
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.unwrap_or_else(|| io::Error::other("redis-server did not start")))
    }

    /// `redis://127.0.0.1:PORT`.
    #[must_use]
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The port it listens on (the same after a restart).
    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server process's id; `None` while stopped.
    #[must_use]
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Kill the server (SIGKILL, by its PID) and wait for it to exit: its data is gone (no
    /// persistence). Stopping a stopped server does nothing.
    ///
    /// # Errors
    /// When the process cannot be signalled or waited for.
    pub fn stop(&mut self) -> io::Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        if child.try_wait()?.is_none() {
            child.kill()?;
        }
        child.wait()?;
        Ok(())
    }

    /// Stop the server if it runs, then start a new, empty one on the same port and wait until
    /// it answers.
    ///
    /// # Errors
    /// As [`RedisServer::stop`]; when the port is taken meanwhile or the server does not come
    /// up (the error holds its log).
    pub fn restart(&mut self) -> io::Result<()> {
        self.stop()?;
        self.spawn()
    }

    /// Freeze the server (SIGSTOP): it keeps its port and its connections but answers nothing,
    /// as a Redis stuck behind a full disk or a dead network does. Undo with
    /// [`RedisServer::resume`] (a paused server is still killed on drop).
    ///
    /// # Errors
    /// When the server is stopped or `kill` fails.
    pub fn pause(&self) -> io::Result<()> {
        self.signal("-STOP")
    }

    /// Let a paused server run again (SIGCONT); it answers what it was sent meanwhile.
    ///
    /// # Errors
    /// When the server is stopped or `kill` fails.
    pub fn resume(&self) -> io::Result<()> {
        self.signal("-CONT")
    }

    /// Send a signal by PID with the `kill` utility (this crate forbids the `unsafe` of libc).
    fn signal(&self, signal: &str) -> io::Result<()> {
        let pid = self
            .pid()
            .ok_or_else(|| io::Error::other("redis-server is stopped"))?;
        let status = Command::new("kill")
            .arg(signal)
            .arg(pid.to_string())
            .stdin(Stdio::null())
            .status()?;
        if status.success() {
            Ok(())
        } else {
            Err(io::Error::other(format!("kill {signal} {pid}: {status}")))
        }
    }

    /// Run `redis-server` on `self.port` and wait until it answers there.
    fn spawn(&mut self) -> io::Result<()> {
        let log = self.dir.join("redis.log");
        let mut child = Command::new(BINARY)
            .arg("--port")
            .arg(self.port.to_string())
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .arg("--logfile")
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let started = Instant::now();
        // Ready when the Redis answering on the port is this one: another Redis that took the
        // port meanwhile answers PING too, while this one fails to bind and exits.
        while answering_pid(self.port) != Some(child.id()) {
            if let Some(status) = child.try_wait()? {
                return Err(io::Error::other(format!(
                    "redis-server on port {} exited with {status}:\n{}",
                    self.port,
                    read_log(&log)
                )));
            }
            if started.elapsed() > STARTUP_TIMEOUT {
                child.kill()?;
                child.wait()?;
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "redis-server on port {} did not answer within {STARTUP_TIMEOUT:?}:\n{}",
                        self.port,
                        read_log(&log)
                    ),
                ));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        self.child = Some(child);
        Ok(())
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `call` until it returns anything but an outage (`is_outage`), every 100 ms, at most 20
/// times: after a [`RedisServer::restart`] (or [`RedisServer::resume`]) a client reconnects in
/// the background, so its first call may still fail.
///
/// # Errors
/// `call`'s last error.
pub async fn once_reconnected<T, E>(
    is_outage: impl Fn(&E) -> bool,
    mut call: impl AsyncFnMut() -> Result<T, E>,
) -> Result<T, E> {
    let mut attempts = 1;
    loop {
        match call().await {
            Err(e) if is_outage(&e) && attempts < 20 => {
                attempts += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            other => return other,
        }
    }
}

/// A loopback port nothing listens on right now: bind port 0, read the port, release it.
///
/// # Errors
/// When no socket can be bound.
pub fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

/// Whether `redis-server` runs; `Ok(false)` (announced once) only when it is missing and `CI`
/// is unset.
fn installed() -> io::Result<bool> {
    static FOUND: OnceLock<Result<bool, (io::ErrorKind, String)>> = OnceLock::new();
    let found = FOUND.get_or_init(|| {
        match Command::new(BINARY)
            .arg("--version")
            .stdin(Stdio::null())
            .output()
        {
            Ok(out) if out.status.success() => {
                let text = String::from_utf8_lossy(&out.stdout);
                match version(&text) {
                    Some(found) if found >= MIN_VERSION => Ok(true),
                    _ => Err((
                        io::ErrorKind::Unsupported,
                        format!(
                            "redis: `{BINARY}` is {}; the store needs Redis >= {}.{} (GETDEL)",
                            text.trim(),
                            MIN_VERSION.0,
                            MIN_VERSION.1
                        ),
                    )),
                }
            }
            Ok(out) => Err((
                io::ErrorKind::Other,
                format!(
                    "`{BINARY} --version` failed ({}): {}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr)
                ),
            )),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if std::env::var_os("CI").is_some_and(|v| !v.is_empty()) {
                    Err((
                        io::ErrorKind::NotFound,
                        format!(
                            "redis: `{BINARY}` is not installed and CI is set: install Redis \
                             >= 6.2 (Debian: apt-get install redis-server)"
                        ),
                    ))
                } else {
                    announce(&format!(
                        "redis: SKIPPED: `{BINARY}` is not installed, so the Redis store tests \
                         cannot run (install Redis >= 6.2; with CI set this fails instead)"
                    ));
                    Ok(false)
                }
            }
            Err(e) => Err((e.kind(), format!("cannot run {BINARY}: {e}"))),
        }
    });
    found
        .clone()
        .map_err(|(kind, message)| io::Error::new(kind, message))
}

/// `(major, minor)` from `redis-server --version` (`Redis server v=7.0.15 sha=...`).
fn version(text: &str) -> Option<(u32, u32)> {
    let number = text.split_whitespace().find_map(|w| w.strip_prefix("v="))?;
    let mut parts = number.split('.').map(str::parse::<u32>);
    Some((parts.next()?.ok()?, parts.next()?.ok()?))
}

/// Write to the real stderr, past the test harness's output capture, so that a skip is seen.
fn announce(message: &str) {
    let _ = writeln!(io::stderr(), "{message}");
}

/// The process id of the Redis that answers on `port` (an inline `INFO server`, whose bulk
/// reply names its `process_id`); `None` while nothing answers.
fn answering_pid(port: u16) -> Option<u32> {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_millis(200)).ok()?;
    let timeout = Some(Duration::from_millis(500));
    stream.set_read_timeout(timeout).ok()?;
    stream.set_write_timeout(timeout).ok()?;
    stream.write_all(b"INFO server\r\n").ok()?;
    let mut reader = BufReader::new(stream);
    let mut header = String::new();
    reader.read_line(&mut header).ok()?;
    let length: usize = header.trim_end().strip_prefix('$')?.parse().ok()?;
    let mut info = vec![0_u8; length];
    reader.read_exact(&mut info).ok()?;
    String::from_utf8_lossy(&info)
        .lines()
        .find_map(|line| line.strip_prefix("process_id:"))?
        .trim()
        .parse()
        .ok()
}

/// A new, empty directory for one test's server (its log; nothing else is written).
fn fresh_dir() -> io::Result<PathBuf> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let dir = std::env::temp_dir().join(format!(
        "mc-tests-redis-{}-{}-{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir(&dir)?;
    Ok(dir)
}

fn read_log(log: &Path) -> String {
    std::fs::read_to_string(log).unwrap_or_else(|e| format!("(no log at {}: {e})", log.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_read_from_redis_server_version() {
        assert_eq!(
            version("Redis server v=7.0.15 sha=00000000:0 malloc=jemalloc-5.3.0 bits=64"),
            Some((7, 0))
        );
        assert_eq!(version("Redis server v=6.2.0 sha=0"), Some((6, 2)));
        assert!(version("Redis server v=6.0.16 sha=0").is_some_and(|v| v < MIN_VERSION));
        assert_eq!(version("something else"), None);
    }

    #[test]
    fn another_redis_on_the_port_is_not_mistaken_for_ours() -> io::Result<()> {
        let Some(mut first) = RedisServer::start()? else {
            return Ok(());
        };
        let first_pid = first.pid();
        let mut second = RedisServer {
            child: None,
            port: first.port(),
            dir: fresh_dir()?,
        };
        let taken = second.spawn();
        assert!(
            taken
                .as_ref()
                .is_err_and(|e| e.to_string().contains("exited")),
            "{taken:?}"
        );
        assert_eq!(second.pid(), None);
        assert_eq!(answering_pid(first.port()), first_pid);
        first.restart()?;
        assert_ne!(first.pid(), first_pid);
        assert_eq!(answering_pid(first.port()), first.pid());
        first.stop()?;
        assert_eq!(answering_pid(first.port()), None);
        Ok(())
    }
}
