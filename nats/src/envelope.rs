//! The envelope every message crosses processes in: a small header the crate owns, then the
//! body in the node's codec.
//!
//! ```text
//! byte 0      b'P'  (magic: not a playhouse message otherwise)
//! byte 1      version (1)
//! byte 2      kind: 1 tell, 2 ask, 3 reply, 4 rejection, 5 acknowledged tell,
//!             6 tell naming its sender
//! 1-10 bytes  correlation id, LEB128 (one byte, 0, for a tell; for kind 6, the sender's
//!             number for the message type)
//! 1 byte      length n of the type tag
//! n bytes     the type tag: the body's Rust type name, UTF-8; for an ask through a typed
//!             reference, `Q->R`, the answer's type name too (see `ask_tag`); a name over 255
//!             bytes is shortened with a hash of the whole (see `wire_tag`)
//! kind 6 only: 1 byte, length m of the sender's node name, then the name (UTF-8)
//! rest        the body
//! ```
//!
//! A tell of kind 6 (a [lean](crate::RemoteRef::lean) tell) is published without a reply
//! subject: the receiving node sends a refusal to the inbox of the node it names instead.
//!
//! The correlation id is a varint because every byte is encrypted, parsed and copied by the
//! sender, the server and the receiver: a tell's header is 5 bytes plus its tag, not 12.
//!
//! The header is read before the body is touched, so a node rejects a message of an unknown
//! version, kind or type with a typed [`Rejection`] instead of guessing. A rejection's body is
//! always postcard (whatever the node's codec), so that nodes agree on how to say "no".

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};

use playhouse_core::NoReply;

/// The envelope version this build writes and reads.
pub const ENVELOPE_VERSION: u8 = 1;
const MAGIC: u8 = b'P';
/// The shortest header: magic, version, kind, a one-byte correlation id, the tag's length.
const MIN_HEADER: usize = 5;

/// What an envelope carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Tell = 1,
    Ask = 2,
    Reply = 3,
    Rejection = 4,
    /// A tell whose sender wants to know it entered the mailbox: answered with an empty reply.
    AckedTell = 5,
    /// A plain tell sent without a reply subject, naming its sender's node (after the tag) so
    /// that a refusal can still reach it; the correlation id is the sender's number for the
    /// message type (see `inbox`).
    TellFrom = 6,
}

/// A parsed envelope, borrowing the received bytes.
#[derive(Debug)]
pub(crate) struct Envelope<'a> {
    pub(crate) kind: Kind,
    pub(crate) correlation: u64,
    pub(crate) tag: &'a str,
    /// The sender's node, for a [`Kind::TellFrom`]; empty otherwise.
    pub(crate) sender: &'a str,
    pub(crate) body: &'a [u8],
}

/// Writes an envelope's header into `out` (cleared first); the caller appends the body.
pub(crate) fn write_header(out: &mut Vec<u8>, kind: Kind, correlation: u64, tag: &str) {
    out.clear();
    // A type name longer than 255 bytes goes as its shortened tag: both ends shorten alike.
    let tag = wire_tag(tag);
    out.reserve(MIN_HEADER + 9 + tag.len() + 16);
    out.push(MAGIC);
    out.push(ENVELOPE_VERSION);
    out.push(kind as u8);
    let mut id = correlation;
    while id >= 0x80 {
        out.push((id as u8 & 0x7f) | 0x80);
        id >>= 7;
    }
    out.push(id as u8);
    out.push(tag.len() as u8);
    out.extend_from_slice(tag.as_bytes());
}

/// Appends the sender's node name of a [`Kind::TellFrom`] header (written by
/// [`write_header`] just before); the body follows. Node names are subject tokens, at most
/// 128 bytes.
pub(crate) fn write_sender(out: &mut Vec<u8>, node: &str) {
    let node = truncate(node);
    out.push(node.len() as u8);
    out.extend_from_slice(node.as_bytes());
}

/// The type tag of an ask that expects an answer of type `R`: `Q->R`, the names of both types.
/// A typed ask route ([`Export::ask::<Q, R>`](crate::Export::ask)) is found by it, so that an
/// ask expecting another answer type is refused before it is handled
/// ([`Rejection::WrongType`]) instead of its answer being decoded as the wrong type (postcard
/// reads a `0u64` as an empty string).
pub(crate) fn ask_tag<Q, R>() -> String {
    format!(
        "{}->{}",
        std::any::type_name::<Q>(),
        std::any::type_name::<R>()
    )
}

/// The type tag of `name` (a type's name, or an [`ask_tag`]) as written on the wire: the name
/// itself up to 255 bytes; a longer one is cut at a character boundary within 238 bytes and
/// followed by `#` and the 64-bit FNV-1a hash of the whole name in 16 hex digits, so that two
/// long names with a common beginning (long generic types, an ask tag whose answer type falls
/// past the cut) still have different tags and the type check still holds.
pub(crate) fn wire_tag(name: &str) -> Cow<'_, str> {
    const HASHED_PREFIX: usize = 255 - 17;
    if name.len() <= 255 {
        return Cow::Borrowed(name);
    }
    let mut end = HASHED_PREFIX;
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    Cow::Owned(format!("{}#{hash:016x}", &name[..end]))
}

/// Whether `tag` is the type tag of the type named `name`: its [`wire_tag`], or, for a name
/// over 255 bytes, the tag a build older than `wire_tag`'s hash wrote (the name cut to 255
/// bytes), so that what such a build sent, or stored as a durable message, is still read. The
/// older cut kept apart no two long names alike in their first 255 bytes, and neither does
/// this reading of it.
pub(crate) fn names(tag: &str, name: &str) -> bool {
    wire_tag(name) == tag || (name.len() > 255 && truncate(name) == tag)
}

/// `tag` cut to at most 255 bytes at a character boundary (node names, at most 128 bytes
/// anyway; and the type tags of older builds, see [`names`]).
fn truncate(tag: &str) -> &str {
    if tag.len() <= 255 {
        return tag;
    }
    let mut end = 255;
    while !tag.is_char_boundary(end) {
        end -= 1;
    }
    &tag[..end]
}

/// Reads an envelope.
///
/// # Errors
///
/// The [`Rejection`] the sender should get: not an envelope, another version, a kind this build
/// does not know.
pub(crate) fn parse(bytes: &[u8]) -> Result<Envelope<'_>, Rejection> {
    if bytes.len() < 2 || bytes[0] != MAGIC {
        return Err(Rejection::Malformed {
            detail: "not a playhouse envelope".into(),
        });
    }
    if bytes[1] != ENVELOPE_VERSION {
        return Err(Rejection::UnknownVersion {
            got: bytes[1],
            supported: ENVELOPE_VERSION,
        });
    }
    if bytes.len() < MIN_HEADER {
        return Err(Rejection::Malformed {
            detail: format!("a {}-byte envelope is shorter than its header", bytes.len()),
        });
    }
    let kind = match bytes[2] {
        1 => Kind::Tell,
        2 => Kind::Ask,
        3 => Kind::Reply,
        4 => Kind::Rejection,
        5 => Kind::AckedTell,
        6 => Kind::TellFrom,
        k => {
            return Err(Rejection::Malformed {
                detail: format!("unknown envelope kind {k}"),
            });
        }
    };
    // The correlation id: at most 10 LEB128 bytes, the tenth holding the top bit only.
    let mut correlation = 0u64;
    let mut at = 3;
    loop {
        let Some(&b) = bytes.get(at) else {
            return Err(Rejection::Malformed {
                detail: "the correlation id runs past the end".into(),
            });
        };
        let shift = 7 * (at - 3) as u32;
        if shift == 63 && b > 1 {
            return Err(Rejection::Malformed {
                detail: "the correlation id is over 64 bits".into(),
            });
        }
        correlation |= u64::from(b & 0x7f) << shift;
        at += 1;
        if b & 0x80 == 0 {
            break;
        }
    }
    let Some(&n) = bytes.get(at) else {
        return Err(Rejection::Malformed {
            detail: "the type tag's length is missing".into(),
        });
    };
    let start = at + 1;
    let n = n as usize;
    let Some(tag) = bytes.get(start..start + n) else {
        return Err(Rejection::Malformed {
            detail: "the type tag runs past the end".into(),
        });
    };
    let Ok(tag) = std::str::from_utf8(tag) else {
        return Err(Rejection::Malformed {
            detail: "the type tag is not UTF-8".into(),
        });
    };
    let mut body = start + n;
    let mut sender = "";
    if kind == Kind::TellFrom {
        let Some(&m) = bytes.get(body) else {
            return Err(Rejection::Malformed {
                detail: "the sender's length is missing".into(),
            });
        };
        let from = body + 1;
        let Some(name) = bytes.get(from..from + m as usize) else {
            return Err(Rejection::Malformed {
                detail: "the sender's name runs past the end".into(),
            });
        };
        let Ok(name) = std::str::from_utf8(name) else {
            return Err(Rejection::Malformed {
                detail: "the sender's name is not UTF-8".into(),
            });
        };
        sender = name;
        body = from + m as usize;
    }
    Ok(Envelope {
        kind,
        correlation,
        tag,
        sender,
        body: &bytes[body..],
    })
}

/// Why a node refused a message, as the sender learns it (in an ask's or acknowledged tell's
/// error, or as a [`Rejected`](playhouse_core::DeadLetterKind::Rejected) dead letter for a
/// plain tell).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Rejection {
    /// The bytes are not a playhouse envelope, or its header is damaged.
    Malformed {
        /// What was wrong.
        detail: String,
    },
    /// The envelope's version is not one the receiving node reads.
    UnknownVersion {
        /// The version the message carried.
        got: u8,
        /// The version the receiving node reads.
        supported: u8,
    },
    /// The message is larger than the receiving node accepts.
    TooLarge {
        /// Its size in bytes, envelope included.
        size: u64,
        /// The receiver's limit.
        limit: u64,
    },
    /// The actor under that name does not accept this type, or not as a tell, or not as an
    /// ask expecting that answer type.
    WrongType {
        /// The name it was sent to.
        name: String,
        /// How the message asked to be taken and its type tag: `tell:Type`,
        /// `ask:Type->Answer` (through a typed reference: the answer type the asker expects),
        /// `ask:Type` (a protocol's message, which `accepted` lists as `actor:Type`) or
        /// `durable:Type`. A type name over 255 bytes appears as its shortened wire tag.
        got: String,
        /// The types the actor accepts, each with `tell:`, `ask:`, `actor:` (its whole
        /// protocol) or `durable:` before it.
        accepted: Vec<String>,
    },
    /// The body did not decode as the type its tag names.
    Decode {
        /// The type tag.
        type_name: String,
        /// The codec's explanation.
        detail: String,
    },
    /// No actor is served under that name on the node that got the message.
    NotFound {
        /// The name.
        name: String,
    },
    /// The actor's mailbox is full (a `Reject` mailbox, or a full `Block` one the node would
    /// not wait for).
    MailboxFull,
    /// The actor has ended or is ending.
    ActorGone,
    /// The actor took the request but gave no answer.
    NoReply(RemoteNoReply),
    /// A keyed actor's key is not 1 to 128 letters, digits, `-` or `_`.
    InvalidKey {
        /// The key.
        key: String,
    },
    /// A keyed actor could not be activated: its state could not be opened, or its factory
    /// failed or panicked.
    ActivationFailed {
        /// The key.
        key: String,
        /// Why, as the factory's error displays.
        cause: String,
    },
    /// The key's lease could not be taken or read now: the lease bucket could not be reached,
    /// or the lease is the receiving node's own while that node does not hold its name in the
    /// members bucket (just back from an outage, until its next heartbeat announces it again;
    /// or another process took the name). The message was not handled; a sharded sender tries
    /// again until its timeout.
    LeaseUnavailable {
        /// The key.
        key: String,
    },
    /// Another node holds the key's lease: send there. A keyed actor's sender follows this
    /// itself; the message was not handled.
    OwnedElsewhere {
        /// The key.
        key: String,
        /// The node that holds the lease.
        owner: String,
    },
    /// Turning the message into the actor's message panicked on the receiving node: the
    /// type's `Deserialize` (or the codec), its `From` conversion, or the closure an export
    /// declared the ask with. The message was not handled, and the node goes on serving the
    /// actor. (Encoding an answer that panics is [`AnswerUndeliverable`](Self::AnswerUndeliverable):
    /// that message was handled.)
    ConversionPanicked {
        /// The type being converted.
        type_name: String,
        /// The panic's message.
        detail: String,
    },
    /// A durable message sent through an actor's protocol
    /// ([`ShardedAt::tell_durable`](crate::ShardedAt::tell_durable)) carries no reply port:
    /// such a message is confirmed by its answer, so one without a port could never be. The
    /// sender refuses it before storing anything.
    NoReplyPort {
        /// The message type.
        type_name: String,
    },
    /// The actor handled the request, but its answer could not be sent back: encoding it
    /// failed or panicked, it is larger than the answering node's limit, or (a keyed actor's)
    /// the node lost the key's lease before the answer went out. Unlike every other
    /// rejection, the message *was* handled: the asker gets
    /// [`RemoteError::AnswerLost`](crate::RemoteError::AnswerLost), without the message. (Last:
    /// a variant's code on the wire is its place, so the older ones keep theirs; a node built
    /// before it reads it as `Malformed`.)
    AnswerUndeliverable {
        /// What went wrong, naming the answer's type where known.
        detail: String,
    },
}

impl Rejection {
    /// This rejection with each of its free texts (details, causes, type names, the list of
    /// accepted types, a key refused as invalid) cut to at most about `max` bytes, marked with
    /// `…` where cut; a list cut short ends with how many entries it left out. The names, keys
    /// and owners a sender acts on (a valid key, at most 128 bytes) stay whole.
    fn shortened(&self, max: usize) -> Rejection {
        let cut = |text: &str| shorten(text, max);
        match self {
            Rejection::Malformed { detail } => Rejection::Malformed {
                detail: cut(detail),
            },
            Rejection::WrongType {
                name,
                got,
                accepted,
            } => {
                let mut kept = Vec::new();
                let mut used = 0;
                for (at, entry) in accepted.iter().enumerate() {
                    let entry = cut(entry);
                    used += entry.len();
                    if used > max {
                        kept.push(format!("… {} more", accepted.len() - at));
                        break;
                    }
                    kept.push(entry);
                }
                Rejection::WrongType {
                    name: name.clone(),
                    got: cut(got),
                    accepted: kept,
                }
            }
            Rejection::Decode { type_name, detail } => Rejection::Decode {
                type_name: cut(type_name),
                detail: cut(detail),
            },
            Rejection::ActivationFailed { key, cause } => Rejection::ActivationFailed {
                key: key.clone(),
                cause: cut(cause),
            },
            Rejection::ConversionPanicked { type_name, detail } => Rejection::ConversionPanicked {
                type_name: cut(type_name),
                detail: cut(detail),
            },
            Rejection::InvalidKey { key } => Rejection::InvalidKey { key: cut(key) },
            Rejection::NoReplyPort { type_name } => Rejection::NoReplyPort {
                type_name: cut(type_name),
            },
            Rejection::AnswerUndeliverable { detail } => Rejection::AnswerUndeliverable {
                detail: cut(detail),
            },
            other => other.clone(),
        }
    }
}

/// `text`, or its first `max` bytes or fewer (on a character boundary) and `…`.
fn shorten(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::Malformed { detail } => write!(f, "malformed message: {detail}"),
            Rejection::UnknownVersion { got, supported } => write!(
                f,
                "envelope version {got} is not supported (this node reads version {supported})"
            ),
            Rejection::TooLarge { size, limit } => {
                write!(f, "a {size}-byte message is over the {limit}-byte limit")
            }
            Rejection::WrongType {
                name,
                got,
                accepted,
            } => write!(
                f,
                "`{name}` does not accept {got} (it accepts: {})",
                accepted.join(", ")
            ),
            Rejection::Decode { type_name, detail } => {
                write!(f, "the body does not decode as `{type_name}`: {detail}")
            }
            Rejection::NotFound { name } => write!(f, "no actor is served under `{name}`"),
            Rejection::MailboxFull => f.write_str("the actor's mailbox is full"),
            Rejection::ActorGone => f.write_str("the actor has ended"),
            Rejection::NoReply(why) => write!(f, "no reply: {why:?}"),
            Rejection::InvalidKey { key } => write!(
                f,
                "{key:?} is not a valid key (1 to 128 letters, digits, '-' or '_')"
            ),
            Rejection::ActivationFailed { key, cause } => {
                write!(f, "activating key {key:?} failed: {cause}")
            }
            Rejection::LeaseUnavailable { key } => {
                write!(f, "the lease of key {key:?} cannot be reached now")
            }
            Rejection::OwnedElsewhere { key, owner } => {
                write!(f, "key {key:?} is owned by node {owner:?}")
            }
            Rejection::ConversionPanicked { type_name, detail } => {
                write!(f, "converting `{type_name}` panicked: {detail}")
            }
            Rejection::AnswerUndeliverable { detail } => {
                write!(
                    f,
                    "the request was handled, but its answer cannot come back: {detail}"
                )
            }
            Rejection::NoReplyPort { type_name } => write!(
                f,
                "a durable `{type_name}` must carry a reply port (its answer confirms it): \
                 this one has none"
            ),
        }
    }
}

/// [`NoReply`] as it crosses the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum RemoteNoReply {
    /// [`NoReply::Dropped`].
    Dropped,
    /// [`NoReply::Panicked`].
    Panicked,
    /// [`NoReply::Stopped`].
    Stopped,
    /// [`NoReply::Overflow`].
    Overflow,
    /// [`NoReply::Drained`].
    Drained,
    /// [`NoReply::Expired`].
    Expired,
}

impl From<NoReply> for RemoteNoReply {
    fn from(n: NoReply) -> Self {
        match n {
            NoReply::Dropped => RemoteNoReply::Dropped,
            NoReply::Panicked => RemoteNoReply::Panicked,
            NoReply::Overflow => RemoteNoReply::Overflow,
            NoReply::Drained => RemoteNoReply::Drained,
            NoReply::Expired => RemoteNoReply::Expired,
            // `Stopped` and anything a later core adds.
            _ => RemoteNoReply::Stopped,
        }
    }
}

impl From<RemoteNoReply> for NoReply {
    fn from(n: RemoteNoReply) -> Self {
        match n {
            RemoteNoReply::Dropped => NoReply::Dropped,
            RemoteNoReply::Panicked => NoReply::Panicked,
            RemoteNoReply::Stopped => NoReply::Stopped,
            RemoteNoReply::Overflow => NoReply::Overflow,
            RemoteNoReply::Drained => NoReply::Drained,
            RemoteNoReply::Expired => NoReply::Expired,
        }
    }
}

/// The bytes a block of NATS headers takes on the wire, each given as its name's length and
/// its value's: `NATS/1.0\r\n`, a `Name: value\r\n` line per header, the blank line; none
/// without headers (a plain publish). The server counts them against its payload limit, and
/// closes the connection of a client that goes over it.
pub(crate) const fn headers_len(headers: &[(usize, usize)]) -> usize {
    if headers.is_empty() {
        return 0;
    }
    let mut len = "NATS/1.0\r\n".len() + "\r\n".len();
    let mut i = 0;
    while i < headers.len() {
        len += headers[i].0 + ": ".len() + headers[i].1 + "\r\n".len();
        i += 1;
    }
    len
}

/// Writes the answer `body` to the request `correlation`: its reply envelope, or, where that
/// envelope and the `extra` bytes sent beside it (NATS headers) would be over `limit`, a
/// `TooLarge` rejection that names the size it would have had.
pub(crate) fn answer(out: &mut Vec<u8>, correlation: u64, body: &[u8], limit: usize, extra: usize) {
    write_header(out, Kind::Reply, correlation, "");
    let size = out.len() + body.len() + extra;
    if size > limit {
        out.clear();
        // The request was handled: the asker must not take it for refused.
        let why = Rejection::AnswerUndeliverable {
            detail: format!("a {size}-byte answer is over the answering node's {limit}-byte limit"),
        };
        return rejection(out, correlation, &why, limit, extra);
    }
    out.extend_from_slice(body);
}

/// Writes a rejection envelope for the request `correlation`, its texts shortened (see
/// [`Rejection::shortened`]) where the envelope and the `extra` bytes sent beside it (NATS
/// headers) would be over `limit`: the server would refuse so large a message, and the
/// sender would hear nothing (an ask would wait out its timeout, a plain tell's refusal would
/// be no dead letter). A refusal's texts can be long: a panic's message, a factory's error,
/// the list of the types an actor accepts.
pub(crate) fn rejection(
    out: &mut Vec<u8>,
    correlation: u64,
    why: &Rejection,
    limit: usize,
    extra: usize,
) {
    write_header(out, Kind::Rejection, correlation, "");
    let header = out.len();
    // A rejection is a small enum of strings: postcard cannot fail on it.
    if let Ok(bytes) = postcard::to_allocvec(why) {
        out.extend_from_slice(&bytes);
    }
    let mut text = limit / 2;
    while out.len() + extra > limit && text > 0 {
        out.truncate(header);
        if let Ok(bytes) = postcard::to_allocvec(&why.shortened(text)) {
            out.extend_from_slice(&bytes);
        }
        text /= 2;
    }
}

/// Reads a rejection's body.
pub(crate) fn read_rejection(body: &[u8]) -> Rejection {
    postcard::from_bytes(body).unwrap_or_else(|e| Rejection::Malformed {
        detail: format!("an unreadable rejection: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_round_trips() {
        let mut out = Vec::new();
        for (id, header) in [(0, 5), (42, 5), (300, 6), (u64::MAX, 14)] {
            write_header(&mut out, Kind::Ask, id, "my::Type");
            assert_eq!(out.len(), header + "my::Type".len());
            out.extend_from_slice(b"body");
            let e = parse(&out).unwrap();
            assert_eq!(e.kind, Kind::Ask);
            assert_eq!(e.correlation, id);
            assert_eq!(e.tag, "my::Type");
            assert_eq!(e.body, b"body");
        }
    }

    #[test]
    fn a_tell_from_names_its_sender() {
        let mut out = Vec::new();
        write_header(&mut out, Kind::TellFrom, 3, "abc");
        write_sender(&mut out, "node-1");
        out.extend_from_slice(b"body");
        let e = parse(&out).unwrap();
        assert_eq!((e.kind, e.correlation, e.tag), (Kind::TellFrom, 3, "abc"));
        assert_eq!((e.sender, e.body), ("node-1", &b"body"[..]));
        // A sender's name cut short is a damaged header.
        out.truncate(10);
        assert!(matches!(parse(&out), Err(Rejection::Malformed { .. })));
        let mut none = Vec::new();
        write_header(&mut none, Kind::TellFrom, 3, "abc");
        assert!(matches!(parse(&none), Err(Rejection::Malformed { .. })));
    }

    #[test]
    fn a_tell_header_is_five_bytes_and_its_tag() {
        let mut out = Vec::new();
        write_header(&mut out, Kind::Tell, 0, "abc");
        assert_eq!(out, [b'P', 1, 1, 0, 3, b'a', b'b', b'c']);
    }

    #[test]
    fn damaged_headers_are_typed_rejections() {
        assert!(matches!(parse(b""), Err(Rejection::Malformed { .. })));
        assert!(matches!(parse(b"XY"), Err(Rejection::Malformed { .. })));
        assert_eq!(
            parse(&[b'P', 9, 1]).unwrap_err(),
            Rejection::UnknownVersion {
                got: 9,
                supported: 1
            }
        );
        assert!(matches!(
            parse(&[b'P', 1, 1]),
            Err(Rejection::Malformed { .. })
        ));
        let mut out = Vec::new();
        write_header(&mut out, Kind::Tell, 0, "abc");
        out[2] = 77;
        assert!(matches!(parse(&out), Err(Rejection::Malformed { .. })));
        out[2] = 1;
        out[4] = 200; // the tag runs past the end
        assert!(matches!(parse(&out), Err(Rejection::Malformed { .. })));
        // A correlation id that never ends, or that is over 64 bits.
        let mut endless = vec![b'P', 1, 2];
        endless.extend_from_slice(&[0x80; 12]);
        assert!(matches!(parse(&endless), Err(Rejection::Malformed { .. })));
        let mut over = vec![b'P', 1, 2];
        over.extend_from_slice(&[0xff; 9]);
        over.extend_from_slice(&[0x02, 0]);
        assert!(matches!(parse(&over), Err(Rejection::Malformed { .. })));
    }

    #[test]
    fn rejections_round_trip() {
        let why = Rejection::WrongType {
            name: "n".into(),
            got: "a".into(),
            accepted: vec!["tell:b".into()],
        };
        let mut out = Vec::new();
        rejection(&mut out, 7, &why, 1 << 20, 0);
        let e = parse(&out).unwrap();
        assert_eq!(e.kind, Kind::Rejection);
        assert_eq!(e.correlation, 7);
        assert_eq!(read_rejection(e.body), why);
        assert!(matches!(
            read_rejection(b"\xff\xff"),
            Rejection::Malformed { .. }
        ));
    }

    /// A refusal whose texts would make it larger than the limit has them shortened until it
    /// fits: the server refuses a message over its limit, and the sender would hear nothing.
    #[test]
    fn a_rejection_over_the_limit_has_its_texts_shortened_to_fit() {
        let panicked = Rejection::ConversionPanicked {
            type_name: "my::Record".into(),
            detail: format!("invalid record: {}", "é".repeat(3000)),
        };
        let many = Rejection::WrongType {
            name: "accounts".into(),
            got: "tell:my::Other".into(),
            accepted: (0..500).map(|i| format!("tell:my::Message{i}")).collect(),
        };
        for (why, extra) in [(panicked, 0), (many, 60)] {
            let mut whole = Vec::new();
            rejection(&mut whole, 3, &why, usize::MAX, 0);
            assert!(whole.len() > 4096);
            let mut out = Vec::new();
            rejection(&mut out, 3, &why, 4096, extra);
            assert!(out.len() + extra <= 4096, "{} bytes", out.len());
            let e = parse(&out).unwrap();
            assert_eq!(e.correlation, 3);
            let read = read_rejection(e.body);
            assert_eq!(
                std::mem::discriminant(&read),
                std::mem::discriminant(&why),
                "{read:?}"
            );
            match (read, why) {
                (
                    Rejection::ConversionPanicked { type_name, detail },
                    Rejection::ConversionPanicked { detail: full, .. },
                ) => {
                    assert_eq!(type_name, "my::Record");
                    assert!(detail.ends_with('…') && full.starts_with(&detail[..detail.len() - 3]));
                }
                (
                    Rejection::WrongType {
                        name,
                        got,
                        accepted,
                    },
                    Rejection::WrongType { accepted: all, .. },
                ) => {
                    assert_eq!(
                        (name.as_str(), got.as_str()),
                        ("accounts", "tell:my::Other")
                    );
                    let (last, listed) = accepted.split_last().unwrap();
                    assert_eq!(listed, &all[..listed.len()]);
                    assert_eq!(*last, format!("… {} more", all.len() - listed.len()));
                }
                other => panic!("{other:?}"),
            }
        }
        // Within the limit, nothing is cut.
        let small = Rejection::Decode {
            type_name: "t".into(),
            detail: "d".repeat(100),
        };
        let mut out = Vec::new();
        rejection(&mut out, 1, &small, 4096, 0);
        assert_eq!(read_rejection(parse(&out).unwrap().body), small);
    }

    #[test]
    fn a_conversion_panic_round_trips_and_an_unknown_code_is_malformed() {
        let why = Rejection::ConversionPanicked {
            type_name: "my::Type".into(),
            detail: "boom".into(),
        };
        let mut out = Vec::new();
        rejection(&mut out, 9, &why, 1 << 20, 0);
        let e = parse(&out).unwrap();
        assert_eq!(read_rejection(e.body), why);
        // The variant's code on the wire: appended after the others, so that the older codes
        // keep their meaning.
        assert_eq!(postcard::to_allocvec(&why).unwrap()[0], 13);
        let last = Rejection::NoReplyPort {
            type_name: "my::Msg".into(),
        };
        assert_eq!(postcard::to_allocvec(&last).unwrap()[0], 14);
        let lost = Rejection::AnswerUndeliverable {
            detail: "too big".into(),
        };
        assert_eq!(postcard::to_allocvec(&lost).unwrap()[0], 15);
        // A code a later build may add: not readable here, and no panic.
        for code in [16u8, 127] {
            assert!(matches!(
                read_rejection(&[code, 0, 0]),
                Rejection::Malformed { .. }
            ));
        }
    }

    #[test]
    fn long_tags_are_cut_at_a_character_boundary_and_keep_their_difference() {
        let short = "a".repeat(255);
        assert_eq!(wire_tag(&short), short.as_str());
        let tag = "é".repeat(200);
        let cut = wire_tag(&tag);
        assert!(cut.len() <= 255);
        let (prefix, hash) = cut.rsplit_once('#').expect("a hashed tag");
        assert!(tag.starts_with(prefix) && prefix.len() >= 236);
        assert_eq!(hash.len(), 16);
        // Two names alike in their first 300 bytes: an ask's answer type past the cut.
        let long = "m".repeat(300);
        let (a, b) = (
            format!("{long}::Q->u64"),
            format!("{long}::Q->alloc::string::String"),
        );
        assert_ne!(wire_tag(&a), wire_tag(&b));
        assert_eq!(
            wire_tag(&a),
            wire_tag(&a.clone()),
            "the same name, the same tag"
        );
        // The header carries the tag as `wire_tag` makes it.
        let mut out = Vec::new();
        write_header(&mut out, Kind::Ask, 1, &a);
        assert_eq!(parse(&out).expect("parses").tag, wire_tag(&a));
    }
}
