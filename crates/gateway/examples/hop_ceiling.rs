//! The hop ceiling: the most a gateway → gRPC pair can do on this machine, to compare the
//! ranking path with (`scripts/load-test-rank` drives it with the same wrk script).
//!
//! ```text
//! hop_ceiling 127.0.0.1:8106
//! ```
//! An axum handler decodes the ranking request's JSON into typed structs, converts it to the
//! ranking proto, calls a tonic Ranking service (in this process, on its own loopback port, over
//! a real HTTP/2 channel) that answers an empty response at once — no validation, no ranking, no
//! logging, no metrics — and answers a small JSON.

use std::net::SocketAddr;

use aras_proto::ranking::v1 as pb;
use aras_proto::ranking::v1::ranking_client::RankingClient;
use aras_proto::ranking::v1::ranking_server::{Ranking, RankingServer};
use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use tonic::transport::Channel;

#[derive(Deserialize)]
struct Point {
    latitude: f64,
    longitude: f64,
}

#[derive(Deserialize)]
struct Announcement {
    annonce_id: String,
    type_livraison: String,
    point_ramassage: Point,
    point_livraison: Point,
}

#[derive(Deserialize)]
struct Candidate {
    livreur_id: String,
    position_actuelle: Point,
    reputation: f64,
    capacite_max_kg: f64,
    type_vehicule: String,
}

#[derive(Deserialize)]
struct RankRequest {
    annonce: Announcement,
    livreurs_candidats: Vec<Candidate>,
}

fn point(p: &Point) -> pb::GeoPoint {
    pb::GeoPoint {
        latitude: p.latitude,
        longitude: p.longitude,
    }
}

/// Answers at once: the service side of the hop, without the work.
struct Instant;

#[tonic::async_trait]
impl Ranking for Instant {
    async fn rank_couriers(
        &self,
        _request: tonic::Request<pb::RankCouriersRequest>,
    ) -> Result<tonic::Response<pb::RankCouriersResponse>, tonic::Status> {
        Ok(tonic::Response::new(pb::RankCouriersResponse::default()))
    }
}

async fn rank(
    State(client): State<RankingClient<Channel>>,
    Json(body): Json<RankRequest>,
) -> Result<Json<serde_json::Value>, String> {
    let vehicle = |name: &str| match name {
        "velo" => pb::VehicleType::Velo,
        "moto" => pb::VehicleType::Moto,
        "voiture" => pb::VehicleType::Voiture,
        "camionnette" => pb::VehicleType::Camionnette,
        _ => pb::VehicleType::Camion,
    };
    let request = pb::RankCouriersRequest {
        announcement: Some(pb::Announcement {
            announcement_id: body.annonce.annonce_id.clone(),
            delivery_type: if body.annonce.type_livraison == "express" {
                pb::DeliveryType::Express
            } else {
                pb::DeliveryType::Standard
            }
            .into(),
            pickup: Some(point(&body.annonce.point_ramassage)),
            dropoff: Some(point(&body.annonce.point_livraison)),
            parcel_weight_kg: None,
            parcel_volume_m3: None,
        }),
        candidates: body
            .livreurs_candidats
            .iter()
            .map(|c| pb::Courier {
                courier_id: c.livreur_id.clone(),
                position: Some(point(&c.position_actuelle)),
                reputation: c.reputation,
                capacity_kg: c.capacite_max_kg,
                capacity_volume_m3: None,
                vehicle_type: vehicle(&c.type_vehicule).into(),
            })
            .collect(),
        options: None,
        live: false,
    };
    client
        .clone()
        .rank_couriers(request)
        .await
        .map_err(|status| status.to_string())?;
    Ok(Json(
        serde_json::json!({"status": "success", "annonce_id": body.annonce.annonce_id}),
    ))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let addr: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8106".into())
        .parse()?;
    let grpc = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let grpc_addr = grpc.local_addr()?;
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(RankingServer::new(Instant))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(grpc)),
    );
    let channel = Channel::from_shared(format!("http://{grpc_addr}"))?
        .tcp_nodelay(true)
        .connect_lazy();
    let app = Router::new()
        .route("/api/v1/livreurs/rank", post(rank))
        .with_state(RankingClient::new(channel));
    println!("hop ceiling on http://{addr}/api/v1/livreurs/rank");
    axum::serve(tokio::net::TcpListener::bind(addr).await?, app).await?;
    Ok(())
}
