"""A minimal Python inference server, the baseline the Rust sentiment service is compared with:
the same ONNX model and tokenizer, onnxruntime with the same thread count, the standard library's
threading HTTP server, one session.run per request (no batching).

  python python_reference_server.py MODEL_DIR PORT THREADS
  curl -X POST localhost:PORT/api/v1/sentiment/analyze -d '{"commentaire": "Super voiture"}'
"""
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

model_dir, port, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
options = ort.SessionOptions()
options.intra_op_num_threads = threads
session = ort.InferenceSession(os.path.join(model_dir, "model.onnx"), options, providers=["CPUExecutionProvider"])
tokenizer = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
tokenizer.no_padding()
labels = [v for _, v in sorted(json.load(open(os.path.join(model_dir, "config.json")))["id2label"].items(), key=lambda kv: int(kv[0]))]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as wrk expects

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        encoding = tokenizer.encode("query: " + body["commentaire"])
        logits = session.run(["logits"], {"input_ids": np.array([encoding.ids], np.int64),
                                          "attention_mask": np.array([encoding.attention_mask], np.int64)})[0][0]
        p = np.exp(logits - logits.max())
        p /= p.sum()
        score = float(p[labels.index("positive")] - p[labels.index("negative")])
        label = "positive" if score > 0.2 else "negative" if score < -0.2 else "neutral"
        out = json.dumps({"sentiment_score": score, "sentiment_label": label, "confidence": float(p.max()),
                          "probabilities": dict(zip(labels, map(float, p)))}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
