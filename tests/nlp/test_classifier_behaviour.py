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
        "urgency", "tier", "entities", "explanation", "risks",
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


def test_each_distinct_text_is_encoded_once(classifier: Classifier, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[list[str]] = []
    real = classifier.encoder.encode

    def spy(texts):  # type: ignore[no-untyped-def]
        calls.append(list(texts))
        return real(texts)

    monkeypatch.setattr(classifier.encoder, "encode", spy)
    campaign = "@AcmeHelp boycott acme, they poisoned my dog #justiceforrex"
    first = classifier.classify([ClassifyInput(t) for t in (campaign, FURIOUS + " x", campaign, campaign)])
    assert len(calls) == 1 and len(calls[0]) == 2  # one encoder pass, the copy-paste campaign text once
    again = classifier.classify([ClassifyInput(campaign, followers=50_000)])
    assert len(calls) == 1  # seen before: answered without touching the encoder
    assert again[0].complaint == first[0].complaint
    assert again[0].urgency >= first[0].urgency  # reach still counts for the repeat


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
    assert sum(p.stat().st_size for p in art.iterdir()) <= 25 * 1024 * 1024
    meta = json.loads((art / "model.json").read_text())
    assert len(meta["split"]["held_out_ids"]) == 690
    assert not set(meta["split"]["held_out_ids"]) & set(meta["split"]["calibration_ids"])
    for task in ("sentiment", "complaint", "severity"):
        assert meta["calibration"][task]["temperature"] > 0


def test_adapters_for_another_encoder_are_refused(tmp_path: Path) -> None:
    from nlp.finetuned import save_model

    bogus = {"encoder.layer.0.attention.self.query.lora_a": np.zeros((4, 100), dtype=np.float32)}
    bogus["encoder.layer.0.attention.self.query.lora_b"] = np.zeros((384, 4), dtype=np.float32)
    heads = {f"{t}.{k}": np.zeros((384, n) if k == "W0" else n, dtype=np.float32)
             for t, n in (("sentiment", 3), ("complaint", 2), ("severity", 4)) for k in ("W0", "b0")}  # fmt: skip
    save_model(tmp_path, bogus, heads, {"calibration": {}})
    with pytest.raises(ArtifactsError, match="another encoder"):
        Classifier.load(NLPSettings(artifacts_dir=tmp_path))


def test_explanations_name_the_words_that_raised_urgency(classifier: Classifier) -> None:
    furious, thanks = classifier.classify([ClassifyInput(FURIOUS), ClassifyInput(THANKS)])
    assert 1 <= len(furious.explanation) <= 4
    lowered = FURIOUS.lower()
    for phrase in furious.explanation:
        assert phrase.lower() in lowered, phrase  # real words of the mention, not labels
    assert thanks.explanation == []  # nothing raised it


def test_risk_terms_raise_urgency_and_are_named(classifier: Classifier) -> None:
    base = "@AcmeHelp my new charger got really hot last night"
    plain, risky = classifier.classify([ClassifyInput(base), ClassifyInput(base + " and caught fire")])
    assert risky.risks == ["safety"] and plain.risks == []
    assert risky.urgency > plain.urgency
    assert any("fire" in p.lower() for p in risky.explanation)


def test_repeat_contact_and_vip_raise_the_same_complaint(classifier: Classifier) -> None:
    first, third, vip = classifier.classify(
        [
            ClassifyInput(FURIOUS),
            ClassifyInput(FURIOUS, prior_contacts=2),
            ClassifyInput(FURIOUS, customer_tier="VIP"),
        ]
    )
    assert third.urgency > first.urgency and vip.urgency > first.urgency
    assert third.complaint == first.complaint == vip.complaint


def test_int8_onnx_agrees_with_plain_torch(classifier: Classifier) -> None:
    torch_clf = Classifier.load(NLPSettings(backend="torch", products=list(classifier.settings.products)))
    texts = [FURIOUS, THANKS, QUESTION, "my flight got cancelled again, 3rd time this month"]
    a = classifier.predict(texts)
    b = torch_clf.predict(texts)
    for task in ("sentiment", "complaint", "severity"):
        assert np.abs(a[task] - b[task]).max() < 0.1, task
    assert (a["sentiment"].argmax(1) == b["sentiment"].argmax(1)).all()
