//! Real HTTP receivers for what the daemon sends (webhooks, reports, heartbeats): an axum
//! server on a loopback port, on a thread with its own runtime so that the test may block its
//! own thread (run the `patrol` binary, say) while the receiver answers.
#![allow(dead_code)]

use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Serves `app` on 127.0.0.1:`port` (0: any free port); returns the port.
pub fn serve(app: axum::Router, port: u16) -> u16 {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
                .await
                .expect("bind");
            tx.send(listener.local_addr().expect("addr").port())
                .expect("send");
            axum::serve(listener, app).await.expect("serve");
        });
    });
    rx.recv_timeout(Duration::from_secs(10))
        .expect("receiver started")
}

/// Records the body of every request, whatever its path, as JSON (`null` when it is not
/// JSON), and answers 200.
pub struct JsonReceiver {
    pub port: u16,
    bodies: Arc<Mutex<Vec<Value>>>,
}

impl JsonReceiver {
    pub fn start() -> JsonReceiver {
        let bodies: Arc<Mutex<Vec<Value>>> = Arc::default();
        let seen = bodies.clone();
        let app = axum::Router::new().fallback(move |body: String| {
            let seen = seen.clone();
            async move {
                let v = serde_json::from_str(&body).unwrap_or(Value::Null);
                seen.lock().expect("lock").push(v);
                "thanks"
            }
        });
        JsonReceiver {
            port: serve(app, 0),
            bodies,
        }
    }

    /// `http://127.0.0.1:PORT{path}`
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The bodies received so far, in order.
    pub fn bodies(&self) -> Vec<Value> {
        self.bodies.lock().expect("lock").clone()
    }
}
