"""Locating the shared upstream fixtures (read-only, beside the repository)."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures"
TINY = FIXTURES / "bert-vits2-v2.3-tiny"
NUM_CASES = 6
# widths, heads and layers unlike the tiny fixtures' (hidden 32), for tests that a voice of
# other dimensions builds, exports and matches
OTHER_WIDTHS = dict(
    hidden_channels=48,
    inter_channels=24,
    filter_channels=80,
    n_heads=3,
    n_layers=4,
    gin_channels=16,
    upsample_initial_channel=32,
)


def small_manifest(release: str = "2.3", **fields):
    """A voice.json for tests that need only its fields (44.1 kHz, one speaker, ZH); `fields`
    override or add (emotion_models, languages, ...). Version = release: right for 2.x."""
    from tts_contract.manifest import VoiceManifest

    base = dict(
        name="v", sample_rate=44100, hop_length=512, inter_channels=32, gin_channels=32,
        speakers={"spk0": 0}, languages=["ZH"], version=release, release=release,
    )  # fmt: skip
    return VoiceManifest(**{**base, **fields})


def require(path: Path) -> Path:
    """``path`` if it exists; else skip with the reason, or fail when CI is set (CI always has
    ../shared beside the clone, so a missing fixture there is a broken setup, not a skip)."""
    if not path.exists():
        reason = f"upstream fixture {path} is absent (expected ../shared/fixtures beside the repo)"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; CI is set, so this is an error, not a skip")
        pytest.skip(reason)
    return path


def reference_cases(folder: str = TINY.name) -> list[dict[str, np.ndarray]]:
    """The six recorded upstream cases of a fixture folder (default: the 2.3 tiny voice)."""
    data = np.load(require(FIXTURES / folder / "reference.npz"))
    cases = []
    for i in range(NUM_CASES):
        prefix = f"case{i}/"
        cases.append({k[len(prefix) :]: data[k] for k in data.files if k.startswith(prefix)})
    return cases


def _batch_of_one(case: dict[str, np.ndarray], name: str):
    import torch  # here, not at the top: the frontend tests import this module without torch

    return torch.from_numpy(case[name])[None] if name in case else None


def case_inputs(case: dict[str, np.ndarray]) -> tuple:
    """infer()'s positional inputs for one recorded case, a batch of one: phones, tones,
    languages, bert_zh, bert_ja, bert_en (None where the release records none), sid."""
    import torch

    names = ("phones", "tones", "language", "bert_zh", "bert_ja", "bert_en")
    return (*(_batch_of_one(case, n) for n in names), torch.from_numpy(case["sid"]))


def recorded_kwargs(case: dict[str, np.ndarray]) -> dict:
    """infer()'s keywords for upstream's call in `case`: its four scales, its recorded noise,
    and return_intermediates=True (the cases record z_p, z and the frame priors too)."""
    sdp_ratio, noise_scale, noise_scale_w, length_scale = (float(x) for x in case["scales"])
    return dict(
        sdp_ratio=sdp_ratio,
        noise_scale=noise_scale,
        noise_scale_w=noise_scale_w,
        length_scale=length_scale,
        noise_sdp=_batch_of_one(case, "noise_sdp"),
        noise_z=_batch_of_one(case, "noise_z"),
        return_intermediates=True,
    )


def run_decoder(dec, encoded, noise_scale, noise_z) -> list:
    """The decoder graph's [audio, audio_lengths] for the encoder graph's outputs `encoded`
    (in ENCODER_OUTPUTS order; they feed the decoder's inputs of the same names)."""
    from tts_export.metadata import DECODER_OUTPUTS, ENCODER_OUTPUTS

    feeds = dict(
        zip(ENCODER_OUTPUTS, encoded, strict=True), noise_scale=noise_scale, noise_z=noise_z
    )
    return dec.run(DECODER_OUTPUTS, feeds)


def pad_cases(cases: list[dict[str, np.ndarray]], name: str, shape: tuple, dtype):
    """`name` of every case zero-padded to `shape` and stacked (zeros where a case lacks it)."""
    import torch

    out = np.zeros((len(cases), *shape), dtype=dtype)
    for i, c in enumerate(cases):
        if name in c:
            out[(i, *[slice(0, s) for s in c[name].shape])] = c[name]
    return torch.from_numpy(out)


def padded_batch(cases: list[dict[str, np.ndarray]]) -> tuple[tuple, dict]:
    """infer()'s positional inputs and keywords (scales, noise) for the cases padded into one
    batch; the release's emotion/style inputs are the caller's."""
    import torch

    p = max(len(c["phones"]) for c in cases)
    frames = max(c["noise_z"].shape[1] for c in cases)
    channels = cases[0]["noise_z"].shape[0]
    ids = [pad_cases(cases, n, (p,), np.int64) for n in ("phones", "tones", "language")]
    berts = [pad_cases(cases, n, (1024, p), np.float32) for n in ("bert_zh", "bert_ja", "bert_en")]
    sid = torch.from_numpy(np.concatenate([c["sid"] for c in cases]))
    lengths = torch.tensor([len(c["phones"]) for c in cases])
    scales = torch.from_numpy(np.stack([c["scales"] for c in cases]))
    kwargs = dict(
        sdp_ratio=scales[:, 0],
        noise_scale=scales[:, 1],
        noise_scale_w=scales[:, 2],
        length_scale=scales[:, 3],
        noise_sdp=pad_cases(cases, "noise_sdp", (2, p), np.float32),
        noise_z=pad_cases(cases, "noise_z", (channels, frames), np.float32),
    )
    return (*ids, *berts, sid, lengths), kwargs


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def served_app(app, start_s: float = 30.0, **config: object) -> Iterator[str]:
    """``app`` (ASGI) served by a real uvicorn on a free 127.0.0.1 port in a thread; yields
    its base URL once started (or after ``start_s``), stops it on exit. ``config``: more
    `uvicorn.Config` keywords (``http=`` as `tts-gateway` runs it)."""
    import uvicorn

    port = free_port()
    config = {"host": "127.0.0.1", "port": port, "log_level": "warning", **config}
    server = uvicorn.Server(uvicorn.Config(app, **config))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + start_s
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
