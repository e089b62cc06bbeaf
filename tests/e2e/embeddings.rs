//! `/api/v1/embeddings` through the gateway and the real embedding service and model.

use serde_json::{Value, json};

use aras_embedding::EmbeddingConfig;

use crate::helpers::{
    TestApp, assert_problem, gateway_config, models_dir, spawn_app, spawn_app_with,
};

const EMBEDDINGS: &str = "/api/v1/embeddings";

fn vectors(body: &Value) -> Vec<Vec<f64>> {
    body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            d["embedding"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect()
        })
        .collect()
}

fn cosine(a: &[f64], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
    dot / (norm(a) * norm(b))
}

async fn embed(app: &TestApp, input: Value, input_type: &str) -> Vec<Vec<f64>> {
    let (status, _, body) = app
        .post_json(
            EMBEDDINGS,
            &json!({ "input": input, "input_type": input_type }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    vectors(&body)
}

#[tokio::test]
async fn openai_shape_for_one_and_several_inputs() {
    let app = spawn_app().await;
    let (status, _, body) = app
        .post_json(
            EMBEDDINGS,
            &json!({ "input": "Citadine électrique", "model": "any" }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["object"], "list");
    assert_eq!(body["model"], "multilingual-e5-small-int8");
    assert_eq!(body["data"][0]["object"], "embedding");
    assert_eq!(body["data"][0]["index"], 0);
    let v = &vectors(&body)[0];
    assert_eq!(v.len(), 384);
    assert!(
        (v.iter().map(|x| x * x).sum::<f64>().sqrt() - 1.0).abs() < 1e-4,
        "unit length"
    );
    assert!(body["usage"]["prompt_tokens"].as_u64().unwrap() > 2);

    let (_, _, many) = app
        .post_json(
            EMBEDDINGS,
            &json!({ "input": ["un", "deux", "trois"], "input_type": "passage" }),
        )
        .await;
    let indexes: Vec<u64> = many["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["index"].as_u64().unwrap())
        .collect();
    assert_eq!(indexes, [0, 1, 2]);
}

fn reference(model: &str) -> Value {
    let path = models_dir().join(model).join("reference_embeddings.json");
    serde_json::from_slice(
        &std::fs::read(&path).expect("scripts/build-models writes the reference"),
    )
    .unwrap()
}

/// The default (int8) model's vectors match an independent Python run of the same model, and
/// stay within the quantisation bar of the fp32 model's.
#[tokio::test]
async fn vectors_match_an_independent_python_reference_and_the_fp32_model() {
    let app = spawn_app().await;
    let (own, fp32) = (
        reference("multilingual-e5-small-int8"),
        reference("multilingual-e5-small"),
    );
    assert_eq!(own["prefix"], "query: ");
    assert_eq!(own["sentences"], fp32["sentences"]);
    let got = embed(&app, own["sentences"].clone(), "query").await;
    let vectors =
        |r: &Value| -> Vec<Vec<f64>> { serde_json::from_value(r["embeddings"].clone()).unwrap() };
    for (((sentence, got), own), fp32) in own["sentences"]
        .as_array()
        .unwrap()
        .iter()
        .zip(&got)
        .zip(&vectors(&own))
        .zip(&vectors(&fp32))
    {
        let c = cosine(got, own);
        assert!(
            c >= 0.9999,
            "cosine {c} to the Python run of the same model for {sentence}"
        );
        let c = cosine(got, fp32);
        assert!(c >= 0.99, "cosine {c} to the fp32 model for {sentence}");
    }
}

#[tokio::test]
async fn paraphrases_are_closer_than_unrelated_sentences() {
    let app = spawn_app().await;
    for (anchor, paraphrase, unrelated) in [
        (
            "La voiture est très confortable et agréable à conduire.",
            "Ce véhicule est confortable et plaisant au volant.",
            "Le colis a été livré en retard à cause de la grève.",
        ),
        (
            "The car is very comfortable and pleasant to drive.",
            "This vehicle is comfortable and nice to drive.",
            "The parcel arrived late because of the strike.",
        ),
    ] {
        let v = embed(&app, json!([anchor, paraphrase, unrelated]), "query").await;
        let (close, far) = (cosine(&v[0], &v[1]), cosine(&v[0], &v[2]));
        assert!(
            close > far,
            "{anchor}: paraphrase {close} vs unrelated {far}"
        );
    }
}

#[tokio::test]
async fn a_text_embeds_the_same_alone_and_in_a_batch_of_32() {
    let app = spawn_app().await;
    let text = "Berline diesel de 2019, boîte manuelle, cinq places.";
    let alone = embed(&app, json!(text), "passage").await.remove(0);
    // Other lengths around it, so the batch is padded well beyond this text.
    let mut batch: Vec<String> = (0..31)
        .map(|i| format!("{} fin.", "mot ".repeat(1 + i * 3)))
        .collect();
    batch.insert(9, text.to_owned());
    let in_batch = embed(&app, json!(batch), "passage").await.remove(9);
    let worst = alone
        .iter()
        .zip(&in_batch)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    assert!(worst < 1e-5, "largest difference {worst}");
}

async fn embed_concurrently(app: &TestApp, texts: &[String]) -> Vec<Vec<f64>> {
    let requests = texts.iter().map(|text| async move {
        let request = json!({ "input": text, "input_type": "query" });
        let (status, _, body) = app.post_json(EMBEDDINGS, &request).await;
        assert_eq!(status, 200, "{body}");
        vectors(&body).remove(0)
    });
    futures_util::future::join_all(requests).await
}

/// A model that allows batching (the fp32 one) puts concurrent requests into shared batches.
#[tokio::test]
async fn concurrent_requests_share_batches_where_the_model_allows() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut config = EmbeddingConfig::for_tests(&models_dir());
    config.model = "multilingual-e5-small".into();
    tokio::spawn(aras_embedding::serve(
        config,
        listener,
        std::future::pending(),
    ));
    let mut gateway = gateway_config();
    gateway.embedding_url = format!("http://{addr}");
    let app = spawn_app_with(gateway).await;
    let texts: Vec<String> = (0..24)
        .map(|i| format!("requête concurrente numéro {i}"))
        .collect();
    embed_concurrently(&app, &texts).await;
    // Metrics are per process, shared with the int8 default; that one runs one text per pass,
    // so a batch of more than one is the fp32 service's.
    let metrics = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let largest_batch = metrics
        .lines()
        .find(|l| l.starts_with("embedding_batch_size{quantile=\"1\"}"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("embedding_batch_size in {metrics}"));
    assert!(
        largest_batch > 1.0,
        "24 concurrent requests never shared a batch"
    );
}

/// The int8 default runs one text per forward pass (its activations are scaled per batch): a
/// text's vector is the same whatever else the service runs at the time.
#[tokio::test]
async fn the_default_model_gives_a_text_the_same_vector_whatever_runs_beside_it() {
    let app = spawn_app().await;
    let texts: Vec<String> = (0..24)
        .map(|i| {
            format!(
                "Avis numéro {i} : {}",
                "très bonne voiture ".repeat(1 + i % 5)
            )
        })
        .collect();
    let together = embed_concurrently(&app, &texts).await;
    for (text, together) in texts.iter().zip(&together) {
        let alone = embed(&app, json!(text), "query").await.remove(0);
        let worst = alone
            .iter()
            .zip(together)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        assert!(worst < 1e-6, "largest difference {worst} for {text:?}");
    }
}

#[tokio::test]
async fn invalid_inputs_are_422() {
    let app = spawn_app().await;
    for (body, needle) in [
        (json!({ "input": [] }), "at least one text"),
        (json!({ "input": "" }), "texts[0]: the text is empty"),
        (
            json!({ "input": ["ok", "a".repeat(5001)] }),
            "texts[1]: the text has 5001 characters, more than the limit of 5000",
        ),
        (
            json!({ "input": vec!["x"; 65] }),
            "more than the maximum of 64",
        ),
        (
            json!({ "input": "ok", "input_type": "document" }),
            "unknown variant `document`",
        ),
        (
            json!({ "input": "ok", "encoding_format": "base64" }),
            "only `float`",
        ),
        (json!({ "input": 3 }), "did not match any variant"),
    ] {
        assert_problem(&app.post_json(EMBEDDINGS, &body).await, 422, needle);
    }
}
