"""ONNX export of a fine-tuned transformer and scoring with ONNX Runtime (CPU).

The export passes the inputs positionally in the order of the model's `forward` signature
and names them in that same order. The TorchScript exporter binds `input_names` to the
graph inputs positionally; naming them in the tokenizer's order (input_ids, token_type_ids,
attention_mask) swapped the mask and the token types of BERT, so every token was masked and
the graph predicted one class for everything.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np
import torch

from musktracker.sentiment.artifact import ModelMeta
from musktracker.sentiment.data import LABELS
from musktracker.sentiment.preprocess import preprocess_all
from musktracker.sentiment.transformer import TransformerModel


def export_onnx(model: TransformerModel, path: Path, int8: bool = False) -> Path:
    """Write `model` as ONNX with dynamic batch and length; `int8` adds ONNX Runtime's
    dynamic int8 quantization of the weights (a second file, `<name>.int8.onnx`).

    The weights get one scale per output channel and 7 bits (`reduce_range`): on x86 CPUs
    without VNNI (the AMD EPYC measured) the u8 x s8 products of full 8-bit weights can
    saturate. Measured there on three fine-tuned models, per-tensor 8-bit weights lost up to
    0.69 points of dev macro recall and these at most 0.34; on a CPU with VNNI the 7 bits
    cost nothing (docs/MODELS.md)."""
    sample = model.encode(["an example text"])
    order = [name for name in inspect.signature(model.model.forward).parameters if name in sample]
    axes: dict[str, dict[int, str]] = {name: {0: "batch", 1: "length"} for name in order}
    model.model.eval()  # type: ignore[no-untyped-call]
    with torch.inference_mode():
        torch.onnx.export(
            model.model,
            tuple(sample[name] for name in order),
            str(path),
            input_names=order,
            output_names=["logits"],
            dynamic_axes={**axes, "logits": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )
    if not int8:
        return path
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantized = path.with_suffix(".int8.onnx")
    quantize_dynamic(
        str(path),
        str(quantized),
        weight_type=QuantType.QInt8,
        per_channel=True,
        reduce_range=True,
    )
    return quantized


class OnnxModel:
    """Scores texts like `TransformerModel.predict_proba`, with an ONNX Runtime session."""

    def __init__(self, path: Path, source: TransformerModel, threads: int = 1) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(
            str(path), options, providers=["CPUExecutionProvider"]
        )
        self.inputs = {i.name for i in self.session.get_inputs()}
        self.source = source
        self.tokenizer = source.tokenizer
        self.meta: ModelMeta = source.meta

    def save(self, directory: Path) -> None:
        """Saves the torch model it was exported from (the ONNX file is rebuilt on load)."""
        self.source.save(directory)

    def predict_proba(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """Probabilities per text, batched and sorted by length as in the torch model."""
        clean = preprocess_all(texts, self.meta.preprocess_config())
        order = sorted(range(len(clean)), key=lambda i: len(clean[i]))
        result = np.zeros((len(clean), len(LABELS)))
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            encoded = self.tokenizer(
                [clean[i] for i in chunk],
                padding=True,
                truncation=True,
                max_length=self.meta.max_length,
                return_tensors="np",
            )
            feeds = {k: v.astype(np.int64) for k, v in encoded.items() if k in self.inputs}
            logits = self.session.run(["logits"], feeds)[0]
            exp = np.exp(logits - logits.max(axis=1, keepdims=True))
            result[chunk] = exp / exp.sum(axis=1, keepdims=True)
        return result
