//! `POST /api/v1/livreurs/rank` through the gateway and the real ranking service.

use serde_json::{Value, json};

use crate::helpers::{assert_problem, seed_request, spawn_app};

const RANK: &str = "/api/v1/livreurs/rank";

/// The seed request with the value at JSON pointer `pointer` replaced (or removed for `None`).
fn seed_with(pointer: &str, value: Option<Value>) -> Value {
    let mut request = seed_request();
    let (parent, key) = pointer.rsplit_once('/').expect("a pointer with a parent");
    let parent = request
        .pointer_mut(parent)
        .unwrap_or_else(|| panic!("{pointer} exists in the seed"));
    match (parent, value) {
        (Value::Object(map), Some(v)) => {
            map.insert(key.to_owned(), v);
        }
        (Value::Object(map), None) => {
            map.remove(key);
        }
        (Value::Array(items), Some(v)) => items[key.parse::<usize>().unwrap()] = v,
        (other, _) => panic!("cannot edit {other}"),
    }
    request
}

fn approx(value: &Value, expected: f64) -> bool {
    (value.as_f64().unwrap() - expected).abs() < 1e-3
}

#[tokio::test]
async fn seed_example_returns_a_valid_ranking() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.url(RANK))
        .header("x-correlation-id", "abc-123-def")
        .json(&seed_request())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-correlation-id"], "abc-123-def");
    let body: Value = response.json().await.unwrap();

    assert_eq!(body["status"], "success");
    assert_eq!(body["annonce_id"], "ANN-2024-001");
    assert!(body["timestamp"].as_str().unwrap().ends_with('Z'));
    let ranked = body["livreurs_classes"].as_array().unwrap();
    assert_eq!(ranked.len(), 2);
    // LIV-002 is closer to the pickup, carries more, drives a car and is better rated.
    assert_eq!(ranked[0]["livreur_id"], "LIV-002");
    assert_eq!(ranked[0]["rang"], 1);
    assert_eq!(ranked[1]["livreur_id"], "LIV-001");
    assert_eq!(ranked[1]["rang"], 2);
    let score = |c: &Value| c["score_final"].as_f64().expect("a numeric score_final");
    assert!(score(&ranked[0]) >= score(&ranked[1]), "{ranked:?}");
    assert!(
        ranked[0].get("details").is_none(),
        "details only on request"
    );

    let meta = &body["metadata"];
    assert_eq!(meta["type_livraison"], "express");
    assert_eq!(meta["tolerance_spatiale_km"], 5.0);
    assert_eq!(meta["statistiques_filtrage"]["total_candidats"], 2);
    assert_eq!(meta["statistiques_filtrage"]["candidats_eligibles"], 2);
    assert_eq!(meta["statistiques_filtrage"]["candidats_rejetes"], 0);
    let w = &meta["poids_ahp"];
    assert!(approx(&w["proximite_geographique"], 0.546), "{w}");
    assert!(approx(&w["capacite"], 0.232), "{w}");
    assert!(approx(&w["type_vehicule"], 0.138), "{w}");
    assert!(approx(&w["reputation"], 0.084), "{w}");
    assert!(approx(&w["CR"], 0.019), "{w}");
    assert_eq!(w["est_coherent"], true);
    // Measured, not made up: a real duration, well under the request's own deadline.
    let took = meta["duree_traitement_ms"].as_f64().unwrap();
    assert!(took > 0.0 && took < 5_000.0, "{took}");
}

#[tokio::test]
async fn details_explain_each_rank_and_each_rejection() {
    let app = spawn_app().await;
    let mut request = seed_request();
    request["livreurs_candidats"]
        .as_array_mut()
        .unwrap()
        .push(json!({
            "livreur_id": "LIV-LYON",
            "position_actuelle": { "latitude": 45.764, "longitude": 4.8357 },
            "reputation": 10, "capacite_max_kg": 500, "type_vehicule": "camion"
        }));
    request["options"] = json!({ "include_details": true });
    let (status, _, body) = app.post_json(RANK, &request).await;
    assert_eq!(status, 200, "{body}");
    for courier in body["livreurs_classes"].as_array().unwrap() {
        let d = &courier["details"];
        let criteria = d["criteres"].as_object().unwrap();
        assert_eq!(criteria.len(), 4);
        let d_plus: f64 = criteria
            .values()
            .map(|c| c["contribution_distance_ideal"].as_f64().unwrap())
            .sum();
        let d_minus: f64 = criteria
            .values()
            .map(|c| c["contribution_distance_anti_ideal"].as_f64().unwrap())
            .sum();
        assert!((d_plus.sqrt() - d["distance_ideal"].as_f64().unwrap()).abs() < 1e-9);
        assert!((d_minus.sqrt() - d["distance_anti_ideal"].as_f64().unwrap()).abs() < 1e-9);
        assert_eq!(
            d["criteres"]["proximite_geographique"]["valeur"],
            d["distance_ramassage_km"]
        );
    }
    let rejected = body["metadata"]["candidats_rejetes_details"]
        .as_array()
        .unwrap();
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0]["livreur_id"], "LIV-LYON");
    assert_eq!(rejected[0]["raison"], "hors_zone");
    let km = |field: &str| rejected[0][field].as_f64().expect("a numeric distance");
    assert!(km("trajet_km") > km("trajet_max_km"), "{:?}", rejected[0]);
    assert_eq!(
        body["metadata"]["statistiques_filtrage"]["rejetes_hors_zone"],
        1
    );
}

#[tokio::test]
async fn options_override_tolerance_and_cut_to_top_k() {
    let app = spawn_app().await;
    let mut request = seed_request();
    request["annonce"]["type_livraison"] = json!("sameday");
    request["options"] = json!({ "tolerance_spatiale_km": 7.5, "top_k": 1 });
    let (status, _, body) = app.post_json(RANK, &request).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["metadata"]["tolerance_spatiale_km"], 7.5);
    assert_eq!(body["livreurs_classes"].as_array().unwrap().len(), 1);
    assert_eq!(
        body["metadata"]["statistiques_filtrage"]["candidats_eligibles"],
        2
    );
}

#[tokio::test]
async fn a_consistent_custom_matrix_sets_the_weights() {
    let app = spawn_app().await;
    let mut request = seed_request();
    // Reputation first: the mirror image of the default order.
    request["options"] = json!({ "matrice_ahp": [
        [1, 1, 1, 0.25], [1, 1, 1, 0.25], [1, 1, 1, 0.25], [4, 4, 4, 1]
    ]});
    let (status, _, body) = app.post_json(RANK, &request).await;
    assert_eq!(status, 200, "{body}");
    let w = &body["metadata"]["poids_ahp"];
    assert!(approx(&w["reputation"], 4.0 / 7.0), "{w}");
    assert!(approx(&w["CR"], 0.0), "{w}");
}

#[tokio::test]
async fn zero_eligible_couriers_is_an_empty_200_with_statistics() {
    let app = spawn_app().await;
    let request = seed_with(
        "/livreurs_candidats/0",
        Some(json!({
            "livreur_id": "LIV-LYON",
            "position_actuelle": { "latitude": 45.764, "longitude": 4.8357 },
            "reputation": 9, "capacite_max_kg": 30, "type_vehicule": "moto"
        })),
    );
    let mut request = request;
    request["livreurs_candidats"]
        .as_array_mut()
        .unwrap()
        .truncate(1);
    let (status, _, body) = app.post_json(RANK, &request).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["livreurs_classes"], json!([]));
    let stats = &body["metadata"]["statistiques_filtrage"];
    assert_eq!(stats["total_candidats"], 1);
    assert_eq!(stats["candidats_eligibles"], 0);
    assert_eq!(stats["candidats_rejetes"], 1);
}

#[tokio::test]
async fn every_invalid_field_is_a_422_naming_it() {
    let app = spawn_app().await;
    let courier = "/livreurs_candidats/0";
    let cases: Vec<(Value, &str)> = vec![
        (
            seed_with("/annonce/point_ramassage/latitude", Some(json!(90.5))),
            "annonce.point_ramassage.latitude",
        ),
        (
            seed_with("/annonce/point_livraison/longitude", Some(json!(-180.5))),
            "annonce.point_livraison.longitude",
        ),
        (
            seed_with(
                &format!("{courier}/position_actuelle/latitude"),
                Some(json!(-91)),
            ),
            "livreurs_candidats[0].position_actuelle.latitude",
        ),
        (
            seed_with(&format!("{courier}/reputation"), Some(json!(10.5))),
            "livreurs_candidats[0].reputation",
        ),
        (
            seed_with(&format!("{courier}/reputation"), Some(json!(-1))),
            "livreurs_candidats[0].reputation",
        ),
        (
            seed_with(&format!("{courier}/capacite_max_kg"), Some(json!(0))),
            "livreurs_candidats[0].capacite_max_kg",
        ),
        (
            seed_with(&format!("{courier}/capacite_max_kg"), Some(json!(-5))),
            "livreurs_candidats[0].capacite_max_kg",
        ),
        (
            seed_with("/annonce/type_livraison", Some(json!("teleportation"))),
            "unknown variant `teleportation`",
        ),
        (
            seed_with(
                &format!("{courier}/type_vehicule"),
                Some(json!("trottinette")),
            ),
            "unknown variant `trottinette`",
        ),
        (
            seed_with("/livreurs_candidats", Some(json!([]))),
            "livreurs_candidats: must hold at least one courier",
        ),
        (
            seed_with("/livreurs_candidats/1/livreur_id", Some(json!("LIV-001"))),
            "duplicate courier id",
        ),
        (
            seed_with("/annonce/point_ramassage", None),
            "missing field `point_ramassage`",
        ),
        (
            seed_with(&format!("{courier}/reputation"), None),
            "missing field `reputation`",
        ),
        (
            seed_with("/annonce/type_livraison", None),
            "missing field `type_livraison`",
        ),
        (
            seed_with(&format!("{courier}/reputation"), Some(json!("high"))),
            "invalid type",
        ),
        (
            seed_with("/annonce/poids_colis_kg", Some(json!(0))),
            "annonce.poids_colis_kg",
        ),
        (
            seed_with("/options", Some(json!({ "top_k": 0 }))),
            "options.top_k",
        ),
        (
            seed_with("/options", Some(json!({ "top_k": -1 }))),
            "invalid value",
        ),
        (
            seed_with("/options", Some(json!({ "tolerance_spatiale_km": 0 }))),
            "options.tolerance_spatiale_km",
        ),
        (
            seed_with("/options", Some(json!({ "tolerance_km": 3 }))),
            "unknown field `tolerance_km`",
        ),
        (
            seed_with(
                "/options",
                Some(json!({ "matrice_ahp": [[1, 2], [0.5, 1]] })),
            ),
            "must be 4×4",
        ),
        (
            seed_with(
                "/options",
                Some(
                    json!({ "matrice_ahp": [[1, 2, 3, 4], [0.5, 1, 2], [1, 1, 1, 1], [1, 1, 1, 1]] }),
                ),
            ),
            "must be square",
        ),
        (
            seed_with(
                "/options",
                Some(
                    json!({ "matrice_ahp": [[1, 3, 1, 1], [3, 1, 1, 1], [1, 1, 1, 1], [1, 1, 1, 1]] }),
                ),
            ),
            "must be reciprocal",
        ),
        (
            seed_with(
                "/options",
                Some(
                    json!({ "matrice_ahp": [[1, -2, 1, 1], [-0.5, 1, 1, 1], [1, 1, 1, 1], [1, 1, 1, 1]] }),
                ),
            ),
            "finite positive",
        ),
        (
            seed_with(
                "/options",
                Some(
                    json!({ "matrice_ahp": [[1, 0, 1, 1], [0, 1, 1, 1], [1, 1, 1, 1], [1, 1, 1, 1]] }),
                ),
            ),
            "finite positive",
        ),
    ];
    for (request, needle) in cases {
        let got = app.post_json(RANK, &request).await;
        assert_problem(&got, 422, needle);
    }
}

#[tokio::test]
async fn an_inconsistent_matrix_is_refused_with_its_consistency_ratio() {
    let app = spawn_app().await;
    let request = seed_with(
        "/options",
        Some(json!({ "matrice_ahp": [
            [1, 9, 0.111_111_111, 1], [0.111_111_111, 1, 9, 1], [9, 0.111_111_111, 1, 1], [1, 1, 1, 1]
        ]})),
    );
    let got = app.post_json(RANK, &request).await;
    assert_problem(&got, 422, "inconsistent");
    let cr = got.2["CR"].as_f64().expect("the problem carries CR");
    assert!(cr >= 0.1, "{cr}");
    assert!(got.2["detail"].as_str().unwrap().contains("CR ="));
}

#[tokio::test]
async fn malformed_bodies_are_refused_before_the_service() {
    let app = spawn_app().await;
    let seed = serde_json::to_vec(&seed_request()).unwrap();

    assert_problem(
        &app.post_raw(RANK, "application/json", b"{\"annonce\": ".to_vec())
            .await,
        400,
        "EOF while parsing",
    );
    assert_problem(
        &app.post_raw(RANK, "text/plain", seed.clone()).await,
        415,
        "Content-Type: application/json",
    );
    // JSON has no NaN or Infinity; a number too large for f64 is refused too.
    let nan = String::from_utf8(seed.clone())
        .unwrap()
        .replace("8.5", "NaN");
    assert_problem(
        &app.post_raw(RANK, "application/json", nan.into_bytes())
            .await,
        400,
        "expected value",
    );
    let inf = String::from_utf8(seed).unwrap().replace("8.5", "1e999");
    assert_problem(
        &app.post_raw(RANK, "application/json", inf.into_bytes())
            .await,
        400,
        "number out of range",
    );
    // Over the 4 MiB default body limit.
    let mut huge = seed_request();
    huge["annonce"]["annonce_id"] = json!("x".repeat(5 * 1024 * 1024));
    assert_problem(
        &app.post_json(RANK, &huge).await,
        413,
        "larger than the configured limit",
    );
}

#[tokio::test]
async fn more_candidates_than_the_maximum_are_refused() {
    let app = spawn_app().await;
    let template = seed_request()["livreurs_candidats"][0].clone();
    let candidates: Vec<Value> = (0..10_001)
        .map(|i| {
            let mut c = template.clone();
            c["livreur_id"] = json!(format!("LIV-{i}"));
            c
        })
        .collect();
    let request = seed_with("/livreurs_candidats", Some(Value::Array(candidates)));
    assert_problem(
        &app.post_json(RANK, &request).await,
        422,
        "more than the maximum of 10000",
    );

    // Exactly the maximum is served.
    let mut request = request;
    request["livreurs_candidats"].as_array_mut().unwrap().pop();
    let (status, _, body) = app.post_json(RANK, &request).await;
    assert_eq!(status, 200);
    assert_eq!(
        body["metadata"]["statistiques_filtrage"]["total_candidats"],
        10_000
    );
}

#[tokio::test]
async fn wrong_method_and_unknown_route_are_problems_too() {
    let app = spawn_app().await;
    assert_problem(&app.get(RANK).await, 405, "GET is not allowed");
    assert_problem(
        &app.get("/api/v1/nope").await,
        404,
        "no route for /api/v1/nope",
    );
}
