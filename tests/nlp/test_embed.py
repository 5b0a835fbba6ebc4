"""Classifier.embed: the vectors near-duplicate detection compares (responders/incidents.py)."""

from __future__ import annotations

import numpy as np

from nlp import Classifier, ClassifyInput


def test_one_unit_vector_per_text(classifier: Classifier) -> None:
    vectors = classifier.embed(["my order never arrived", "love the new update", "my order never arrived"])
    assert vectors.shape == (3, classifier.encoder.dim) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(vectors[0], vectors[2])
    assert classifier.embed([]).shape == (0, classifier.encoder.dim)


def test_it_is_the_mean_pooled_encoder_state_of_the_normalised_text(classifier: Classifier) -> None:
    text = "@acme my parcel 4411 never came https://t.co/xyz"
    [encoded] = classifier.encoder.encode([classifier.normalize(text)])
    pooled = encoded.states.mean(axis=0)
    assert np.allclose(classifier.embed([text])[0], pooled / np.linalg.norm(pooled), atol=1e-5)
    # Handles and links are normalised away, as for classification: two customers, one complaint.
    assert np.array_equal(
        classifier.embed(["@bob_1 my parcel never came http://a.co/1"]),
        classifier.embed(["@alice my parcel never came http://b.co/2"]),
    )


def test_a_text_classified_recently_is_embedded_without_a_forward_pass(classifier: Classifier) -> None:
    texts = ["the checkout page keeps timing out", "refund still not here after 3 weeks"]
    classified = classifier.classify([ClassifyInput(text=t) for t in texts])
    hits = classifier.cache_hits
    vectors = classifier.embed(texts)
    assert classifier.cache_hits == hits + len(texts)
    assert len(classified) == len(vectors) == 2


def test_paraphrases_are_closer_than_different_complaints(classifier: Classifier) -> None:
    a, b, c = classifier.embed(
        [
            "the app crashes every time I open it",
            "your app keeps crashing as soon as I launch it",
            "I was charged twice for one order",
        ]
    )
    assert float(a @ b) > 0.85 > float(a @ c)
