//! The one test fixture: the committed test keys and the fixed login (claims, tokens,
//! responses) used by mc-core's tests, its benchmark and the fuzz harness.
