//! A key's state, in a key-value bucket of its group, written only by the key's lease owner.

use std::fmt;
use std::sync::{Arc, Mutex};

use async_nats::jetstream::kv;
use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::lease::Lease;
use crate::codec::{Codec, CodecError, Postcard};
use crate::runtime;

/// The first byte of a stored state: nothing saved yet, or a value follows.
const EMPTY: u8 = 0;
const VALUE: u8 = 1;

/// The state store of one key's activation, handed to the factory: [`load`](KeyState::load)
/// what the key's last owner saved, [`save`](KeyState::save) as the actor changes it.
///
/// A save is fenced twice: it is refused if this node's lease on the key has lapsed
/// ([`StateError::LeaseLost`]), and it is a compare-and-set on the revision this activation
/// loaded or last wrote, so a write from a node that lost the key is refused even if it
/// reaches the server late ([`StateError::Fenced`]): a new activation moves the revision
/// before it loads. Cheap to clone; the clones share the revision.
pub struct KeyState<C: Codec = Postcard> {
    shared: Arc<Shared<C>>,
}

struct Shared<C> {
    store: kv::Store,
    key: String,
    entry: String,
    codec: C,
    lease: Arc<Lease>,
    /// The largest write the server takes, headers included (the node's message limit).
    limit: usize,
    /// The revision this activation wrote last, and what it wrote.
    current: Mutex<(u64, Bytes)>,
}

/// The most a state write's headers take on the wire: the key-value store's
/// `Nats-Expected-Last-Subject-Sequence` header, with a revision of up to 20 digits.
const WRITE_HEADERS: usize =
    crate::envelope::headers_len(&[("Nats-Expected-Last-Subject-Sequence".len(), 20)]);

impl<C: Codec> Clone for KeyState<C> {
    fn clone(&self) -> Self {
        KeyState {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<C: Codec> fmt::Debug for KeyState<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyState")
            .field("key", &self.shared.key)
            .field("revision", &self.current().0)
            .field("owner", &self.is_owner())
            .finish()
    }
}

impl<C: Codec> KeyState<C> {
    /// Opens the state of `key` for a new activation holding `lease`: reads the stored value
    /// and writes it back at its revision, so that any write still in flight from a previous
    /// owner is refused from now on (or, if it landed first, is what this one loads).
    pub(crate) async fn open(
        store: kv::Store,
        key: &str,
        codec: C,
        lease: Arc<Lease>,
        limit: usize,
    ) -> Result<Self, StateError> {
        let nats = |e: &dyn fmt::Display| StateError::Nats(e.to_string());
        for _ in 0..16 {
            let found = store.entry(key).await.map_err(|e| nats(&e))?;
            let bumped = match found {
                Some(e) if e.operation == kv::Operation::Put => store
                    .update(key, e.value.clone(), e.revision)
                    .await
                    .map(|r| (r, e.value))
                    .map_err(|e| e.kind() == kv::UpdateErrorKind::WrongLastRevision),
                _ => {
                    let empty = Bytes::from_static(&[EMPTY]);
                    store
                        .create(key, empty.clone())
                        .await
                        .map(|r| (r, empty))
                        .map_err(|e| e.kind() == kv::CreateErrorKind::AlreadyExists)
                }
            };
            match bumped {
                Ok(current) => {
                    return Ok(KeyState {
                        shared: Arc::new(Shared {
                            store,
                            key: key.to_owned(),
                            entry: key.to_owned(),
                            codec,
                            lease,
                            limit,
                            current: Mutex::new(current),
                        }),
                    });
                }
                // Someone wrote meanwhile (a stale owner's late write): read again.
                Err(true) => continue,
                Err(false) => {
                    return Err(StateError::Nats(format!(
                        "cannot open the state of {key:?}"
                    )));
                }
            }
        }
        Err(StateError::Nats(format!(
            "the state of {key:?} kept changing while it was opened"
        )))
    }

    fn current(&self) -> (u64, Bytes) {
        self.shared
            .current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The key.
    pub fn key(&self) -> &str {
        &self.shared.key
    }

    /// Whether this node still holds the key's lease (a save can succeed).
    pub fn is_owner(&self) -> bool {
        self.shared.lease.is_valid()
    }

    /// The key's state as this activation loaded or last saved it; `None` if nothing was ever
    /// saved for the key.
    ///
    /// # Errors
    ///
    /// [`StateError::Codec`] if the stored bytes are not a `T`.
    pub fn load<T: DeserializeOwned>(&self) -> Result<Option<T>, StateError> {
        let (_, bytes) = self.current();
        match bytes.first() {
            Some(&VALUE) => self
                .shared
                .codec
                .decode(&bytes[1..])
                .map(Some)
                .map_err(StateError::Codec),
            _ => Ok(None),
        }
    }

    /// Saves `value` as the key's state, if this node still owns the key and nobody else
    /// wrote since this activation loaded or last saved. Can be awaited on any executor.
    ///
    /// # Errors
    ///
    /// [`StateError::LeaseLost`]: this node's lease on the key lapsed (nothing was written);
    /// [`StateError::Fenced`]: the stored state moved (another owner has the key, or a
    /// supervised restart reopened it for a fresh actor);
    /// [`StateError::Codec`]: `value` cannot be encoded; [`StateError::TooLarge`]: encoded, it
    /// is over the node's message size limit (nothing was written); [`StateError::Nats`]: the server did
    /// not take the write (it may or may not have been stored: the next save is then fenced,
    /// as the revision is unknown).
    pub async fn save<T: Serialize + ?Sized>(&self, value: &T) -> Result<(), StateError> {
        let mut bytes = vec![VALUE];
        self.shared
            .codec
            .encode(value, &mut bytes)
            .map_err(StateError::Codec)?;
        let size = bytes.len() + WRITE_HEADERS;
        if size > self.shared.limit {
            return Err(StateError::TooLarge {
                key: self.shared.key.clone(),
                size: size as u64,
                limit: self.shared.limit as u64,
            });
        }
        if !self.shared.lease.is_valid() {
            return Err(StateError::LeaseLost {
                key: self.shared.key.clone(),
            });
        }
        let shared = Arc::clone(&self.shared);
        let bytes = Bytes::from(bytes);
        runtime::run(async move {
            let (revision, _) = shared
                .current
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone();
            match shared
                .store
                .update(&shared.entry, bytes.clone(), revision)
                .await
            {
                Ok(new) => {
                    *shared.current.lock().unwrap_or_else(|p| p.into_inner()) = (new, bytes);
                    Ok(())
                }
                Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => {
                    Err(StateError::Fenced {
                        key: shared.key.clone(),
                    })
                }
                Err(e) => Err(StateError::Nats(e.to_string())),
            }
        })
        .await
    }
}

/// A key's state could not be saved or read.
///
/// Serde-serializable, so that a remote handler can answer it as is
/// (`async fn deposit(..) -> Result<u64, StateError>` under `#[actor(remote)]`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum StateError {
    /// This node's lease on the key has lapsed (it could not renew it in time, or gave it
    /// back): it no longer owns the key, and wrote nothing.
    LeaseLost {
        /// The key.
        key: String,
    },
    /// The stored state is not at the revision this activation loaded or last wrote: another
    /// node owns the key now and has activated it, or a restart of this activation reopened
    /// it (a crashed actor's handle). Nothing was written.
    Fenced {
        /// The key.
        key: String,
    },
    /// The value could not be encoded, or the stored bytes decoded.
    Codec(CodecError),
    /// The NATS server could not be reached or refused the operation.
    Nats(String),
    /// The encoded state, with the write's headers, is over the node's message size limit
    /// ([`NodeConfig::max_message_size`](crate::NodeConfig::max_message_size), capped by the
    /// server's `max_payload`). Nothing was written. (Last, so that the variants before it
    /// keep their place on the wire.)
    TooLarge {
        /// The key.
        key: String,
        /// The size the write would have had, headers included (at most).
        size: u64,
        /// The limit.
        limit: u64,
    },
}

impl fmt::Display for StateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StateError::LeaseLost { key } => {
                write!(f, "this node's lease on key {key:?} has lapsed")
            }
            StateError::Fenced { key } => write!(
                f,
                "the state of key {key:?} was reopened or written by a newer owner \
                 since this handle loaded it"
            ),
            StateError::Codec(e) => write!(f, "state: {e}"),
            StateError::Nats(why) => write!(f, "state: NATS error: {why}"),
            StateError::TooLarge { key, size, limit } => write!(
                f,
                "the state of key {key:?} is too large to save: {size} bytes, over the \
                 {limit}-byte limit"
            ),
        }
    }
}

impl std::error::Error for StateError {}
