//! The one lenient JSON reader: the sloppy shapes real operators send, read correctly, and
//! everything else refused. Every parser reads its loosely typed members through it: the token
//! response (`expires_in`), provider metadata (booleans, lists, the version map), discovery
//! (`ttl`), JWKS (`key_ops`), and the registered claims of id_tokens and signed userinfo (the
//! claim set in `id_token.rs`, the JOSE header in `jws.rs`).
//!
//! The rule (security review, finding 3): a member that is absent follows the member's own
//! absent rule; a member that is present but cannot be read as its type is an error that names
//! the member, never "treated as absent" (an unreadable `nbf` must not skip the `nbf` check).
//!
//! The lenient shapes kept, because the ecosystem sends them (see the protocol fixtures):
//! - [`Seconds`] (dates, `expires_in`, `ttl`): a non-negative integer, a float (truncated:
//!   `1790000000.9`), or a string holding either (`"3600"`, the iOS SDK); below 2^64.
//! - [`Flag`]: `true`/`false`, `1`/`0`, or the strings `"true"`, `"1"`, `"yes"` and their
//!   opposites in any case (`claims_parameter_supported: "1"`).
//! - [`List`]: a string or an array of strings (`aud`, `amr: "SMS_URL"` of 2016 sandboxes).
//! - [`TextOrInteger`]: a string or a non-negative integer, read as its decimal digits
//!   (`acr: 2`).
//! - `null`: in JSON documents (token, metadata, discovery, JWKS members) it means absent
//!   (serializers write it for unset members: `refresh_token: null`); in a JWT's header and
//!   registered claims it is a value of the wrong type (no JOSE producer needs it, and
//!   `azp: null` must not pass as "no azp").
//!
//! Everything is read by serde visitors straight from the JSON text, without an intermediate
//! `serde_json::Value`: the id_token claims are on the per-login path.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// Why a present value cannot be read as its type (a fixed phrase, never the value).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Invalid(pub(crate) &'static str);

/// A present value, read or refused.
pub(crate) type Read<T> = Result<T, Invalid>;

const NULL: Invalid = Invalid("null");

/// Every reason this module gives, so that a JSON error raised by it can be reported with its
/// reason (the reasons name no values).
pub(crate) const REASONS: &[&str] = &[
    "null",
    "negative",
    "out of range",
    "not a number",
    "not a boolean",
    "not a string",
    "not a string or an integer",
    "not a string or an array of strings",
    "not an object of strings or an array of them",
    "repeated",
];

/// How one lenient type reads each kind of JSON value. The defaults refuse with `EXPECTED`.
pub(crate) trait Shape {
    /// What a value of this shape reads as.
    type Out;
    /// The reason given for a value of another JSON type.
    const EXPECTED: &'static str;

    fn text(_: &str) -> Read<Self::Out> {
        Err(Invalid(Self::EXPECTED))
    }
    fn owned_text(s: String) -> Read<Self::Out> {
        Self::text(&s)
    }
    fn unsigned(_: u64) -> Read<Self::Out> {
        Err(Invalid(Self::EXPECTED))
    }
    fn negative(_: i64) -> Read<Self::Out> {
        Err(Invalid(Self::EXPECTED))
    }
    fn float(_: f64) -> Read<Self::Out> {
        Err(Invalid(Self::EXPECTED))
    }
    fn boolean(_: bool) -> Read<Self::Out> {
        Err(Invalid(Self::EXPECTED))
    }
    fn list<'de, A: SeqAccess<'de>>(seq: A) -> Result<Read<Self::Out>, A::Error> {
        skip_seq(seq)?;
        Ok(Err(Invalid(Self::EXPECTED)))
    }
    /// An object without members.
    fn empty_object() -> Read<Self::Out> {
        Err(Invalid(Self::EXPECTED))
    }
    /// An object whose first member name is `first` (already read; its value is not).
    fn object<'de, A: MapAccess<'de>>(
        _first: Cow<'de, str>,
        mut map: A,
    ) -> Result<Read<Self::Out>, A::Error> {
        let _: IgnoredAny = map.next_value()?;
        skip_map(map)?;
        Ok(Err(Invalid(Self::EXPECTED)))
    }
}

fn skip_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<(), A::Error> {
    while seq.next_element::<IgnoredAny>()?.is_some() {}
    Ok(())
}

fn skip_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<(), A::Error> {
    while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
    Ok(())
}

/// The member name serde_json uses for a number when its `arbitrary_precision` feature is on
/// (feature unification in the host's build can turn it on).
const ARBITRARY_PRECISION_NUMBER: &str = "$serde_json::private::Number";

/// The one visitor: each JSON kind handed to the shape, `null` refused.
struct Reader<S>(PhantomData<S>);

impl<'de, S: Shape> Visitor<'de> for Reader<S> {
    type Value = Read<S::Out>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(S::text(v))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(S::owned_text(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(S::unsigned(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        // serde_json hands only negative integers to `visit_i64`; other formats may not.
        Ok(u64::try_from(v).map_or_else(|_| S::negative(v), S::unsigned))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(S::float(v))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(S::boolean(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Err(NULL))
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Err(NULL))
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        S::list(seq)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let Some(first) = map.next_key::<Cow<'de, str>>()? else {
            return Ok(S::empty_object());
        };
        if first != ARBITRARY_PRECISION_NUMBER {
            return S::object(first, map);
        }
        let digits: Cow<'de, str> = map.next_value()?;
        skip_map(map)?;
        Ok(if let Ok(n) = digits.parse::<u64>() {
            S::unsigned(n)
        } else if let Ok(n) = digits.parse::<i64>() {
            S::negative(n)
        } else {
            digits
                .parse::<f64>()
                .map_or(Err(Invalid(S::EXPECTED)), S::float)
        })
    }
}

/// A value of shape `S` where `null` is a value of the wrong type (JWT headers and claims, list
/// elements): the verdict is kept for the caller, who names the member in its error.
pub(crate) struct Strict<S: Shape>(pub(crate) Read<S::Out>);

impl<'de, S: Shape> Deserialize<'de> for Strict<S> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(Reader::<S>(PhantomData)).map(Strict)
    }
}

/// A JSON document member of shape `S`, as a serde `deserialize_with` function: absent (with
/// `#[serde(default)]`) or `null` is `None`; present but unreadable keeps its verdict, so that
/// the parser names the member in its error.
pub(crate) fn member<'de, D: Deserializer<'de>, S: Shape>(
    d: D,
) -> Result<Option<Read<S::Out>>, D::Error> {
    Ok(Option::<Strict<S>>::deserialize(d)?.map(|Strict(read)| read))
}

/// A JSON document member of shape `S` that fails the whole document's parse when present but
/// unreadable, with the reason (see [`REASONS`]) in the JSON error.
fn fail_closed<'de, D: Deserializer<'de>, S: Shape>(d: D) -> Result<Option<S::Out>, D::Error> {
    member::<D, S>(d)?
        .transpose()
        .map_err(|Invalid(reason)| de::Error::custom(reason))
}

/// [`Seconds`], absent or `null` as `None`, anything unreadable failing the document.
pub(crate) fn opt_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    fail_closed::<D, Seconds>(d)
}

/// [`Flag`], absent or `null` as `None`, anything unreadable failing the document.
pub(crate) fn opt_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    fail_closed::<D, Flag>(d)
}

/// [`List`], absent or `null` as empty, anything unreadable failing the document.
pub(crate) fn string_or_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(fail_closed::<D, List>(d)?.unwrap_or_default())
}

/// [`List`] where an empty list and an absent member differ (JWK `key_ops`).
pub(crate) fn opt_list<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    fail_closed::<D, List>(d)
}

/// [`VersionMap`], absent or `null` as empty, anything unreadable failing the document.
pub(crate) fn version_map<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Vec<(String, String)>, D::Error> {
    Ok(fail_closed::<D, VersionMap>(d)?.unwrap_or_default())
}

/// Seconds (a NumericDate, `expires_in`, `ttl`): a non-negative integer, a finite float in
/// [0, 2^64) truncated toward zero, or a string holding either (surrounding whitespace
/// ignored). Negative, larger, non-finite or non-numeric values are refused.
pub(crate) enum Seconds {}

/// 2^64: the first float a `u64` cannot hold.
const TWO_POW_64: f64 = 18_446_744_073_709_551_616.0;

impl Shape for Seconds {
    type Out = u64;
    const EXPECTED: &'static str = "not a number";

    fn text(s: &str) -> Read<u64> {
        let s = s.trim();
        if let Ok(n) = s.parse::<u64>() {
            return Ok(n);
        }
        match s.parse::<f64>() {
            Ok(f) if f.is_finite() => Self::float(f),
            _ => Err(Invalid(Self::EXPECTED)),
        }
    }
    fn unsigned(n: u64) -> Read<u64> {
        Ok(n)
    }
    fn negative(_: i64) -> Read<u64> {
        Err(Invalid("negative"))
    }
    fn float(f: f64) -> Read<u64> {
        if !f.is_finite() {
            Err(Invalid(Self::EXPECTED))
        } else if f < 0.0 {
            Err(Invalid("negative"))
        } else if f >= TWO_POW_64 {
            Err(Invalid("out of range"))
        } else {
            // In range by the checks above; `as` truncates toward zero.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            Ok(f as u64)
        }
    }
}

/// A boolean: `true`/`false`, `1`/`0`, or `"true"`/`"1"`/`"yes"` and `"false"`/`"0"`/`"no"`
/// (any case, surrounding whitespace ignored).
pub(crate) enum Flag {}

impl Shape for Flag {
    type Out = bool;
    const EXPECTED: &'static str = "not a boolean";

    fn text(s: &str) -> Read<bool> {
        let s = s.trim();
        if ["true", "1", "yes"]
            .iter()
            .any(|t| s.eq_ignore_ascii_case(t))
        {
            Ok(true)
        } else if ["false", "0", "no"]
            .iter()
            .any(|t| s.eq_ignore_ascii_case(t))
        {
            Ok(false)
        } else {
            Err(Invalid(Self::EXPECTED))
        }
    }
    fn unsigned(n: u64) -> Read<bool> {
        match n {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(Invalid(Self::EXPECTED)),
        }
    }
    fn boolean(b: bool) -> Read<bool> {
        Ok(b)
    }
}

/// A JSON string, as is.
pub(crate) enum Text {}

impl Shape for Text {
    type Out = String;
    const EXPECTED: &'static str = "not a string";

    fn text(s: &str) -> Read<String> {
        Ok(s.to_owned())
    }
    fn owned_text(s: String) -> Read<String> {
        Ok(s)
    }
}

/// A string, or a non-negative integer read as its decimal digits (`acr: 2`).
pub(crate) enum TextOrInteger {}

impl Shape for TextOrInteger {
    type Out = String;
    const EXPECTED: &'static str = "not a string or an integer";

    fn text(s: &str) -> Read<String> {
        Ok(s.to_owned())
    }
    fn owned_text(s: String) -> Read<String> {
        Ok(s)
    }
    fn unsigned(n: u64) -> Read<String> {
        Ok(n.to_string())
    }
}

/// One string, or an array of strings (any other element refuses the whole value).
pub(crate) enum List {}

impl Shape for List {
    type Out = Vec<String>;
    const EXPECTED: &'static str = "not a string or an array of strings";

    fn text(s: &str) -> Read<Vec<String>> {
        Ok(vec![s.to_owned()])
    }
    fn owned_text(s: String) -> Read<Vec<String>> {
        Ok(vec![s])
    }
    fn list<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<Read<Vec<String>>, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(1).min(8));
        while let Some(Strict(item)) = seq.next_element::<Strict<Text>>()? {
            match item {
                Ok(item) => items.push(item),
                Err(_) => {
                    skip_seq(seq)?;
                    return Ok(Err(Invalid(Self::EXPECTED)));
                }
            }
        }
        Ok(Ok(items))
    }
}

/// The Mobile Connect version map of provider metadata: an object of scope strings to version
/// strings, or an array of such objects (what operators publish: one entry per object), read
/// as (scope, version) pairs in document order.
pub(crate) enum VersionMap {}

/// One object of a [`VersionMap`].
enum VersionObject {}

fn version_entries<'de, A: MapAccess<'de>>(
    first: Cow<'de, str>,
    mut map: A,
    out: &mut Vec<(String, String)>,
) -> Result<Read<()>, A::Error> {
    let mut name = Some(first);
    while let Some(scope) = match name.take() {
        Some(first) => Some(first),
        None => map.next_key::<Cow<'de, str>>()?,
    } {
        let Strict(version) = map.next_value::<Strict<Text>>()?;
        match version {
            Ok(version) => out.push((scope.into_owned(), version)),
            Err(_) => {
                skip_map(map)?;
                return Ok(Err(Invalid(VersionMap::EXPECTED)));
            }
        }
    }
    Ok(Ok(()))
}

impl Shape for VersionObject {
    type Out = Vec<(String, String)>;
    const EXPECTED: &'static str = VersionMap::EXPECTED;

    fn empty_object() -> Read<Self::Out> {
        Ok(Vec::new())
    }
    fn object<'de, A: MapAccess<'de>>(
        first: Cow<'de, str>,
        map: A,
    ) -> Result<Read<Self::Out>, A::Error> {
        let mut out = Vec::new();
        Ok(version_entries(first, map, &mut out)?.map(|()| out))
    }
}

impl Shape for VersionMap {
    type Out = Vec<(String, String)>;
    const EXPECTED: &'static str = "not an object of strings or an array of them";

    fn empty_object() -> Read<Self::Out> {
        Ok(Vec::new())
    }
    fn list<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<Read<Self::Out>, A::Error> {
        let mut out = Vec::new();
        while let Some(item) = seq.next_element::<Strict<VersionObject>>()? {
            match item.0 {
                Ok(entries) => out.extend(entries),
                Err(_) => {
                    skip_seq(seq)?;
                    return Ok(Err(Invalid(Self::EXPECTED)));
                }
            }
        }
        Ok(Ok(out))
    }
    fn object<'de, A: MapAccess<'de>>(
        first: Cow<'de, str>,
        map: A,
    ) -> Result<Read<Self::Out>, A::Error> {
        VersionObject::object(first, map)
    }
}

/// A JSON string, borrowed from the text when it has no escapes; `null` and every other type
/// fail the parse (JOSE header members: `alg`, `kid`, `typ`, read before the signature check
/// and without an allocation).
pub(crate) struct Str<'de>(pub(crate) Cow<'de, str>);

impl<'de> Deserialize<'de> for Str<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Cow<'de, str>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Cow::Borrowed(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Cow::Owned(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Cow::Owned(v))
            }
        }
        // `deserialize_str`: serde_json refuses any other type, `null` included.
        d.deserialize_str(V).map(Str)
    }
}
