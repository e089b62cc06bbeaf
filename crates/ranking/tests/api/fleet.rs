//! Live couriers over real gRPC and the real Redis: replicas that share a fleet, rebuilds, and
//! live rankings that equal the given-candidates ranking of the same couriers.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use aras_domain::tenant::Tenant;
use aras_proto::ranking::v1::{
    self as pb, fleet_client::FleetClient, ranking_client::RankingClient,
};
use aras_ranking::RankingConfig;
use tonic::transport::Channel;
use tonic_health::ServingStatus;

/// A replica of the ranking service on `config`'s fleet; its address and a way to stop it.
async fn replica(config: RankingConfig) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(aras_ranking::serve(config, listener, async {
        let _ = stopped.await;
    }));
    (addr, stop)
}

async fn channel(addr: SocketAddr) -> Channel {
    Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

/// Waits (10 s at most) until the replica's live couriers are in sync with Redis.
async fn wait_in_sync(addr: SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = aras_common::grpc::check_health(
            channel(addr).await,
            aras_ranking::FLEET_SERVICE_NAME,
            Duration::from_secs(1),
        )
        .await;
        if matches!(status, Ok(ServingStatus::Serving)) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the fleet of {addr} is not in sync: {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn for_tenant<T>(message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    aras_common::tenant::attach(&mut request, &Tenant::parse("acme").unwrap());
    request
}

#[allow(clippy::unnecessary_wraps)] // proto message fields are Options
fn point(latitude: f64, longitude: f64) -> Option<pb::GeoPoint> {
    Some(pb::GeoPoint {
        latitude,
        longitude,
    })
}

/// A deterministic stream of numbers in [0, 1).
fn numbers(seed: u64) -> impl FnMut() -> f64 {
    let mut state = seed;
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A courier's profile: its fields, and the candidate of a given-candidates ranking at `at`.
#[derive(Clone)]
struct Courier {
    id: String,
    profile: pb::CourierProfile,
    latitude: f64,
    longitude: f64,
}

impl Courier {
    fn candidate(&self) -> pb::Courier {
        pb::Courier {
            courier_id: self.id.clone(),
            position: point(self.latitude, self.longitude),
            reputation: self.profile.reputation,
            capacity_kg: self.profile.capacity_kg,
            capacity_volume_m3: self.profile.capacity_volume_m3,
            vehicle_type: self.profile.vehicle_type,
        }
    }
}

async fn register_all(fleet: &mut FleetClient<Channel>, couriers: &[Courier]) {
    for c in couriers {
        fleet
            .register_courier(for_tenant(pb::RegisterCourierRequest {
                courier_id: c.id.clone(),
                profile: Some(c.profile),
            }))
            .await
            .unwrap();
    }
    for chunk in couriers.chunks(1_000) {
        let reports = chunk
            .iter()
            .map(|c| pb::PositionReport {
                courier_id: c.id.clone(),
                position: point(c.latitude, c.longitude),
                timestamp_ms: None,
            })
            .collect();
        let answer = fleet
            .report_positions(for_tenant(pb::ReportPositionsRequest {
                reports,
                single: false,
            }))
            .await
            .unwrap()
            .into_inner();
        assert!(
            answer.outcomes().all(|o| o == pb::ReportOutcome::Applied),
            "every report applied"
        );
    }
}

/// A moto courier in the west of the delivery's ellipse.
fn moto(id: &str) -> Courier {
    Courier {
        id: id.into(),
        profile: pb::CourierProfile {
            reputation: 7.0,
            capacity_kg: 30.0,
            capacity_volume_m3: None,
            vehicle_type: pb::VehicleType::Moto.into(),
        },
        latitude: 48.8566,
        longitude: 2.3000,
    }
}

/// A 10 km delivery across a city: pickup in the west, drop-off in the east.
fn announcement() -> pb::Announcement {
    pb::Announcement {
        announcement_id: "LIVE".into(),
        delivery_type: pb::DeliveryType::Standard.into(),
        pickup: point(48.8566, 2.2800),
        dropoff: point(48.8566, 2.4160),
        parcel_weight_kg: None,
        parcel_volume_m3: None,
    }
}

fn live_request(top_k: u32) -> pb::RankCouriersRequest {
    pb::RankCouriersRequest {
        announcement: Some(announcement()),
        candidates: Vec::new(),
        options: Some(pb::RankingOptions {
            top_k: Some(top_k),
            ..pb::RankingOptions::default()
        }),
        live: true,
    }
}

fn ranked(response: &pb::RankCouriersResponse) -> Vec<&str> {
    response
        .ranked
        .iter()
        .map(|c| c.courier_id.as_str())
        .collect()
}

#[tokio::test]
async fn live_ranking_ranks_every_eligible_courier_like_the_given_ranking() {
    let (addr, _stop) = replica(RankingConfig::for_tests()).await;
    wait_in_sync(addr).await;
    let mut fleet = FleetClient::new(channel(addr).await);
    let mut ranking = RankingClient::new(channel(addr).await);
    // 4,000 average couriers packed around the ellipse's centre, and the best one of all
    // beside the pickup, 5 km from the centre: a nearest-to-the-centre shortlist misses it.
    let mut next = numbers(0x9E37_79B9_7F4A_7C15);
    let mut couriers: Vec<Courier> = (0..4_000)
        .map(|i| Courier {
            id: format!("C{i:05}"),
            profile: pb::CourierProfile {
                reputation: (5.0 * next()).floor(),
                capacity_kg: 10.0 + (40.0 * next()).floor(),
                capacity_volume_m3: None,
                vehicle_type: [pb::VehicleType::Velo, pb::VehicleType::Moto][i % 2].into(),
            },
            latitude: 48.8566 + 0.02 * (next() - 0.5),
            longitude: 2.3480 + 0.03 * (next() - 0.5),
        })
        .collect();
    couriers.push(Courier {
        id: "BEST".into(),
        profile: pb::CourierProfile {
            reputation: 10.0,
            capacity_kg: 800.0,
            capacity_volume_m3: None,
            vehicle_type: pb::VehicleType::Camion.into(),
        },
        latitude: 48.8567,
        longitude: 2.2801,
    });
    register_all(&mut fleet, &couriers).await;

    let live = ranking
        .rank_couriers(for_tenant(live_request(5)))
        .await
        .unwrap()
        .into_inner();
    let stats = live.stats.unwrap();
    assert_eq!(
        (stats.total, stats.eligible),
        (4_001, 4_001),
        "every courier is in the ellipse"
    );
    assert_eq!(live.ranked.len(), 5, "top_k cuts the answer only");
    assert_eq!(ranked(&live)[0], "BEST");
    let search = live.live_search.unwrap();
    assert_eq!(search.stale, 0);

    let given = ranking
        .rank_couriers(pb::RankCouriersRequest {
            candidates: couriers.iter().map(Courier::candidate).collect(),
            live: false,
            ..live_request(5)
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ranked(&live), ranked(&given));
    for (l, g) in live.ranked.iter().zip(&given.ranked) {
        assert!((l.closeness - g.closeness).abs() < 1e-12, "{l:?} vs {g:?}");
        assert!(l.position_age_s.is_some_and(|age| age < 60.0), "{l:?}");
    }

    // Without top_k, every eligible courier is listed.
    let mut all = live_request(5);
    all.options = None;
    let every = ranking
        .rank_couriers(for_tenant(all))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(every.ranked.len(), 4_001);
    assert_eq!(
        every.ranked[..5]
            .iter()
            .map(|c| c.courier_id.as_str())
            .collect::<Vec<_>>(),
        ranked(&live)
    );
}

#[tokio::test]
async fn an_answer_over_the_limit_is_refused_naming_it() {
    let mut config = RankingConfig::for_tests();
    config.max_candidates = 3;
    let (addr, _stop) = replica(config).await;
    wait_in_sync(addr).await;
    let mut fleet = FleetClient::new(channel(addr).await);
    let couriers: Vec<Courier> = (0..4)
        .map(|i| Courier {
            id: format!("C{i}"),
            profile: pb::CourierProfile {
                reputation: 5.0,
                capacity_kg: 20.0,
                capacity_volume_m3: None,
                vehicle_type: pb::VehicleType::Moto.into(),
            },
            latitude: 48.8566,
            longitude: 2.30 + 0.01 * f64::from(i),
        })
        .collect();
    register_all(&mut fleet, &couriers).await;
    let mut ranking = RankingClient::new(channel(addr).await);
    let mut all = live_request(1);
    all.options = None;
    let refused = ranking.rank_couriers(for_tenant(all)).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    assert!(
        refused
            .message()
            .contains("options.top_k: the answer would list 4 couriers (4 ranked, 0 rejected), more than the limit of 3")
            && refused.message().contains("ARAS_RANKING_MAX_CANDIDATES"),
        "{}",
        refused.message()
    );
    let kept = ranking
        .rank_couriers(for_tenant(live_request(3)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((kept.ranked.len(), kept.stats.unwrap().eligible), (3, 4));
}

#[tokio::test]
async fn replicas_sharing_a_fleet_see_each_others_writes_and_a_new_one_loads_them() {
    let config = RankingConfig::for_tests();
    let (a, _stop_a) = replica(config.clone()).await;
    let (b, _stop_b) = replica(config.clone()).await;
    wait_in_sync(a).await;
    wait_in_sync(b).await;
    let mut fleet_a = FleetClient::new(channel(a).await);
    let courier = moto("LIV-1");
    register_all(&mut fleet_a, std::slice::from_ref(&courier)).await;
    // Written through A: A ranks it at once (its write waited for its index); B within a
    // moment (the change log), polled for at most 2 s.
    let mut ranking_a = RankingClient::new(channel(a).await);
    let on_a = ranking_a
        .rank_couriers(for_tenant(live_request(5)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ranked(&on_a), ["LIV-1"]);
    let mut ranking_b = RankingClient::new(channel(b).await);
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let on_b = ranking_b
            .rank_couriers(for_tenant(live_request(5)))
            .await
            .unwrap()
            .into_inner();
        if ranked(&on_b) == ["LIV-1"] {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "B never saw A's courier: {on_b:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Offline through B: gone from A's rankings too.
    let mut fleet_b = FleetClient::new(channel(b).await);
    let offline = fleet_b
        .go_offline(for_tenant(pb::GoOfflineRequest {
            courier_id: "LIV-1".into(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert!(offline.was_online);
    let deadline = Instant::now() + Duration::from_secs(2);
    while !ranked(
        &ranking_a
            .rank_couriers(for_tenant(live_request(5)))
            .await
            .unwrap()
            .into_inner(),
    )
    .is_empty()
    {
        assert!(
            Instant::now() < deadline,
            "A still ranks the offline courier"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    // A replica that starts now loads the fleet from Redis before it serves live rankings.
    register_all(&mut fleet_a, std::slice::from_ref(&courier)).await;
    let (c, _stop_c) = replica(config).await;
    wait_in_sync(c).await;
    let on_c = RankingClient::new(channel(c).await)
        .rank_couriers(for_tenant(live_request(5)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ranked(&on_c), ["LIV-1"]);
    let read = FleetClient::new(channel(c).await)
        .get_courier(for_tenant(pb::GetCourierRequest {
            courier_id: "LIV-1".into(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(read.profile.unwrap().reputation, 7.0);
    assert!(read.last_position.is_some() && !read.stale);
}

#[tokio::test]
async fn a_replica_whose_redis_lost_its_data_rebuilds_and_forgets_the_couriers() {
    let config = RankingConfig::for_tests();
    let prefix = config.fleet.redis_prefix.clone();
    let (addr, _stop) = replica(config.clone()).await;
    wait_in_sync(addr).await;
    let mut fleet = FleetClient::new(channel(addr).await);
    let courier = moto("LIV-1");
    register_all(&mut fleet, std::slice::from_ref(&courier)).await;
    let mut ranking = RankingClient::new(channel(addr).await);
    let before = ranking
        .rank_couriers(for_tenant(live_request(5)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ranked(&before), ["LIV-1"]);

    // Every fleet key gone, as after a Redis restart without persistence.
    let redis = config.fleet.redis();
    let client = redis.connect().unwrap();
    fred::prelude::ClientLike::wait_for_connect(&client)
        .await
        .unwrap();
    let deleted: i64 = fred::prelude::LuaInterface::eval(
        &client,
        "local n = 0 for _, k in ipairs(redis.call('KEYS', ARGV[1])) do n = n + redis.call('DEL', k) end return n",
        Vec::<String>::new(),
        format!("{prefix}*"),
    )
    .await
    .unwrap();
    assert!(deleted >= 5, "the fleet's keys: {deleted}");

    // Writes go on at once, numbered from 1 again: the new epoch in their log entries gives the
    // loss away (their numbers alone would not, being below what the replica applied).
    let newcomer = moto("LIV-2");
    register_all(&mut fleet, std::slice::from_ref(&newcomer)).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let now = ranking.rank_couriers(for_tenant(live_request(5))).await;
        if now.as_ref().is_ok_and(|r| ranked(r.get_ref()) == ["LIV-2"]) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the replica ranks what Redis lost, or misses what it holds now: {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let metrics = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"ranking_fleet_rebuilds_total{reason="redis_reset"} 1"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn bad_fleet_input_is_refused_and_stores_nothing() {
    let (addr, _stop) = replica(RankingConfig::for_tests()).await;
    wait_in_sync(addr).await;
    let mut fleet = FleetClient::new(channel(addr).await);
    let profile = pb::CourierProfile {
        reputation: 7.0,
        capacity_kg: 30.0,
        capacity_volume_m3: None,
        vehicle_type: pb::VehicleType::Moto.into(),
    };
    for (id, needle) in [
        ("rank", "livreur_id: \"rank\" is reserved"),
        ("", "livreur_id: must be 1 to 128 characters"),
        ("a\u{1f}b", "none a control character"),
    ] {
        let refused = fleet
            .register_courier(for_tenant(pb::RegisterCourierRequest {
                courier_id: id.into(),
                profile: Some(profile),
            }))
            .await
            .unwrap_err();
        assert_eq!(refused.code(), tonic::Code::InvalidArgument);
        assert!(refused.message().contains(needle), "{}", refused.message());
    }
    let no_tenant = fleet
        .register_courier(pb::RegisterCourierRequest {
            courier_id: "LIV-1".into(),
            profile: Some(profile),
        })
        .await
        .unwrap_err();
    assert_eq!(no_tenant.code(), tonic::Code::InvalidArgument);
    let unknown = fleet
        .get_courier(for_tenant(pb::GetCourierRequest {
            courier_id: "NOBODY".into(),
        }))
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), tonic::Code::NotFound);
    let live_with_candidates = RankingClient::new(channel(addr).await)
        .rank_couriers(for_tenant(pb::RankCouriersRequest {
            candidates: vec![
                Courier {
                    id: "X".into(),
                    profile,
                    latitude: 48.0,
                    longitude: 2.0,
                }
                .candidate(),
            ],
            ..live_request(1)
        }))
        .await
        .unwrap_err();
    assert!(
        live_with_candidates
            .message()
            .contains("livreurs_candidats: must be absent for a live ranking"),
        "{}",
        live_with_candidates.message()
    );
}

#[tokio::test]
async fn a_batch_checks_each_report_against_redis_and_its_own_earlier_reports() {
    let (addr, _stop) = replica(RankingConfig::for_tests()).await;
    wait_in_sync(addr).await;
    let mut fleet = FleetClient::new(channel(addr).await);
    let profile = pb::CourierProfile {
        reputation: 5.0,
        capacity_kg: 10.0,
        capacity_volume_m3: None,
        vehicle_type: pb::VehicleType::Velo.into(),
    };
    // 2,400 couriers: the script reads and writes in chunks of 1,000 and 2,000.
    let ids: Vec<String> = (0..2_400).map(|i| format!("C{i:04}")).collect();
    for id in &ids {
        fleet
            .register_courier(for_tenant(pb::RegisterCourierRequest {
                courier_id: id.clone(),
                profile: Some(profile),
            }))
            .await
            .unwrap();
    }
    let report = |id: &str, longitude: f64, at: i64| pb::PositionReport {
        courier_id: id.into(),
        position: point(48.85, longitude),
        timestamp_ms: Some(at),
    };
    let now = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap();
    let mut reports: Vec<pb::PositionReport> =
        ids.iter().map(|id| report(id, 2.30, now - 1_000)).collect();
    // Within the batch: a later report of C0000 wins; an older one of C0001 loses to the
    // first; an unregistered courier is ignored; all past the first chunk.
    reports.push(report("C0000", 2.31, now - 500));
    reports.push(report("C0001", 2.32, now - 2_000));
    reports.push(report("GHOST", 2.33, now));
    let outcomes = fleet
        .report_positions(for_tenant(pb::ReportPositionsRequest {
            reports,
            single: false,
        }))
        .await
        .unwrap()
        .into_inner();
    let outcomes: Vec<pb::ReportOutcome> = outcomes.outcomes().collect();
    assert_eq!(outcomes.len(), 2_403);
    assert!(
        outcomes[..2_400]
            .iter()
            .all(|&o| o == pb::ReportOutcome::Applied)
    );
    assert_eq!(
        outcomes[2_400..],
        [
            pb::ReportOutcome::Applied,
            pb::ReportOutcome::NotNewer,
            pb::ReportOutcome::UnknownCourier
        ]
    );
    let longitude = |courier: pb::LiveCourier| {
        courier
            .last_position
            .and_then(|f| f.position)
            .map(|p| p.longitude)
    };
    for (id, expected) in [("C0000", 2.31), ("C0001", 2.30), ("C2399", 2.30)] {
        let held = fleet
            .get_courier(for_tenant(pb::GetCourierRequest {
                courier_id: id.into(),
            }))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(longitude(held), Some(expected), "{id}");
    }
    // And against what Redis holds: the same report again is not newer.
    let again = fleet
        .report_positions(for_tenant(pb::ReportPositionsRequest {
            reports: vec![report("C0000", 2.40, now - 500)],
            single: true,
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        again.outcomes().collect::<Vec<_>>(),
        [pb::ReportOutcome::NotNewer]
    );
}

#[tokio::test]
async fn a_batch_with_one_bad_report_stores_none() {
    let (addr, _stop) = replica(RankingConfig::for_tests()).await;
    wait_in_sync(addr).await;
    let mut fleet = FleetClient::new(channel(addr).await);
    let profile = moto("LIV-1").profile;
    fleet
        .register_courier(for_tenant(pb::RegisterCourierRequest {
            courier_id: "LIV-1".into(),
            profile: Some(profile),
        }))
        .await
        .unwrap();
    let refused = fleet
        .report_positions(for_tenant(pb::ReportPositionsRequest {
            reports: vec![
                pb::PositionReport {
                    courier_id: "LIV-1".into(),
                    position: point(48.85, 2.35),
                    timestamp_ms: None,
                },
                pb::PositionReport {
                    courier_id: "LIV-1".into(),
                    position: point(48.85, 2.35),
                    timestamp_ms: Some(i64::MAX),
                },
            ],
            single: false,
        }))
        .await
        .unwrap_err();
    assert!(
        refused
            .message()
            .contains("positions[1].timestamp: is in the future"),
        "{}",
        refused.message()
    );
    let held = fleet
        .get_courier(for_tenant(pb::GetCourierRequest {
            courier_id: "LIV-1".into(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(held.last_position, None, "nothing stored");
}
