//! `/api/v1/embeddings` through the gateway and the real embedding service and model.

use serde_json::{Value, json};

use crate::helpers::{assert_problem, models_dir, spawn_app};

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

async fn embed(app: &crate::helpers::TestApp, input: Value, input_type: &str) -> Vec<Vec<f64>> {
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
    assert_eq!(body["model"], "multilingual-e5-small");
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

#[tokio::test]
async fn vectors_match_an_independent_python_reference() {
    let app = spawn_app().await;
    let path = models_dir().join("multilingual-e5-small/reference_embeddings.json");
    let reference: Value = serde_json::from_slice(
        &std::fs::read(&path).expect("scripts/build-models writes the reference"),
    )
    .unwrap();
    assert_eq!(reference["prefix"], "query: ");
    let got = embed(&app, reference["sentences"].clone(), "query").await;
    let expected: Vec<Vec<f64>> = serde_json::from_value(reference["embeddings"].clone()).unwrap();
    for ((sentence, got), expected) in reference["sentences"]
        .as_array()
        .unwrap()
        .iter()
        .zip(&got)
        .zip(&expected)
    {
        let c = cosine(got, expected);
        assert!(c >= 0.9999, "cosine {c} for {sentence}");
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

#[tokio::test]
async fn concurrent_requests_are_batched_together() {
    let app = spawn_app().await;
    let requests = (0..24).map(|i| {
        let app = &app;
        async move {
            app.post_json(
                EMBEDDINGS,
                &json!({ "input": format!("requête concurrente numéro {i}") }),
            )
            .await
            .0
        }
    });
    let statuses = futures_util::future::join_all(requests).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    let metrics = app.get_text("/metrics").await;
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
