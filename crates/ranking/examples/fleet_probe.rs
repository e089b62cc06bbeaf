//! Measures live dispatch across ranking replicas, over their gRPC API (tenant `demo`):
//!
//! - `visibility <writer> <reader>... <n>`: `n` times, moves a probe courier (far from any
//!   city) through the first replica, then ranks on each replica until the new position shows;
//!   prints p50/p99/max of the delay per replica.
//! - `serving <replica> <timeout-s>`: waits until the replica's live couriers are in sync
//!   (`aras.ranking.v1.Fleet` SERVING); prints how long that took.
//! - `watch <replica> <seconds>`: live rankings one after another for `seconds`; prints how
//!   many succeeded and failed, and their p99.
//!
//! `cargo run --release -p aras-ranking --example fleet_probe -- visibility http://127.0.0.1:50164 http://127.0.0.1:50165 200`
//! (scripts/load-test-fleet runs it).

use std::time::{Duration, Instant};

use aras_domain::tenant::Tenant;
use aras_proto::ranking::v1::{
    self as pb, fleet_client::FleetClient, ranking_client::RankingClient,
};
use tonic::transport::Channel;
use tonic_health::ServingStatus;

fn for_demo<T>(message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    aras_common::tenant::attach(&mut request, &Tenant::parse("demo").expect("a valid slug"));
    request
}

async fn channel(url: &str) -> anyhow::Result<Channel> {
    Ok(Channel::from_shared(url.to_owned())?.connect().await?)
}

#[allow(clippy::unnecessary_wraps)] // proto message fields are Options
fn point(latitude: f64, longitude: f64) -> Option<pb::GeoPoint> {
    Some(pb::GeoPoint {
        latitude,
        longitude,
    })
}

/// A ranking of the probe's spot only: a 100 m sameday delivery around it.
fn around(latitude: f64, longitude: f64) -> pb::RankCouriersRequest {
    pb::RankCouriersRequest {
        announcement: Some(pb::Announcement {
            announcement_id: "PROBE".into(),
            delivery_type: pb::DeliveryType::Sameday.into(),
            pickup: point(latitude, longitude),
            dropoff: point(latitude, longitude + 0.001),
            parcel_weight_kg: None,
            parcel_volume_m3: None,
        }),
        candidates: Vec::new(),
        options: Some(pb::RankingOptions {
            tolerance_km: Some(0.1),
            top_k: Some(1),
            ..pb::RankingOptions::default()
        }),
        live: true,
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let at = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[at]
}

fn summary(mut delays: Vec<Duration>) -> String {
    delays.sort();
    format!(
        "p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} probes)",
        percentile(&delays, 0.5).as_secs_f64() * 1e3,
        percentile(&delays, 0.99).as_secs_f64() * 1e3,
        delays.last().map_or(0.0, |d| d.as_secs_f64() * 1e3),
        delays.len()
    )
}

async fn visibility(writer: &str, readers: &[String], n: usize) -> anyhow::Result<()> {
    let mut fleet = FleetClient::new(channel(writer).await?);
    let mut rankings = Vec::new();
    for url in readers {
        rankings.push(RankingClient::new(channel(url).await?));
    }
    fleet
        .register_courier(for_demo(pb::RegisterCourierRequest {
            courier_id: "PROBE".into(),
            profile: Some(pb::CourierProfile {
                reputation: 5.0,
                capacity_kg: 10.0,
                capacity_volume_m3: None,
                vehicle_type: pb::VehicleType::Velo.into(),
            }),
        }))
        .await?;
    let mut delays = vec![Vec::with_capacity(n); readers.len()];
    // Each report a millisecond newer at least: one in the same millisecond as the last is
    // not newer, and ignored (the contract), and probes follow each other that fast.
    let mut last_ms = 0;
    for i in 0..n {
        // The South Atlantic, 1 km further east each time: nobody else is there.
        let (latitude, longitude) = (-40.0, -20.0 + 0.013 * i as f64);
        let sent = Instant::now();
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_millis();
        last_ms = (i64::try_from(now_ms)?).max(last_ms + 1);
        fleet
            .report_positions(for_demo(pb::ReportPositionsRequest {
                reports: vec![pb::PositionReport {
                    courier_id: "PROBE".into(),
                    position: point(latitude, longitude),
                    timestamp_ms: Some(last_ms),
                }],
                single: true,
            }))
            .await?;
        for ((ranking, delays), url) in rankings.iter_mut().zip(&mut delays).zip(readers) {
            loop {
                let ranked = ranking
                    .rank_couriers(for_demo(around(latitude, longitude)))
                    .await?
                    .into_inner();
                if ranked.ranked.iter().any(|c| c.courier_id == "PROBE") {
                    delays.push(sent.elapsed());
                    break;
                }
                anyhow::ensure!(
                    sent.elapsed() < Duration::from_secs(5),
                    "probe {i} at ({latitude}, {longitude}) never showed on {url}: {:?} {:?}",
                    ranked.stats,
                    ranked.live_search
                );
            }
        }
    }
    for (url, delays) in readers.iter().zip(delays) {
        println!(
            "visible on {url} after the report was sent: {}",
            summary(delays)
        );
    }
    Ok(())
}

async fn serving(url: &str, timeout: Duration) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        if let Ok(channel) = channel(url).await
            && let Ok(ServingStatus::Serving) = aras_common::grpc::check_health(
                channel,
                "aras.ranking.v1.Fleet",
                Duration::from_millis(500),
            )
            .await
        {
            println!(
                "{url} serving live dispatch after {:.2} s",
                started.elapsed().as_secs_f64()
            );
            return Ok(());
        }
        anyhow::ensure!(
            started.elapsed() < timeout,
            "{url} not serving within {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn watch(url: &str, seconds: u64) -> anyhow::Result<()> {
    let mut ranking = RankingClient::new(channel(url).await?);
    // The load test's city and announcement.
    let request = || pb::RankCouriersRequest {
        announcement: Some(pb::Announcement {
            announcement_id: "WATCH".into(),
            delivery_type: pb::DeliveryType::Express.into(),
            pickup: point(48.8566, 2.3522),
            dropoff: point(48.8738, 2.2950),
            parcel_weight_kg: None,
            parcel_volume_m3: None,
        }),
        candidates: Vec::new(),
        options: Some(pb::RankingOptions {
            top_k: Some(10),
            ..pb::RankingOptions::default()
        }),
        live: true,
    };
    let until = Instant::now() + Duration::from_secs(seconds);
    let (mut latencies, mut failed) = (Vec::new(), 0u64);
    while Instant::now() < until {
        let started = Instant::now();
        match ranking.rank_couriers(for_demo(request())).await {
            Ok(_) => latencies.push(started.elapsed()),
            Err(status) => {
                failed += 1;
                eprintln!("failed: {status}");
            }
        }
    }
    println!(
        "{url}: {} rankings succeeded, {failed} failed; {}",
        latencies.len(),
        summary(latencies)
    );
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [command, urls @ .., n] if command == "visibility" && urls.len() >= 2 => {
            visibility(&urls[0], urls, n.parse()?).await
        }
        [command, url, timeout] if command == "serving" => {
            serving(url, Duration::from_secs(timeout.parse()?)).await
        }
        [command, url, seconds] if command == "watch" => watch(url, seconds.parse()?).await,
        _ => anyhow::bail!(
            "usage: fleet_probe visibility <writer> <reader>... <n> | serving <url> <timeout-s> | watch <url> <seconds>"
        ),
    }
}
