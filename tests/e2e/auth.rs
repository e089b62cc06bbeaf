//! Authentication, roles and tenant isolation through the public API: production-mode
//! gateways on the shared backends, credentials from the real store (Postgres), tokens signed
//! and checked by the real keyring.

use std::sync::LazyLock;
use std::time::{SystemTime, UNIX_EPOCH};

use aras_auth::Environment;
use aras_domain::tenant::{Role, Tenant};
use aras_gateway::GatewayConfig;
use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use crate::helpers::{
    CATALOG, OTHER_TENANT_VEHICLES, TEST_CATALOG_SIZE, TestApp, api_key, gateway_config,
    other_tenant, run_id, spawn_app_with, spawn_gateway, test_database,
};

/// Signing secrets made for this run: production refuses any written in the repository.
static SECRET_1: LazyLock<String> = LazyLock::new(random_secret);
static SECRET_2: LazyLock<String> = LazyLock::new(random_secret);

fn random_secret() -> String {
    uuid::Uuid::new_v4().simple().to_string() + &uuid::Uuid::new_v4().simple().to_string()
}

/// Rotated once: k2 signs, k1 still verifies.
pub fn production_config() -> GatewayConfig {
    let mut config = gateway_config();
    config.auth.environment = Environment::Production;
    config.auth.jwt_keys = Some(format!("k2:{},k1:{}", *SECRET_2, *SECRET_1));
    config
}

pub async fn production_app() -> TestApp {
    spawn_app_with(production_config()).await
}

#[derive(Clone, Copy)]
pub enum Credential<'a> {
    Anonymous,
    Key(&'a str),
    Token(&'a str),
    /// An `Authorization` header as is.
    Authorization(&'a str),
}

pub async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    credential: Credential<'_>,
    body: Option<&Value>,
) -> (u16, HeaderMap, Value) {
    let mut request = app.client.request(method, app.url(path));
    request = match credential {
        Credential::Anonymous => request,
        Credential::Key(key) => request.header("x-api-key", key),
        Credential::Token(token) => request.bearer_auth(token),
        Credential::Authorization(raw) => request.header("authorization", raw),
    };
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await.expect("the gateway answers");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    (
        status,
        headers,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn assert_unauthenticated((status, headers, body): &(u16, HeaderMap, Value), what: &str) {
    assert_eq!(*status, 401, "{what}: {body}");
    assert_eq!(
        headers["content-type"], "application/problem+json",
        "{what}"
    );
    assert!(
        headers["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer"),
        "{what}"
    );
    assert_eq!(body["status"], 401, "{what}: {body}");
}

#[tokio::test]
async fn production_needs_credentials_on_every_route_but_health() {
    let app = production_app().await;
    let task = "/api/v1/tasks/7d3c5b1e-4a7f-4d1e-9a63-2f1b8c0e9d42";
    let review = json!({"product_id": 1, "client_id": 1, "commentaire": "Très bien"});
    let cases = [
        (Method::GET, "/api/v1/vehicles/1", None),
        (
            Method::PATCH,
            "/api/v1/vehicles/1",
            Some(json!({"disponible": true})),
        ),
        (
            Method::POST,
            "/api/v1/recommendations",
            Some(review.clone()),
        ),
        (Method::POST, "/api/v1/recommendations/async", Some(review)),
        (
            Method::POST,
            "/api/v1/sentiment/analyze",
            Some(json!({"commentaire": "Bien"})),
        ),
        (
            Method::POST,
            "/api/v1/embeddings",
            Some(json!({"input": "Bien"})),
        ),
        (Method::GET, task, None),
        (Method::POST, "/api/v1/admin/cache/invalidate", None),
        (Method::POST, "/api/v1/admin/reindex", None),
        (Method::GET, "/api/v1/admin/api-keys", None),
        (Method::POST, "/api/v1/admin/users", Some(json!({}))),
        (Method::GET, "/api/v1/no-such-route", None),
    ];
    for (method, path, body) in cases {
        let what = format!("{method} {path}");
        let answer = call(&app, method, path, Credential::Anonymous, body.as_ref()).await;
        assert_unauthenticated(&answer, &what);
    }
    for path in [
        "/api/v1/health/live",
        "/api/v1/health/ready",
        "/api/v1/health",
        "/openapi.json",
    ] {
        let (status, _, body) = call(&app, Method::GET, path, Credential::Anonymous, None).await;
        assert_eq!(status, 200, "{path}: {body}");
    }

    // Without signing keys, production does not start.
    let mut config = production_config();
    config.auth.jwt_keys = None;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let error = aras_gateway::serve(config, listener, std::future::pending())
        .await
        .expect_err("production without ARAS_JWT_KEYS must refuse to start");
    assert!(error.to_string().contains("ARAS_JWT_KEYS"), "{error}");
}

#[tokio::test]
async fn each_role_is_allowed_and_denied_by_route_class() {
    // The admin's cache invalidation retires cached answers other tests expect.
    let _catalog = CATALOG.write().await;
    let app = production_app().await;
    let demo = Tenant::demo();
    // An invalid body: a role allowed past authorization gets 422, and nothing changes.
    let no_change = json!({});
    let analyze = json!({"commentaire": "Voiture propre et confortable"});
    for role in Role::ALL {
        let key = api_key(&demo, role).await;
        let credential = Credential::Key(&key);
        let expect = |allowed: bool, ok: u16| if allowed { ok } else { 403 };
        let cases = [
            (Method::GET, "/api/v1/vehicles/1", None, expect(true, 200)),
            (
                Method::POST,
                "/api/v1/sentiment/analyze",
                Some(&analyze),
                expect(role >= Role::User, 200),
            ),
            (
                Method::PATCH,
                "/api/v1/vehicles/1",
                Some(&no_change),
                expect(role >= Role::Manager, 422),
            ),
            (
                Method::POST,
                "/api/v1/admin/cache/invalidate",
                None,
                expect(role == Role::Admin, 200),
            ),
        ];
        for (method, path, body, expected) in cases {
            let what = format!("{role}: {method} {path}");
            let (status, headers, answer) = call(&app, method, path, credential, body).await;
            assert_eq!(status, expected, "{what}: {answer}");
            if status == 403 {
                assert_eq!(
                    headers["content-type"], "application/problem+json",
                    "{what}"
                );
                assert!(
                    answer["detail"].as_str().unwrap().contains(role.as_str()),
                    "{what}: {answer}"
                );
            }
        }
    }
    // A key that does not exist is 401, not 403; so is a revoked one.
    let unknown = format!("aras_{}", "0".repeat(48));
    let answer = call(
        &app,
        Method::GET,
        "/api/v1/vehicles/1",
        Credential::Key(&unknown),
        None,
    )
    .await;
    assert_unauthenticated(&answer, "unknown key");
    let pool = test_database().pool().unwrap();
    let revoked = aras_auth::store::create_api_key(
        &pool,
        &aras_auth::store::ApiKeySpec::new(&demo, "to revoke", Role::Admin),
    )
    .await
    .unwrap();
    let before = call(
        &app,
        Method::GET,
        "/api/v1/vehicles/1",
        Credential::Key(&revoked.key),
        None,
    )
    .await;
    assert_eq!(before.0, 200, "{}", before.2);
    // Revoked through this gateway, which had just verified (and cached) the key: refused at
    // once here (other replicas trust it for what is left of ARAS_API_KEY_CACHE_TTL).
    let admin = api_key(&demo, Role::Admin).await;
    let (status, _, body) = call(
        &app,
        Method::DELETE,
        &format!("/api/v1/admin/api-keys/{}", revoked.id),
        Credential::Key(&admin),
        None,
    )
    .await;
    assert_eq!(status, 204, "{body}");
    let after = call(
        &app,
        Method::GET,
        "/api/v1/vehicles/1",
        Credential::Key(&revoked.key),
        None,
    )
    .await;
    assert_unauthenticated(&after, "revoked key");
}

/// A user of the demo tenant with role `role`; returns its email and password.
pub async fn user(role: Role, name: &str) -> (String, String) {
    let email = format!("{name}-{}@example.com", run_id());
    let password = format!("{name}-passphrase-{}", run_id());
    let pool = test_database().pool().unwrap();
    aras_auth::store::create_user(&pool, &Tenant::demo(), &email, &password, role)
        .await
        .expect("a user");
    (email, password)
}

async fn login(app: &TestApp, email: &str, password: &str) -> (u16, Value) {
    let body = json!({"email": email, "password": password});
    let (status, _, answer) = call(
        app,
        Method::POST,
        "/api/v1/auth/login",
        Credential::Anonymous,
        Some(&body),
    )
    .await;
    (status, answer)
}

async fn refresh(app: &TestApp, token: &Value) -> (u16, Value) {
    let body = json!({"refresh_token": token});
    let (status, _, answer) = call(
        app,
        Method::POST,
        "/api/v1/auth/refresh",
        Credential::Anonymous,
        Some(&body),
    )
    .await;
    (status, answer)
}

#[tokio::test]
async fn admins_manage_their_tenants_keys_and_users_over_http() {
    let app = production_app().await;
    let demo = Tenant::demo();
    let admin = api_key(&demo, Role::Admin).await;
    let manager = api_key(&demo, Role::Manager).await;
    let theirs = api_key(&other_tenant(), Role::Admin).await;
    let admin_call = |method, path: &'static str, body: Option<Value>| {
        let (app, admin) = (&app, &admin);
        async move { call(app, method, path, Credential::Key(admin), body.as_ref()).await }
    };

    // A key made over HTTP is shown once, works with its role, is listed without its secret.
    let (status, _, created) = admin_call(
        Method::POST,
        "/api/v1/admin/api-keys",
        Some(json!({"name": "billing", "role": "viewer"})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let key = created["key"].as_str().unwrap().to_owned();
    let key_id = created["id"].as_str().unwrap().to_owned();
    assert!(key.starts_with("aras_"), "{created}");
    assert_eq!(created["role"], "viewer", "{created}");
    let read = call(
        &app,
        Method::GET,
        "/api/v1/vehicles/1",
        Credential::Key(&key),
        None,
    )
    .await;
    assert_eq!(read.0, 200, "{}", read.2);
    let write = call(
        &app,
        Method::PATCH,
        "/api/v1/vehicles/1",
        Credential::Key(&key),
        Some(&json!({})),
    )
    .await;
    assert_eq!(write.0, 403, "a viewer key does not write: {}", write.2);
    let (status, _, listed) = admin_call(Method::GET, "/api/v1/admin/api-keys", None).await;
    assert_eq!(status, 200, "{listed}");
    let items = listed["items"].as_array().unwrap();
    let entry = items
        .iter()
        .find(|k| k["id"] == key_id.as_str())
        .expect("the new key is listed");
    assert_eq!(
        (&entry["name"], &entry["role"]),
        (&json!("billing"), &json!("viewer"))
    );
    assert!(
        !listed.to_string().contains(&key),
        "no secret in the listing"
    );
    // The other tenant lists its own keys only, and cannot revoke ours.
    let (_, _, their_list) = call(
        &app,
        Method::GET,
        "/api/v1/admin/api-keys",
        Credential::Key(&theirs),
        None,
    )
    .await;
    assert!(
        !their_list["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["id"] == key_id.as_str()),
        "{their_list}"
    );
    let path = format!("/api/v1/admin/api-keys/{key_id}");
    let (status, _, refused) =
        call(&app, Method::DELETE, &path, Credential::Key(&theirs), None).await;
    assert_eq!(status, 404, "{refused}");
    // Managers do not manage credentials.
    let (status, _, refused) = call(
        &app,
        Method::POST,
        "/api/v1/admin/api-keys",
        Credential::Key(&manager),
        Some(&json!({"name": "x", "role": "admin"})),
    )
    .await;
    assert_eq!(status, 403, "{refused}");
    // Revoked, the key is refused at once.
    let (status, _, revoked) =
        call(&app, Method::DELETE, &path, Credential::Key(&admin), None).await;
    assert_eq!(status, 204, "{revoked}");
    let after = call(
        &app,
        Method::GET,
        "/api/v1/vehicles/1",
        Credential::Key(&key),
        None,
    )
    .await;
    assert_unauthenticated(&after, "a key revoked over HTTP");
    let (status, _, again) = call(&app, Method::DELETE, &path, Credential::Key(&admin), None).await;
    assert_eq!(status, 404, "{again}");
    for (body, needle) in [
        (
            json!({"name": "x", "role": "owner"}),
            "unknown variant `owner`",
        ),
        (json!({"name": " ", "role": "user"}), "needs a name"),
        (
            json!({"name": "a\u{0}b", "role": "user"}),
            "control characters",
        ),
    ] {
        let answer = admin_call(Method::POST, "/api/v1/admin/api-keys", Some(body)).await;
        assert_eq!(answer.0, 422, "{}", answer.2);
        assert!(
            answer.2["detail"].as_str().unwrap().contains(needle),
            "{}",
            answer.2
        );
    }

    // A user made over HTTP logs in with its role; disabled, it can neither log in nor refresh.
    let email = format!("ops-{}@example.com", run_id());
    let password = format!("ops-passphrase-{}", run_id());
    let (status, _, user) = admin_call(
        Method::POST,
        "/api/v1/admin/users",
        Some(json!({"email": email, "password": password, "role": "manager"})),
    )
    .await;
    assert_eq!(status, 201, "{user}");
    assert!(
        !user.to_string().contains(&password),
        "no password in the answer"
    );
    let (status, session) = login(&app, &email, &password).await;
    assert_eq!(status, 200, "{session}");
    let (status, _, listed) = admin_call(Method::GET, "/api/v1/admin/users", None).await;
    assert_eq!(status, 200, "{listed}");
    assert!(
        listed["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["id"] == user["id"] && u["role"] == "manager"),
        "{listed}"
    );
    let (status, _, duplicate) = admin_call(
        Method::POST,
        "/api/v1/admin/users",
        Some(json!({"email": email.to_uppercase(), "password": password, "role": "user"})),
    )
    .await;
    assert_eq!(status, 409, "{duplicate}");
    let (status, _, weak) = admin_call(
        Method::POST,
        "/api/v1/admin/users",
        Some(json!({"email": format!("weak-{}@example.com", run_id()), "password": "short", "role": "user"})),
    )
    .await;
    assert_eq!(status, 422, "{weak}");
    let path = format!("/api/v1/admin/users/{}", user["id"].as_str().unwrap());
    let (status, _, refused) =
        call(&app, Method::DELETE, &path, Credential::Key(&theirs), None).await;
    assert_eq!(
        status, 404,
        "another tenant cannot disable our user: {refused}"
    );
    let (status, _, disabled) =
        call(&app, Method::DELETE, &path, Credential::Key(&admin), None).await;
    assert_eq!(status, 204, "{disabled}");
    let (status, answer) = login(&app, &email, &password).await;
    assert_eq!(status, 401, "{answer}");
    let (status, answer) = refresh(&app, &session["refresh_token"]).await;
    assert_eq!(status, 401, "{answer}");
    let (status, _, bad) = call(
        &app,
        Method::DELETE,
        "/api/v1/admin/users/nobody",
        Credential::Key(&admin),
        None,
    )
    .await;
    assert_eq!(status, 422, "{bad}");
}

#[tokio::test]
async fn login_refresh_rotation_reuse_and_logout() {
    let app = production_app().await;
    let (email, password) = user(Role::User, "login").await;

    // Wrong password and unknown email: the same 401, which says neither.
    let (status, wrong_password) = login(&app, &email, "not-the-passphrase-at-all").await;
    assert_eq!(status, 401, "{wrong_password}");
    let (status, unknown_email) = login(&app, &format!("nobody-{email}"), &password).await;
    assert_eq!(status, 401, "{unknown_email}");
    assert_eq!(wrong_password["detail"], unknown_email["detail"]);
    assert_eq!(wrong_password["detail"], "invalid email or password");
    // An email no account can have (Postgres text holds no NUL) is the same 401, not a 500.
    let (status, impossible) = login(&app, "nul\u{0}@example.com", &password).await;
    assert_eq!(
        (status, &impossible["detail"]),
        (401, &wrong_password["detail"]),
        "{impossible}"
    );

    let (status, session) = login(&app, &email.to_uppercase(), &password).await;
    assert_eq!(status, 200, "emails match whatever their case: {session}");
    assert_eq!(session["token_type"], "Bearer");
    assert_eq!(session["expires_in"], 900);
    let access = session["access_token"].as_str().unwrap();
    let read = call(
        &app,
        Method::GET,
        "/api/v1/vehicles/1",
        Credential::Token(access),
        None,
    )
    .await;
    assert_eq!(read.0, 200, "{}", read.2);
    let write = call(
        &app,
        Method::PATCH,
        "/api/v1/vehicles/1",
        Credential::Token(access),
        Some(&json!({})),
    )
    .await;
    assert_eq!(
        write.0, 403,
        "a user may not write the catalog: {}",
        write.2
    );

    // Rotation: a new pair; the new access token works.
    let (status, rotated) = refresh(&app, &session["refresh_token"]).await;
    assert_eq!(status, 200, "{rotated}");
    assert_ne!(rotated["refresh_token"], session["refresh_token"]);
    let access = rotated["access_token"].as_str().unwrap();
    let read = call(
        &app,
        Method::GET,
        "/api/v1/vehicles/1",
        Credential::Token(access),
        None,
    )
    .await;
    assert_eq!(read.0, 200, "{}", read.2);

    // Reuse of the used token: refused, and its whole family with it.
    let (status, reused) = refresh(&app, &session["refresh_token"]).await;
    assert_eq!(status, 401, "{reused}");
    assert!(
        reused["detail"].as_str().unwrap().contains("already used"),
        "{reused}"
    );
    let (status, family) = refresh(&app, &rotated["refresh_token"]).await;
    assert_eq!(
        status, 401,
        "the rotated token dies with its family: {family}"
    );

    // Logout ends a session: its refresh token no longer works.
    let (_, session) = login(&app, &email, &password).await;
    let body = json!({"refresh_token": session["refresh_token"]});
    let (status, _, answer) = call(
        &app,
        Method::POST,
        "/api/v1/auth/logout",
        Credential::Anonymous,
        Some(&body),
    )
    .await;
    assert_eq!(status, 204, "{answer}");
    let (status, after) = refresh(&app, &session["refresh_token"]).await;
    assert_eq!(status, 401, "{after}");
    let (status, garbage) = refresh(&app, &json!("not-a-token")).await;
    assert_eq!(status, 401, "{garbage}");
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A token with these claims, signed with `secret` under `kid` by `algorithm`.
fn token(kid: &str, secret: &str, algorithm: jsonwebtoken::Algorithm, exp: u64) -> String {
    let claims = json!({
        "iss": "aras", "sub": uuid::Uuid::new_v4().to_string(), "tenant": "demo",
        "role": "viewer", "iat": now(), "exp": exp,
    });
    let header = jsonwebtoken::Header {
        kid: Some(kid.into()),
        ..jsonwebtoken::Header::new(algorithm)
    };
    jsonwebtoken::encode(
        &header,
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

#[tokio::test]
async fn forged_expired_and_malformed_tokens_are_refused() {
    use jsonwebtoken::Algorithm::{HS256, HS512};
    let app = production_app().await;
    let later = now() + 600;
    // Signed by the older key of the ring, still listed: accepted (so the refusals below are
    // about what each one changes).
    let valid = token("k1", &SECRET_1, HS256, later);
    let answer = call(
        &app,
        Method::GET,
        "/api/v1/vehicles/1",
        Credential::Token(&valid),
        None,
    )
    .await;
    assert_eq!(answer.0, 200, "{}", answer.2);

    let payload = valid.split('.').nth(1).unwrap();
    // {"alg":"none","typ":"JWT","kid":"k1"}
    let alg_none = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIiwia2lkIjoiazEifQ.{payload}.");
    let cases = [
        ("expired", token("k1", &SECRET_1, HS256, now() - 600)),
        ("wrong signature", token("k1", &SECRET_2, HS256, later)),
        ("unknown kid", token("k9", &SECRET_1, HS256, later)),
        ("another algorithm", token("k1", &SECRET_1, HS512, later)),
        ("alg none", alg_none),
        ("malformed", "not.a.jwt".to_owned()),
        ("empty", String::new()),
    ];
    for (what, forged) in &cases {
        let answer = call(
            &app,
            Method::GET,
            "/api/v1/vehicles/1",
            Credential::Token(forged),
            None,
        )
        .await;
        assert_unauthenticated(&answer, what);
    }
    let expired = call(
        &app,
        Method::GET,
        "/api/v1/vehicles/1",
        Credential::Token(&cases[0].1),
        None,
    )
    .await;
    assert_eq!(expired.2["detail"], "access token expired");
    for raw in [format!("Basic {valid}"), valid.clone(), "Bearer".to_owned()] {
        let answer = call(
            &app,
            Method::GET,
            "/api/v1/vehicles/1",
            Credential::Authorization(&raw),
            None,
        )
        .await;
        assert_unauthenticated(&answer, &raw);
    }
}

async fn recommend(app: &TestApp, key: &str, product_id: i64) -> (u16, Value) {
    let body = json!({"product_id": product_id, "client_id": 5, "commentaire": "Très confortable, je recommande"});
    let (status, _, answer) = call(
        app,
        Method::POST,
        "/api/v1/recommendations",
        Credential::Key(key),
        Some(&body),
    )
    .await;
    (status, answer)
}

fn ids(answer: &Value) -> Vec<i64> {
    answer["recommendations"]
        .as_array()
        .unwrap_or_else(|| panic!("recommendations: {answer}"))
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn tenants_never_see_each_others_vehicles_answers_cache_or_tasks() {
    let _catalog = CATALOG.read().await;
    let app = production_app().await;
    let ours = api_key(&Tenant::demo(), Role::Admin).await;
    let theirs = api_key(&other_tenant(), Role::Admin).await;
    let their_vehicle = *OTHER_TENANT_VEHICLES.start();
    let their_path = format!("/api/v1/vehicles/{their_vehicle}");

    // Vehicles: each tenant reads its own; the other's are "not found", also for writes.
    let read = |key, path: String| {
        let app = &app;
        async move {
            call(app, Method::GET, &path, Credential::Key(key), None)
                .await
                .0
        }
    };
    assert_eq!(read(&theirs, their_path.clone()).await, 200);
    assert_eq!(read(&ours, their_path.clone()).await, 404);
    assert_eq!(read(&ours, "/api/v1/vehicles/1".into()).await, 200);
    assert_eq!(read(&theirs, "/api/v1/vehicles/1".into()).await, 404);
    let write = call(
        &app,
        Method::PATCH,
        &their_path,
        Credential::Key(&ours),
        Some(&json!({"disponible": false})),
    )
    .await;
    assert_eq!(write.0, 404, "{}", write.2);

    // Recommendations come from the caller's catalog only (the vector search is filtered).
    let (status, answer) = recommend(&app, &theirs, their_vehicle).await;
    assert_eq!(status, 200, "{answer}");
    let found = ids(&answer);
    assert!(
        !found.is_empty() && found.iter().all(|id| OTHER_TENANT_VEHICLES.contains(id)),
        "{found:?}"
    );
    let (status, answer) = recommend(&app, &ours, 1).await;
    assert_eq!(status, 200, "{answer}");
    assert!(
        ids(&answer)
            .iter()
            .all(|id| (1..=TEST_CATALOG_SIZE).contains(id)),
        "{answer}"
    );
    // The same request from the other tenant is not served from our cache entry.
    let (status, answer) = recommend(&app, &ours, 1).await;
    assert_eq!((status, &answer["cached"]), (200, &json!(true)), "{answer}");
    let (status, answer) = recommend(&app, &theirs, 1).await;
    assert_eq!(status, 404, "vehicle 1 is not theirs: {answer}");

    // Invalidating their cache leaves ours; invalidating ours retires it.
    let invalidate = |key| {
        let app = &app;
        async move {
            call(
                app,
                Method::POST,
                "/api/v1/admin/cache/invalidate",
                Credential::Key(key),
                None,
            )
            .await
        }
    };
    let (status, _, answer) = invalidate(&theirs).await;
    assert_eq!(
        (status, &answer["tenant"]),
        (200, &json!("globex")),
        "{answer}"
    );
    let (_, answer) = recommend(&app, &ours, 1).await;
    assert_eq!(answer["cached"], true, "{answer}");
    // Their catalog write moves their catalog version, not ours (no demo answer is retired,
    // so the read lock on the catalog is enough).
    let (status, _, vehicle) = call(
        &app,
        Method::GET,
        &their_path,
        Credential::Key(&theirs),
        None,
    )
    .await;
    assert_eq!(status, 200, "{vehicle}");
    let (status, _, written) = call(
        &app,
        Method::PATCH,
        &their_path,
        Credential::Key(&theirs),
        Some(&json!({"prix": vehicle["prix"]})),
    )
    .await;
    assert_eq!(status, 200, "{written}");
    let (_, answer) = recommend(&app, &ours, 1).await;
    assert_eq!(answer["cached"], true, "{answer}");
    let (status, _, answer) = invalidate(&ours).await;
    assert_eq!(
        (status, &answer["tenant"]),
        (200, &json!("demo")),
        "{answer}"
    );
    let (_, answer) = recommend(&app, &ours, 1).await;
    assert_eq!(answer["cached"], false, "{answer}");

    // Tasks: only the submitting tenant sees one.
    let body = json!({"product_id": their_vehicle, "client_id": 9, "commentaire": "Parfait"});
    let (status, _, accepted) = call(
        &app,
        Method::POST,
        "/api/v1/recommendations/async",
        Credential::Key(&theirs),
        Some(&body),
    )
    .await;
    assert_eq!(status, 202, "{accepted}");
    let task = format!("/api/v1/tasks/{}", accepted["task_id"].as_str().unwrap());
    assert_eq!(read(&theirs, task.clone()).await, 200);
    assert_eq!(read(&ours, task).await, 404);

    // Each tenant's figures are its own.
    let (status, _, stats) = call(
        &app,
        Method::GET,
        "/api/v1/admin/stats",
        Credential::Key(&theirs),
        None,
    )
    .await;
    assert_eq!(status, 200, "{stats}");
    assert_eq!(stats["tenant"], "globex");
    assert_eq!(stats["catalog"]["vehicles"], OTHER_TENANT_VEHICLES.count());
    assert_eq!(stats["catalog"]["indexed_share"], 1.0, "{stats}");
    let jobs: u64 = stats["jobs"]
        .as_object()
        .unwrap()
        .values()
        .map(|n| n.as_u64().unwrap())
        .sum();
    assert_eq!(jobs, 1, "{stats}");
    // Their two lookups on this gateway (vehicle 900001, then vehicle 1) both missed.
    assert_eq!(
        (&stats["cache"]["hits"], &stats["cache"]["misses"]),
        (&json!(0), &json!(2)),
        "{stats}"
    );
    let (_, _, stats) = call(
        &app,
        Method::GET,
        "/api/v1/admin/stats",
        Credential::Key(&ours),
        None,
    )
    .await;
    assert_eq!(stats["catalog"]["vehicles"], TEST_CATALOG_SIZE, "{stats}");
    // Ours: a miss, then hits before and after their invalidation and their write, then a
    // miss after our own invalidation.
    assert_eq!(
        (&stats["cache"]["hits"], &stats["cache"]["misses"]),
        (&json!(3), &json!(2)),
        "{stats}"
    );
}

#[tokio::test]
async fn rate_limits_count_per_principal() {
    let mut config = production_config();
    config.rate_limits.rate_limit_per_second = 1;
    config.rate_limits.rate_limit_burst = 2;
    config.rate_limits.rate_limit_by_role = vec![(Role::Admin, 1000)];
    // A prefix of its own, so no other test's requests count.
    config.redis.prefix = format!("{}:ratelimit-principal:", run_id());
    let app = spawn_gateway(config).await;
    let first = api_key(&Tenant::demo(), Role::Viewer).await;
    let second = api_key(&Tenant::demo(), Role::Viewer).await;
    let statuses = |key| {
        let app = &app;
        async move {
            let mut seen = Vec::new();
            for _ in 0..3 {
                let (status, headers, _) = call(
                    app,
                    Method::GET,
                    "/api/v1/vehicles/1",
                    Credential::Key(key),
                    None,
                )
                .await;
                if status == 429 {
                    assert!(headers.contains_key("retry-after"));
                    assert!(headers.contains_key("ratelimit-remaining"));
                }
                seen.push(status);
            }
            seen
        }
    };
    assert_eq!(statuses(&first).await, [200, 200, 429]);
    // Another key of the same tenant, from the same address, has its own allowance.
    assert_eq!(statuses(&second).await, [200, 200, 429]);
    // A role with a rate of its own: an admin key is far from its limit.
    let admin = api_key(&Tenant::demo(), Role::Admin).await;
    assert_eq!(statuses(&admin).await, [200, 200, 200]);
}

/// Set in the environment of the gateway process `no_secret_reaches_the_logs` starts.
const GATEWAY_PROCESS: &str = "ARAS_TEST_GATEWAY_PROCESS";

/// Not a test: the body of the gateway process of `no_secret_reaches_the_logs`, which runs this
/// binary again with only this function: what `aras-gateway`'s `main` does (configuration from
/// the environment, JSON logs), until SIGTERM.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "the gateway process of no_secret_reaches_the_logs, which runs it"]
async fn gateway_process() {
    assert!(
        std::env::var_os(GATEWAY_PROCESS).is_some(),
        "only no_secret_reaches_the_logs runs this (it sets the gateway's configuration)"
    );
    let config = <GatewayConfig as clap::Parser>::parse_from(["aras-gateway"]);
    let _telemetry = aras_common::telemetry::init("gateway", &config.telemetry)
        .expect("telemetry of the gateway process");
    aras_gateway::run(config)
        .await
        .expect("the gateway runs until SIGTERM");
}

/// Runs `aras-gateway`'s `main` in a process of its own (this binary again, running only
/// [`gateway_process`]) with production's `config` and the extra `variables`. Answers once it
/// listens, with its output (stdout then stderr), read as it comes (a full pipe would stall
/// the gateway) and handed over once the process has closed both.
pub async fn start_gateway_process(
    config: &GatewayConfig,
    variables: &[(&str, &str)],
) -> (
    tokio::process::Child,
    TestApp,
    tokio::task::JoinHandle<String>,
) {
    let port = crate::helpers::dead_address().await;
    let mut child = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "auth::gateway_process",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(GATEWAY_PROCESS, "1")
        .env("ARAS_GATEWAY_ADDR", port.to_string())
        .env("ARAS_ENV", "production")
        .env("ARAS_JWT_KEYS", config.auth.jwt_keys.as_deref().unwrap())
        .env("ARAS_DATABASE_URL", &config.database.url)
        .env("ARAS_REDIS_PREFIX", &config.redis.prefix)
        .env("ARAS_AMQP_PREFIX", &config.amqp.prefix)
        .env("ARAS_RANKING_URL", &config.ranking_url)
        .env("ARAS_SENTIMENT_URL", &config.sentiment_url)
        .env("ARAS_EMBEDDING_URL", &config.embedding_url)
        .env("ARAS_RECOMMENDER_URL", &config.recommender_url)
        .envs(variables.iter().copied())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the test binary runs again as a gateway");
    let app = TestApp {
        base_url: format!("http://{port}"),
        client: reqwest::Client::new(),
    };
    // The process starts (the test harness, then the gateway) before it listens.
    let mut listening = false;
    for _ in 0..600 {
        if app
            .client
            .get(app.url("/api/v1/health/live"))
            .send()
            .await
            .is_ok()
        {
            listening = true;
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the gateway process exited"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(listening, "the gateway process did not listen within 60 s");
    let read = |stream: Option<Box<dyn tokio::io::AsyncRead + Send + Unpin>>| {
        tokio::spawn(async move {
            use tokio::io::AsyncReadExt as _;
            let mut text = String::new();
            stream
                .expect("piped")
                .read_to_string(&mut text)
                .await
                .expect("the gateway's output is UTF-8");
            text
        })
    };
    let stdout = read(child.stdout.take().map(|s| Box::new(s) as _));
    let stderr = read(child.stderr.take().map(|s| Box::new(s) as _));
    let output = tokio::spawn(async move { stdout.await.unwrap() + &stderr.await.unwrap() });
    (child, app, output)
}

#[tokio::test]
async fn no_secret_reaches_the_logs() {
    let config = production_config();
    let (mut child, app, output) = start_gateway_process(
        &config,
        &[
            // Every test calls from 127.0.0.1 and counts in this run's Redis
            // (test_gateway_defaults).
            ("ARAS_AUTH_MAX_FAILURES_PER_ADDRESS", "1000000"),
            ("ARAS_AUTH_MAX_FAILURES_PER_EMAIL", "1000000"),
            // Everything down to debug: a secret must not show at any level.
            ("RUST_LOG", "debug"),
            ("ARAS_LOG_FORMAT", "json"),
        ],
    )
    .await;
    app.wait_until_serving(&["recommender"]).await;

    let (email, password) = user(Role::Admin, "logs").await;
    let key = api_key(&Tenant::demo(), Role::Admin).await;
    let (status, wrong) = login(&app, &email, "a-wrong-passphrase-for-logs").await;
    assert_eq!(status, 401, "{wrong}");
    let (status, session) = login(&app, &email, &password).await;
    assert_eq!(status, 200, "{session}");
    let access = session["access_token"].as_str().unwrap().to_owned();
    let (status, rotated) = refresh(&app, &session["refresh_token"]).await;
    assert_eq!(status, 200, "{rotated}");
    let (status, reused) = refresh(&app, &session["refresh_token"]).await;
    assert_eq!(status, 401, "{reused}");
    for credential in [Credential::Token(&access), Credential::Key(&key)] {
        let (status, _, body) =
            call(&app, Method::GET, "/api/v1/vehicles/1", credential, None).await;
        assert_eq!(status, 200, "{body}");
    }
    let forged = format!("{}x", &key[..key.len() - 1]);
    let (status, _, _) = call(
        &app,
        Method::GET,
        "/api/v1/vehicles/1",
        Credential::Key(&forged),
        None,
    )
    .await;
    assert_eq!(status, 401);

    let pid = i32::try_from(child.id().expect("the gateway runs")).unwrap();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap()
            .success()
    );
    let output = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        child.wait().await.unwrap();
        output.await.unwrap()
    })
    .await
    .expect("the gateway stops on SIGTERM");
    // The logs are there (so the search below searched something): the failed login and the
    // reused refresh token were logged, with the requests' principal where there was one.
    assert!(output.contains("invalid email or password"), "{output}");
    assert!(output.contains("already used"), "{output}");
    assert!(output.contains("\"principal\":\"key:"), "{output}");
    let secrets = [
        ("password", password.as_str()),
        ("wrong password", "a-wrong-passphrase-for-logs"),
        ("API key", key.as_str()),
        ("forged API key", forged.as_str()),
        ("access token", access.as_str()),
        ("refresh token", session["refresh_token"].as_str().unwrap()),
        (
            "rotated refresh token",
            rotated["refresh_token"].as_str().unwrap(),
        ),
        (
            "rotated access token",
            rotated["access_token"].as_str().unwrap(),
        ),
        ("signing secret", SECRET_2.as_str()),
    ];
    for (what, secret) in secrets {
        assert!(!output.contains(secret), "the {what} is in the logs");
    }
    // Keys are long: even a third of one must not show.
    assert!(
        !output.contains(&key[5..21]),
        "part of the API key is in the logs"
    );
}
