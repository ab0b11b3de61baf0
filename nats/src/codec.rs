//! How a message's body is turned into bytes and back.

use std::fmt;

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Turns message bodies into bytes and back. The envelope around them is the crate's own and
/// does not depend on the codec; every node of a cluster must use the same codec.
///
/// [`Postcard`] is the default: compact, fast, no schema on the wire. A codec is a type
/// parameter of the node, so calls are monomorphized.
pub trait Codec: Clone + Send + Sync + 'static {
    /// Appends `value`'s encoding to `out`.
    ///
    /// # Errors
    ///
    /// A [`CodecError`] if the value cannot be represented (for postcard: a map with keys that
    /// are not serializable, a sequence of unknown length).
    fn encode<T: Serialize + ?Sized>(&self, value: &T, out: &mut Vec<u8>)
    -> Result<(), CodecError>;

    /// Decodes a value from all of `bytes`.
    ///
    /// # Errors
    ///
    /// A [`CodecError`] if the bytes are not a valid encoding of a `T`.
    fn decode<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T, CodecError>;
}

/// The default codec: [postcard](https://docs.rs/postcard), a compact binary format.
#[derive(Clone, Copy, Debug, Default)]
pub struct Postcard;

impl Codec for Postcard {
    fn encode<T: Serialize + ?Sized>(
        &self,
        value: &T,
        out: &mut Vec<u8>,
    ) -> Result<(), CodecError> {
        postcard::to_io(value, out)
            .map(|_| ())
            .map_err(|e| CodecError::new(e.to_string()))
    }

    fn decode<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T, CodecError> {
        match postcard::take_from_bytes::<T>(bytes) {
            Ok((value, [])) => Ok(value),
            Ok((_, rest)) => Err(CodecError::new(format!(
                "{} bytes left over after the value",
                rest.len()
            ))),
            Err(e) => Err(CodecError::new(e.to_string())),
        }
    }
}

/// `T`'s type name with each path cut to its last segment, for errors.
pub(crate) fn short_name<T>() -> String {
    playhouse_broker::type_names::short_type_name(std::any::type_name::<T>())
}

/// A body could not be encoded or decoded; says why. Serde-serializable (as its text), so that
/// an error that carries one ([`StateError`](crate::StateError)) can cross to another node.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CodecError {
    detail: String,
}

impl CodecError {
    /// An error with this explanation.
    pub fn new(detail: impl Into<String>) -> Self {
        CodecError {
            detail: detail.into(),
        }
    }

    /// What went wrong, as the codec said it.
    pub fn detail(&self) -> &str {
        &self.detail
    }
}

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "codec error: {}", self.detail)
    }
}

impl std::error::Error for CodecError {}
