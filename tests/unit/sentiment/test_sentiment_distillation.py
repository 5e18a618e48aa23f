from pathlib import Path

import pytest
import torch

from musktracker.sentiment.data import read_labelled
from musktracker.sentiment.distillation import (
    RAMP_SHARE,
    MeanTeacher,
    distillation_loss,
    distillation_weight,
)
from musktracker.sentiment.transformer import TrainConfig, fine_tune, load_base


def test_teacher_moves_a_decay_share_towards_the_student(tiny_base_model: Path):
    student = load_base(str(tiny_base_model), 64).model
    teacher = MeanTeacher(student, decay=0.9)
    head = dict(student.named_parameters())["classifier.weight"]
    before = head.detach().clone()
    with torch.no_grad():
        head.add_(1.0)
    teacher.follow(student)
    expected = 0.9 * before + 0.1 * (before + 1.0)
    assert torch.allclose(dict(teacher.model.named_parameters())["classifier.weight"], expected)
    assert not teacher.model.training
    assert not any(p.requires_grad for p in teacher.model.parameters())
    assert head.requires_grad  # the student still trains


def test_distillation_weight_ramps_then_holds():
    total = 1000
    ramp_end = int(RAMP_SHARE * total)
    assert distillation_weight(0.5, 1, total) == pytest.approx(0.5 / ramp_end)
    assert distillation_weight(0.5, ramp_end // 2, total) == pytest.approx(0.25)
    assert distillation_weight(0.5, ramp_end, total) == pytest.approx(0.5)
    assert distillation_weight(0.5, total, total) == pytest.approx(0.5)


def test_distillation_loss_is_cross_entropy_against_the_teacher():
    logits = torch.tensor([[2.0, 0.5, -1.0], [0.0, 1.0, 3.0]])
    one_hot = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    hard = torch.nn.functional.cross_entropy(logits, torch.tensor([0, 2]))
    assert distillation_loss(logits, one_hot) == pytest.approx(float(hard))
    soft = torch.softmax(logits, dim=1)
    shifted = torch.softmax(logits.flip(1), dim=1)
    assert distillation_loss(logits, soft) < distillation_loss(logits, shifted)


def test_self_distillation_changes_what_the_model_learns(
    tiny_base_model: Path, semeval_train: Path
):
    data = read_labelled(semeval_train).head(64)
    plain = TrainConfig(base_model=str(tiny_base_model), batch_size=16, learning_rate=1e-3)
    distilled = TrainConfig(
        base_model=str(tiny_base_model), batch_size=16, learning_rate=1e-3, self_distill=0.5
    )
    texts = ["I love it", "@user this is awful http", "ok"]
    first = fine_tune(data, plain).predict_proba(texts)
    again = fine_tune(data, plain).predict_proba(texts)
    taught = fine_tune(data, distilled).predict_proba(texts)
    assert (first == again).all()  # same seed, same model: the difference below is the teacher
    assert abs(first - taught).max() > 1e-4
    assert distilled.expected_seconds(1000, 6)[0] > plain.expected_seconds(1000, 6)[0]
