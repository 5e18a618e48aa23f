import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from musktracker.sentiment.artifact import Runtime, load_model
from musktracker.sentiment.data import read_labelled
from musktracker.sentiment.transformer import load_base

pytest.importorskip("onnxruntime")


@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_onnx_export_scores_like_torch(
    tiny_base_model: Path, semeval_dev: Path, tmp_path: Path, pooling: str
):
    """The exported graph must see the real attention mask: with the mask and token types
    swapped (the old export) every text got the same probabilities."""
    from musktracker.sentiment.onnx_runtime import OnnxModel, export_onnx

    model = load_base(str(tiny_base_model), 64, pooling=pooling)  # type: ignore[arg-type]
    torch.manual_seed(0)
    head: Any = model.model.classifier
    torch.nn.init.normal_(head.weight, std=1.0)  # texts clearly differ
    texts = read_labelled(semeval_dev).texts[:40]
    reference = model.predict_proba(texts, batch_size=16)
    onnx = OnnxModel(export_onnx(model, tmp_path / "model.onnx"), model)
    probabilities = onnx.predict_proba(texts, batch_size=16)
    assert np.allclose(probabilities, reference, rtol=0, atol=1e-5)
    assert np.ptp(probabilities, axis=0).min() > 0.5 * np.ptp(reference, axis=0).min() > 0
    # int8 accuracy is measured on the real model by benchmarks/sentiment.py; here it runs
    int8 = OnnxModel(export_onnx(model, tmp_path / "model.onnx", int8=True), model)
    assert np.allclose(int8.predict_proba(texts).sum(axis=1), 1.0)


def test_int8_weights_are_7_bit_with_a_scale_per_channel(tiny_base_model: Path, tmp_path: Path):
    """Per-tensor full-range int8 weights lost up to 0.69 points of dev macro recall on this
    non-VNNI CPU; 7-bit weights with one scale per output channel at most 0.34."""
    import onnx
    from onnx import numpy_helper

    from musktracker.sentiment.onnx_runtime import export_onnx

    model = load_base(str(tiny_base_model), 64)
    graph = onnx.load(str(export_onnx(model, tmp_path / "model.onnx", int8=True))).graph
    initializers = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    matmuls = [n for n in graph.node if n.op_type == "MatMulInteger"]
    assert matmuls
    for node in matmuls:
        weights = initializers[node.input[1]]
        scale = initializers[node.input[1].replace("_quantized", "_scale")]
        assert weights.dtype == np.int8 and np.abs(weights.astype(int)).max() <= 64  # 7 bits
        assert scale.shape == (weights.shape[1],)  # one scale per output column


@pytest.mark.parametrize("runtime", ["torch", "torch-int8", "onnx", "onnx-int8"])
def test_every_serving_runtime_loads_a_saved_model(
    tiny_base_model: Path, tmp_path: Path, runtime: Runtime
):
    model = load_base(str(tiny_base_model), 64)
    model.save(tmp_path / "model")
    served = load_model(tmp_path / "model", runtime=runtime)
    onnx = runtime.startswith("onnx")
    assert type(served).__name__ == ("OnnxModel" if onnx else "TransformerModel")
    texts = ["I love it", "this is awful", "ok"]
    probabilities = served.predict_proba(texts)
    assert probabilities.shape == (3, 3) and np.allclose(probabilities.sum(axis=1), 1.0)
    if runtime == "onnx":  # fp32 ONNX Runtime scores like fp32 torch
        reference = load_model(tmp_path / "model", runtime="torch").predict_proba(texts)
        assert np.allclose(probabilities, reference, rtol=0, atol=1e-5)


def test_onnx_runtime_leaves_no_exported_files(
    tiny_base_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    load_base(str(tiny_base_model), 64).save(tmp_path / "model")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    served = load_model(tmp_path / "model", runtime="onnx")
    assert list(scratch.iterdir()) == []  # the session holds the graph; the file is gone
    assert served.predict_proba(["still scores"]).shape == (1, 3)


def test_loading_the_int8_runtime_writes_nothing_to_stderr(
    tiny_base_model: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
):
    """Export and quantization used to print about 46 lines (weight-loading bar,
    TracerWarnings, opset notes, quantizer advice) in front of every `predict`."""
    load_base(str(tiny_base_model), 64).save(tmp_path / "model")
    capfd.readouterr()
    model = load_model(tmp_path / "model", 1, "onnx-int8")
    assert np.allclose(model.predict_proba(["what a launch"]).sum(axis=1), 1.0)
    assert capfd.readouterr().err == ""


def test_int8_scores_a_text_the_same_whatever_its_batch_companions(
    tiny_base_model: Path, semeval_dev: Path, tmp_path: Path
):
    """Dynamic int8 quantization takes one activation scale per run: in a batch, a text's
    probabilities depended on the texts next to it, and the cache froze whichever came
    first. The int8 runtime scores one text per run."""
    model = load_base(str(tiny_base_model), 64)
    torch.manual_seed(0)
    head: Any = model.model.classifier
    torch.nn.init.normal_(head.weight, std=1.0)
    model.save(tmp_path / "model")
    texts = read_labelled(semeval_dev).texts[:48]
    served = load_model(tmp_path / "model", 1, "onnx-int8")
    batched = served.predict_proba(texts, batch_size=16)
    alone = np.vstack([served.predict_proba([text], batch_size=16) for text in texts])
    assert np.array_equal(batched, alone)
