//! The catalog API end to end: create, read, replace, delete (re-indexed each time), search with
//! French full-text and filters, keyset pagination under concurrent inserts, and reviews — each
//! tenant in its own catalog.

use aras_domain::tenant::{Role, Tenant};
use reqwest::Method;
use serde_json::{Value, json};

use crate::auth::{Credential, call, production_app};
use crate::helpers::{
    CATALOG, OTHER_TENANT_VEHICLES, TEST_CATALOG_SIZE, TestApp, api_key, other_tenant, run_id,
    test_database,
};

/// A tenant of its own for a test that writes, with a manager key.
async fn fresh_tenant(name: &str) -> (Tenant, String) {
    let slug = format!("{name}-{}", run_id().replace('_', "-"));
    let tenant = Tenant::parse(&slug).unwrap();
    let pool = test_database().pool().unwrap();
    aras_auth::store::create_organisation(&pool, &tenant, name)
        .await
        .expect("a fresh tenant");
    let key = api_key(&tenant, Role::Manager).await;
    (tenant, key)
}

fn vehicle(brand: &str, model: &str, price: f64) -> Value {
    json!({
        "marque": brand, "modele": model, "annee": 2021, "type": "SUV", "places": 5,
        "boite": "automatique", "carburant": "hybride", "bagages": 3, "ville": "Lyon",
        "prix": price, "disponible": true, "note": 4.4
    })
}

async fn create(app: &TestApp, key: &str, body: &Value) -> i64 {
    let (status, headers, created) = call(
        app,
        Method::POST,
        "/api/v1/vehicles",
        Credential::Key(key),
        Some(body),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id = created["vehicle"]["id"].as_i64().unwrap();
    assert_eq!(
        headers["location"],
        format!("/api/v1/vehicles/{id}").as_str()
    );
    id
}

async fn get(app: &TestApp, key: &str, path: &str) -> (u16, Value) {
    let (status, _, body) = call(app, Method::GET, path, Credential::Key(key), None).await;
    (status, body)
}

async fn recommended(app: &TestApp, key: &str, product_id: i64, client_id: i64) -> Vec<i64> {
    recommended_for(
        app,
        key,
        product_id,
        client_id,
        "Spacieux et économique, parfait pour la famille",
    )
    .await
}

async fn recommended_for(
    app: &TestApp,
    key: &str,
    product_id: i64,
    client_id: i64,
    review: &str,
) -> Vec<i64> {
    let body = json!({"product_id": product_id, "client_id": client_id, "commentaire": review});
    let (status, _, answer) = call(
        app,
        Method::POST,
        "/api/v1/recommendations",
        Credential::Key(key),
        Some(&body),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    answer["recommendations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn vehicles_are_created_read_replaced_and_deleted_with_their_vectors() {
    let _catalog = CATALOG.write().await;
    let app = production_app().await;
    let (tenant, key) = fresh_tenant("crud").await;

    // A tenant's ids count from 10,000,000, whatever other tenants wrote.
    let first = create(&app, &key, &vehicle("Peugeot", "5008", 89.0)).await;
    let second = create(&app, &key, &vehicle("Dacia", "Jogger", 49.5)).await;
    assert_eq!((first, second), (10_000_000, 10_000_001));
    let (status, read) = get(&app, &key, &format!("/api/v1/vehicles/{second}")).await;
    assert_eq!(status, 200, "{read}");
    assert_eq!(
        (&read["nom"], &read["prix"], &read["locations"]),
        (&json!("Dacia Jogger"), &json!(49.5), &json!(0))
    );
    assert!(
        read["description"]
            .as_str()
            .unwrap()
            .contains("Dacia Jogger (2021)"),
        "{read}"
    );

    // Indexed at once: the tenant's other vehicle is its only candidate.
    assert_eq!(recommended(&app, &key, first, 1).await, [second]);

    // Replace: every field, re-indexed.
    let mut changed = vehicle("Dacia", "Spring", 29.0);
    changed["type"] = json!("Citadine");
    changed["carburant"] = json!("électrique");
    changed["locations"] = json!(12);
    let path = format!("/api/v1/vehicles/{second}");
    let (status, _, replaced) = call(
        &app,
        Method::PUT,
        &path,
        Credential::Key(&key),
        Some(&changed),
    )
    .await;
    assert_eq!(status, 200, "{replaced}");
    assert_eq!(replaced["vehicle"]["nom"], "Dacia Spring");
    let (_, read) = get(&app, &key, &path).await;
    assert_eq!(
        (&read["type"], &read["carburant"], &read["locations"]),
        (&json!("Citadine"), &json!("électrique"), &json!(12))
    );

    // Refusals name the field, in the API's words, and change nothing.
    let cases = [
        ("annee", json!(1900), "annee"),
        ("type", json!("Char d'assaut"), "type"),
        ("places", json!(0), "places"),
        ("prix", json!(-5), "prix"),
        ("marque", json!("   "), "marque"),
        ("ville", json!("Ly\u{0}on"), "ville"),
    ];
    for (field, value, named) in cases {
        let mut body = vehicle("Renault", "Clio", 30.0);
        body[field] = value;
        let (status, headers, refused) =
            call(&app, Method::PUT, &path, Credential::Key(&key), Some(&body)).await;
        assert_eq!(status, 422, "{field}: {refused}");
        assert_eq!(headers["content-type"], "application/problem+json");
        assert!(
            refused["detail"].as_str().unwrap().contains(named),
            "{field}: {refused}"
        );
    }
    let mut missing = vehicle("Renault", "Clio", 30.0);
    missing.as_object_mut().unwrap().remove("boite");
    let (status, _, refused) = call(
        &app,
        Method::POST,
        "/api/v1/vehicles",
        Credential::Key(&key),
        Some(&missing),
    )
    .await;
    assert_eq!(status, 422, "{refused}");
    let (_, read) = get(&app, &key, &path).await;
    assert_eq!(
        read["nom"], "Dacia Spring",
        "a refused write changes nothing"
    );

    // Delete: gone from the catalog and from the vector store.
    let (status, _, _) = call(&app, Method::DELETE, &path, Credential::Key(&key), None).await;
    assert_eq!(status, 204);
    assert_eq!(get(&app, &key, &path).await.0, 404);
    let (status, _, _) = call(&app, Method::DELETE, &path, Credential::Key(&key), None).await;
    assert_eq!(status, 404);
    assert_eq!(recommended(&app, &key, first, 1).await, Vec::<i64>::new());

    // Another tenant can neither see nor change nor delete this tenant's vehicle.
    let (other_tenant, other) = fresh_tenant("crud-other").await;
    let theirs = format!("/api/v1/vehicles/{first}");
    assert_eq!(get(&app, &other, &theirs).await.0, 404);
    let (status, _, _) = call(
        &app,
        Method::PUT,
        &theirs,
        Credential::Key(&other),
        Some(&changed),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _, _) = call(&app, Method::DELETE, &theirs, Credential::Key(&other), None).await;
    assert_eq!(status, 404);
    assert_eq!(get(&app, &key, &theirs).await.0, 200);

    // Ids and catalog versions are each tenant's own: the other tenant's first vehicle has our
    // first one's id, each reads its own, and its writes leave our version where it was.
    let ours = api_key(&tenant, Role::Admin).await;
    let version = async |key: &str| {
        let (status, stats) = get(&app, key, "/api/v1/admin/stats").await;
        assert_eq!(status, 200, "{stats}");
        stats["catalog"]["catalog_version"].as_u64().unwrap()
    };
    let our_version = version(&ours).await;
    let their_first = create(&app, &other, &vehicle("Renault", "Kangoo", 39.0)).await;
    assert_eq!(their_first, first, "ids are counted per tenant");
    assert_eq!(get(&app, &key, &theirs).await.1["nom"], "Peugeot 5008");
    assert_eq!(get(&app, &other, &theirs).await.1["nom"], "Renault Kangoo");
    assert_eq!(
        version(&ours).await,
        our_version,
        "their write moves our version"
    );
    // One write: its catalog row, then its vector (each moves the version once).
    let theirs_admin = api_key(&other_tenant, Role::Admin).await;
    assert_eq!(version(&theirs_admin).await, 2);
    // Recommendations stay within each catalog, though the ids are the same.
    let their_second = create(&app, &other, &vehicle("Citroën", "Berlingo", 45.0)).await;
    assert_eq!(their_second, second);
    assert_eq!(
        recommended(&app, &other, their_first, 1).await,
        [their_second]
    );
    assert_eq!(recommended(&app, &key, first, 1).await, Vec::<i64>::new());
}

/// Every vehicle of a listing, page after page.
async fn every_page(app: &TestApp, key: &str, query: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..1000 {
        let path = match &cursor {
            Some(c) => format!("/api/v1/vehicles?{query}&cursor={c}"),
            None => format!("/api/v1/vehicles?{query}"),
        };
        let (status, page) = get(app, key, &path).await;
        assert_eq!(status, 200, "{path}: {page}");
        items.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return items,
        }
    }
    panic!("{query}: more than 1,000 pages");
}

fn ids(items: &[Value]) -> Vec<i64> {
    items.iter().map(|v| v["id"].as_i64().unwrap()).collect()
}

#[tokio::test]
async fn search_filters_sorts_and_pages_the_callers_catalog() {
    let app = production_app().await;
    let key = api_key(&Tenant::demo(), Role::Viewer).await;

    // No catalog write while the listings are compared.
    let _catalog = CATALOG.read().await;
    // Every page of the whole catalog, by id: the seeded vehicles, each once, in order.
    let all = every_page(&app, &key, "limit=100").await;
    assert_eq!(ids(&all), (1..=TEST_CATALOG_SIZE).collect::<Vec<_>>());

    // Filters give exactly what filtering the whole catalog gives; the text search stems
    // French ("hybrides" finds "hybride").
    let filtered = every_page(
        &app,
        &key,
        "q=hybrides&prix_max=120&disponible=true&note_min=3.5&limit=5",
    )
    .await;
    let expected: Vec<i64> = all
        .iter()
        .filter(|v| {
            v["carburant"] == "hybride"
                && v["prix"].as_f64().unwrap() <= 120.0
                && v["disponible"] == true
                && v["note"].as_f64().unwrap() >= 3.5
        })
        .map(|v| v["id"].as_i64().unwrap())
        .collect();
    assert!(!expected.is_empty(), "the seeded catalog has such vehicles");
    assert_eq!(ids(&filtered), expected);
    let city = all[0]["ville"].as_str().unwrap().to_owned();
    let in_city = every_page(
        &app,
        &key,
        &format!(
            "ville={}&type=SUV&limit=100",
            url_encode(&city.to_uppercase())
        ),
    )
    .await;
    let expected: Vec<i64> = all
        .iter()
        .filter(|v| v["ville"] == city.as_str() && v["type"] == "SUV")
        .map(|v| v["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids(&in_city), expected, "ville={city} (any case), type=SUV");
    let (_, broad) = get(&app, &key, "/api/v1/vehicles?q=hybride&limit=100").await;
    assert!(
        !broad["items"].as_array().unwrap().is_empty(),
        "the seeded catalog has hybrids: {broad}"
    );
    assert!(
        broad["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|v| v["carburant"] == "hybride"),
        "{broad}"
    );

    // Orders hold across pages, and small pages give what one large page gives.
    for sort in ["-prix", "note", "-annee"] {
        let paged = every_page(&app, &key, &format!("sort={sort}&type=Berline&limit=7")).await;
        let (_, whole) = get(
            &app,
            &key,
            &format!("/api/v1/vehicles?sort={sort}&type=Berline&limit=100"),
        )
        .await;
        assert_eq!(
            ids(&paged),
            ids(whole["items"].as_array().unwrap()),
            "{sort}"
        );
        let field = &sort.trim_start_matches('-');
        let values: Vec<f64> = paged.iter().map(|v| v[*field].as_f64().unwrap()).collect();
        let ordered = values.windows(2).all(|w| {
            if sort.starts_with('-') {
                w[0] >= w[1]
            } else {
                w[0] <= w[1]
            }
        });
        assert!(ordered && values.len() > 7, "{sort}: {values:?}");
    }

    // Injection-shaped text is only text: searched for (words of it may match, as words),
    // never run. Cities are matched whole, so none of these is one.
    for hostile in [
        "'; DROP TABLE vehicles; --",
        "Lyon' OR '1'='1",
        "\\\\ % _ ) ( ! & | :*",
    ] {
        let encoded = url_encode(hostile);
        let (status, page) = get(&app, &key, &format!("/api/v1/vehicles?q={encoded}")).await;
        assert_eq!(status, 200, "q={hostile}: {page}");
        let (status, page) = get(&app, &key, &format!("/api/v1/vehicles?ville={encoded}")).await;
        assert_eq!(
            (status, &page["items"]),
            (200, &json!([])),
            "ville={hostile}: {page}"
        );
    }
    assert_eq!(
        ids(&every_page(&app, &key, "limit=100").await),
        ids(&all),
        "the catalog is intact"
    );

    // Refusals name the parameter.
    let (_, first_page) = get(&app, &key, "/api/v1/vehicles?sort=prix&limit=2").await;
    let price_cursor = first_page["next_cursor"].as_str().unwrap().to_owned();
    let refusals = [
        ("sort=price", "sort"),
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("prix_min=50&prix_max=10", "prix_min"),
        ("note_min=abc", "note_min"),
        ("cursor=garbage", "cursor"),
        (&format!("sort=note&cursor={price_cursor}"), "cursor"),
        ("type=Tank", "type"),
        ("colour=red", "colour"),
    ];
    for (query, named) in refusals {
        let (status, refused) = get(&app, &key, &format!("/api/v1/vehicles?{query}")).await;
        assert_eq!(status, 422, "{query}: {refused}");
        assert!(
            refused["detail"].as_str().unwrap().contains(named),
            "{query}: {refused}"
        );
    }

    // Another tenant lists only its own.
    let theirs = api_key(&other_tenant(), Role::Viewer).await;
    let listed = ids(&every_page(&app, &theirs, "limit=100").await);
    assert_eq!(listed, OTHER_TENANT_VEHICLES.collect::<Vec<_>>());
}

fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[tokio::test]
async fn pages_neither_repeat_nor_skip_while_vehicles_are_added() {
    let _catalog = CATALOG.write().await;
    let app = production_app().await;
    let (_, key) = fresh_tenant("paging").await;
    let mut before = Vec::new();
    for i in 0..12 {
        before.push(
            create(
                &app,
                &key,
                &vehicle(
                    "Renault",
                    &format!("Modèle {i}"),
                    20.0 + 10.0 * f64::from(i),
                ),
            )
            .await,
        );
    }
    // Page by descending price, adding a vehicle between pages, alternately priced below the
    // page just read (it must come later) and above it (it must not repeat anything).
    let mut seen = Vec::new();
    let mut added_below = Vec::new();
    let mut added = 0_u32;
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/vehicles?sort=-prix&limit=3&cursor={c}"),
            None => "/api/v1/vehicles?sort=-prix&limit=3".to_owned(),
        };
        let (status, page) = get(&app, &key, &path).await;
        assert_eq!(status, 200, "{page}");
        let items = page["items"].as_array().unwrap();
        seen.extend(ids(items));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
        let last_price = items.last().unwrap()["prix"].as_f64().unwrap();
        let below = added.is_multiple_of(2);
        let price = if below {
            last_price - 5.0
        } else {
            last_price + 5.0
        };
        let id = create(
            &app,
            &key,
            &vehicle("Citroën", &format!("Ajout {added}"), price),
        )
        .await;
        if below {
            added_below.push(id);
        }
        added += 1;
    }
    assert!(added >= 4, "{added} vehicles added while paging: {seen:?}");
    for id in added_below {
        assert!(
            seen.contains(&id),
            "vehicle {id}, added below the page read, was skipped: {seen:?}"
        );
    }
    let mut unique = seen.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), seen.len(), "a vehicle came twice: {seen:?}");
    for id in before {
        assert!(
            seen.contains(&id),
            "vehicle {id}, there before paging began, was skipped: {seen:?}"
        );
    }
}

#[tokio::test]
async fn reviews_are_listed_per_tenant_newest_first_a_page_at_a_time() {
    let _catalog = CATALOG.write().await;
    let app = production_app().await;
    let (_, key) = fresh_tenant("reviews").await;
    let product = create(&app, &key, &vehicle("Toyota", "Yaris", 35.0)).await;
    create(&app, &key, &vehicle("Toyota", "Corolla", 55.0)).await;
    let client = 424_242;
    // Three reviews (an identical one would be answered from the cache, and not stored again).
    for i in 1..=3 {
        let review = format!("Spacieux et économique, parfait pour la famille, location n°{i}");
        recommended_for(&app, &key, product, client, &review).await;
    }
    let (status, first) = get(
        &app,
        &key,
        &format!("/api/v1/reviews?client_id={client}&limit=2"),
    )
    .await;
    assert_eq!(status, 200, "{first}");
    let items = first["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{first}");
    assert_eq!(
        (&items[0]["product_id"], &items[0]["client_id"]),
        (&json!(product), &json!(client))
    );
    assert!(
        items[0]["commentaire"]
            .as_str()
            .unwrap()
            .starts_with("Spacieux"),
        "{first}"
    );
    assert!(
        items[0]["id"].as_i64() > items[1]["id"].as_i64(),
        "newest first: {first}"
    );
    let cursor = first["next_cursor"].as_str().expect("a second page");
    let (_, second) = get(
        &app,
        &key,
        &format!("/api/v1/reviews?client_id={client}&limit=2&cursor={cursor}"),
    )
    .await;
    assert_eq!(second["items"].as_array().unwrap().len(), 1, "{second}");
    assert_eq!(second["next_cursor"], Value::Null);
    let (_, by_product) = get(&app, &key, &format!("/api/v1/reviews?product_id={product}")).await;
    assert_eq!(
        by_product["items"].as_array().unwrap().len(),
        3,
        "{by_product}"
    );

    // Another tenant sees none of them.
    let other = api_key(&Tenant::demo(), Role::Viewer).await;
    let (status, theirs) = get(&app, &other, &format!("/api/v1/reviews?client_id={client}")).await;
    assert_eq!((status, &theirs["items"]), (200, &json!([])), "{theirs}");
    let (status, refused) = get(&app, &key, "/api/v1/reviews?cursor=x1").await;
    assert_eq!(status, 422, "{refused}");
}

/// Follows a re-indexing run until it ends (2 minutes at most) and answers it.
async fn finished_run(app: &TestApp, key: &str, location: &str) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_mins(2);
    loop {
        let (status, run) = get(app, key, location).await;
        assert_eq!(status, 200, "{run}");
        if run["status"] != "STARTED" {
            return run;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the re-indexing run ends within 2 minutes: {run}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

async fn start_reindex(app: &TestApp, key: &str, query: &str) -> (u16, String, Value) {
    let (status, headers, body) = call(
        app,
        Method::POST,
        &format!("/api/v1/admin/reindex{query}"),
        Credential::Key(key),
        None,
    )
    .await;
    let location = headers
        .get("location")
        .map(|l| l.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, location, body)
}

#[tokio::test]
async fn reindexing_runs_in_the_background_and_reports_its_progress() {
    // A run moves the catalog version, which retires cached answers.
    let _catalog = CATALOG.write().await;
    let app = production_app().await;
    let (tenant, manager) = fresh_tenant("reindex").await;
    let admin = api_key(&tenant, Role::Admin).await;
    // Vehicles written straight to the database (a bulk import) have no vector yet.
    let imported: Vec<_> = (930_001..=930_040)
        .map(|id| aras_domain::demo::vehicle(11, id))
        .collect();
    let pool = test_database().pool().unwrap();
    aras_catalog::vehicles::upsert(&pool, &tenant, &imported)
        .await
        .unwrap();
    let (_, stats) = get(&app, &admin, "/api/v1/admin/stats").await;
    assert_eq!(stats["catalog"]["vehicles"], 40, "{stats}");
    assert_eq!(stats["catalog"]["indexed"], 0, "{stats}");

    // Managers write the catalog; re-indexing is the admins'.
    let (status, _, refused) = start_reindex(&app, &manager, "").await;
    assert_eq!(status, 403, "{refused}");
    let (status, _, refused) = start_reindex(&app, &admin, "?full=maybe").await;
    assert_eq!(status, 422, "{refused}");

    let (status, location, started) = start_reindex(&app, &admin, "?full=false").await;
    assert_eq!(status, 202, "{started}");
    let run_id = started["run_id"].as_str().unwrap();
    assert_eq!(location, format!("/api/v1/admin/reindex/{run_id}"));
    assert_eq!(started["status"], "STARTED", "{started}");
    assert_eq!(started["full"], false, "{started}");
    assert!(started["finished_at"].is_null(), "{started}");

    let run = finished_run(&app, &admin, &location).await;
    assert_eq!(run["status"], "SUCCESS", "{run}");
    assert_eq!(run["indexed"], 40, "{run}");
    assert_eq!(run["total"], 40, "{run}");
    assert_eq!(run["progress"], 1.0, "{run}");
    assert!(run["error"].is_null(), "{run}");
    assert!(
        run["finished_at"]
            .as_str()
            .is_some_and(|t| t >= run["started_at"].as_str().unwrap()),
        "{run}"
    );
    let (_, stats) = get(&app, &admin, "/api/v1/admin/stats").await;
    assert_eq!(stats["catalog"]["indexed"], 40, "{stats}");
    assert_eq!(stats["catalog"]["indexed_share"], 1.0, "{stats}");
    // The imported vehicles are now recommended, and only they.
    let ids = recommended(&app, &admin, 930_001, 1).await;
    assert!(!ids.is_empty(), "no recommendation after indexing");
    assert!(
        ids.iter().all(|id| (930_001..=930_040).contains(id)),
        "{ids:?}"
    );

    // A full run re-embeds every vehicle of the tenant, and only of the tenant.
    let (status, location, started) = start_reindex(&app, &admin, "").await;
    assert_eq!(status, 202, "{started}");
    assert_eq!(started["full"], true, "{started}");
    let run = finished_run(&app, &admin, &location).await;
    assert_eq!(run["status"], "SUCCESS", "{run}");
    assert_eq!(run["total"], 40, "{run}");

    // Another tenant cannot see the run, even with its id.
    let theirs = api_key(&other_tenant(), Role::Admin).await;
    let (status, body) = get(&app, &theirs, &location).await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = get(&app, &admin, "/api/v1/admin/reindex/not-a-run").await;
    assert_eq!(status, 422, "{body}");
}

#[tokio::test]
async fn a_tenant_runs_one_reindexing_at_a_time_and_a_dead_run_is_released() {
    let _catalog = CATALOG.write().await;
    let app = production_app().await;
    let (tenant, _) = fresh_tenant("reindex-busy").await;
    let admin = api_key(&tenant, Role::Admin).await;
    let pool = test_database().pool().unwrap();
    let client = pool.get().await.unwrap();
    // A run in progress on another recommender replica.
    let elsewhere = uuid::Uuid::new_v4();
    client
        .execute(
            "INSERT INTO index_runs (id, tenant, full_reindex, correlation_id) VALUES ($1, $2, true, 'e2e')",
            &[&elsewhere, &tenant.as_str()],
        )
        .await
        .unwrap();
    let (status, location, refused) = start_reindex(&app, &admin, "").await;
    assert_eq!(status, 409, "{refused}");
    assert!(location.is_empty(), "a refused run has no location");
    let detail = refused["detail"].as_str().unwrap();
    assert!(
        detail.contains("already has an indexing run in progress"),
        "{refused}"
    );

    // That replica died: its run stopped moving long ago.
    client
        .execute(
            "UPDATE index_runs SET updated_at = now() - interval '10 minutes' WHERE id = $1",
            &[&elsewhere],
        )
        .await
        .unwrap();
    let (status, location, started) = start_reindex(&app, &admin, "").await;
    assert_eq!(status, 202, "{started}");
    let (status, dead) = get(&app, &admin, &format!("/api/v1/admin/reindex/{elsewhere}")).await;
    assert_eq!(status, 200, "{dead}");
    assert_eq!(dead["status"], "FAILURE", "{dead}");
    assert!(
        dead["error"].as_str().unwrap().contains("stopped"),
        "{dead}"
    );
    // An empty catalog is indexed at once.
    let run = finished_run(&app, &admin, &location).await;
    assert_eq!(run["status"], "SUCCESS", "{run}");
    assert_eq!(run["total"], 0, "{run}");
    assert_eq!(run["progress"], 1.0, "{run}");
}

/// The embedding service goes down during a run: the run ends as FAILURE saying why, nothing
/// it indexed is lost, and the next run resumes with what is left.
#[tokio::test]
async fn a_reindexing_run_whose_embedding_service_dies_fails_with_its_reason_and_resumes() {
    // A recommender with a store of its own marks the shared catalog for re-indexing when it
    // starts (its store lacks the vectors); it then indexes everything, so no other test sees
    // the catalog half-indexed.
    let _catalog = CATALOG.write().await;
    let b = crate::helpers::backends();
    let embedding = crate::proxy::TcpProxy::start(b.embedding).await;
    let config = crate::helpers::recommender_config(
        b.sentiment,
        embedding.addr,
        crate::helpers::scratch_dir("vectors-reindex-fault"),
    );
    let (app, _) = crate::recommendations::own_recommender(config, true, |gateway| {
        gateway.auth = crate::auth::production_config().auth;
    })
    .await;
    let (tenant, _) = fresh_tenant("reindex-fault").await;
    let admin = api_key(&tenant, Role::Admin).await;
    let imported: Vec<_> = (931_001..=931_040)
        .map(|id| aras_domain::demo::vehicle(13, id))
        .collect();
    let pool = test_database().pool().unwrap();
    aras_catalog::vehicles::upsert(&pool, &tenant, &imported)
        .await
        .unwrap();

    embedding.cut();
    let (status, location, started) = start_reindex(&app, &admin, "?full=false").await;
    assert_eq!(status, 202, "{started}");
    let run = finished_run(&app, &admin, &location).await;
    assert_eq!(run["status"], "FAILURE", "{run}");
    let error = run["error"].as_str().unwrap();
    assert!(error.contains("embedding service is unavailable"), "{run}");
    assert!(run["finished_at"].is_string(), "{run}");

    embedding.restore().await;
    let (status, location, started) = start_reindex(&app, &admin, "?full=false").await;
    assert_eq!(
        status, 202,
        "a failed run does not block the next: {started}"
    );
    let run = finished_run(&app, &admin, &location).await;
    assert_eq!(run["status"], "SUCCESS", "{run}");
    assert_eq!(
        run["total"], 40,
        "nothing was indexed before the fault: {run}"
    );
    let (_, stats) = get(&app, &admin, "/api/v1/admin/stats").await;
    assert_eq!(stats["catalog"]["indexed_share"], 1.0, "{stats}");
}

#[tokio::test]
async fn tenants_reindex_side_by_side() {
    let _catalog = CATALOG.write().await;
    let app = production_app().await;
    // The demo tenant's full run re-embeds its whole catalog: seconds, so the other tenant's
    // request comes while it runs.
    let demo = api_key(&Tenant::demo(), Role::Admin).await;
    let (status, demo_run, started) = start_reindex(&app, &demo, "").await;
    assert_eq!(status, 202, "{started}");
    let (tenant, _) = fresh_tenant("reindex-beside").await;
    let theirs = api_key(&tenant, Role::Admin).await;
    let (status, their_run, started) = start_reindex(&app, &theirs, "").await;
    assert_eq!(
        status, 202,
        "another tenant's run is never refused: {started}"
    );
    let (status, running) = get(&app, &demo, &demo_run).await;
    assert_eq!(status, 200, "{running}");
    assert_eq!(
        running["status"], "STARTED",
        "the demo run was still going: {running}"
    );
    for (key, location) in [(&demo, &demo_run), (&theirs, &their_run)] {
        let run = finished_run(&app, key, location).await;
        assert_eq!(run["status"], "SUCCESS", "{run}");
    }
}
