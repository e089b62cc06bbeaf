//! Live dispatch through the gateway: courier profiles and positions kept by a real ranking
//! service in the real Redis, ranked without `livreurs_candidats`.

use std::time::{Duration, SystemTime};

use aras_domain::tenant::Role;
use aras_ranking::RankingConfig;
use serde_json::{Value, json};

use crate::helpers::{
    TestApp, api_key, assert_problem, dead_address, gateway_config, other_tenant, seed_request,
    spawn_app_with, split,
};

/// A ranking service with `config` on an ephemeral port; its address.
async fn spawn_ranking(config: RankingConfig) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(aras_ranking::serve(
        config,
        listener,
        std::future::pending(),
    ));
    addr
}

/// A gateway in front of a ranking service of the test's own (a fleet no other test sees),
/// with batches of at most 5 reports and positions stale after a minute.
async fn app() -> TestApp {
    let mut ranking = RankingConfig::for_tests();
    ranking.fleet.max_batch = 5;
    ranking.fleet.max_position_age = Duration::from_mins(1);
    let mut config = gateway_config();
    config.ranking_url = format!("http://{}", spawn_ranking(ranking).await);
    let app = spawn_app_with(config).await;
    app.wait_until_serving(&["fleet"]).await;
    app
}

fn rfc3339(at: SystemTime) -> String {
    humantime::format_rfc3339_millis(at).to_string()
}

fn ago(seconds: u64) -> String {
    rfc3339(SystemTime::now() - Duration::from_secs(seconds))
}

impl TestApp {
    async fn put_json(&self, path: &str, body: &Value) -> (u16, String, Value) {
        let response = self
            .client
            .put(self.url(path))
            .json(body)
            .send()
            .await
            .expect("the gateway answers");
        split(response).await
    }

    async fn delete(&self, path: &str) -> u16 {
        let response = self.client.delete(self.url(path)).send().await.unwrap();
        response.status().as_u16()
    }

    /// Registers the seed's courier `index` (0 or 1) and reports its seed position, `age_s` old.
    async fn seed_courier(&self, index: usize, age_s: u64) -> String {
        let courier = &seed_request()["livreurs_candidats"][index];
        let id = courier["livreur_id"].as_str().unwrap().to_owned();
        let (status, _, body) = self
            .put_json(
                &format!("/api/v1/livreurs/{id}"),
                &json!({
                    "reputation": courier["reputation"],
                    "capacite_max_kg": courier["capacite_max_kg"],
                    "type_vehicule": courier["type_vehicule"],
                }),
            )
            .await;
        assert!(status == 201 || status == 200, "{status} {body}");
        let mut position = courier["position_actuelle"].clone();
        position["timestamp"] = json!(ago(age_s));
        let (status, _, body) = self
            .post_json(&format!("/api/v1/livreurs/{id}/position"), &position)
            .await;
        assert_eq!((status, &body["appliquee"]), (200, &json!(true)), "{body}");
        id
    }
}

fn live_request() -> Value {
    let mut request = seed_request();
    request
        .as_object_mut()
        .unwrap()
        .remove("livreurs_candidats");
    request["options"] = json!({ "include_details": true });
    request
}

#[tokio::test]
async fn a_registered_courier_reports_positions_and_the_newest_wins() {
    let app = app().await;
    let path = "/api/v1/livreurs/LIV-9";
    let profile = json!({"reputation": 7.5, "capacite_max_kg": 20, "type_vehicule": "velo"});
    let created = app.put_json(path, &profile).await;
    assert_eq!(created.0, 201, "{}", created.2);
    assert_eq!(created.2["livreur_id"], "LIV-9");
    assert_eq!(created.2["profil"]["type_vehicule"], "velo");
    assert_eq!(created.2["position"], Value::Null);
    let replaced = app
        .put_json(
            path,
            &json!({"reputation": 8.0, "capacite_max_kg": 25, "type_vehicule": "velo", "capacite_volume_m3": 0.2}),
        )
        .await;
    assert_eq!(replaced.0, 200, "{}", replaced.2);
    assert_eq!(replaced.2["profil"]["reputation"], 8.0);
    assert_eq!(replaced.2["profil"]["capacite_volume_m3"], 0.2);

    let report = |latitude: f64, timestamp: String| json!({"latitude": latitude, "longitude": 2.35, "timestamp": timestamp});
    let first = app
        .post_json(&format!("{path}/position"), &report(48.85, ago(10)))
        .await;
    assert_eq!(first.0, 200, "{}", first.2);
    assert_eq!(first.2["appliquee"], true);
    // Older than the one held: ignored, and the held position stays.
    let late = app
        .post_json(&format!("{path}/position"), &report(48.90, ago(20)))
        .await;
    assert_eq!((late.0, &late.2["appliquee"]), (200, &json!(false)));
    // In the future: refused.
    let future = rfc3339(SystemTime::now() + Duration::from_mins(1));
    assert_problem(
        &app.post_json(&format!("{path}/position"), &report(48.91, future))
            .await,
        422,
        "timestamp: ",
    );
    // Out of range, malformed time: refused. Near a pole is fine.
    assert_problem(
        &app.post_json(&format!("{path}/position"), &report(90.5, ago(1)))
            .await,
        422,
        "latitude: must be within [-90, 90]",
    );
    assert_eq!(app.put_json("/api/v1/livreurs/POLE", &profile).await.0, 201);
    let polar = app
        .post_json("/api/v1/livreurs/POLE/position", &report(89.9, ago(1)))
        .await;
    assert_eq!(
        (polar.0, &polar.2["appliquee"]),
        (200, &json!(true)),
        "{}",
        polar.2
    );
    assert_problem(
        &app.post_json(
            &format!("{path}/position"),
            &json!({"latitude": 48.0, "longitude": 2.0, "timestamp": "yesterday"}),
        )
        .await,
        422,
        "timestamp: \"yesterday\" is not an RFC 3339 date-time",
    );
    let (status, _, held) = app.get(path).await;
    assert_eq!(status, 200);
    assert!(
        (held["position"]["latitude"].as_f64().unwrap() - 48.85).abs() < 1e-5,
        "{held}"
    );
    let age = held["position"]["age_s"].as_f64().unwrap();
    assert!((9.0..60.0).contains(&age), "{held}");
    assert_eq!(held["position"]["perimee"], false);

    // Unregistered: 404 for a report, a lookup and going offline.
    assert_problem(
        &app.post_json("/api/v1/livreurs/NOBODY/position", &report(48.0, ago(1)))
            .await,
        404,
        "no courier \"NOBODY\" is registered",
    );
    assert_eq!(app.get("/api/v1/livreurs/NOBODY").await.0, 404);
    assert_eq!(app.delete("/api/v1/livreurs/NOBODY/position").await, 404);
    // A bad profile is refused and the stored one kept.
    assert_problem(
        &app.put_json(
            path,
            &json!({"reputation": 11, "capacite_max_kg": 20, "type_vehicule": "velo"}),
        )
        .await,
        422,
        "reputation: must be within [0, 10]",
    );
    assert_eq!(app.get(path).await.2["profil"]["reputation"], 8.0);
    // The ids of the static routes are reserved.
    for reserved in ["rank", "health", "positions"] {
        assert_problem(
            &app.put_json(&format!("/api/v1/livreurs/{reserved}"), &profile)
                .await,
            422,
            &format!("livreur_id: \"{reserved}\" is reserved"),
        );
    }

    // Offline: the position goes, the profile stays; the next report brings it back.
    assert_eq!(app.delete(&format!("{path}/position")).await, 204);
    let offline = app.get(path).await.2;
    assert_eq!(
        (&offline["position"], &offline["profil"]["reputation"]),
        (&Value::Null, &json!(8.0))
    );
    let back = app
        .post_json(&format!("{path}/position"), &report(48.86, ago(0)))
        .await;
    assert_eq!(back.2["appliquee"], true, "{}", back.2);
}

#[tokio::test]
async fn a_batch_is_checked_whole_and_applied_in_order() {
    let app = app().await;
    app.seed_courier(0, 30).await;
    app.seed_courier(1, 30).await;
    // Where and when, not the age, which moves on.
    let held = |courier: Value| {
        let p = &courier["position"];
        (
            p["latitude"].clone(),
            p["longitude"].clone(),
            p["timestamp"].clone(),
        )
    };
    let before = held(app.get("/api/v1/livreurs/LIV-001").await.2);
    assert!(before.2.is_string(), "{before:?}");

    // One bad report refuses the batch, naming it; nothing is stored.
    let bad = json!({"positions": [
        {"livreur_id": "LIV-001", "latitude": 48.0, "longitude": 2.0},
        {"livreur_id": "LIV-002", "latitude": 48.0, "longitude": 200.0},
    ]});
    assert_problem(
        &app.post_json("/api/v1/livreurs/positions", &bad).await,
        422,
        "positions[1].longitude: must be within [-180, 180]",
    );
    assert_eq!(held(app.get("/api/v1/livreurs/LIV-001").await.2), before);

    // Over the limit (5 here) and empty: refused.
    let many: Vec<Value> = (0..6)
        .map(|_| json!({"livreur_id": "LIV-001", "latitude": 48.0, "longitude": 2.0}))
        .collect();
    assert_problem(
        &app.post_json("/api/v1/livreurs/positions", &json!({ "positions": many }))
            .await,
        422,
        "holds 6 reports, must hold 1 to 5",
    );
    assert_problem(
        &app.post_json("/api/v1/livreurs/positions", &json!({"positions": []}))
            .await,
        422,
        "holds 0 reports",
    );

    let tick = json!({"positions": [
        {"livreur_id": "LIV-001", "latitude": 48.861, "longitude": 2.338},
        {"livreur_id": "LIV-002", "latitude": 48.0, "longitude": 2.0, "timestamp": ago(120)},
        {"livreur_id": "GHOST", "latitude": 48.0, "longitude": 2.0},
    ]});
    let (status, _, ack) = app.post_json("/api/v1/livreurs/positions", &tick).await;
    assert_eq!(status, 200, "{ack}");
    assert_eq!(
        ack,
        json!({"appliquees": 1, "ignorees": ["LIV-002"], "inconnus": ["GHOST"]})
    );
    let moved = app.get("/api/v1/livreurs/LIV-001").await.2;
    assert!((moved["position"]["latitude"].as_f64().unwrap() - 48.861).abs() < 1e-5);
    let kept = app.get("/api/v1/livreurs/LIV-002").await.2;
    assert!((kept["position"]["latitude"].as_f64().unwrap() - 48.8556).abs() < 1e-5);
}

#[tokio::test]
async fn live_ranking_ranks_the_fresh_couriers_near_the_announcement_like_given_ones() {
    let app = app().await;
    app.seed_courier(0, 5).await;
    app.seed_courier(1, 5).await;

    let (status, _, live) = app
        .post_json("/api/v1/livreurs/rank", &live_request())
        .await;
    assert_eq!(status, 200, "{live}");
    let mut given_request = seed_request();
    given_request["options"] = json!({ "include_details": true });
    let given = app
        .post_json("/api/v1/livreurs/rank", &given_request)
        .await
        .2;
    let ids = |r: &Value| -> Vec<(String, f64)> {
        r["livreurs_classes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["livreur_id"].as_str().unwrap().to_owned(),
                    c["score_final"].as_f64().unwrap(),
                )
            })
            .collect()
    };
    // The same couriers at the same places rank the same, live or given.
    assert_eq!(ids(&live).len(), 2, "{live}");
    assert_eq!(ids(&given).len(), 2, "{given}");
    for ((a, sa), (b, sb)) in ids(&live).iter().zip(ids(&given)) {
        assert_eq!(*a, b);
        assert!((sa - sb).abs() < 1e-4, "{sa} vs {sb}");
    }
    for courier in live["livreurs_classes"].as_array().unwrap() {
        let age = courier["age_position_s"].as_f64().unwrap();
        assert!((4.0..60.0).contains(&age), "{courier}");
    }
    assert!(given["livreurs_classes"][0].get("age_position_s").is_none());
    let search = &live["metadata"]["recherche_live"];
    assert_eq!(search["candidats_trouves"], 2, "{search}");
    assert_eq!(search["positions_perimees"], 0);
    assert!(search.get("limite_atteinte").is_none(), "{search}");
    // Express: 5 km of tolerance; pickup and drop-off are 4.6004 km apart, so the circle's
    // radius is half the longest path, (4.6004 + 2 × 5) / 2.
    let radius = search["rayon_km"].as_f64().unwrap();
    assert!((radius - 7.3002).abs() < 0.002, "{radius}");

    // A courier far away is not a candidate; one whose position is stale is ignored (and
    // counted); one offline is skipped; another tenant's courier is never seen.
    let far = json!({"reputation": 9, "capacite_max_kg": 50, "type_vehicule": "camion"});
    assert_eq!(app.put_json("/api/v1/livreurs/LYON", &far).await.0, 201);
    let lyon = app
        .post_json(
            "/api/v1/livreurs/LYON/position",
            &json!({"latitude": 45.764, "longitude": 4.8357}),
        )
        .await;
    assert_eq!(lyon.2["appliquee"], true, "{}", lyon.2);
    assert_eq!(app.put_json("/api/v1/livreurs/STALE", &far).await.0, 201);
    let stale = app
        .post_json(
            "/api/v1/livreurs/STALE/position",
            &json!({"latitude": 48.857, "longitude": 2.350, "timestamp": ago(120)}),
        )
        .await;
    assert_eq!(stale.2["appliquee"], true);
    assert_eq!(app.delete("/api/v1/livreurs/LIV-002/position").await, 204);
    let theirs = api_key(&other_tenant(), Role::Manager).await;
    let register = app
        .client
        .put(app.url("/api/v1/livreurs/THEIRS"))
        .header("x-api-key", &theirs)
        .json(&far)
        .send()
        .await
        .unwrap();
    assert_eq!(register.status(), 201);
    let report = app
        .client
        .post(app.url("/api/v1/livreurs/THEIRS/position"))
        .header("x-api-key", &theirs)
        .json(&json!({"latitude": 48.857, "longitude": 2.351}))
        .send()
        .await
        .unwrap();
    assert_eq!(report.status(), 200);

    let (status, _, after) = app
        .post_json("/api/v1/livreurs/rank", &live_request())
        .await;
    assert_eq!(status, 200, "{after}");
    assert_eq!(
        ids(&after)
            .into_iter()
            .map(|(id, _)| id)
            .collect::<Vec<_>>(),
        ["LIV-001"],
        "{after}"
    );
    let search = &after["metadata"]["recherche_live"];
    assert_eq!(search["candidats_trouves"], 1, "{search}");
    assert_eq!(search["positions_perimees"], 1, "{search}");
    // Reading changes nothing: the stale position is still held, and still ignored.
    let again = app
        .post_json("/api/v1/livreurs/rank", &live_request())
        .await
        .2;
    assert_eq!(again["metadata"]["recherche_live"]["positions_perimees"], 1);
    let held = app.get("/api/v1/livreurs/STALE").await.2;
    assert_eq!(held["position"]["perimee"], true, "{held}");

    // The other tenant sees only its own courier.
    let theirs_ranked = app
        .client
        .post(app.url("/api/v1/livreurs/rank"))
        .header("x-api-key", &theirs)
        .json(&live_request())
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(
        theirs_ranked["livreurs_classes"][0]["livreur_id"], "THEIRS",
        "{theirs_ranked}"
    );
    assert_eq!(
        theirs_ranked["livreurs_classes"].as_array().unwrap().len(),
        1
    );
}

#[tokio::test]
async fn nobody_live_nearby_is_an_empty_ranking_but_an_empty_given_list_is_refused() {
    let app = app().await;
    let (status, _, body) = app
        .post_json("/api/v1/livreurs/rank", &live_request())
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["livreurs_classes"], json!([]));
    assert_eq!(body["metadata"]["recherche_live"]["candidats_trouves"], 0);
    assert_eq!(body["metadata"]["poids_ahp"]["est_coherent"], true);
    // Near the pole (a short delivery there): ranked, nobody there; beyond it: refused.
    let mut polar = live_request();
    polar["annonce"]["point_ramassage"]["latitude"] = json!(89.5);
    polar["annonce"]["point_livraison"]["latitude"] = json!(89.6);
    let (status, _, body) = app.post_json("/api/v1/livreurs/rank", &polar).await;
    assert_eq!(
        (status, &body["livreurs_classes"]),
        (200, &json!([])),
        "{body}"
    );
    polar["annonce"]["point_ramassage"]["latitude"] = json!(90.5);
    assert_problem(
        &app.post_json("/api/v1/livreurs/rank", &polar).await,
        422,
        "annonce.point_ramassage.latitude: must be within [-90, 90]",
    );
    let mut empty = seed_request();
    empty["livreurs_candidats"] = json!([]);
    assert_problem(
        &app.post_json("/api/v1/livreurs/rank", &empty).await,
        422,
        "livreurs_candidats: must hold at least one courier",
    );
}

#[tokio::test]
async fn redis_down_fails_fleet_calls_with_503_and_given_rankings_still_work() {
    let mut ranking = RankingConfig::for_tests();
    ranking.fleet.fleet_redis_url = Some(format!("redis://{}", dead_address().await));
    let mut config = gateway_config();
    config.ranking_url = format!("http://{}", spawn_ranking(ranking).await);
    let app = spawn_app_with(config).await;
    let health = app.get("/api/v1/admin/health").await.2;
    let fleet = health["dependencies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == "fleet")
        .cloned();
    assert_eq!(
        fleet.as_ref().map(|d| d["status"].clone()),
        Some(json!("not_serving")),
        "{health}"
    );
    let registered = app
        .put_json(
            "/api/v1/livreurs/LIV-1",
            &json!({"reputation": 5, "capacite_max_kg": 10, "type_vehicule": "moto"}),
        )
        .await;
    assert_problem(
        &registered,
        503,
        "live couriers are unavailable: the fleet's Redis does not answer",
    );
    assert_problem(
        &app.post_json("/api/v1/livreurs/rank", &live_request())
            .await,
        503,
        "live couriers are unavailable: this ranking replica is not in sync",
    );
    let (status, _, body) = app
        .post_json("/api/v1/livreurs/rank", &seed_request())
        .await;
    assert_eq!(status, 200, "{body}");
}
