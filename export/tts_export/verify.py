"""`tts-export verify`: every exported graph against the PyTorch reference it came from."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

import vits2
from tts_export import acoustic
from tts_export.metadata import VoiceManifest
from tts_runtime.windows import WindowPlan

FP32_TOLERANCE = 1e-4
FP16_MIN_SNR_DB = 30.0


@dataclass
class Check:
    graph: str
    case: str
    max_abs_error: float
    durations_equal: bool | None = None
    snr_db: float | None = None
    ok: bool = True
    note: str = ""

    def line(self) -> str:
        dur = (
            ""
            if self.durations_equal is None
            else ("  durations identical" if self.durations_equal else "  DURATIONS DIFFER")
        )
        snr = "" if self.snr_db is None else f"  snr {self.snr_db:6.1f} dB"
        return (
            f"{'ok ' if self.ok else 'BAD'} {self.graph:<10} {self.case:<28} "
            f"max|err| {self.max_abs_error:.2e}{snr}{dur}{'  ' + self.note if self.note else ''}"
        )


def snr_db(ref: np.ndarray, test: np.ndarray) -> float:
    noise = float(np.sum((ref.astype(np.float64) - test) ** 2))
    signal = float(np.sum(ref.astype(np.float64) ** 2))
    return math.inf if noise == 0 else 10 * math.log10(max(signal, 1e-30) / noise)


def session(path: Path, threads: int = 2) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def _np(inputs: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
    return {k: v.numpy() for k, v in inputs.items()}


def _encoder_cases(model, phone_counts):
    for p in phone_counts:
        yield f"random P={p} B=1", acoustic.example_encoder_inputs(model, 1, p, seed=p)
    p = max(phone_counts)
    yield f"random P<={p} B=3 padded", acoustic.example_encoder_inputs(model, 3, p, seed=1)


def verify_voice(
    voice_dir: str | Path,
    checkpoint: str | Path | None = None,
    phone_counts: tuple[int, ...] = (3, 41, 200),
    tolerance: float = FP32_TOLERANCE,
    progress: Callable[[str], None] = print,
) -> list[Check]:
    voice_dir = Path(voice_dir)
    manifest = VoiceManifest.load(voice_dir)
    source = _sources(voice_dir)
    checkpoint = checkpoint or source.get("checkpoint")
    if not checkpoint or not Path(checkpoint).is_file():
        raise FileNotFoundError(
            f"the voice's checkpoint {checkpoint!r} is not available; pass --checkpoint G.pth"
        )
    model = vits2.load_model(checkpoint, voice_dir / "config.json")
    enc = session(voice_dir / manifest.graphs["encoder"])
    dec = session(voice_dir / manifest.graphs["decoder"])
    dec_fp16 = manifest.precision.get("decoder") == "fp16"
    halves = None
    if {"flow", "vocoder"} <= set(manifest.graphs):  # the decoder's halves (streaming)
        halves = (
            session(voice_dir / manifest.graphs["flow"]),
            session(voice_dir / manifest.graphs["vocoder"]),
            json.loads((voice_dir / "config.json").read_text(encoding="utf-8")),
            manifest.precision.get("vocoder") == "fp16",
        )
    checks: list[Check] = []
    for case, inputs in _encoder_cases(model, phone_counts):
        progress(f"checking {case}")
        with torch.no_grad():
            ref = [t.numpy() for t in acoustic.EncoderGraph(model)(**inputs)]
        got = enc.run(acoustic.ENCODER_OUTPUTS, _np(inputs))
        err = max(
            float(np.abs(r.astype(np.float64) - g).max())
            for r, g in zip(ref, got, strict=True)
            if r.dtype.kind == "f"
        )
        same = bool(np.array_equal(ref[3], got[3]) and np.array_equal(ref[4], got[4]))
        checks.append(Check("encoder", case, err, same, ok=same and err <= tolerance))

        # decoder on the reference encoder's outputs; then both graphs chained, end to end
        dec_in = acoustic.example_decoder_inputs(model, inputs, seed=7)
        with torch.no_grad():
            ref_audio, ref_len = (t.numpy() for t in acoustic.DecoderGraph(model)(**dec_in))
        audio, lengths = dec.run(acoustic.DECODER_OUTPUTS, _np(dec_in))
        checks.append(
            _audio_check("decoder", case, ref_audio, ref_len, audio, lengths, tolerance, dec_fp16)
        )
        if halves is not None:
            checks.extend(
                _halves_checks(halves, manifest, case, _np(dec_in), ref_audio, ref_len, tolerance)
            )
        m_p, logs_p, g, durations, frame_lengths = got
        chained = dict(
            m_p=m_p,
            logs_p=logs_p,
            g=g,
            durations=durations,
            frame_lengths=frame_lengths,
            noise_scale=dec_in["noise_scale"].numpy(),
            noise_z=_fit_frames(dec_in["noise_z"].numpy(), int(frame_lengths.max())),
        )
        audio, lengths = dec.run(acoustic.DECODER_OUTPUTS, chained)
        ref_audio, ref_len = _reference_chain(model, inputs, chained)
        check = _audio_check(
            "end2end", case, ref_audio, ref_len, audio, lengths, tolerance, dec_fp16
        )
        check.durations_equal = same
        check.ok = check.ok and same
        checks.append(check)
    checks.extend(_verify_berts(voice_dir, manifest, source, tolerance, progress))
    return checks


def _halves_checks(halves, manifest, case, feeds, ref_audio, ref_len, tolerance) -> list[Check]:
    """flow then vocoder in one pass, and the vocoder in the stream model's default windows,
    against the PyTorch decoder's audio."""
    flow, vocoder, config, fp16 = halves
    (z,) = flow.run(["z"], feeds)

    def run(frames, g, lengths):
        return vocoder.run(["audio"], {"z": frames, "g": g, "frame_lengths": lengths})[0]

    audio, lengths = vocoder.run(
        ["audio", "audio_lengths"],
        {"z": z, "g": feeds["g"], "frame_lengths": feeds["frame_lengths"]},
    )
    pieces = WindowPlan.from_config(config).decode(run, z, feeds["g"], feeds["frame_lengths"])
    windowed = np.concatenate(list(pieces), axis=1)
    return [
        _audio_check("flow+voc", case, ref_audio, ref_len, audio, lengths, tolerance, fp16),
        _audio_check("windowed", case, ref_audio, ref_len, windowed, lengths, tolerance, fp16),
    ]


def _fit_frames(noise: np.ndarray, frames: int) -> np.ndarray:
    if noise.shape[2] >= frames:
        return noise[:, :, :frames]
    extra = (
        np.random.default_rng(0)
        .standard_normal((noise.shape[0], noise.shape[1], frames - noise.shape[2]))
        .astype(np.float32)
    )
    return np.concatenate([noise, extra], axis=2)


def _reference_chain(model, inputs, chained):
    with torch.no_grad():
        res = model.infer(
            inputs["phones"],
            inputs["tones"],
            inputs["languages"],
            inputs.get("bert_zh"),  # JP-Extra voices have bert_ja only
            inputs["bert_ja"],
            inputs.get("bert_en"),
            inputs["sid"],
            inputs["phone_lengths"],
            sdp_ratio=inputs["sdp_ratio"],
            noise_scale=torch.from_numpy(chained["noise_scale"]),
            noise_scale_w=inputs["noise_scale_w"],
            length_scale=inputs["length_scale"],
            noise_sdp=inputs["noise_sdp"],
            noise_z=torch.from_numpy(chained["noise_z"]),
            **{k: inputs[k] for k in model.config.parts.extra_inputs},  # emo, emo_id, style_vec
        )
    return res.audio.numpy(), res.audio_lengths.numpy()


def _audio_check(graph, case, ref_audio, ref_len, audio, lengths, tolerance, fp16) -> Check:
    if not np.array_equal(ref_len, lengths):
        return Check(graph, case, math.inf, ok=False, note=f"lengths {lengths} vs {ref_len}")
    n = ref_audio.shape[1]
    if audio.shape[1] < n:
        return Check(graph, case, math.inf, ok=False, note="audio shorter than the reference")
    err = float(np.abs(ref_audio - audio[:, :n]).max())
    snr = snr_db(ref_audio, audio[:, :n])
    ok = snr >= FP16_MIN_SNR_DB if fp16 else err <= tolerance
    return Check(graph, case, err, snr_db=snr, ok=ok)


def _sources(voice_dir: Path) -> dict:
    path = voice_dir / "source.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def _verify_berts(voice_dir, manifest, source, tolerance, progress) -> list[Check]:
    checks = []
    samples = {
        "ZH": "今天天气真不错，我们一起去公园散步吧。",
        "EN": "The quick brown fox jumps over the lazy dog, twice.",
        "JP": "今日はいい天気ですね。散歩に行きましょう。",
    }
    for lang, info in manifest.bert.items():
        bert_dir = Path(source.get("bert", {}).get(lang, ""))
        if not (bert_dir / "config.json").is_file():
            checks.append(
                Check(
                    f"bert_{lang.lower()}",
                    "skipped",
                    0.0,
                    ok=True,
                    note=f"BERT folder {bert_dir} not available",
                )
            )
            continue
        progress(f"checking bert_{lang.lower()}")
        from transformers import AutoModel

        from vits2.text.frontend import load_tokenizer

        tok = load_tokenizer(voice_dir / info.tokenizer, lang)
        bert = AutoModel.from_pretrained(str(bert_dir), local_files_only=True).eval()
        enc = tok(samples[lang], return_tensors="np")
        t = enc["input_ids"].shape[1]
        rng = np.random.default_rng(0)
        p2t = np.sort(rng.integers(0, t, size=(1, 3 * t)), axis=1).astype(np.int64)
        feeds = {
            "input_ids": enc["input_ids"].astype(np.int64),
            "attention_mask": enc["attention_mask"].astype(np.int64),
            "phone_to_token": p2t,
        }
        if info.has_token_type_ids:
            feeds["token_type_ids"] = enc.get("token_type_ids", np.zeros_like(enc["input_ids"]))
            feeds["token_type_ids"] = feeds["token_type_ids"].astype(np.int64)
        (got,) = session(voice_dir / info.graph).run(["bert_features"], feeds)
        with torch.no_grad():
            hs = bert(
                **{k: torch.from_numpy(v) for k, v in feeds.items() if k != "phone_to_token"},
                output_hidden_states=True,
            ).hidden_states[-3]
        ref = hs[0][torch.from_numpy(p2t[0])].T.numpy()[None]
        err = float(np.abs(ref - got).max())
        fp16 = manifest.precision.get(f"bert_{lang.lower()}") == "fp16"
        snr = snr_db(ref, got)
        checks.append(
            Check(
                f"bert_{lang.lower()}",
                "sample sentence",
                err,
                snr_db=snr,
                ok=snr >= FP16_MIN_SNR_DB if fp16 else err <= tolerance,
            )
        )
    return checks
