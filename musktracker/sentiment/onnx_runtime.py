"""ONNX export of a fine-tuned transformer and scoring with ONNX Runtime (CPU).

The export passes the inputs positionally in the order of the model's `forward` signature
and names them in that same order. The TorchScript exporter binds `input_names` to the
graph inputs positionally; naming them in the tokenizer's order (input_ids, token_type_ids,
attention_mask) swapped the mask and the token types of BERT, so every token was masked and
the graph predicted one class for everything.
"""

from __future__ import annotations

import inspect
import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from musktracker.sentiment.artifact import ModelMeta
from musktracker.sentiment.data import LABELS
from musktracker.sentiment.preprocess import preprocess_all
from musktracker.sentiment.transformer import TransformerModel


@contextmanager
def _quiet_export() -> Iterator[None]:
    """Hide the exporter's TracerWarnings and opset notes and the quantizer's log lines
    (about 46 lines on stderr per `predict`): expected for this graph, and noise in front
    of the answer. Errors still surface as exceptions."""
    loggers = [logging.getLogger(), logging.getLogger("onnxruntime")]
    levels = [logger.level for logger in loggers]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for logger in loggers:
            logger.setLevel(logging.ERROR)
        try:
            yield
        finally:
            for logger, level in zip(loggers, levels, strict=True):
                logger.setLevel(level)


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
    with _quiet_export(), torch.inference_mode():
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
    with _quiet_export():
        quantize_dynamic(
            str(path),
            str(quantized),
            weight_type=QuantType.QInt8,
            per_channel=True,
            reduce_range=True,
        )
    return quantized


class OnnxModel:
    """Scores texts like `TransformerModel.predict_proba`, with an ONNX Runtime session.

    `per_text`: one text per session run, whatever the batch size asked. The int8 graph
    quantizes its activations dynamically (DynamicQuantizeLinear takes one scale and zero
    point from the min and max of the whole input tensor), so in a batch a text's
    probabilities depend on the texts padded next to it: measured on 600 dev tweets, up to
    0.017 apart and 23 labels flipped between batches of 8 and single texts. Scored alone,
    a text always gets the same answer, which the prediction cache relies on. Measured cost
    (1 thread, 2-core Intel Xeon): 400-417 texts/s alone against 433-443 in batches of 8 (about
    6% less), and faster than batches of 64 (302-307)."""

    def __init__(
        self, path: Path, source: TransformerModel, threads: int = 1, per_text: bool = False
    ) -> None:
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
        self.per_text = per_text

    def save(self, directory: Path) -> None:
        """Saves the torch model it was exported from (the ONNX file is rebuilt on load)."""
        self.source.save(directory)

    def predict_proba(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """Probabilities per text, batched and sorted by length as in the torch model (one
        text per run when `per_text`)."""
        if self.per_text:
            batch_size = 1
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
