"""A BERT sequence classifier that reads the mean of the token states instead of [CLS].

Sentence-embedding checkpoints such as all-MiniLM-L6-v2 were trained through mean pooling;
their [CLS] state and BERT pooler were never trained for sentences, so the standard
`BertForSequenceClassification` head starts from a poor representation (see
docs/MODELS.md). The config and model are registered with the Auto classes under their own
`model_type`, so a saved model loads with `AutoModelForSequenceClassification.from_pretrained`
in any process that imported this module, and never silently as a [CLS] classifier.
"""

from __future__ import annotations

import torch
from transformers import (
    AutoConfig,
    AutoModelForSequenceClassification,
    BertConfig,
    BertModel,
    BertPreTrainedModel,
)
from transformers.modeling_outputs import SequenceClassifierOutput


class MeanPooledBertConfig(BertConfig):  # type: ignore[no-untyped-call]
    """BertConfig under its own model type (the architecture differs only in the head)."""

    model_type = "musktracker_mean_pooled_bert"


class MeanPooledBertForSequenceClassification(BertPreTrainedModel):  # type: ignore[no-untyped-call]
    """BERT encoder, masked mean over token states, dropout, one linear layer."""

    config_class = MeanPooledBertConfig

    def __init__(self, config: MeanPooledBertConfig) -> None:
        super().__init__(config)
        self.bert = BertModel(config, add_pooling_layer=False)
        dropout = config.classifier_dropout
        self.dropout = torch.nn.Dropout(config.hidden_dropout_prob if dropout is None else dropout)
        if config.num_labels is None:
            raise ValueError("MeanPooledBertConfig needs num_labels")
        self.classifier = torch.nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()  # type: ignore[no-untyped-call]

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
    ) -> SequenceClassifierOutput:
        states = self.bert(
            input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
        ).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(states.dtype)
        pooled = (states * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
        logits = self.classifier(self.dropout(pooled))
        loss = None if labels is None else torch.nn.functional.cross_entropy(logits, labels)
        return SequenceClassifierOutput(loss=loss, logits=logits)


AutoConfig.register(MeanPooledBertConfig.model_type, MeanPooledBertConfig)
AutoModelForSequenceClassification.register(
    MeanPooledBertConfig, MeanPooledBertForSequenceClassification
)
