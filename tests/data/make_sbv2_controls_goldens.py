"""Make tests/data/sbv2-given-phones.jsonl and sbv2-adjust-voice.npz: Style-Bert-VITS2 2.7.0's
own pronunciation controls on our inputs.

Not a test and not imported by the project. Run from the folder of make_frontend_sbv2_goldens.py
(SBV2's `style_bert_vits2/`, `dict_data/`, `bert/`), in the same scratch environment plus
pyworld-prebuilt (SBV2's pin; the project installs the same version):

    python make_sbv2_controls_goldens.py <commit> OUT_DIR

- given phones/tones: `style_bert_vits2.nlp.clean_text_with_given_phone_tone` (its user
  dictionary applied first, as make_frontend_sbv2_goldens.py does) on Japanese sentences with
  phones and tones edited by hand as SBV2's editor would (same length, phones added, phones
  dropped, tones only, mismatches it refuses);
- pitch/intonation: `style_bert_vits2.voice.adjust_voice` on a 0.4 s synthetic voiced signal
  (a harmonic tone gliding 140 -> 220 Hz with vibrato, 44.1 kHz; stored in the file) for
  several (pitch_scale, intonation_scale).
"""

import json
import os
import sys
from importlib.metadata import version

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_frontend_goldens import require_openjtalk_111  # noqa: E402
from make_frontend_sbv2_goldens import _shims  # noqa: E402

TEXTS = ["今日はいい天気ですね。", "東京タワーに行きました。", "担々麺が好き。"]
SCALES = [(1.2, 1.0), (1.0, 1.5), (0.8, 0.5), (1.1, 0.0)]
SAMPLE_RATE = 44100


def edits(phones: list[str], tones: list[int]) -> list[tuple[str, list[str], list[int] | None]]:
    """(what, given phones, given tones) cases derived from the frontend's own reading."""
    inner, t = phones[1:-1], tones[1:-1]
    k = len(inner) // 2
    flip = [1 - x if 0 < i < len(tones) - 1 else x for i, x in enumerate(tones)]
    return [
        ("tones only", phones, flip),
        (
            "same length",
            ["_", *inner[:k], "a" if inner[k] != "a" else "o", *inner[k + 1 :], "_"],
            tones,
        ),
        (
            "phones added",
            ["_", *inner[:k], "k", "a", *inner[k:], "_"],
            [0, *t[:k], 1, 1, *t[k:], 0],
        ),
        (
            "phones dropped",
            ["_", *inner[: k - 1], *inner[k + 1 :], "_"],
            [0, *t[: k - 1], *t[k + 1 :], 0],
        ),
        ("lengths differ", phones, tones[:-1]),
        ("far off", ["_", *(["a"] * (4 * len(inner))), "_"], [0] * (4 * len(inner) + 2)),
    ]


def signal() -> np.ndarray:
    n = int(0.4 * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    f0 = 140 + 80 * t / t[-1] + 6 * np.sin(2 * np.pi * 5 * t)
    phase = 2 * np.pi * np.cumsum(f0) / SAMPLE_RATE
    wave = sum(np.sin(k * phase) / k for k in range(1, 12))
    envelope = np.minimum(1, np.minimum(t, t[-1] - t) / 0.03)
    rng = np.random.default_rng(0)
    return (0.3 * envelope * wave + 0.003 * rng.standard_normal(n)).astype(np.float32)


def main(commit: str, out_dir: str) -> None:
    engine = require_openjtalk_111()
    _shims()
    from style_bert_vits2.constants import Languages
    from style_bert_vits2.nlp import clean_text, clean_text_with_given_phone_tone
    from style_bert_vits2.nlp.japanese.user_dict import update_dict
    from style_bert_vits2.voice import adjust_voice

    update_dict()
    header = {
        "upstream": {"repository": "litagin02/Style-Bert-VITS2", "ref": "2.7.0", "commit": commit},
        "engine": engine,
        "versions": {n: version(n) for n in ("transformers", "pyworld-prebuilt", "numpy")},
        "made_by": "tests/data/make_sbv2_controls_goldens.py: "
        "style_bert_vits2.nlp.clean_text_with_given_phone_tone",
    }
    rows = [header]
    for jp_extra in (True, False):
        for text in TEXTS:
            _, phones, tones, _ = clean_text(text, Languages.JP, use_jp_extra=jp_extra)
            for what, given_phone, given_tone in edits(phones, tones):
                row = {"text": text, "use_jp_extra": jp_extra, "case": what,
                       "given_phone": given_phone, "given_tone": given_tone}  # fmt: skip
                try:
                    norm, p, t, w = clean_text_with_given_phone_tone(
                        text, Languages.JP, given_phone, given_tone, use_jp_extra=jp_extra
                    )
                    row.update(norm_text=norm, phones=p, tones=t, word2ph=w)
                except (ValueError, AssertionError) as e:
                    row["error"] = f"{type(e).__name__}: {e}"
                rows.append(row)
    with open(os.path.join(out_dir, "sbv2-given-phones.jsonl"), "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    wave = signal()
    arrays = {"input": wave, "scales": np.array(SCALES, np.float64)}
    for i, (pitch, intonation) in enumerate(SCALES):
        _, out = adjust_voice(SAMPLE_RATE, wave, pitch, intonation)
        arrays[f"output_{i}"] = np.asarray(out, np.float32)
    np.savez_compressed(os.path.join(out_dir, "sbv2-adjust-voice.npz"), **arrays)
    print(len(rows) - 1, "given-phone cases and", len(SCALES), "adjust_voice outputs ->", out_dir)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
