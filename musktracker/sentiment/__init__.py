"""Sentiment: preprocessing, classic and transformer models, evaluation, MLflow tracking and
registry, cached inference, labelled samples and self-triggering retraining."""
