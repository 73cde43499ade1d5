//! Tracing: each exchange runs in a span named after its step, and nothing secret is logged.
//! Alone in its binary because tracing caches callsite interest process-wide, which a scoped
//! subscriber on one test thread cannot rely on while other tests run.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::sync::{Arc, Mutex};

use mc_core::AuthorizeOptions;
use mc_io_tokio::OsEntropy;
use support::{Server, client, json, operator};

/// A minimal subscriber that writes down spans and events as text.
#[derive(Clone, Default)]
struct Recorder {
    lines: Arc<Mutex<Vec<String>>>,
    names: Arc<Mutex<Vec<&'static str>>>,
    stack: Arc<Mutex<Vec<u64>>>,
}

struct Fields(String);

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.push_str(&format!(" {}={value:?}", field.name()));
    }
}

impl tracing::Subscriber for Recorder {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, span: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        let mut fields = Fields(format!("span {}", span.metadata().name()));
        span.record(&mut fields);
        self.lines.lock().unwrap().push(fields.0);
        let mut names = self.names.lock().unwrap();
        names.push(span.metadata().name());
        tracing::span::Id::from_u64(names.len() as u64)
    }

    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}

    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}

    fn event(&self, event: &tracing::Event<'_>) {
        let inside = self.stack.lock().unwrap().last().copied();
        let span = inside.map_or("none", |id| self.names.lock().unwrap()[id as usize - 1]);
        let mut fields = Fields(format!("event in {span}:"));
        event.record(&mut fields);
        self.lines.lock().unwrap().push(fields.0);
    }

    fn enter(&self, span: &tracing::span::Id) {
        self.stack.lock().unwrap().push(span.into_u64());
    }

    fn exit(&self, _: &tracing::span::Id) {
        self.stack.lock().unwrap().pop();
    }
}

#[tokio::test]
async fn each_exchange_runs_in_a_span_that_logs_no_secrets() {
    let recorder = Recorder::default();
    let _guard = tracing::subscriber::set_default(recorder.clone());
    let server = Server::canned(json(
        "400 Bad Request",
        r#"{"error":"invalid_grant","error_description":"body-marker"}"#,
    ))
    .await;
    let op = operator(&server);
    let now = mc_io_tokio::now();
    let (_, flow) = op
        .authorize(AuthorizeOptions::new(), &mut OsEntropy, now)
        .unwrap();
    let query = format!("code=code-marker&state={}", flow.state().expose_secret());
    let code = flow.callback(&op, &query, now).unwrap();
    let _ = client()
        .execute(code.token_exchange(&op, mc_io_tokio::now()).unwrap())
        .await;
    let lines = recorder.lines.lock().unwrap().clone();
    assert!(
        lines.contains(&"span mc_exchange step=\"token\"".to_owned()),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("event in mc_exchange:") && l.contains("status=400")),
        "{lines:?}"
    );
    for line in &lines {
        for secret in ["Basic ", "client-secret", "code-marker", "body-marker"] {
            assert!(!line.contains(secret), "{line}");
        }
    }
}
