//! Finding the `nats-server` binary.

use std::env;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::error::TestServerError;

/// The environment variable that names the binary, overriding the search.
pub(crate) const NATS_SERVER_ENV: &str = "NATS_SERVER";

/// `$NATS_SERVER` if set (and then only it), else the first `nats-server` on `PATH`, else
/// Debian's `/usr/sbin` (not on a non-root user's `PATH`) and `/usr/local/bin`.
pub(crate) fn find() -> Result<PathBuf, TestServerError> {
    find_in(
        env::var_os(NATS_SERVER_ENV),
        env::var_os("PATH"),
        &[Path::new("/usr/sbin"), Path::new("/usr/local/bin")],
    )
}

fn find_in(
    explicit: Option<OsString>,
    path: Option<OsString>,
    fallbacks: &[&Path],
) -> Result<PathBuf, TestServerError> {
    if let Some(explicit) = explicit {
        let explicit = PathBuf::from(explicit);
        return if is_executable(&explicit) {
            Ok(explicit)
        } else {
            Err(TestServerError::NotInstalled {
                searched: vec![explicit],
            })
        };
    }
    let mut searched = Vec::new();
    let dirs = path
        .as_deref()
        .map(|path| env::split_paths(path).collect::<Vec<_>>())
        .unwrap_or_default();
    let fallbacks = fallbacks.iter().map(|dir| dir.to_path_buf());
    for dir in dirs.into_iter().chain(fallbacks) {
        let candidate = dir.join("nats-server");
        if searched.contains(&candidate) {
            continue;
        }
        if is_executable(&candidate) {
            return Ok(candidate);
        }
        searched.push(candidate);
    }
    Err(TestServerError::NotInstalled { searched })
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|metadata| metadata.is_file() && metadata.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(path: &Path) -> bool {
    path.is_file()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wrong_explicit_path_is_not_installed_and_says_apt_get() {
        let error = find_in(Some("/nonexistent/nats-server".into()), None, &[]).unwrap_err();
        assert!(
            matches!(&error, TestServerError::NotInstalled { searched } if searched.len() == 1)
        );
        let message = error.to_string();
        assert!(message.contains("apt-get install nats-server"), "{message}");
        assert!(message.contains("/nonexistent/nats-server"), "{message}");
    }

    #[test]
    fn path_is_searched_in_order() {
        let error = find_in(
            None,
            Some("/nonexistent/a:/nonexistent/b".into()),
            &[Path::new("/nonexistent/c")],
        )
        .unwrap_err();
        let TestServerError::NotInstalled { searched } = error else {
            panic!("{error}");
        };
        assert_eq!(searched[0], Path::new("/nonexistent/a/nats-server"));
        assert_eq!(searched[1], Path::new("/nonexistent/b/nats-server"));
        assert_eq!(searched[2], Path::new("/nonexistent/c/nats-server"));
    }
}
