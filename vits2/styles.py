"""Style-Bert-VITS2 style vectors (numpy only: the serving side imports this without torch).

A model folder ships `style_vectors.npy`, float32 [num_styles, 256]: row 0 ("Neutral") is the
mean speaker embedding of all training clips, the other rows the mean of each style's clips.
What the model receives is `mean + (style_vectors[style_id] - mean) * weight` with
mean = row 0, computed in float32 as upstream does, so weight 0 (or style 0) is the neutral style.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

STYLE_DIM = 256


class StyleError(ValueError):
    """A style table or style request that cannot be used."""


def load_style_vectors(path: str | Path, num_styles: int | None = None) -> np.ndarray:
    """Read and check `style_vectors.npy` -> float32 [num_styles, 256]."""
    path = Path(path)
    try:
        vectors = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise StyleError(f"could not read {path} as a .npy array: {e}") from None
    if vectors.ndim != 2 or vectors.shape[1] != STYLE_DIM or len(vectors) == 0:
        raise StyleError(
            f"{path} has shape {list(vectors.shape)}; style vectors must be [num_styles, "
            f"{STYLE_DIM}] (the style_vectors.npy of a Style-Bert-VITS2 model folder)"
        )
    if num_styles is not None and len(vectors) != num_styles:
        raise StyleError(
            f"{path} has {len(vectors)} styles but the config's data.num_styles is "
            f"{num_styles}; use the style_vectors.npy that came with this config"
        )
    return vectors.astype(np.float32, copy=False)


def style_vector(style_vectors: np.ndarray, style_id: int, weight: float = 1.0) -> np.ndarray:
    """The style_vec [256] float32 of style `style_id` at strength `weight`."""
    if not 0 <= int(style_id) < len(style_vectors):
        raise StyleError(
            f"style id {style_id} is out of range; this voice has styles 0..{len(style_vectors) - 1}"
        )
    return blend_style(style_vectors, style_vectors[int(style_id)], weight)


def blend_style(style_vectors: np.ndarray, target: np.ndarray, weight: float) -> np.ndarray:
    """mean + (target - mean) * weight in float32; `target` may be a reference clip's embedding."""
    mean = np.asarray(style_vectors[0], dtype=np.float32)
    target = np.asarray(target, dtype=np.float32)
    if target.shape != (STYLE_DIM,):
        raise StyleError(f"a style embedding must be [{STYLE_DIM}], got {list(target.shape)}")
    return mean + (target - mean) * np.float32(weight)


def style_id(style2id: dict[str, int], style: str | int) -> int:
    """A style name (or id) -> its row; unknown names list the known ones."""
    if isinstance(style, int | np.integer):
        return int(style)
    if style not in style2id:
        raise StyleError(f"unknown style {style!r}; this voice has: {', '.join(style2id)}")
    return style2id[style]
