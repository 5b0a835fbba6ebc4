"""The shipped classifier on texts whose answer a user would notice if it were wrong."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nlp import ArtifactsError, Classification, Classifier, ClassifyInput, NLPSettings

FURIOUS = (
    "@AcmeHelp This is unacceptable. My order #123456 never arrived, you charged me twice and nobody "
    "answers. Worst service ever, I want a refund now!"
)
THANKS = "@AcmeHelp thank you so much, the replacement arrived today and it works perfectly. Great service!"
QUESTION = "@AcmeHelp what time does the store on Main Street open on Sundays?"


def test_furious_complaint_versus_thank_you(classifier: Classifier) -> None:
    furious, thanks = classifier.classify([ClassifyInput(FURIOUS), ClassifyInput(THANKS)])
    assert furious.sentiment == "negative"
    assert furious.complaint > 0.8
    assert furious.severity in {1, 2, 3, 4}
    assert furious.severity_label != "none"
    start = FURIOUS.index("123456")
    assert furious.entities == [{"label": "ORDER", "text": "123456", "start": start, "end": start + 6}]

    assert thanks.sentiment == "positive"
    assert thanks.complaint < 0.2
    assert (thanks.severity, thanks.severity_label) == (0, "none")
    assert thanks.tier == "low"
    assert furious.urgency > thanks.urgency + 30


def test_reach_raises_urgency_of_the_same_complaint(classifier: Classifier) -> None:
    tiny, big = classifier.classify([ClassifyInput(FURIOUS, followers=3), ClassifyInput(FURIOUS, 2_000_000)])
    assert big.urgency > tiny.urgency
    assert big.complaint == tiny.complaint  # reach changes urgency, never the text scores
    assert big.tier in {"critical", "high"}


def test_neutral_question_is_normal_or_low(classifier: Classifier) -> None:
    (result,) = classifier.classify([ClassifyInput(QUESTION, followers=800)])
    assert result.complaint < 0.5
    assert result.tier in {"normal", "low"}


def test_probabilities_and_json_shape(classifier: Classifier) -> None:
    (result,) = classifier.classify([ClassifyInput(FURIOUS)])
    assert isinstance(result, Classification)
    data = json.loads(json.dumps(result.to_json()))
    assert set(data) == {"sentiment", "sentiment_probs", "complaint", "severity", "severity_label"} | {
        "urgency", "tier", "entities",
    }  # fmt: skip
    assert set(data["sentiment_probs"]) == {"negative", "neutral", "positive"}
    assert sum(data["sentiment_probs"].values()) == pytest.approx(1.0, abs=1e-3)
    assert 0.0 <= data["complaint"] <= 1.0
    assert 0 <= data["urgency"] <= 100
    assert data["tier"] in {"critical", "high", "normal", "low"}


def test_batch_equals_one_by_one(classifier: Classifier) -> None:
    texts = [FURIOUS, THANKS, QUESTION, "ok"]
    batch = classifier.classify([ClassifyInput(t) for t in texts])
    single = [classifier.classify([ClassifyInput(t)])[0] for t in texts]
    for a, b in zip(batch, single, strict=True):
        assert a.sentiment == b.sentiment and a.tier == b.tier
        assert a.complaint == pytest.approx(b.complaint, abs=1e-3)


def test_one_encoder_pass_per_batch(classifier: Classifier, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = classifier.encoder.embed

    def spy(texts, progress=None):  # type: ignore[no-untyped-def]
        calls.append(len(texts))
        return real(texts, progress)

    monkeypatch.setattr(classifier.encoder, "embed", spy)
    classifier.classify([ClassifyInput(t) for t in (FURIOUS, THANKS, QUESTION)])
    assert calls == [3]


def test_awkward_inputs_do_not_crash(classifier: Classifier) -> None:
    texts = [
        "",
        "   \n\t ",
        "<div><script>alert('x')</script><b>bold</b> &amp; &lt;tag&gt;</div>",
        "\ud83d lone surrogate, zalgo t̷̢̛e̷x̸t, RTL \u202eabc, zero\u200bwidth, emoji 😡🔥👍🏽, ﷽, 中文",
        "order #123456 " + "spam " * 20_000,  # ~100k characters
        "\x00\x01\x02",
    ]
    results = classifier.classify([ClassifyInput(t, followers=-5) for t in texts])
    assert len(results) == len(texts)
    for r in results:
        json.dumps(r.to_json(), ensure_ascii=False).encode("utf-8")
    assert [e["text"] for e in results[4].entities] == ["123456"]
    assert classifier.classify([]) == []


def test_embed_gives_unit_vectors(classifier: Classifier) -> None:
    vectors = classifier.embed(["hello", "", "my order is late"])
    assert vectors.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert classifier.embed([]).shape == (0, 384)


def test_missing_artifacts_name_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ArtifactsError, match="make train"):
        Classifier.load(NLPSettings(artifacts_dir=tmp_path))


def test_import_is_cheap() -> None:
    code = (
        "import sys, nlp; nlp.NLPSettings; nlp.ClassifyInput; nlp.Classifier; nlp.next_batch; "
        "print(sorted(m for m in ('torch', 'transformers', 'spacy', 'sklearn') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_artifacts_are_small_and_described() -> None:
    art = Path(__file__).resolve().parents[2] / "nlp" / "artifacts"
    assert sum(p.stat().st_size for p in art.iterdir()) < 10 * 1024 * 1024
    meta = json.loads((art / "meta.json").read_text())
    assert meta["labels"]["severity"] == ["No explicit reproach", "Disapproval", "Accusation", "Blame"]
    assert len(meta["split"]["held_out_ids"]) == 690


def test_heads_from_another_encoder_are_flagged(
    classifier: Classifier, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    probe = dict(classifier.meta["encoder_probe"])
    probe["embedding"] = [-v for v in probe["embedding"]]  # what a different encoder would have produced
    monkeypatch.setitem(classifier.meta, "encoder_probe", probe)
    with pytest.warns(RuntimeWarning, match="retrained"):
        classifier._check_probe(tmp_path)
