//! A process-wide `tracing` subscriber for the adapters' tests: it writes down every span and
//! event with its thread, installed once before the first client is built. Process-wide because
//! tracing caches each callsite's interest for the whole process: a per-thread subscriber in one
//! test cannot rely on it while other tests run.
#![allow(clippy::expect_used)]

use std::cell::RefCell;
use std::sync::{Mutex, Once, PoisonError};
use std::thread::ThreadId;

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

#[derive(Clone, Debug)]
pub struct SpanRecord {
    pub id: u64,
    pub name: &'static str,
    pub parent: Option<u64>,
    pub thread: ThreadId,
    pub fields: Vec<(&'static str, String)>,
}

#[derive(Clone, Debug)]
pub struct EventRecord {
    pub span: Option<u64>,
    pub fields: Vec<(&'static str, String)>,
}

impl SpanRecord {
    pub fn field(&self, name: &str) -> Option<&str> {
        field(&self.fields, name)
    }
}

impl EventRecord {
    pub fn field(&self, name: &str) -> Option<&str> {
        field(&self.fields, name)
    }
}

fn field<'a>(fields: &'a [(&'static str, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .rev()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.as_str())
}

static SPANS: Mutex<Vec<SpanRecord>> = Mutex::new(Vec::new());
static EVENTS: Mutex<Vec<EventRecord>> = Mutex::new(Vec::new());

thread_local! {
    static ENTERED: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

fn current() -> Option<u64> {
    ENTERED.with(|stack| stack.borrow().last().copied())
}

struct Fields(Vec<(&'static str, String)>);

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push((field.name(), value.to_owned()));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.push((field.name(), format!("{value:?}")));
    }
}

struct Recorder;

impl Subscriber for Recorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let mut fields = Fields(Vec::new());
        span.record(&mut fields);
        let parent = match span.parent() {
            Some(parent) => Some(parent.into_u64()),
            None if span.is_contextual() => current(),
            None => None,
        };
        let mut spans = SPANS.lock().unwrap_or_else(PoisonError::into_inner);
        let id = spans.len() as u64 + 1;
        spans.push(SpanRecord {
            id,
            name: span.metadata().name(),
            parent,
            thread: std::thread::current().id(),
            fields: fields.0,
        });
        Id::from_u64(id)
    }

    fn record(&self, span: &Id, values: &Record<'_>) {
        let mut fields = Fields(Vec::new());
        values.record(&mut fields);
        let mut spans = SPANS.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(record) = usize::try_from(span.into_u64() - 1)
            .ok()
            .and_then(|i| spans.get_mut(i))
        {
            record.fields.extend(fields.0);
        }
    }

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut fields = Fields(Vec::new());
        event.record(&mut fields);
        let span = match event.parent() {
            Some(parent) => Some(parent.into_u64()),
            None if event.is_contextual() => current(),
            None => None,
        };
        EVENTS
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(EventRecord {
                span,
                fields: fields.0,
            });
    }

    fn enter(&self, span: &Id) {
        ENTERED.with(|stack| stack.borrow_mut().push(span.into_u64()));
    }

    fn exit(&self, _: &Id) {
        ENTERED.with(|stack| stack.borrow_mut().pop());
    }
}

/// Install the recorder as the process's subscriber (once).
pub fn install() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        tracing::subscriber::set_global_default(Recorder)
            .expect("no other subscriber in this test binary");
    });
}

/// Every span recorded so far.
pub fn spans() -> Vec<SpanRecord> {
    SPANS.lock().unwrap_or_else(PoisonError::into_inner).clone()
}

/// Every event recorded so far.
pub fn events() -> Vec<EventRecord> {
    EVENTS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
}

/// The spans called `name` of one operator, in creation order.
#[must_use]
pub fn named<'a>(spans: &'a [SpanRecord], name: &str, operator: &str) -> Vec<&'a SpanRecord> {
    spans
        .iter()
        .filter(|s| s.name == name && s.field("operator") == Some(operator))
        .collect()
}

/// No span field and no event field recorded so far contains any of `secrets`.
#[track_caller]
pub fn assert_no_secret(secrets: &[String]) {
    let fields = spans()
        .into_iter()
        .flat_map(|s| s.fields)
        .chain(events().into_iter().flat_map(|e| e.fields));
    for (name, value) in fields {
        for secret in secrets {
            assert!(
                !value.contains(secret.as_str()),
                "{secret:?} in field {name}"
            );
        }
    }
}
