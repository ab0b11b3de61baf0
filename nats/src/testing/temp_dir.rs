//! A directory of its own per server, removed on drop.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::random::random_hex;

/// A fresh directory under the system's temporary directory; removed, with its contents, on
/// drop.
#[derive(Debug)]
pub(crate) struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Makes `<tmp>/playhouse-nats-<pid>-<random>`; `create_dir` (not `_all`) fails if the name
    /// is taken, so a directory is never shared.
    pub(crate) fn new() -> io::Result<Self> {
        let base = std::env::temp_dir();
        let mut last_error = None;
        for _ in 0..16 {
            let path = base.join(format!(
                "playhouse-nats-{}-{}",
                std::process::id(),
                random_hex()
            ));
            match fs::create_dir(&path) {
                Ok(()) => return Ok(TempDir { path }),
                Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {
                    last_error = Some(error)
                }
                Err(error) => return Err(error),
            }
        }
        Err(last_error.unwrap_or_else(|| io::Error::other("no free temporary directory name")))
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}
