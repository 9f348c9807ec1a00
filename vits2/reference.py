"""The PyTorch reference for a whole request: the same frontend and assembly as the Triton
frontend model, then PyTorch BERT and the PyTorch model. Parity tests compare the server with
this; it is also the CPU fallback path behind `vits2 say`."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch

from vits2.assemble import trim_and_join
from vits2.bert import BertFeatureExtractor
from vits2.checkpoint import load_model
from vits2.pipeline import FrontendPipeline, parse_request


@functools.lru_cache(maxsize=4)
def _model(checkpoint: str, config: str):
    return load_model(checkpoint, config)


@functools.lru_cache(maxsize=8)
def _bert(model_dir: str) -> BertFeatureExtractor:
    return BertFeatureExtractor(model_dir)


@functools.lru_cache(maxsize=4)
def _pipeline(voice_dir: str) -> FrontendPipeline:
    return FrontendPipeline(voice_dir)


def torch_bert_fn(bert_dirs: dict[str, Path]):
    """BertFn over PyTorch BERTs: each padded row computed on its own unpadded tokens."""

    def run(language: str, feeds: dict[str, np.ndarray]) -> np.ndarray:
        extractor = _bert(str(bert_dirs[language]))
        rows = []
        for i in range(feeds["input_ids"].shape[0]):
            t = int(feeds["attention_mask"][i].sum())
            types = feeds["token_type_ids"][i, :t] if "token_type_ids" in feeds else None
            feat = extractor.features(
                feeds["input_ids"][i, :t],
                feeds["attention_mask"][i, :t],
                types,
                feeds["phone_to_token"][i],
            )
            rows.append(feat.float().cpu().numpy())
        return np.stack(rows)

    return run


@torch.inference_mode()
def reference_synthesize(
    voice_dir: str | Path,
    checkpoint: str | Path,
    bert_dirs: dict[str, Path],
    text: str,
    speaker: str = "",
    language: str = "ZH",
    sdp_ratio: float = 0.2,
    noise_scale: float = 0.6,
    noise_scale_w: float = 0.8,
    length_scale: float = 1.0,
    seed: int = 0,
) -> tuple[np.ndarray, list[np.ndarray]]:
    """(audio with pauses, durations per sentence), exactly as the server computes them."""
    voice_dir = Path(voice_dir)
    pipeline = _pipeline(str(voice_dir))
    model = _model(str(checkpoint), str(voice_dir / "config.json"))
    req = parse_request(
        pipeline.voice,
        text,
        speaker,
        language,
        dict(
            sdp_ratio=sdp_ratio,
            noise_scale=noise_scale,
            noise_scale_w=noise_scale_w,
            length_scale=length_scale,
        ),
        seed,
    )
    batch = pipeline.prepare(req, torch_bert_fn(bert_dirs))
    t = torch.from_numpy
    s = len(batch)
    res = model.infer(
        t(batch.phones),
        t(batch.tones),
        t(batch.languages),
        t(batch.bert_zh),
        t(batch.bert_ja),
        t(batch.bert_en),
        torch.full((s,), req.sid, dtype=torch.long),
        t(batch.phone_lengths),
        sdp_ratio=req.sdp_ratio,
        noise_scale=req.noise_scale,
        noise_scale_w=req.noise_scale_w,
        length_scale=req.length_scale,
        noise_sdp=t(batch.noise_sdp),
        seed=[int(x) for x in batch.seeds],
    )
    audio = trim_and_join(
        res.audio.numpy(), res.audio_lengths.numpy(), batch.pause_after, pipeline.voice.sample_rate
    )
    durations = [res.durations[i, : int(batch.phone_lengths[i])].numpy() for i in range(s)]
    return audio, durations
