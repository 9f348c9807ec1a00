"""Per-request noise derived from a seed, identical in every process (numpy only, no torch).

Bert-VITS2 inference draws three kinds of standard normal noise; here each comes from its own
stream of numpy's PCG64 keyed by (seed, stream), so the PyTorch reference, the Triton frontend
and the Triton noise step all produce the same numbers for the same seed. The frame noise is
drawn position-major (phone by phone, frame by frame), so the first N positions do not depend on
how many are drawn: padding changes nothing, and a stage that learns the frame count late still
gets the same noise.
"""

from __future__ import annotations

import numpy as np

from tts_contract.request import MAX_SEED

STREAM_SDP = 0
STREAM_FRAMES = 1
STREAM_BERT = 2


def _rng(seed: int, stream: int) -> np.random.Generator:
    seed = int(seed)
    if not 0 <= seed <= MAX_SEED:
        raise ValueError(f"seed must be an integer in [0, {MAX_SEED}], got {seed}")
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, stream])))


def sdp_noise(seed: int, phones: int) -> np.ndarray:
    """[2, P] float32: the stochastic duration predictor's noise (before noise_scale_w).

    Phone-major, so padding a request to a longer batch does not change its noise."""
    return _rng(seed, STREAM_SDP).standard_normal((phones, 2), dtype=np.float32).T.copy()


def frame_noise(seed: int, channels: int, frames: int) -> np.ndarray:
    """[C, F] float32: the prior-sample noise; frame-major so prefixes are stable."""
    return _rng(seed, STREAM_FRAMES).standard_normal((frames, channels), dtype=np.float32).T.copy()


def bert_noise(seed: int, slots: int, dim: int, phones: int) -> np.ndarray:
    """[slots, dim, P] float32: v2.3 fills the BERT slots of other languages with N(0, 1).

    Phone-major, like the other streams."""
    draw = _rng(seed, STREAM_BERT).standard_normal((phones, slots, dim), dtype=np.float32)
    return draw.transpose(1, 2, 0).copy()


def bert_uniform(seed: int, slots: int, dim: int, phones: int) -> np.ndarray:
    """[slots, dim, P] float32 uniform [0, 1): 2.2's filling of the other languages' BERT slots.

    The same stream as `bert_noise` (a voice uses one or the other), phone-major."""
    draw = _rng(seed, STREAM_BERT).random((phones, slots, dim), dtype=np.float32)
    return draw.transpose(1, 2, 0).copy()


def random_seed() -> int:
    """A fresh seed for requests that bring none."""
    return int(np.random.default_rng().integers(0, 2**31 - 1))
