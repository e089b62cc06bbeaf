//! Inference services refuse to start, with a message naming the culprit, when their model
//! files are missing or disagree with the manifest.

use std::path::{Path, PathBuf};

use aras_embedding::EmbeddingConfig;
use aras_sentiment::SentimentConfig;

use crate::helpers::models_dir;

/// A models directory under the system temp dir with `manifest` as models.toml and, for each
/// model id, links to the real files except those in `omit`.
fn models_copy(name: &str, manifest: &str, omit: &[&str]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("aras-test-models-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("models.toml"), manifest).unwrap();
    for id in [
        "multilingual-e5-small",
        "e5-small-sentiment-fr-en",
        "multilingual-e5-small-int8",
        "e5-small-sentiment-fr-en-int8",
    ] {
        let source = models_dir().join(id);
        std::fs::create_dir_all(dir.join(id)).unwrap();
        for file in ["model.onnx", "tokenizer.json", "config.json"] {
            if !omit.contains(&file) {
                std::os::unix::fs::symlink(source.join(file), dir.join(id).join(file)).unwrap();
            }
        }
    }
    dir
}

fn manifest() -> String {
    std::fs::read_to_string(models_dir().join("models.toml")).unwrap()
}

async fn sentiment_error(models: &Path) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let result = aras_sentiment::serve(
        SentimentConfig::for_tests(models),
        listener,
        std::future::pending(),
    )
    .await;
    format!(
        "{:#}",
        result.expect_err("the service must refuse to start")
    )
}

async fn embedding_error(models: &Path) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let result = aras_embedding::serve(
        EmbeddingConfig::for_tests(models),
        listener,
        std::future::pending(),
    )
    .await;
    format!(
        "{:#}",
        result.expect_err("the service must refuse to start")
    )
}

#[tokio::test]
async fn a_missing_file_is_named() {
    let dir = models_copy("missing", &manifest(), &["tokenizer.json"]);
    let error = sentiment_error(&dir).await;
    assert!(
        error.contains("e5-small-sentiment-fr-en/tokenizer.json is missing"),
        "{error}"
    );
    assert!(error.contains("scripts/build-models"), "{error}");
}

#[tokio::test]
async fn labels_that_differ_from_config_json_are_refused() {
    let changed = manifest().replace(
        r#"labels = ["negative", "neutral", "positive"]"#,
        r#"labels = ["neg", "neu", "pos"]"#,
    );
    let error = sentiment_error(&models_copy("labels", &changed, &[])).await;
    assert!(
        error.contains("config.json id2label is [\"negative\", \"neutral\", \"positive\"]"),
        "{error}"
    );
}

#[tokio::test]
async fn an_output_width_other_than_the_manifest_is_refused() {
    let changed = manifest().replace("dimension = 384", "dimension = 768");
    let error = embedding_error(&models_copy("width", &changed, &[])).await;
    assert!(
        error.contains("output `sentence_embedding` has width 384, the manifest says 768"),
        "{error}"
    );
}

#[tokio::test]
async fn an_output_name_the_graph_lacks_is_refused() {
    let changed = manifest().replace(
        r#"output = "sentence_embedding""#,
        r#"output = "pooler_output""#,
    );
    let error = embedding_error(&models_copy("output", &changed, &[])).await;
    assert!(error.contains("has no output `pooler_output`"), "{error}");
}

#[tokio::test]
async fn an_unknown_model_id_lists_the_known_ones() {
    let dir = models_copy("unknown", &manifest(), &[]);
    let mut config = SentimentConfig::for_tests(&dir);
    config.model = "nope".into();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let error = format!(
        "{:#}",
        aras_sentiment::serve(config, listener, std::future::pending())
            .await
            .unwrap_err()
    );
    assert!(
        error.contains("model `nope` is not in the manifest"),
        "{error}"
    );
    assert!(error.contains("e5-small-sentiment-fr-en"), "{error}");
}
