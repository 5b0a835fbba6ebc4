"""`nlp.sentiment_model` switches sentiment to a hub-style sequence classifier; tested with a tiny one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nlp import ArtifactsError, Classifier, ClassifyInput, NLPSettings
from nlp.hub import label_order

TEXTS = ["@AcmeHelp my parcel is lost again, furious", "love the new app!", "what time do you open?"]


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer BERT sentiment classifier with random weights, saved the way the hub serves models."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from nlp.encoder import packaged_encoder_path

    path = tmp_path_factory.mktemp("tiny-sentiment")
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        num_labels=3, id2label={0: "Positive", 1: "Negative", 2: "Neutral"},  # not in earful's order
        label2id={"Positive": 0, "Negative": 1, "Neutral": 2},
    )  # fmt: skip
    model = BertForSequenceClassification(config)
    with torch.no_grad():  # make its opinions strong enough that the order matters
        model.classifier.weight.mul_(50)
    model.save_pretrained(path)
    AutoTokenizer.from_pretrained(packaged_encoder_path()).save_pretrained(path)
    return path


def test_sentiment_comes_from_the_configured_model(classifier: Classifier, tiny_model_dir: Path) -> None:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    hub = Classifier.load(NLPSettings(sentiment_model=str(tiny_model_dir)))
    assert hub.sentiment_model is not None and hub.sentiment_model.name == str(tiny_model_dir)
    results = hub.classify([ClassifyInput(t) for t in TEXTS])

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir).eval()
    with torch.no_grad():
        normalised = [hub.normalize(t) for t in TEXTS]
        probs = torch.softmax(
            model(**tokenizer(normalised, padding=True, return_tensors="pt")).logits, -1
        ).numpy()
    expected = probs[:, [1, 2, 0]]  # the tiny model's (Positive, Negative, Neutral) -> earful's order
    got = np.array([[r.sentiment_probs[k] for k in ("negative", "neutral", "positive")] for r in results])
    assert np.allclose(got, expected, atol=1e-3)
    assert [r.sentiment for r in results] == [
        ("negative", "neutral", "positive")[i] for i in expected.argmax(1)
    ]

    # complaint and severity still come from earful's own model
    own = classifier.classify([ClassifyInput(t) for t in TEXTS])
    assert [r.complaint for r in results] == pytest.approx([r.complaint for r in own], abs=1e-3)


def test_label_mapping() -> None:
    assert label_order({0: "negative", 1: "neutral", 2: "positive"}) == [0, 1, 2]
    assert label_order({0: "POS", 1: "NEG", 2: "NEU"}) == [1, 2, 0]
    assert label_order({0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"}) == [0, 1, 2]  # cardiffnlp convention
    with pytest.raises(ArtifactsError, match="3 labels"):
        label_order({0: "toxic", 1: "ok"})
    with pytest.raises(ArtifactsError, match="cannot tell"):
        label_order({0: "joy", 1: "anger", 2: "fear"})


def test_missing_hub_model_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ArtifactsError, match="HF_HUB_OFFLINE=0"):
        Classifier.load(NLPSettings(sentiment_model=str(tmp_path / "no-such-model")))
