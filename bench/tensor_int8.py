"""The int8 recipe the local model used before per-row quantisation, for section 8's before/after.

ONNX Runtime's dynamic quantisation: per-channel 8-bit weights for the six layers' linear maps,
activations scaled per tensor at each call (the batch included, hence vectors that move with
their batch peers), the attention products left in float32. Built here, in the benchmark only,
from the float32 graph the product writes.
"""

import logging
import tempfile
from pathlib import Path

from knowledge_core.embeddings.onnx_model import OnnxSentenceModel, prepared_model


def tensor_int8_model(cache_dir: Path, threads: int) -> OnnxSentenceModel:
    """The product's model class, its session swapped for the per-tensor int8 graph."""
    import onnx
    import onnxruntime
    from onnxruntime.quantization import QuantType, quantize_dynamic

    path = cache_dir / "bench-tensor-int8.onnx"
    if not path.exists():
        float_path = prepared_model(cache_dir, "float32")
        graph = onnx.load(str(float_path))
        weights = {tensor.name for tensor in graph.graph.initializer}
        activation_products = [
            node.name
            for node in graph.graph.node
            if node.op_type == "MatMul" and not any(name in weights for name in node.input)
        ]
        with tempfile.TemporaryDirectory() as folder:
            target = Path(folder, "int8.onnx")
            logging.disable(logging.WARNING)  # a line per tensor on the root logger
            try:
                quantize_dynamic(
                    float_path,
                    target,
                    weight_type=QuantType.QInt8,
                    per_channel=True,
                    op_types_to_quantize=["MatMul"],
                    nodes_to_exclude=activation_products,
                )
            finally:
                logging.disable(logging.NOTSET)
            path.write_bytes(target.read_bytes())
    model = OnnxSentenceModel(cache_dir, "float32", threads)
    model.session = onnxruntime.InferenceSession(
        str(path), model.session.get_session_options(), providers=["CPUExecutionProvider"]
    )
    return model
