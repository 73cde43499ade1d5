//! The demo SP (mc-io-tokio's `demo` example) as a process, for tests that drive it over HTTP:
//! [`DemoProcess::start`] runs the built example with the given arguments, reads its base URL
//! from the first line it prints, and kills it by PID when dropped. [`Browser`] drives it as a
//! browser without script would: cookies kept by hand, no redirect followed (every hop is the
//! test's), and every answer of a demo checked to be private (`Cache-Control: no-store`,
//! `Referrer-Policy: no-referrer`).
//!
//! The binary is the one Cargo builds into `target/<profile>/examples/demo` (`cargo test
//! --workspace` builds the examples; so does `cargo build -p mc-io-tokio --features axum,redis
//! --example demo`). Cargo names no example's path to another package's tests, so it is found
//! beside the test binary: `target/<profile>/deps/<test>` → `target/<profile>/examples/demo`.

use std::collections::BTreeMap;
use std::io::{self, BufRead as _, BufReader, Read as _};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::Duration;

use http::header::{self, HeaderMap};
use url::Url;

/// How long the demo may take to print its base URL (it starts the sandbox and binds first).
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

/// The command that builds the demo, for the error when it is missing.
pub const BUILD_COMMAND: &str = "cargo build -p mc-io-tokio --features axum,redis --example demo";

/// A running demo process (see the [module](self) documentation).
#[derive(Debug)]
pub struct DemoProcess {
    child: Child,
    base_url: String,
    stderr: Arc<Mutex<String>>,
}

impl DemoProcess {
    /// Where the built demo is: `examples/demo` in the profile directory of this test binary.
    ///
    /// # Errors
    /// When it is not there (build it with [`BUILD_COMMAND`]).
    pub fn binary() -> io::Result<PathBuf> {
        let exe = std::env::current_exe()?;
        let profile = exe
            .parent()
            .and_then(|deps| deps.parent())
            .ok_or_else(|| io::Error::other("the test binary has no profile directory"))?;
        let binary = profile
            .join("examples")
            .join(format!("demo{}", std::env::consts::EXE_SUFFIX));
        if binary.is_file() {
            Ok(binary)
        } else {
            Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!(
                    "the demo is not built ({} is missing): run `{BUILD_COMMAND}` first",
                    binary.display()
                ),
            ))
        }
    }

    /// Start the demo with `args` (`--port 0` is added unless a `--port` is given) and wait for
    /// its base URL.
    ///
    /// # Errors
    /// The binary is missing; it cannot be spawned; it exits or prints nothing within 30 s (the
    /// error holds what it wrote to stderr).
    pub fn start(args: &[&str]) -> io::Result<Self> {
        let mut command = Command::new(Self::binary()?);
        if !args
            .iter()
            .any(|a| *a == "--port" || a.starts_with("--port="))
        {
            command.args(["--port", "0"]);
        }
        let mut child = command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let stderr = Arc::new(Mutex::new(String::new()));
        if let Some(mut pipe) = child.stderr.take() {
            let stderr = Arc::clone(&stderr);
            thread::spawn(move || {
                let mut chunk = [0_u8; 4096];
                while let Ok(n @ 1..) = pipe.read(&mut chunk) {
                    let text = String::from_utf8_lossy(chunk.get(..n).unwrap_or_default());
                    stderr
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push_str(&text);
                }
            });
        }
        let (first_line, lines) = mpsc::channel();
        if let Some(pipe) = child.stdout.take() {
            thread::spawn(move || {
                let mut reader = BufReader::new(pipe);
                let mut line = String::new();
                let read = reader.read_line(&mut line).map(|_| line);
                let _ = first_line.send(read);
                // Keep reading, so that the demo never blocks on (or dies of) a full pipe.
                let _ = io::copy(&mut reader, &mut io::sink());
            });
        }
        let mut demo = Self {
            child,
            base_url: String::new(),
            stderr,
        };
        let line = match lines.recv_timeout(STARTUP_TIMEOUT) {
            Ok(Ok(line)) => line,
            Ok(Err(e)) => return Err(demo.failed(&format!("reading its output: {e}"))),
            Err(_) => return Err(demo.failed("no base URL within 30 s")),
        };
        let base_url = line.trim();
        if !base_url.starts_with("http://") {
            let why = if base_url.is_empty() {
                "it exited without printing its base URL".to_owned()
            } else {
                format!("its first line is not a URL: {base_url:?}")
            };
            return Err(demo.failed(&why));
        }
        demo.base_url = base_url.to_owned();
        Ok(demo)
    }

    /// An error naming what went wrong and what the demo wrote to stderr (it is killed).
    fn failed(&mut self, what: &str) -> io::Error {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // The stderr reader finishes once the process is gone.
        thread::sleep(Duration::from_millis(50));
        let stderr = self
            .stderr
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        io::Error::other(format!(
            "the demo failed to start: {what}; stderr:\n{stderr}"
        ))
    }

    /// The base URL it printed (`http://127.0.0.1:PORT`).
    #[must_use]
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The URL of `path` (starting with `/`) on the demo.
    #[must_use]
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// The process id.
    #[must_use]
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for DemoProcess {
    fn drop(&mut self) {
        // `Child::kill` signals this process by its PID; waiting reaps it.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How long the [`Browser`] waits for one answer.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(20);

/// One answer, as the [`Browser`] received it.
#[derive(Debug)]
pub struct Answer {
    /// The URL asked.
    pub url: Url,
    /// The status code.
    pub status: u16,
    /// The headers.
    pub headers: HeaderMap,
    /// The body, as text.
    pub body: String,
}

impl Answer {
    /// The `Location`, resolved against the request's URL.
    ///
    /// # Errors
    /// When there is none, or it is not a URL.
    pub fn location(&self) -> io::Result<Url> {
        let location = self
            .headers
            .get(header::LOCATION)
            .ok_or_else(|| {
                io::Error::other(format!(
                    "no Location in the {} answer from {}",
                    self.status, self.url
                ))
            })?
            .to_str()
            .map_err(io::Error::other)?;
        self.url.join(location).map_err(io::Error::other)
    }

    /// The `Set-Cookie` header for `name`, whole.
    #[must_use]
    pub fn set_cookie(&self, name: &str) -> Option<&str> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with(&format!("{name}=")))
    }

    /// The content of the element with this id (`<tag id="name" ...>content</tag>`; no
    /// nesting of the same tag).
    #[must_use]
    pub fn element(&self, id: &str) -> Option<&str> {
        let (before, after) = self.body.split_once(&format!(" id=\"{id}\""))?;
        let tag = before.rsplit_once('<')?.1;
        let content = after.split_once('>')?.1;
        content
            .split_once(&format!("</{tag}>"))
            .map(|(inner, _)| inner)
    }

    /// The class of the demo's error page (`#error`'s `data-class`: `refused`,
    /// `unavailable`, ...); `None` on any other page.
    #[must_use]
    pub fn error_class(&self) -> Option<&str> {
        let tag = self.body.split_once(" id=\"error\"")?.1.split_once('>')?.0;
        let class = tag.split_once(" data-class=\"")?.1;
        class.split_once('"').map(|(class, _)| class)
    }

    /// This answer, if its status is `status`.
    ///
    /// # Errors
    /// Another status (the error holds the URL and the body).
    pub fn expect(&self, status: u16) -> io::Result<&Self> {
        if self.status == status {
            Ok(self)
        } else {
            Err(io::Error::other(format!(
                "{}: status {} where {status} was expected; body:\n{}",
                self.url, self.status, self.body
            )))
        }
    }
}

/// A browser without script (see the [module](self) documentation).
///
/// Its cookies are kept per host, not per port, as browsers keep them (RFC 6265 §8.5): demo
/// instances on one loopback address share them as instances behind one load balancer do. A
/// cookie lives until its `Max-Age=0`; no other expiry is kept, so that a test can send a
/// stale login cookie on purpose.
#[derive(Debug)]
pub struct Browser {
    http: mc_io_tokio::Client,
    /// (host, cookie name) → value.
    jar: BTreeMap<(String, String), String>,
    /// The demos' base URLs: their answers must be private. The first is where
    /// [`Browser::log_in`] logs in.
    demos: Vec<String>,
}

fn host(url: &Url) -> String {
    url.host_str().unwrap_or_default().to_owned()
}

impl Browser {
    /// A browser with no cookie, for `demo`.
    ///
    /// # Errors
    /// When the HTTP client cannot be set up.
    pub fn new(demo: &DemoProcess) -> io::Result<Self> {
        let config = mc_io_tokio::Config::default().with_timeout(ANSWER_TIMEOUT);
        let http = mc_io_tokio::Client::with_config(config).map_err(io::Error::other)?;
        Ok(Self {
            http,
            jar: BTreeMap::new(),
            demos: vec![demo.base_url().to_owned()],
        })
    }

    /// Check `demo`'s answers too (another instance this browser visits).
    pub fn watch(&mut self, demo: &DemoProcess) {
        self.demos.push(demo.base_url().to_owned());
    }

    /// The cookie `name` this browser would send to `url`.
    #[must_use]
    pub fn cookie(&self, url: &str, name: &str) -> Option<String> {
        let url = Url::parse(url).ok()?;
        self.jar.get(&(host(&url), name.to_owned())).cloned()
    }

    /// Keep the cookie `name=value` for `url`'s host, as if it had been set (a browser that
    /// kept a cookie the server cleared, or an attacker who copied it).
    ///
    /// # Errors
    /// When `url` is not a URL.
    pub fn keep_cookie(&mut self, url: &str, name: &str, value: &str) -> io::Result<()> {
        let url = Url::parse(url).map_err(io::Error::other)?;
        self.jar
            .insert((host(&url), name.to_owned()), value.to_owned());
        Ok(())
    }

    /// `GET url`.
    ///
    /// # Errors
    /// As [`Browser::send`].
    pub async fn get(&mut self, url: &str) -> io::Result<Answer> {
        self.send(http::Method::GET, url, None, &[]).await
    }

    /// `POST url` with a form.
    ///
    /// # Errors
    /// As [`Browser::send`].
    pub async fn post(&mut self, url: &str, form: &[(&str, &str)]) -> io::Result<Answer> {
        self.post_with(url, form, &[]).await
    }

    /// `POST url` with a form and more headers.
    ///
    /// # Errors
    /// As [`Browser::send`].
    pub async fn post_with(
        &mut self,
        url: &str,
        form: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> io::Result<Answer> {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        self.send(http::Method::POST, url, Some(body), headers)
            .await
    }

    /// Send one request with this browser's cookies for the host (and `headers` after them),
    /// keep the cookies the answer sets or clears.
    ///
    /// # Errors
    /// Not a URL; no answer (nothing listening, or none within 20 s); an unreadable
    /// `Set-Cookie`; a demo's answer that is not private.
    pub async fn send(
        &mut self,
        method: http::Method,
        url: &str,
        form: Option<String>,
        headers: &[(&str, &str)],
    ) -> io::Result<Answer> {
        let parsed = Url::parse(url).map_err(io::Error::other)?;
        let here = host(&parsed);
        let mut request = http::Request::builder()
            .method(method.clone())
            .uri(parsed.as_str());
        let cookies: Vec<String> = self
            .jar
            .iter()
            .filter(|((at, _), _)| *at == here)
            .map(|((_, name), value)| format!("{name}={value}"))
            .collect();
        if !cookies.is_empty() {
            request = request.header(header::COOKIE, cookies.join("; "));
        }
        if form.is_some() {
            request = request.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request
            .body(form.unwrap_or_default().into_bytes())
            .map_err(io::Error::other)?;
        let response = self
            .http
            .send(request)
            .await
            .map_err(|e| io::Error::other(format!("{method} {url}: {e}")))?;
        let (head, body) = response.into_parts();
        let answer = Answer {
            url: parsed,
            status: head.status.as_u16(),
            headers: head.headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        };
        for set in answer.headers.get_all(header::SET_COOKIE) {
            let set = set.to_str().map_err(io::Error::other)?;
            let (pair, attributes) = set.split_once(';').unwrap_or((set, ""));
            let (name, value) = pair
                .split_once('=')
                .ok_or_else(|| io::Error::other(format!("a Set-Cookie without =: {set}")))?;
            let key = (here.clone(), name.trim().to_owned());
            if attributes.contains("Max-Age=0") || value.is_empty() {
                self.jar.remove(&key);
            } else {
                self.jar.insert(key, value.to_owned());
            }
        }
        if self.demos.iter().any(|demo| url.starts_with(demo.as_str())) {
            for (name, value) in [
                (header::CACHE_CONTROL, "no-store"),
                (header::REFERRER_POLICY, "no-referrer"),
            ] {
                let found = answer.headers.get(&name).and_then(|v| v.to_str().ok());
                if found != Some(value) {
                    return Err(io::Error::other(format!(
                        "{url}: {name} is {found:?}, not {value}"
                    )));
                }
            }
        }
        Ok(answer)
    }

    /// Start a login by phone number on the first demo and follow it to the callback's
    /// answer: the demo's 303 to the operator, the operator's 302 back (the sandbox handset
    /// answers at once), the callback.
    ///
    /// # Errors
    /// As [`Browser::send`]; a start that is not a 303; as [`Browser::through_operator`].
    pub async fn log_in(&mut self, msisdn: &str) -> io::Result<Answer> {
        let demo = self.demos.first().cloned().unwrap_or_default();
        let start = self
            .post(&format!("{demo}/login"), &[("msisdn", msisdn)])
            .await?;
        start.expect(303)?;
        self.through_operator(&start).await
    }

    /// From a demo's 303 to the operator: the operator's redirect back, and the callback.
    ///
    /// # Errors
    /// As [`Browser::back_from_operator`] and [`Browser::send`].
    pub async fn through_operator(&mut self, start: &Answer) -> io::Result<Answer> {
        let callback = self.back_from_operator(start).await?;
        self.get(callback.as_str()).await
    }

    /// From a demo's 303 to the operator: visit the operator and return where it sends the
    /// browser back (the callback URL with the code and state), unvisited.
    ///
    /// # Errors
    /// `start` leads to a demo, not to the operator; as [`Browser::send`]; the operator
    /// answers anything but a 302.
    pub async fn back_from_operator(&mut self, start: &Answer) -> io::Result<Url> {
        let operator = start.location()?;
        if self
            .demos
            .iter()
            .any(|demo| operator.as_str().starts_with(demo.as_str()))
        {
            return Err(io::Error::other(format!(
                "the login went to {operator}, not to the operator"
            )));
        }
        let back = self.get(operator.as_str()).await?;
        back.expect(302)?;
        back.location()
    }
}
