//! A minimal keep-alive HTTP/1.1 server on 127.0.0.1 for the driver's tests:
//! every request gets `200 ok`, optionally after a fixed delay.

use std::time::Duration;

use reqwest::Url;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Serves on an ephemeral loopback port until the test's runtime ends; returns
/// the `/healthz` URL.
pub async fn serve_ok(delay: Duration) -> Url {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        while let Ok((conn, _)) = listener.accept().await {
            tokio::spawn(answer(conn, delay));
        }
    });
    Url::parse(&format!("http://{addr}/healthz")).expect("valid url")
}

async fn answer(mut conn: TcpStream, delay: Duration) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        // Requests without bodies: each ends at the blank line.
        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            buf.drain(..end + 4);
            if !delay.is_zero() {
                tokio::time::sleep(delay).await; // the server being slow, on purpose
            }
            let reply = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
            if conn.write_all(reply).await.is_err() {
                return;
            }
        }
        match conn.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}
