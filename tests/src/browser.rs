//! A real browser for tests of pages the test serves itself on 127.0.0.1: headless Chromium,
//! driven over WebDriver ([`fantoccini`]) through a `chromedriver` this module spawns.
//!
//! [`Browser::start`] picks a free loopback port, starts `chromedriver --port=P` (its output
//! goes to a log file that startup errors quote), waits until the port accepts connections,
//! and opens a session on a fresh, empty `--user-data-dir`. Dropping the [`Browser`] asks
//! chromedriver to shut down (which closes the session and quits Chromium: a chromedriver
//! killed outright leaves Chromium running), kills chromedriver by PID if it is still there, and
//! removes the profile directory.
//!
//! It returns `Ok(None)`, after printing why, only when chromedriver or Chromium is not installed
//! and the environment variable `CI` is unset; under `CI` a missing browser is an error, never a
//! skip (the rule [`crate::interop`] applies to node).
//!
//! Programs: `chromedriver` from `PATH` (or the `CHROMEDRIVER` environment variable), Chromium at
//! [`DEFAULT_CHROME`] (or `CHROME_BIN`). The two must be the same major version.
//!
//! ```no_run
//! # async fn demo() -> Result<(), mc_tests::browser::Error> {
//! use std::time::Duration;
//! use mc_tests::browser::Browser;
//!
//! let Some(browser) = Browser::start().await? else {
//!     return Ok(()); // not installed, and not under CI: the reason is printed
//! };
//! browser.goto("http://127.0.0.1:8080/").await?;
//! browser.fill("#name", "Ada").await?;
//! browser.click("button[type=submit]").await?;
//! browser.wait_for("#greeting", Duration::from_secs(5)).await?;
//! assert_eq!(browser.text("#greeting").await?, "Hello, Ada");
//! let png = browser.screenshot("greeting").await?; // target/browser-screenshots/greeting.png
//! # let _ = png;
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::fs::File;
use std::io::{self, Read as _, Write as _};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fantoccini::elements::Element;
use fantoccini::error::{CmdError, NewSessionError};
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use url::Url;

/// Where Chromium is unless `CHROME_BIN` says otherwise (Debian's `chromium` package).
pub const DEFAULT_CHROME: &str = "/usr/bin/chromium";

/// Chromium's command line besides `--user-data-dir`.
///
/// The background-networking, component-update and sync switches keep Chromium from calling
/// home: on a closed network those connections are refused and slow everything down. The
/// sandbox needs user namespaces that root in a container does not get. `/dev/shm` is 64 MiB
/// in a default Docker container, too small for Chromium's shared memory. `--lang` pins the
/// language of Chromium's own pages (error pages, form validation).
pub const CHROME_ARGS: [&str; 11] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1024,768",
    "--lang=en-US",
];

/// How long chromedriver may take to accept connections (it takes milliseconds).
const DRIVER_STARTUP_TIMEOUT: Duration = Duration::from_secs(10);
/// How long Chromium may take to start and open the session (under a second here).
const SESSION_TIMEOUT: Duration = Duration::from_secs(30);
/// How long chromedriver may take to quit Chromium and exit, before it is killed.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);
/// How often [`Browser::wait_for`] looks again.
const WAIT_PERIOD: Duration = Duration::from_millis(50);
/// Attempts at starting chromedriver: the free port is released before chromedriver binds it,
/// so another process may take it in between.
const DRIVER_ATTEMPTS: usize = 3;

/// What went wrong starting or driving the browser. `Debug` prints the message (with the
/// programs' output, line by line), since that is what a test returning `Err` shows.
#[non_exhaustive]
pub enum Error {
    /// chromedriver or Chromium is not installed, and `CI` is set (so this is no skip).
    NotInstalled {
        /// What is missing and where it was looked for.
        missing: String,
    },
    /// `CHROMEDRIVER` or `CHROME_BIN` names a file that does not exist.
    OverrideMissing {
        /// The environment variable.
        variable: &'static str,
        /// Its value.
        path: PathBuf,
    },
    /// A file system or process operation failed (temp directory, log file, spawn, screenshot).
    Io {
        /// What was being done.
        action: &'static str,
        /// On what.
        path: PathBuf,
        /// Why it failed.
        source: io::Error,
    },
    /// chromedriver exited before it accepted connections.
    DriverExited {
        /// Its exit status.
        status: ExitStatus,
        /// Its output.
        log: String,
    },
    /// chromedriver did not accept connections in time.
    DriverNotReady {
        /// The port it was told to listen on.
        port: u16,
        /// How long it was given.
        waited: Duration,
        /// Its output so far.
        log: String,
    },
    /// chromedriver could not open a session (Chromium did not start, or the versions differ).
    Session {
        /// The WebDriver client's error.
        source: NewSessionError,
        /// chromedriver's and Chromium's output.
        log: String,
    },
    /// The session was not open in time.
    SessionTimeout {
        /// How long it was given.
        waited: Duration,
        /// chromedriver's and Chromium's output so far.
        log: String,
    },
    /// A WebDriver command failed.
    Command {
        /// The command, e.g. ``click `#submit` ``.
        action: String,
        /// The WebDriver client's error.
        source: CmdError,
    },
    /// [`Browser::wait_for`]: nothing matched the selector in time.
    WaitTimeout {
        /// The CSS selector.
        css: String,
        /// How long it waited.
        waited: Duration,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotInstalled { missing } => write!(
                f,
                "browser: {missing}, and CI is set (install chromium and chromium-driver)"
            ),
            Self::OverrideMissing { variable, path } => {
                write!(f, "browser: {variable}={} is no file", path.display())
            }
            Self::Io {
                action,
                path,
                source,
            } => write!(f, "browser: {action} {}: {source}", path.display()),
            Self::DriverExited { status, log } => {
                write!(
                    f,
                    "browser: chromedriver exited ({status}) before it listened:\n{log}"
                )
            }
            Self::DriverNotReady { port, waited, log } => write!(
                f,
                "browser: chromedriver did not listen on port {port} within {waited:?}:\n{log}"
            ),
            Self::Session { source, log } => {
                write!(f, "browser: no WebDriver session: {source}\n{log}")
            }
            Self::SessionTimeout { waited, log } => {
                write!(f, "browser: no WebDriver session within {waited:?}:\n{log}")
            }
            Self::Command { action, source } => write!(f, "browser: {action}: {source}"),
            Self::WaitTimeout { css, waited } => {
                write!(f, "browser: nothing matched `{css}` within {waited:?}")
            }
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } => Some(source),
            Self::Session { source, .. } => Some(source),
            Self::Command { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// How long the two halves of [`Browser::start`] took.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Startup {
    /// From spawning chromedriver until it accepted a connection.
    pub driver: Duration,
    /// From then until the session was open: Chromium's own startup.
    pub session: Duration,
}

/// A headless Chromium with one WebDriver session. Dropping it quits Chromium and chromedriver
/// and removes the profile; [`Browser::close`] also ends the session politely first.
#[derive(Debug)]
pub struct Browser {
    // Field order is drop order: the client's own session close goes nowhere once the driver is
    // gone (it shut the session down itself), and the profile goes last, once nothing uses it.
    client: Client,
    driver: Driver,
    startup: Startup,
    scratch: Scratch,
}

impl Browser {
    /// Start chromedriver and open a session in a fresh headless Chromium.
    ///
    /// `Ok(None)` when chromedriver or Chromium is not installed and `CI` is unset (the reason
    /// is printed to stderr, once per test binary).
    ///
    /// # Errors
    /// When a program is missing under `CI`, an override names no file, or chromedriver or
    /// Chromium does not come up ([`Error`] quotes their output).
    pub async fn start() -> Result<Option<Self>, Error> {
        let Some(programs) = Programs::find()? else {
            return Ok(None);
        };
        let mut attempt = 1;
        loop {
            match Self::launch(&programs).await {
                Err(Error::DriverExited { .. }) if attempt < DRIVER_ATTEMPTS => attempt += 1,
                other => return other.map(Some),
            }
        }
    }

    async fn launch(programs: &Programs) -> Result<Self, Error> {
        let scratch = Scratch::create()?;
        let log_path = scratch.log();
        let log = File::create(&log_path).map_err(io_error("create", &log_path))?;
        let log_err = log.try_clone().map_err(io_error("open", &log_path))?;
        let port = free_port()?;
        let started = Instant::now();
        let child = Command::new(&programs.driver)
            .arg(format!("--port={port}"))
            // Chromium's own temporary directories go into the scratch directory too, so that
            // they go with it even when Chromium did not get to remove them.
            .env("TMPDIR", scratch.tmp())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .map_err(io_error("spawn", &programs.driver))?;
        let mut driver = Driver { child, port };
        driver.wait_until_listening(&log_path).await?;
        let driver_ready = started.elapsed();

        let mut builder = ClientBuilder::new(HttpConnector::new());
        builder.capabilities(capabilities(&programs.chrome, &scratch.profile()));
        let webdriver = format!("http://{}", driver.addr());
        let connecting = builder.connect(&webdriver);
        let client = match tokio::time::timeout(SESSION_TIMEOUT, connecting).await {
            Ok(Ok(client)) => client,
            Ok(Err(source)) => {
                return Err(Error::Session {
                    source,
                    log: read_log(&log_path),
                });
            }
            Err(_) => {
                return Err(Error::SessionTimeout {
                    waited: SESSION_TIMEOUT,
                    log: read_log(&log_path),
                });
            }
        };
        let startup = Startup {
            driver: driver_ready,
            session: started.elapsed().saturating_sub(driver_ready),
        };
        Ok(Self {
            client,
            driver,
            startup,
            scratch,
        })
    }

    /// The WebDriver client, for anything the helpers below do not cover.
    #[must_use]
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// How long chromedriver and Chromium took to start.
    #[must_use]
    pub fn startup(&self) -> Startup {
        self.startup
    }

    /// Navigate to `url` and wait for the page to load.
    ///
    /// # Errors
    /// When the navigation fails.
    pub async fn goto(&self, url: &str) -> Result<(), Error> {
        self.client
            .goto(url)
            .await
            .map_err(command(|| format!("goto {url}")))
    }

    /// The URL of the current page.
    ///
    /// # Errors
    /// When WebDriver cannot tell.
    pub async fn current_url(&self) -> Result<Url, Error> {
        self.client
            .current_url()
            .await
            .map_err(command(|| "current_url".to_owned()))
    }

    /// The title of the current page.
    ///
    /// # Errors
    /// When WebDriver cannot tell.
    pub async fn title(&self) -> Result<String, Error> {
        self.client
            .title()
            .await
            .map_err(command(|| "title".to_owned()))
    }

    /// The first element matching `css`, now (no waiting: see [`Browser::wait_for`]).
    ///
    /// # Errors
    /// When nothing matches.
    pub async fn find(&self, css: &str) -> Result<Element, Error> {
        self.client
            .find(Locator::Css(css))
            .await
            .map_err(command(|| format!("find `{css}`")))
    }

    /// Replace the value of the input matching `css` with `text`, typed key by key.
    ///
    /// # Errors
    /// When nothing matches or the element takes no input.
    pub async fn fill(&self, css: &str, text: &str) -> Result<(), Error> {
        let input = self.find(css).await?;
        input
            .clear()
            .await
            .map_err(command(|| format!("clear `{css}`")))?;
        input
            .send_keys(text)
            .await
            .map_err(command(|| format!("type into `{css}`")))
    }

    /// Click the element matching `css`. A click that submits a form or follows a link returns
    /// before the next page has loaded: [`Browser::wait_for`] an element of that page.
    ///
    /// # Errors
    /// When nothing matches or the element cannot be clicked.
    pub async fn click(&self, css: &str) -> Result<(), Error> {
        self.find(css)
            .await?
            .click()
            .await
            .map_err(command(|| format!("click `{css}`")))
    }

    /// The rendered text of the element matching `css`.
    ///
    /// # Errors
    /// When nothing matches.
    pub async fn text(&self, css: &str) -> Result<String, Error> {
        self.find(css)
            .await?
            .text()
            .await
            .map_err(command(|| format!("text of `{css}`")))
    }

    /// Wait until an element matches `css`, for at most `timeout`, and return it.
    ///
    /// # Errors
    /// [`Error::WaitTimeout`] when nothing matched in time; others when WebDriver fails.
    pub async fn wait_for(&self, css: &str, timeout: Duration) -> Result<Element, Error> {
        self.client
            .wait()
            .at_most(timeout)
            .every(WAIT_PERIOD)
            .for_element(Locator::Css(css))
            .await
            .map_err(|source| match source {
                CmdError::WaitTimeout => Error::WaitTimeout {
                    css: css.to_owned(),
                    waited: timeout,
                },
                source => Error::Command {
                    action: format!("wait for `{css}`"),
                    source,
                },
            })
    }

    /// Save a PNG of the viewport as `<target dir>/browser-screenshots/<name>.png` and return
    /// its path. Characters of `name` outside `[A-Za-z0-9._-]` become `_`.
    ///
    /// The target directory is `CARGO_TARGET_DIR` when that is an absolute path, else the one
    /// the running test binary was built in (`target/<profile>/deps/` up two).
    ///
    /// # Errors
    /// When WebDriver cannot take it, or the file cannot be written.
    pub async fn screenshot(&self, name: &str) -> Result<PathBuf, Error> {
        let png = self
            .client
            .screenshot()
            .await
            .map_err(command(|| format!("screenshot {name}")))?;
        let dir = target_dir()?.join("browser-screenshots");
        std::fs::create_dir_all(&dir).map_err(io_error("create", &dir))?;
        let file_name: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let path = dir.join(format!("{file_name}.png"));
        std::fs::write(&path, png).map_err(io_error("write", &path))?;
        Ok(path)
    }

    /// [`Browser::screenshot`] for a test's output: print `screenshot: <path>` (shown with
    /// `--nocapture`) and check that the file is a PNG of more than a few bytes.
    ///
    /// # Errors
    /// As [`Browser::screenshot`], or reading the file back.
    ///
    /// # Panics
    /// When the file is no PNG, or too small to be a page.
    pub async fn keep_screenshot(&self, name: &str) -> Result<PathBuf, Error> {
        let path = self.screenshot(name).await?;
        #[allow(clippy::print_stdout)]
        {
            println!("screenshot: {}", path.display());
        }
        let png = std::fs::read(&path).map_err(io_error("read", &path))?;
        assert!(
            png.starts_with(b"\x89PNG\r\n\x1a\n"),
            "{} is no PNG",
            path.display()
        );
        assert!(
            png.len() > 1000,
            "{} is {} bytes",
            path.display(),
            png.len()
        );
        Ok(path)
    }

    /// End the session (Chromium quits), then stop chromedriver and remove the profile, as
    /// dropping does, but reporting whether the session ended cleanly.
    ///
    /// # Errors
    /// When WebDriver fails to end the session (the processes are stopped all the same).
    pub async fn close(self) -> Result<(), Error> {
        let Self {
            client,
            driver,
            scratch,
            ..
        } = self;
        let closed = client
            .close()
            .await
            .map_err(command(|| "close the session".to_owned()));
        drop(driver);
        drop(scratch);
        closed
    }
}

/// chromedriver and Chromium, found.
struct Programs {
    driver: PathBuf,
    chrome: PathBuf,
}

impl Programs {
    /// Both programs; `None` (after saying so) when one is missing outside CI.
    fn find() -> Result<Option<Self>, Error> {
        let driver = program("CHROMEDRIVER", || on_path("chromedriver"))?;
        let chrome = program("CHROME_BIN", || {
            Some(PathBuf::from(DEFAULT_CHROME)).filter(|p| p.is_file())
        })?;
        let (driver, chrome) = match (driver, chrome) {
            (Some(driver), Some(chrome)) => (driver, chrome),
            (driver, chrome) => {
                let mut missing = Vec::new();
                if driver.is_none() {
                    missing.push("`chromedriver` is not on PATH (nor set by CHROMEDRIVER)");
                }
                if chrome.is_none() {
                    missing.push("Chromium is not at /usr/bin/chromium (nor set by CHROME_BIN)");
                }
                let missing = missing.join(" and ");
                if std::env::var_os("CI").is_some_and(|v| !v.is_empty()) {
                    return Err(Error::NotInstalled { missing });
                }
                static SKIPPED: OnceLock<()> = OnceLock::new();
                SKIPPED.get_or_init(|| {
                    let _ = writeln!(
                        io::stderr(),
                        "browser: SKIPPED: {missing}, so the browser tests cannot run (install \
                         chromium and chromium-driver; with CI set this fails instead)"
                    );
                });
                return Ok(None);
            }
        };
        Ok(Some(Self { driver, chrome }))
    }
}

/// The program an environment variable names (which must exist), else the default lookup's.
fn program(
    variable: &'static str,
    default: impl FnOnce() -> Option<PathBuf>,
) -> Result<Option<PathBuf>, Error> {
    match std::env::var_os(variable).filter(|v| !v.is_empty()) {
        Some(path) => {
            let path = PathBuf::from(path);
            if path.is_file() {
                Ok(Some(path))
            } else {
                Err(Error::OverrideMissing { variable, path })
            }
        }
        None => Ok(default()),
    }
}

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// The session's capabilities: which Chromium, with which switches and profile.
fn capabilities(chrome: &Path, profile: &Path) -> serde_json::Map<String, serde_json::Value> {
    let mut args: Vec<String> = CHROME_ARGS.iter().map(|&a| a.to_owned()).collect();
    args.push(format!("--user-data-dir={}", profile.display()));
    let capabilities = serde_json::json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": chrome.display().to_string(),
            "args": args,
        },
    });
    match capabilities {
        serde_json::Value::Object(map) => map,
        _ => serde_json::Map::new(),
    }
}

/// A free loopback port: bind port 0, read it, release it for chromedriver.
fn free_port() -> Result<u16, Error> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .map_err(io_error("bind", Path::new("127.0.0.1:0")))
}

/// The running chromedriver. Dropping it shuts it down and reaps it.
#[derive(Debug)]
struct Driver {
    child: Child,
    port: u16,
}

impl Driver {
    fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    async fn wait_until_listening(&mut self, log: &Path) -> Result<(), Error> {
        let deadline = Instant::now() + DRIVER_STARTUP_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(Error::DriverExited {
                    status,
                    log: read_log(log),
                });
            }
            if tokio::net::TcpStream::connect(self.addr()).await.is_ok() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(Error::DriverNotReady {
                    port: self.port,
                    waited: DRIVER_STARTUP_TIMEOUT,
                    log: read_log(log),
                });
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// `GET /shutdown`, chromedriver's own extension: it ends every session (quitting
    /// Chromium) and exits. Blocking, since `Drop` cannot await; it takes ~100 ms.
    fn request_shutdown(&self) -> io::Result<()> {
        let mut stream = TcpStream::connect_timeout(&self.addr(), SHUTDOWN_TIMEOUT)?;
        stream.set_read_timeout(Some(SHUTDOWN_TIMEOUT))?;
        stream.set_write_timeout(Some(SHUTDOWN_TIMEOUT))?;
        write!(
            stream,
            "GET /shutdown HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.addr()
        )?;
        // The answer comes once the sessions are gone; its content does not matter.
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).map(|_| ())
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) && self.request_shutdown().is_ok() {
            let deadline = Instant::now() + SHUTDOWN_TIMEOUT;
            while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        // Child::kill signals this very PID (SIGKILL), a no-op error if it already exited.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fresh directory under the system temp dir for the profile and chromedriver's log, removed
/// on drop.
#[derive(Debug)]
struct Scratch {
    dir: PathBuf,
}

impl Scratch {
    fn create() -> Result<Self, Error> {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir = std::env::temp_dir().join(format!(
            "mc-browser-{}-{}-{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir(&dir).map_err(io_error("create", &dir))?;
        Ok(Self { dir })
    }

    /// The Chromium profile (`--user-data-dir`); Chromium creates it.
    fn profile(&self) -> PathBuf {
        self.dir.join("profile")
    }

    /// `TMPDIR` for chromedriver and Chromium.
    fn tmp(&self) -> &Path {
        &self.dir
    }

    /// chromedriver's (and Chromium's) stdout and stderr.
    fn log(&self) -> PathBuf {
        self.dir.join("chromedriver.log")
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The log so far, for an error message (the last 4 KiB: Chromium can be chatty).
fn read_log(path: &Path) -> String {
    const TAIL: usize = 4096;
    let log = std::fs::read(path).unwrap_or_default();
    let start = log.len().saturating_sub(TAIL);
    String::from_utf8_lossy(log.get(start..).unwrap_or_default()).into_owned()
}

/// The cargo target directory the running binary belongs to.
fn target_dir() -> Result<PathBuf, Error> {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from)
        && dir.is_absolute()
    {
        return Ok(dir);
    }
    let exe = std::env::current_exe().map_err(io_error("locate", Path::new("current_exe")))?;
    // target/<profile>/deps/<test binary>, or target/<profile>/examples/<example>.
    exe.ancestors()
        .nth(3)
        .map(Path::to_path_buf)
        .ok_or_else(|| Error::Io {
            action: "find the target directory of",
            path: exe.clone(),
            source: io::ErrorKind::NotFound.into(),
        })
}

fn io_error<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> Error + 'a {
    move |source| Error::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

fn command(action: impl FnOnce() -> String) -> impl FnOnce(CmdError) -> Error {
    move |source| Error::Command {
        action: action(),
        source,
    }
}
