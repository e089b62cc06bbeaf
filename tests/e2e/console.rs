//! The console at `/` in a real browser: Debian's Chromium, headless, driven over WebDriver by
//! its chromedriver. Each tab is used as a person would (pick a vehicle, write a review, rank
//! the seed example, read the health report), and a screenshot of each is written for people
//! to look at.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use tokio::process::{Child, Command};

use crate::helpers::{TEST_CATALOG_SIZE, spawn_app};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

/// A chromedriver on a free loopback port, ended with the test.
async fn start_chromedriver() -> (Child, String) {
    for program in [CHROMEDRIVER, CHROMIUM] {
        assert!(
            Path::new(program).exists(),
            "{program} is missing: run scripts/setup (it installs Debian's chromium and \
             chromium-driver, which the console's browser test needs)"
        );
    }
    let port = {
        let listener =
            std::net::TcpListener::bind("127.0.0.1:0").expect("an ephemeral loopback port");
        listener.local_addr().expect("a bound address").port()
    };
    let driver = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("{CHROMEDRIVER} does not start ({e}): run scripts/setup"));
    let url = format!("http://127.0.0.1:{port}");
    let status = format!("{url}/status");
    let http = reqwest::Client::new();
    let started = Instant::now();
    loop {
        let ready = match http.get(&status).send().await {
            Ok(response) => response
                .json::<Value>()
                .await
                .is_ok_and(|body| body["value"]["ready"] == true),
            Err(_) => false,
        };
        if ready {
            return (driver, url);
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "chromedriver did not become ready on port {port} within 20 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn open_browser(webdriver: &str) -> Client {
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".to_owned(),
        json!({
            "binary": CHROMIUM,
            "args": [
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--window-size=1400,1000",
                "--lang=fr-FR",
            ],
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(webdriver)
        .await
        .expect("chromedriver opens a headless Chromium session")
}

/// Where the screenshots go: the test build's scratch directory, printed by the test.
fn screenshot_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
    std::fs::create_dir_all(&dir).expect("the screenshot directory");
    dir
}

/// The window from the top of the page (a click may have scrolled it), as a PNG file.
async fn screenshot(client: &Client, name: &str) -> PathBuf {
    let _ = client.execute("window.scrollTo(0, 0);", Vec::new()).await;
    let png = client.screenshot().await.expect("a screenshot");
    let path = screenshot_dir().join(name);
    std::fs::write(&path, &png).expect("the screenshot is written");
    path
}

/// A PNG of the browser window, not an empty or broken file.
fn assert_png(path: &Path) {
    let bytes = std::fs::read(path).expect("the screenshot is readable");
    assert!(
        bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
        "{}: not a PNG",
        path.display()
    );
    let width = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    assert!(
        width >= 800 && height >= 600,
        "{}: {width}×{height}",
        path.display()
    );
    assert!(
        bytes.len() > 20_000,
        "{}: {} bytes is too small for a drawn page",
        path.display(),
        bytes.len()
    );
}

async fn eval(client: &Client, script: &str) -> Value {
    client
        .execute(script, Vec::new())
        .await
        .unwrap_or_else(|e| panic!("the page runs {script:?}: {e}"))
}

/// What the page shows that helps when a wait fails: its error boxes and recorded errors.
async fn diagnostics(client: &Client) -> Value {
    let _ = screenshot(client, "failure.png").await;
    eval(
        client,
        "return { errors: window.__consoleErrors, boxes: Array.from(document.querySelectorAll('.error, .notice')).filter(e => !e.hidden).map(e => e.textContent) };",
    )
    .await
}

/// Waits until `condition` (a JavaScript expression) holds; fails the test after `within`.
async fn wait_until(client: &Client, condition: &str, within: Duration, what: &str) {
    let started = Instant::now();
    let script = format!("return Boolean({condition});");
    while eval(client, &script).await != Value::Bool(true) {
        if started.elapsed() > within {
            let seen = diagnostics(client).await;
            panic!("{what}: not within {within:?} ({condition}); the page shows {seen}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn assert_no_console_errors(client: &Client, when: &str) {
    let errors = eval(client, "return window.__consoleErrors;").await;
    assert_eq!(
        errors,
        json!([]),
        "{when}: the page recorded errors (window.__consoleErrors)"
    );
}

async fn click(client: &Client, css: &str) {
    client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css} is on the page: {e}"))
        .click()
        .await
        .unwrap_or_else(|e| panic!("{css} can be clicked: {e}"));
}

async fn type_into(client: &Client, css: &str, text: &str) {
    let field = client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css} is on the page: {e}"));
    field.clear().await.expect("the field clears");
    field.send_keys(text).await.expect("the field takes text");
}

#[tokio::test]
async fn the_console_works_in_a_browser() {
    let app = spawn_app().await;
    let (mut driver, webdriver) = start_chromedriver().await;
    let client = open_browser(&webdriver).await;

    // The scenario runs as a task so a failed assertion still closes the browser below.
    let scenario = tokio::spawn(use_every_tab(client.clone(), app.url("/")));
    let outcome = scenario.await;
    let _ = client.close().await;
    let _ = driver.kill().await;
    match outcome {
        Ok(screenshots) => {
            println!("console screenshots:");
            for path in &screenshots {
                assert_png(path);
                println!("  {}", path.display());
            }
        }
        Err(failure) => std::panic::resume_unwind(failure.into_panic()),
    }
}

async fn use_every_tab(client: Client, page: String) -> Vec<PathBuf> {
    client.goto(&page).await.expect("the console loads");
    wait_until(
        &client,
        "document.body.dataset.ready === 'true'",
        Duration::from_secs(10),
        "the console starts",
    )
    .await;
    assert_eq!(
        eval(&client, "return document.title;").await,
        "Console ARAS"
    );
    assert_no_console_errors(&client, "on load").await;

    // Recommendation: a vehicle picked from the catalog list, a French review.
    let vehicle = 7;
    assert!(vehicle <= TEST_CATALOG_SIZE);
    let option = format!("#reco-vehicle-select option[value='{vehicle}']");
    wait_until(
        &client,
        &format!("document.querySelector(\"{option}\") !== null"),
        Duration::from_secs(20),
        "the vehicle list shows the catalog",
    )
    .await;
    client
        .find(Locator::Css("#reco-vehicle-select"))
        .await
        .expect("the vehicle list")
        .select_by_value(&vehicle.to_string())
        .await
        .expect("a vehicle can be picked");
    assert_eq!(
        eval(
            &client,
            "return document.getElementById('reco-product').value;"
        )
        .await,
        vehicle.to_string(),
        "picking a vehicle fills its id"
    );
    // A client id of its own: no other test's cached answer is served to it.
    type_into(&client, "#reco-client", "770001").await;
    type_into(
        &client,
        "#reco-review",
        "Excellent véhicule, très confortable et fiable, je le recommande vivement !",
    )
    .await;
    click(&client, "#reco-submit").await;
    wait_until(
        &client,
        "document.querySelectorAll('[data-testid=reco-item]').length >= 1 \
         && document.getElementById('sentiment-value').dataset.value !== undefined",
        Duration::from_mins(1),
        "a review produces recommendations and a sentiment",
    )
    .await;
    let shown = eval(
        &client,
        "return { items: Array.from(document.querySelectorAll('[data-testid=reco-item]')).map(e => Number(e.dataset.vehicleId)), \
                  sentiment: Number(document.getElementById('sentiment-value').dataset.value), \
                  label: document.getElementById('sentiment-label').textContent, \
                  cached: document.getElementById('reco-cache').dataset.cached, \
                  stages: Array.from(document.querySelectorAll('#reco-timings dt')).map(d => d.textContent), \
                  error: !document.getElementById('reco-error').hidden };",
    )
    .await;
    let items = shown["items"].as_array().expect("item ids");
    assert!(!items.is_empty(), "{shown}");
    assert!(
        items
            .iter()
            .all(|id| id.as_i64().is_some_and(|id| id >= 1 && id != vehicle)),
        "recommendations are other catalog vehicles: {shown}"
    );
    let sentiment = shown["sentiment"].as_f64().expect("a sentiment score");
    assert!((-1.0..=1.0).contains(&sentiment), "{shown}");
    assert_eq!(shown["label"], "positif", "a glowing review: {shown}");
    assert!(
        shown["cached"] == "false" || shown["cached"] == "true",
        "{shown}"
    );
    assert_eq!(shown["error"], false, "{shown}");
    // The "Temps" card shows the answer's own stages: the lookup always, the models on a miss.
    let stages = shown["stages"].as_array().expect("the timings' terms");
    let has = |term: &str| stages.iter().any(|t| t == term);
    assert!(has("· cache (recherche)"), "{shown}");
    assert_eq!(
        has("· recherche vectorielle") && has("· sentiment"),
        shown["cached"] == "false",
        "{shown}"
    );
    let mut screenshots = vec![screenshot(&client, "recommendation.png").await];

    // Dispatch: the seed example, prefilled.
    click(&client, "#tab-dispatch").await;
    click(&client, "#dispatch-submit").await;
    wait_until(
        &client,
        "document.querySelectorAll('[data-testid=ranked-item]').length >= 1",
        Duration::from_secs(30),
        "the seed example is ranked",
    )
    .await;
    let drawn = eval(
        &client,
        "const markers = Array.from(document.querySelectorAll('#dispatch-map [data-testid=courier-marker]')); \
         return { ranked: Array.from(document.querySelectorAll('[data-testid=ranked-item]')).map(e => e.dataset.livreurId), \
                  eligible: markers.filter(m => m.dataset.status === 'eligible').map(m => m.dataset.livreurId).sort(), \
                  rejected: markers.filter(m => m.dataset.status === 'rejected').length, \
                  ellipse: (document.querySelector('#dispatch-map path[data-testid=ellipse]') || { getAttribute: () => '' }).getAttribute('d'), \
                  pickup: document.querySelectorAll('#dispatch-map [data-testid=pickup-marker]').length, \
                  dropoff: document.querySelectorAll('#dispatch-map [data-testid=dropoff-marker]').length, \
                  weights: document.querySelectorAll('[data-testid=ahp-weight]').length, \
                  error: !document.getElementById('dispatch-error').hidden };",
    )
    .await;
    assert_eq!(
        drawn["ranked"],
        json!(["LIV-002", "LIV-001"]),
        "the seed's two couriers, ranked: {drawn}"
    );
    assert_eq!(drawn["eligible"], json!(["LIV-001", "LIV-002"]), "{drawn}");
    assert_eq!(drawn["rejected"], 0, "{drawn}");
    let ellipse = drawn["ellipse"].as_str().unwrap_or_default();
    assert!(
        ellipse.starts_with('M') && ellipse.ends_with('Z') && ellipse.matches('L').count() >= 100,
        "the ellipse is a closed polyline: {drawn}"
    );
    assert_eq!(
        (drawn["pickup"].as_u64(), drawn["dropoff"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(drawn["weights"], 4, "the four AHP weights: {drawn}");
    assert_eq!(drawn["error"], false, "{drawn}");
    screenshots.push(screenshot(&client, "dispatch.png").await);

    // Status: the dependencies' health and the tenant's figures (development: demo admin).
    click(&client, "#tab-status").await;
    wait_until(
        &client,
        "document.querySelectorAll('[data-testid=dep-row]').length >= 4 \
         && document.querySelectorAll('#stats-catalog dt').length > 0",
        Duration::from_secs(20),
        "the status tab shows the dependencies and the tenant",
    )
    .await;
    let status = eval(
        &client,
        "return Object.fromEntries(Array.from(document.querySelectorAll('[data-testid=dep-row]')).map(r => [r.dataset.name, r.dataset.status]));",
    )
    .await;
    for backend in ["ranking", "sentiment", "embedding", "recommender"] {
        assert_eq!(status[backend], "serving", "{backend}: {status}");
    }
    screenshots.push(screenshot(&client, "status.png").await);

    assert_no_console_errors(&client, "after every tab").await;

    // The API docs render under their Content-Security-Policy (no inline script allowed).
    client
        .goto(&format!("{page}docs/"))
        .await
        .expect("the docs load");
    wait_until(
        &client,
        "document.querySelector('.swagger-ui .info .title')?.textContent.includes('ARAS API') \
         && document.querySelectorAll('.opblock').length > 10",
        Duration::from_secs(20),
        "Swagger UI renders the API under its CSP",
    )
    .await;
    screenshots.push(screenshot(&client, "docs.png").await);
    screenshots
}
