//! The ranking service over real gRPC on an ephemeral port: statuses, health, reflection; and
//! its live couriers (`fleet`).

mod fleet;

use aras_proto::ranking::v1::{self as pb, ranking_client::RankingClient};
use aras_ranking::RankingConfig;
use tonic::Code;
use tonic::transport::Channel;

async fn spawn_service() -> Channel {
    spawn_service_at().await.1
}

async fn spawn_service_at() -> (std::net::SocketAddr, Channel) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(aras_ranking::serve(
        RankingConfig::for_tests(),
        listener,
        std::future::pending(),
    ));
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    (addr, channel)
}

#[allow(clippy::unnecessary_wraps)] // proto message fields are Options
fn point(latitude: f64, longitude: f64) -> Option<pb::GeoPoint> {
    Some(pb::GeoPoint {
        latitude,
        longitude,
    })
}

fn request() -> pb::RankCouriersRequest {
    pb::RankCouriersRequest {
        announcement: Some(pb::Announcement {
            announcement_id: "A1".into(),
            delivery_type: pb::DeliveryType::Express.into(),
            pickup: point(48.8566, 2.3522),
            dropoff: point(48.8738, 2.2950),
            parcel_weight_kg: None,
            parcel_volume_m3: None,
        }),
        candidates: vec![pb::Courier {
            courier_id: "C1".into(),
            position: point(48.8606, 2.3376),
            reputation: 8.5,
            capacity_kg: 30.0,
            capacity_volume_m3: None,
            vehicle_type: pb::VehicleType::Moto.into(),
        }],
        options: None,
        live: false,
    }
}

#[tokio::test]
async fn ranks_and_refuses_invalid_input_with_invalid_argument() {
    let mut client = RankingClient::new(spawn_service().await);
    let ok = client.rank_couriers(request()).await.unwrap().into_inner();
    assert_eq!(ok.ranked.len(), 1);
    assert_eq!(ok.ranked[0].closeness, 1.0);

    let mut nan = request();
    nan.candidates[0].reputation = f64::NAN;
    let mut unspecified = request();
    unspecified.announcement.as_mut().unwrap().delivery_type = pb::DeliveryType::Unspecified.into();
    let mut no_position = request();
    no_position.candidates[0].position = None;
    let mut no_announcement = request();
    no_announcement.announcement = None;
    for (bad, needle) in [
        (nan, "livreurs_candidats[0].reputation"),
        (unspecified, "annonce.type_livraison"),
        (
            no_position,
            "livreurs_candidats[0].position_actuelle: is required",
        ),
        (no_announcement, "annonce: is required"),
    ] {
        let status = client.rank_couriers(bad).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(status.message().contains(needle), "{}", status.message());
    }
}

#[tokio::test]
async fn reports_serving_health_once_its_fleet_is_loaded() {
    let channel = spawn_service().await;
    // SERVING comes once the first load of live couriers has finished (a moment).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    for service in [aras_ranking::SERVICE_NAME, aras_ranking::FLEET_SERVICE_NAME] {
        loop {
            let status = aras_common::grpc::check_health(
                channel.clone(),
                service,
                std::time::Duration::from_secs(1),
            )
            .await;
            if matches!(status, Ok(tonic_health::ServingStatus::Serving)) {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{service} not serving: {status:?}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}

#[tokio::test]
async fn lists_its_service_over_reflection() {
    use tonic_reflection::pb::v1::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
    };
    let mut client = ServerReflectionClient::new(spawn_service().await);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut stream = client
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let response = stream.message().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("{response:?}")
    };
    let mut names: Vec<_> = list.service.into_iter().map(|s| s.name).collect();
    names.sort();
    assert_eq!(
        names,
        [
            aras_ranking::FLEET_SERVICE_NAME,
            aras_ranking::SERVICE_NAME,
            "grpc.health.v1.Health",
            "grpc.reflection.v1.ServerReflection",
            "grpc.reflection.v1alpha.ServerReflection",
        ]
    );
}

/// Paths nobody serves share one `method` label: a caller sending random paths cannot grow the
/// metric's series without bound.
#[tokio::test]
async fn unknown_methods_share_one_metric_label() {
    let (addr, channel) = spawn_service_at().await;
    let mut grpc = tonic::client::Grpc::new(channel);
    let random_path = format!("/aras.nope.v1.Nope/Call{}", std::process::id());
    grpc.ready().await.unwrap();
    let status = grpc
        .unary::<pb::RankCouriersRequest, pb::RankCouriersResponse, _>(
            tonic::Request::new(request()),
            random_path.parse().unwrap(),
            tonic_prost::ProstCodec::default(),
        )
        .await
        .expect_err("nobody serves that path");
    assert_eq!(status.code(), Code::Unimplemented);
    let metrics = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"ranking_grpc_requests_total{method="unknown",code="Unimplemented"}"#),
        "{metrics}"
    );
    assert!(!metrics.contains(&random_path), "{metrics}");
}
