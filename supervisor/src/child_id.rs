//! [`ChildId`]: a child's name within its supervisor, stored inline when short.

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::sync::Arc;

/// The longest id stored inline, without an allocation.
const INLINE: usize = 14;

/// A child's id: unique among its supervisor's children, named in every report and error.
///
/// It reads as a `str` (it derefs to one, compares with `&str` and `String`, and prints as
/// one). An id of at most 14 bytes (`"worker-17"`, `"pool#1024"`) is stored inline in the
/// 16 bytes the id takes, so a supervisor with many children does not pay an allocation per
/// name; a longer one is shared behind one allocation, so cloning any id never copies text.
///
/// ```
/// use playhouse_supervisor::ChildId;
///
/// let id = ChildId::from("cache");
/// assert_eq!(id, "cache");
/// assert_eq!(id.len(), 5);
/// assert_eq!(id.to_string(), "cache");
/// assert_eq!(ChildId::from(String::from("a much longer child id")), "a much longer child id");
/// ```
#[derive(Clone)]
pub struct ChildId(Repr);

#[derive(Clone)]
enum Repr {
    Inline { len: u8, bytes: [u8; INLINE] },
    Shared(Arc<String>),
}

impl ChildId {
    /// The id as a `str`.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            // Built from a `str` of `len` bytes, so always valid UTF-8; the fallback is never
            // taken.
            Repr::Inline { len, bytes } => {
                std::str::from_utf8(&bytes[..usize::from(*len)]).unwrap_or_default()
            }
            Repr::Shared(s) => s,
        }
    }

    fn new(s: &str) -> Self {
        if s.len() <= INLINE {
            let mut bytes = [0; INLINE];
            bytes[..s.len()].copy_from_slice(s.as_bytes());
            ChildId(Repr::Inline {
                len: s.len() as u8,
                bytes,
            })
        } else {
            ChildId(Repr::Shared(Arc::new(s.to_owned())))
        }
    }
}

impl Deref for ChildId {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for ChildId {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for ChildId {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl From<&str> for ChildId {
    fn from(s: &str) -> Self {
        ChildId::new(s)
    }
}

impl From<&String> for ChildId {
    fn from(s: &String) -> Self {
        ChildId::new(s)
    }
}

impl From<String> for ChildId {
    fn from(s: String) -> Self {
        if s.len() <= INLINE {
            ChildId::new(&s)
        } else {
            ChildId(Repr::Shared(Arc::new(s)))
        }
    }
}

impl From<Arc<str>> for ChildId {
    fn from(s: Arc<str>) -> Self {
        ChildId::new(&s)
    }
}

impl From<&ChildId> for ChildId {
    fn from(id: &ChildId) -> Self {
        id.clone()
    }
}

impl From<ChildId> for Arc<str> {
    fn from(id: ChildId) -> Self {
        Arc::from(id.as_str())
    }
}

impl PartialEq for ChildId {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for ChildId {}

impl PartialEq<str> for ChildId {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for ChildId {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for ChildId {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<ChildId> for &str {
    fn eq(&self, other: &ChildId) -> bool {
        *self == other.as_str()
    }
}

impl PartialEq<ChildId> for str {
    fn eq(&self, other: &ChildId) -> bool {
        self == other.as_str()
    }
}

impl PartialOrd for ChildId {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ChildId {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl Hash for ChildId {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // As `str` hashes, so that `Borrow<str>` lookups agree.
        self.as_str().hash(state)
    }
}

impl fmt::Debug for ChildId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for ChildId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn an_id_takes_sixteen_bytes() {
        assert_eq!(size_of::<ChildId>(), 16);
    }

    #[test]
    fn short_ids_are_inline_and_long_ones_shared() {
        let short = ChildId::from("exactly-14-byt");
        assert_eq!(short.len(), INLINE);
        assert!(matches!(short.0, Repr::Inline { .. }));
        let long = ChildId::from("fifteen-bytes!!");
        assert!(matches!(long.0, Repr::Shared(_)));
        assert_eq!(long, "fifteen-bytes!!");
        // Multi-byte characters count in bytes and never split.
        let wide = ChildId::from("ééééééé");
        assert_eq!(wide.len(), 14);
        assert_eq!(wide, "ééééééé");
        assert_eq!(ChildId::from(""), "");
    }

    #[test]
    fn ids_compare_and_hash_as_their_text() {
        let a = ChildId::from("a-rather-long-child-id");
        let b = ChildId::from(String::from("a-rather-long-child-id"));
        assert_eq!(a, b);
        let set: HashSet<ChildId> = [a, ChildId::from("x")].into_iter().collect();
        assert!(set.contains("a-rather-long-child-id"));
        assert!(set.contains("x"));
        let (a, b) = (ChildId::from("a"), ChildId::from("b"));
        assert!(a < b);
        assert_eq!(format!("{:?}", ChildId::from("q\"")), "\"q\\\"\"");
    }
}
