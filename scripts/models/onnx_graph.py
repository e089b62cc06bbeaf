"""Builds a BERT-family encoder as one ONNX graph straight from weights, with the `onnx` helper
API (no torch): inputs `input_ids`, `attention_mask` (int64, [batch, sequence]); output either
`sentence_embedding` (masked mean pooling + L2 normalisation, [batch, hidden]) or, with a linear
head on that embedding, `logits` ([batch, labels]) — the contract of a Hugging Face
sentence-transformer / sequence-classification export.
"""
import json
import math

import numpy as np
from onnx import TensorProto as TP
from onnx import helper as oh
from onnx import numpy_helper as onh


def build(weights, cfg, head=None, opset=17):
    """weights: Hugging Face BERT/XLM-R parameter names -> arrays; head: {"W": [C,H], "b": [C], "labels": [...]}."""
    hidden = cfg["hidden_size"]
    heads = cfg["num_attention_heads"]
    head_dim = hidden // heads
    eps = cfg.get("layer_norm_eps", 1e-12)
    nodes, inits = [], []

    def init(name, arr):
        inits.append(onh.from_array(np.ascontiguousarray(arr), name))
        return name

    def node(op, ins, outs=None, **kw):
        outs = outs or [f"{op}_{len(nodes)}"]
        nodes.append(oh.make_node(op, ins, outs, name=f"n{len(nodes)}_{op}", **kw))
        return outs[0]

    w = weights
    init("one_f", np.array(1.0, np.float32))
    init("neg_big", np.array(-1e9, np.float32))
    init("half", np.array(0.5, np.float32))
    init("inv_sqrt2", np.array(1 / math.sqrt(2), np.float32))
    init("scale", np.array(1 / math.sqrt(head_dim), np.float32))
    init("shape_heads", np.array([0, 0, heads, head_dim], np.int64))
    init("shape_merge", np.array([0, 0, hidden], np.int64))
    init("axis_1", np.array([1], np.int64))
    init("axes_12", np.array([1, 2], np.int64))
    init("axis_last", np.array([-1], np.int64))
    init("zero_1d", np.array([0], np.int64))

    # Embeddings: positions 0..L-1 by slicing the table with 1-D bounds (a scalar Range+Gather
    # trips an ONNX Runtime graph rewrite).
    word = node("Gather", [init("word_emb", w["embeddings.word_embeddings.weight"]), "input_ids"])
    seq_len = node("Shape", ["input_ids"], start=1, end=2)
    pos = node("Slice", [init("pos_emb", w["embeddings.position_embeddings.weight"]), "zero_1d", seq_len, "zero_1d"])
    segment = init("type_emb0", w["embeddings.token_type_embeddings.weight"][0])
    x = node("Add", [node("Add", [word, pos]), segment])
    x = node("LayerNormalization", [x, init("emb_ln_g", w["embeddings.LayerNorm.weight"]),
                                    init("emb_ln_b", w["embeddings.LayerNorm.bias"])], axis=-1, epsilon=eps)

    mask_f = node("Cast", ["attention_mask"], to=TP.FLOAT)
    mask_bias = node("Unsqueeze", [node("Mul", [node("Sub", ["one_f", mask_f]), "neg_big"]), "axes_12"])

    def linear(t, p):
        return node("Add", [node("MatMul", [t, init(p + ".wT", w[p + ".weight"].T)]), init(p + ".b", w[p + ".bias"])])

    def layer_norm(t, p):
        return node("LayerNormalization", [t, init(p + "ln.g", w[p + "LayerNorm.weight"]),
                                           init(p + "ln.b", w[p + "LayerNorm.bias"])], axis=-1, epsilon=eps)

    for i in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        q = node("Transpose", [node("Reshape", [linear(x, p + "attention.self.query"), "shape_heads"])], perm=[0, 2, 1, 3])
        k = node("Transpose", [node("Reshape", [linear(x, p + "attention.self.key"), "shape_heads"])], perm=[0, 2, 3, 1])
        v = node("Transpose", [node("Reshape", [linear(x, p + "attention.self.value"), "shape_heads"])], perm=[0, 2, 1, 3])
        scores = node("Add", [node("Mul", [node("MatMul", [q, k]), "scale"]), mask_bias])
        probs = node("Softmax", [scores], axis=-1)
        ctx = node("Reshape", [node("Transpose", [node("MatMul", [probs, v])], perm=[0, 2, 1, 3]), "shape_merge"])
        a = node("Add", [x, linear(ctx, p + "attention.output.dense")])
        a = layer_norm(a, p + "attention.output.")
        h = linear(a, p + "intermediate.dense")
        gelu = node("Mul", [node("Mul", [h, "half"]), node("Add", [node("Erf", [node("Mul", [h, "inv_sqrt2"])]), "one_f"])])
        o = node("Add", [a, linear(gelu, p + "output.dense")])
        x = layer_norm(o, p + "output.")

    # Masked mean pooling, then L2 normalisation.
    mask_3d = node("Unsqueeze", [mask_f, "axis_last"])
    summed = node("ReduceSum", [node("Mul", [x, mask_3d]), "axis_1"], keepdims=0)
    init("eps9", np.array(1e-9, np.float32))
    init("eps12", np.array(1e-12, np.float32))
    count = node("Max", [node("ReduceSum", [mask_3d, "axis_1"], keepdims=0), "eps9"])
    mean = node("Div", [summed, count])
    norm = node("Max", [node("ReduceL2", [mean], axes=[-1], keepdims=1), "eps12"])
    inputs = [oh.make_tensor_value_info(n, TP.INT64, ["batch", "sequence"]) for n in ("input_ids", "attention_mask")]
    if head is None:
        node("Div", [mean, norm], ["sentence_embedding"])
        outputs = [oh.make_tensor_value_info("sentence_embedding", TP.FLOAT, ["batch", hidden])]
    else:
        embedding = node("Div", [mean, norm])
        weight, bias = head["W"].astype(np.float32), head["b"].astype(np.float32)
        node("Add", [node("MatMul", [embedding, init("head.wT", weight.T)]), init("head.b", bias)], ["logits"])
        outputs = [oh.make_tensor_value_info("logits", TP.FLOAT, ["batch", weight.shape[0]])]

    used = {i for n in nodes for i in n.input}
    graph = oh.make_graph(nodes, "encoder", inputs, outputs, [t for t in inits if t.name in used])
    model = oh.make_model(graph, opset_imports=[oh.make_opsetid("", opset)], producer_name="aras-build-models")
    model.ir_version = 8
    if head is not None:
        oh.set_model_props(model, {"id2label": json.dumps(dict(enumerate(head["labels"])))})
    return model
