//! Starts the services in-process on ephemeral ports, like production but on loopback.

use std::net::SocketAddr;

use aras_gateway::GatewayConfig;
use aras_ranking::RankingConfig;
use serde_json::Value;
use tokio::net::TcpListener;

pub struct TestApp {
    pub base_url: String,
    pub client: reqwest::Client,
}

async fn ephemeral() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binding an ephemeral loopback port");
    let addr = listener
        .local_addr()
        .expect("a bound listener has an address");
    (listener, addr)
}

/// Starts the ranking service, then a gateway that calls it.
pub async fn spawn_app() -> TestApp {
    let (listener, ranking_addr) = ephemeral().await;
    tokio::spawn(aras_ranking::serve(
        RankingConfig::for_tests(),
        listener,
        std::future::pending(),
    ));
    spawn_gateway(GatewayConfig::for_tests(&format!("http://{ranking_addr}"))).await
}

/// A gateway whose ranking service does not exist: a port that was bound and released.
pub async fn spawn_app_without_ranking() -> TestApp {
    let (listener, dead_addr) = ephemeral().await;
    drop(listener);
    let mut config = GatewayConfig::for_tests(&format!("http://{dead_addr}"));
    config.grpc_timeout = std::time::Duration::from_millis(500);
    config.health_timeout = std::time::Duration::from_millis(300);
    spawn_gateway(config).await
}

async fn spawn_gateway(config: GatewayConfig) -> TestApp {
    let (listener, addr) = ephemeral().await;
    tokio::spawn(aras_gateway::serve(
        config,
        listener,
        std::future::pending(),
    ));
    TestApp {
        base_url: format!("http://{addr}"),
        client: reqwest::Client::new(),
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// POSTs `body` as JSON; returns the status, the content type and the parsed body.
    pub async fn post_json(&self, path: &str, body: &Value) -> (u16, String, Value) {
        self.post_raw(path, "application/json", serde_json::to_vec(body).unwrap())
            .await
    }

    pub async fn post_raw(
        &self,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> (u16, String, Value) {
        let response = self
            .client
            .post(self.url(path))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("the gateway answers");
        split(response).await
    }

    pub async fn get_text(&self, path: &str) -> String {
        let response = self
            .client
            .get(self.url(path))
            .send()
            .await
            .expect("the gateway answers");
        assert!(
            response.status().is_success(),
            "GET {path}: {}",
            response.status()
        );
        response.text().await.expect("a complete body")
    }

    pub async fn get(&self, path: &str) -> (u16, String, Value) {
        split(
            self.client
                .get(self.url(path))
                .send()
                .await
                .expect("the gateway answers"),
        )
        .await
    }
}

async fn split(response: reqwest::Response) -> (u16, String, Value) {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let bytes = response.bytes().await.expect("a complete body");
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, content_type, body)
}

/// The seed README's `/livreurs/rank` example request.
pub fn seed_request() -> Value {
    serde_json::json!({
        "annonce": {
            "annonce_id": "ANN-2024-001",
            "type_livraison": "express",
            "point_ramassage": { "latitude": 48.8566, "longitude": 2.3522 },
            "point_livraison": { "latitude": 48.8738, "longitude": 2.2950 }
        },
        "livreurs_candidats": [
            {
                "livreur_id": "LIV-001",
                "position_actuelle": { "latitude": 48.8606, "longitude": 2.3376 },
                "reputation": 8.5,
                "capacite_max_kg": 30,
                "type_vehicule": "moto"
            },
            {
                "livreur_id": "LIV-002",
                "position_actuelle": { "latitude": 48.8556, "longitude": 2.3486 },
                "reputation": 9.0,
                "capacite_max_kg": 50,
                "type_vehicule": "voiture"
            }
        ]
    })
}

/// Asserts an RFC 9457 body with `status` whose detail contains `needle`.
pub fn assert_problem(got: &(u16, String, Value), status: u16, needle: &str) {
    let (code, content_type, body) = got;
    assert_eq!(*code, status, "{body}");
    assert_eq!(content_type, "application/problem+json", "{body}");
    assert_eq!(body["status"], status, "{body}");
    assert!(
        body["title"].is_string() && body["type"].is_string(),
        "{body}"
    );
    assert!(
        body["instance"].is_string(),
        "the correlation id is the instance: {body}"
    );
    let detail = body["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains(needle),
        "detail {detail:?} should contain {needle:?}"
    );
}
