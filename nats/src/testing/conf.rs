//! The `nats-server` configuration file.
//!
//! The format is nats-server's own (a relaxed JSON); its parser needs a newline (or a comma)
//! between the entries of a map, so every entry here is on a line of its own.

use std::fmt::Write as _;
use std::path::Path;

use super::certs::Certificates;

/// What goes into one server's configuration file.
#[derive(Debug)]
pub(crate) struct ServerConf<'a> {
    pub(crate) port: u16,
    pub(crate) max_payload: Option<usize>,
    /// JetStream on, storing under this directory.
    pub(crate) jetstream_store: Option<&'a Path>,
    pub(crate) tls: Option<&'a Certificates>,
    pub(crate) user_password: Option<(&'a str, &'a str)>,
    /// An nkey user's public key (`U...`).
    pub(crate) nkey: Option<&'a str>,
}

impl ServerConf<'_> {
    pub(crate) fn render(&self) -> String {
        let mut conf = String::new();
        // `writeln!` into a `String` cannot fail.
        let _ = writeln!(
            conf,
            "listen: {}",
            quote(&format!("127.0.0.1:{}", self.port))
        );
        if let Some(max_payload) = self.max_payload {
            let _ = writeln!(conf, "max_payload: {max_payload}");
        }
        if let Some(store_dir) = self.jetstream_store {
            let _ = writeln!(conf, "jetstream {{");
            let _ = writeln!(conf, "  store_dir: {}", quote_path(store_dir));
            let _ = writeln!(conf, "}}");
        }
        if let Some(tls) = self.tls {
            let _ = writeln!(conf, "tls {{");
            let _ = writeln!(conf, "  cert_file: {}", quote_path(&tls.server_cert));
            let _ = writeln!(conf, "  key_file: {}", quote_path(&tls.server_key));
            // Seconds for the handshake; the default (2) is short for a loaded CI machine.
            let _ = writeln!(conf, "  timeout: 10");
            let _ = writeln!(conf, "}}");
        }
        if self.user_password.is_some() || self.nkey.is_some() {
            let _ = writeln!(conf, "authorization {{");
            let _ = writeln!(conf, "  timeout: 10");
            let _ = writeln!(conf, "  users = [");
            if let Some((user, password)) = self.user_password {
                let _ = writeln!(conf, "    {{");
                let _ = writeln!(conf, "      user: {}", quote(user));
                let _ = writeln!(conf, "      password: {}", quote(password));
                let _ = writeln!(conf, "    }}");
            }
            if let Some(nkey) = self.nkey {
                let _ = writeln!(conf, "    {{");
                let _ = writeln!(conf, "      nkey: {}", quote(nkey));
                let _ = writeln!(conf, "    }}");
            }
            let _ = writeln!(conf, "  ]");
            let _ = writeln!(conf, "}}");
        }
        conf
    }
}

fn quote_path(path: &Path) -> String {
    quote(&path.to_string_lossy())
}

/// A double-quoted string: backslashes and quotes escaped.
fn quote(value: &str) -> String {
    let mut quoted = String::with_capacity(value.len() + 2);
    quoted.push('"');
    for c in value.chars() {
        if matches!(c, '"' | '\\') {
            quoted.push('\\');
        }
        quoted.push(c);
    }
    quoted.push('"');
    quoted
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn every_entry_is_on_a_line_of_its_own() {
        let certificates = Certificates {
            ca_cert: PathBuf::from("/t/ca.pem"),
            server_cert: PathBuf::from("/t/cert.pem"),
            server_key: PathBuf::from("/t/key.pem"),
        };
        let conf = ServerConf {
            port: 4222,
            max_payload: Some(2048),
            jetstream_store: Some(Path::new("/t/js")),
            tls: Some(&certificates),
            user_password: Some(("u", "p\"w")),
            nkey: Some("UABC"),
        }
        .render();
        assert_eq!(
            conf,
            r#"listen: "127.0.0.1:4222"
max_payload: 2048
jetstream {
  store_dir: "/t/js"
}
tls {
  cert_file: "/t/cert.pem"
  key_file: "/t/key.pem"
  timeout: 10
}
authorization {
  timeout: 10
  users = [
    {
      user: "u"
      password: "p\"w"
    }
    {
      nkey: "UABC"
    }
  ]
}
"#
        );
    }

    #[test]
    fn no_authorization_block_without_users() {
        let conf = ServerConf {
            port: 1,
            max_payload: None,
            jetstream_store: None,
            tls: None,
            user_password: None,
            nkey: None,
        }
        .render();
        assert_eq!(conf, "listen: \"127.0.0.1:1\"\n");
    }
}
