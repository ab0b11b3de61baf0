//! The test support itself: a real `nats-server` per test (`playhouse_nats::testing`), and
//! nodes in OS processes of their own (`support`).

mod support;

use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::sync::atomic::Ordering;
use std::time::Duration;

use async_nats::client::PublishErrorKind;
use async_nats::{Client, ConnectErrorKind, ConnectOptions, RequestErrorKind};
use futures::StreamExt;
use playhouse_nats::testing::{TestServer, TestServerBuilder, TestServerError};
use support::{STARTUP, STEP};
use tokio::time::Instant;

fn start(server: Result<TestServer, TestServerError>) -> TestServer {
    server.unwrap_or_else(|error| panic!("{error}"))
}

async fn connect(server: &TestServer) -> Client {
    server
        .connect()
        .await
        .unwrap_or_else(|error| panic!("connecting to {}: {error}\n{}", server.url(), server.log()))
}

/// Answers every request on `subject` with `<prefix>: <payload>`.
async fn serve_echo(client: &Client, subject: &str, prefix: String) {
    let mut requests = client
        .subscribe(subject.to_owned())
        .await
        .expect("subscribe");
    // The subscription is at the server before anyone asks.
    client.flush().await.expect("flush");
    let responder = client.clone();
    tokio::spawn(async move {
        while let Some(request) = requests.next().await {
            let Some(reply) = request.reply else { continue };
            let payload = format!("{prefix}: {}", String::from_utf8_lossy(&request.payload));
            let _ = responder.publish(reply, payload.into()).await;
        }
    });
}

/// Asks until a responder answers (a client reconnecting, a responder resubscribing), for up to
/// `timeout`.
async fn request_until_answered(
    client: &Client,
    subject: &str,
    payload: &str,
    timeout: Duration,
) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        let request = client.request(subject.to_owned(), payload.to_owned().into());
        match tokio::time::timeout(Duration::from_secs(1), request).await {
            Ok(Ok(reply)) => return String::from_utf8_lossy(&reply.payload).into_owned(),
            Ok(Err(error)) if Instant::now() < deadline => {
                assert!(
                    matches!(
                        error.kind(),
                        RequestErrorKind::NoResponders | RequestErrorKind::TimedOut
                    ),
                    "{error}"
                );
            }
            Err(_elapsed) if Instant::now() < deadline => {}
            Ok(Err(error)) => panic!("no answer on {subject} within {timeout:?}: {error}"),
            Err(_elapsed) => panic!("no answer on {subject} within {timeout:?}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// The server.

#[test]
fn the_server_its_builder_and_its_error_are_send_and_sync() {
    fn send_sync<T: Send + Sync + 'static>() {}
    send_sync::<TestServer>();
    send_sync::<TestServerBuilder>();
    send_sync::<TestServerError>();
}

#[tokio::test]
async fn a_client_with_the_credentials_round_trips_a_request() {
    let server = start(TestServer::start());
    assert_eq!(server.url(), format!("tls://127.0.0.1:{}", server.port()));
    let client = connect(&server).await;
    serve_echo(&client, "harness.echo", "echo".to_owned()).await;

    let reply = client
        .request("harness.echo", "ping".into())
        .await
        .expect("request");
    assert_eq!(&reply.payload[..], b"echo: ping");
    assert!(client.server_info().tls_required);
    assert!(client.server_info().auth_required);
}

#[tokio::test]
async fn a_client_without_credentials_is_refused() {
    let server = start(TestServer::start());
    let ca = server.ca_cert_path().expect("TLS by default").to_path_buf();

    let anonymous = ConnectOptions::new()
        .add_root_certificates(ca.clone())
        .require_tls(true)
        .connect(server.url())
        .await
        .expect_err("no credentials");
    assert_eq!(
        anonymous.kind(),
        ConnectErrorKind::AuthorizationViolation,
        "{anonymous}"
    );

    let wrong_password = ConnectOptions::with_user_and_password(
        server.user().expect("a user by default").to_owned(),
        "not the password".to_owned(),
    )
    .add_root_certificates(ca)
    .require_tls(true)
    .connect(server.url())
    .await
    .expect_err("a wrong password");
    assert_eq!(
        wrong_password.kind(),
        ConnectErrorKind::AuthorizationViolation,
        "{wrong_password}"
    );
}

#[tokio::test]
async fn a_client_without_the_ca_is_refused() {
    let server = start(TestServer::start());
    let error = ConnectOptions::with_user_and_password(
        server.user().expect("a user").to_owned(),
        server.password().expect("a password").to_owned(),
    )
    .require_tls(true)
    .connect(server.url())
    .await
    .expect_err("the server's certificate is signed by a CA the client does not trust");
    // async-nats 0.38 files a failed certificate verification under `Io`, not `Tls` (which it
    // keeps for a TLS configuration it cannot build); the message names rustls' reason.
    assert_eq!(error.kind(), ConnectErrorKind::Io, "{error}");
    assert!(error.to_string().contains("UnknownIssuer"), "{error}");
}

#[tokio::test]
async fn an_nkey_user_connects_beside_the_password_user() {
    let server = start(TestServer::builder().nkey(true).start());
    let seed = server.nkey_seed().expect("nkey on").to_owned();
    assert!(seed.starts_with("SU"), "{seed}");
    assert!(server.nkey_public_key().expect("nkey on").starts_with('U'));

    let by_password = connect(&server).await;
    by_password.flush().await.expect("flush");
    let by_nkey = ConnectOptions::with_nkey(seed)
        .add_root_certificates(server.ca_cert_path().expect("TLS").to_path_buf())
        .require_tls(true)
        .connect(server.url())
        .await
        .expect("the nkey user connects");
    by_nkey.flush().await.expect("flush");
}

#[tokio::test]
async fn without_tls_or_authentication_the_server_is_plain() {
    let server = start(
        TestServer::builder()
            .tls(false)
            .user_password(false)
            .jetstream(false)
            .start(),
    );
    assert_eq!(server.url(), format!("nats://127.0.0.1:{}", server.port()));
    assert_eq!(server.ca_cert_path(), None);
    assert_eq!(server.user(), None);
    let client = async_nats::connect(server.url()).await.expect("connect");
    assert!(!client.server_info().tls_required);
    assert!(!client.server_info().auth_required);
}

#[tokio::test]
async fn max_payload_is_the_servers_and_a_bigger_publish_is_refused() {
    let server = start(TestServer::builder().max_payload(1024).start());
    let client = connect(&server).await;
    assert_eq!(client.server_info().max_payload, 1024);
    client
        .publish("harness.small", vec![0; 1024].into())
        .await
        .expect("at the limit");
    let error = client
        .publish("harness.big", vec![0; 1025].into())
        .await
        .expect_err("over the limit");
    assert_eq!(
        error.kind(),
        PublishErrorKind::MaxPayloadExceeded,
        "{error}"
    );
}

#[tokio::test]
async fn a_client_reconnects_after_a_restart_and_jetstream_keeps_its_data() {
    let mut server = start(TestServer::start());
    let port = server.port();
    let client = connect(&server).await;
    let responder = connect(&server).await;
    serve_echo(&responder, "harness.echo", "echo".to_owned()).await;
    let kv = async_nats::jetstream::new(client.clone())
        .create_key_value(async_nats::jetstream::kv::Config {
            bucket: "harness".to_owned(),
            ..Default::default()
        })
        .await
        .expect("a key-value bucket");
    kv.put("k", "before".into()).await.expect("put");
    assert_eq!(
        request_until_answered(&client, "harness.echo", "one", STEP).await,
        "echo: one"
    );
    let connects = client.statistics().connects.load(Ordering::Relaxed);

    server.restart().unwrap_or_else(|error| panic!("{error}"));

    assert_eq!(server.port(), port);
    assert_eq!(
        request_until_answered(&client, "harness.echo", "two", STARTUP).await,
        "echo: two"
    );
    assert!(client.statistics().connects.load(Ordering::Relaxed) > connects);
    let entry = kv.get("k").await.expect("get after the restart");
    assert_eq!(entry.as_deref(), Some(&b"before"[..]));
    assert_eq!(server.log().matches("Server is ready").count(), 2);
}

#[tokio::test]
async fn stop_is_graceful_and_restart_starts_a_stopped_server() {
    let mut server = start(TestServer::start());
    assert!(server.is_running());
    server.stop();
    assert!(!server.is_running());
    assert_eq!(server.pid(), None);
    assert!(server.log().contains("Server Exiting"), "{}", server.log());
    server.restart().unwrap_or_else(|error| panic!("{error}"));
    assert!(server.is_running());
    connect(&server).await.flush().await.expect("flush");
}

#[test]
fn dropping_the_server_kills_it_and_removes_its_directory() {
    let mut server = start(TestServer::start());
    let pid = server.pid().expect("running");
    let dir = server.dir().to_path_buf();
    let port = server.port();
    assert!(dir.join("nats-server.conf").is_file());
    assert!(server.is_running());

    drop(server);

    assert!(!dir.exists(), "{} is left", dir.display());
    // Reaped, not a zombie: the process is gone from the process table.
    #[cfg(target_os = "linux")]
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
    let _ = pid;
    assert!(TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err());
}

#[test]
fn a_server_that_cannot_start_says_why_with_its_log() {
    let taken = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("a port");
    let port = taken.local_addr().expect("its address").port();

    let error = TestServer::builder()
        .port(port)
        .start()
        .expect_err("the port is taken");

    assert!(matches!(error, TestServerError::Exited { .. }), "{error}");
    let log = error.log().expect("Exited has the log");
    assert!(log.contains("address already in use"), "{log}");
}

// ---------------------------------------------------------------------------------------------
// Nodes in processes of their own.

/// A node: answers requests on `$ECHO_SUBJECT` with `<role>: <payload>`, and each line on its
/// stdin with `EVENT <line>`.
#[tokio::test]
async fn echo_node() {
    let Some(mut node) = support::node() else {
        return;
    };
    let client = node.connect().await;
    serve_echo(&client, &node.var("ECHO_SUBJECT"), node.role.clone()).await;
    node.emit("READY");
    while let Some(command) = node.next_command().await {
        node.emit(format_args!("EVENT {command}"));
    }
}

#[tokio::test]
async fn a_node_process_answers_then_is_gone_after_sigkill() {
    let server = start(TestServer::start());
    let mut node = support::spawn_node(
        "echo_node",
        "echo-1",
        &server,
        &[("ECHO_SUBJECT", "harness.node")],
    );
    node.wait_for_line("READY", STARTUP).await;

    let client = connect(&server).await;
    let reply = client
        .request("harness.node", "ping".into())
        .await
        .expect("the node answers");
    assert_eq!(&reply.payload[..], b"echo-1: ping");
    node.send_line("hello");
    assert_eq!(node.wait_for_line("EVENT ", STEP).await, "EVENT hello");

    let status = node.kill_hard();
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(9), "{status}");
    }
    #[cfg(not(unix))]
    assert!(!status.success());

    // The kernel closed its socket; once the server has read that, it drops the node's
    // subscription: no responder is left. (A request that slips in before is just not answered.)
    let deadline = Instant::now() + STEP;
    loop {
        let request = client.request("harness.node", "anyone?".into());
        match tokio::time::timeout(Duration::from_millis(500), request).await {
            Ok(Err(error)) if error.kind() == RequestErrorKind::NoResponders => break,
            Ok(Ok(reply)) => panic!("a killed node answered: {reply:?}"),
            other => assert!(
                Instant::now() < deadline,
                "the server still routes to the killed node: {other:?}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_node_exits_when_its_stdin_closes() {
    let server = start(TestServer::start());
    let mut node = support::spawn_node(
        "echo_node",
        "echo-2",
        &server,
        &[("ECHO_SUBJECT", "harness.stdin")],
    );
    node.wait_for_line("READY", STARTUP).await;
    node.close_stdin();
    let status = node.wait(STEP).await;
    assert!(status.success(), "{status}");
}

/// A child with `NATS_SERVER` pointing nowhere: says what `TestServer::start` answers.
#[test]
fn not_installed_node() {
    let Some(node) = support::node() else {
        return;
    };
    match TestServer::start() {
        Ok(_) => node.emit("STARTED"),
        Err(error) => node.emit(format_args!(
            "ERROR {}",
            error.to_string().replace('\n', " ")
        )),
    }
}

#[tokio::test]
async fn without_nats_server_starting_fails_with_not_installed() {
    let mut child = support::spawn_child(
        "not_installed_node",
        "no-server",
        &[("NATS_SERVER", "/nonexistent/nats-server")],
    );
    let line = child.wait_for_line("ERROR ", STARTUP).await;
    assert!(line.contains("not installed"), "{line}");
    assert!(line.contains("apt-get install nats-server"), "{line}");
    assert!(line.contains("/nonexistent/nats-server"), "{line}");
}
