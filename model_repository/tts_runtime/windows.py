"""Sub-sentence streaming: decode a sentence's latent frames in overlapping vocoder windows.

The flow runs once on the whole sentence (its attention sees every frame); the vocoder
(HiFi-GAN) is convolutional, so a range of output frames depends only on a bounded range of
input frames around it: its receptive field (`vocoder_context`, derived from the voice's
config). Decoding frames [start, end) from the input frames
[start - left, end + right] (clipped to the sentence) and keeping the samples of [start, end)
gives the same samples as one pass over the whole sentence, up to float rounding. The first
window is small so that first audio comes early; later windows are larger and grow (each
`growth` times the one before), since every window pays its context again: a sentence cut into
k windows decodes its frames plus up to (k - 1) * (left + right) more.

Torch-free (numpy only): the Triton stream model imports this.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

CONV_PRE_KERNEL = 7
"""Kernel of the vocoder's first convolution (upstream `Generator.conv_pre`, padding 3)."""
CONV_POST_KERNEL = 7
"""Kernel of the vocoder's last convolution (upstream `Generator.conv_post`, padding 3)."""
FIRST_WINDOW_SECONDS = 0.2
"""Default audio in the first window: first audio waits for this much vocoder work only."""
WINDOW_FRAMES = 64
"""Default frames in the second window (benchmarks/windows.py measures the trade-off)."""
WINDOW_GROWTH = 2.0
"""Default factor from one later window to the next (64, 128, 256, ... frames): a long
sentence is cut into few windows, so little context is decoded twice, while each window holds
about as much audio as all the windows before it, which a vocoder faster than real time (its
context included) decodes before they have played. The whole-stream time and the stall a
listener hears are measured in benchmarks/RESULTS.md ("First audio on long sentences")."""

Vocoder = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
"""(z [B, C, W] float32, g [B, gin, 1] float32, frame_lengths [B] int64) -> audio [B, W * hop],
zero past frame_lengths * hop: the vocoder graph's contract (docs/graphs.md)."""


@dataclass(frozen=True)
class Context:
    """Input frames the vocoder needs on each side of the frames it should reproduce exactly."""

    left: int
    right: int


@dataclass(frozen=True)
class Window:
    """Frames [start, end) are kept; frames [context_start, context_end) are decoded."""

    start: int
    end: int
    context_start: int
    context_end: int


def _conv_reach(kernel: int, dilation: int = 1) -> tuple[int, int]:
    """(left, right) inputs a same-padded convolution reads around each output position."""
    if kernel < 1 or dilation < 1:
        raise ValueError(f"kernel and dilation must be >= 1, got {kernel}, {dilation}")
    padding = (kernel * dilation - dilation) // 2  # vits2.generator.get_padding
    return padding, (kernel - 1) * dilation - padding


def _resblock_reach(resblock: str, kernel: int, dilations: Sequence[int]) -> tuple[int, int]:
    """Reach of one residual block: its convolutions run in sequence, so reaches add up."""
    if resblock == "1":  # per dilation d: conv(k, d) then conv(k, 1)
        convs = [r for d in dilations for r in (_conv_reach(kernel, d), _conv_reach(kernel, 1))]
    elif resblock == "2":  # one conv(k, d) per dilation, the first two only
        convs = [_conv_reach(kernel, d) for d in list(dilations)[:2]]
    else:
        raise ValueError(f'resblock must be "1" or "2", got {resblock!r}')
    return sum(c[0] for c in convs), sum(c[1] for c in convs)


def vocoder_context(
    upsample_rates: Sequence[int],
    upsample_kernel_sizes: Sequence[int],
    resblock: str,
    resblock_kernel_sizes: Sequence[int],
    resblock_dilation_sizes: Sequence[Sequence[int]],
    conv_pre_kernel: int = CONV_PRE_KERNEL,
    conv_post_kernel: int = CONV_POST_KERNEL,
) -> Context:
    """The vocoder's receptive field in frames: the smallest context that makes windows exact.

    Walks the layers backwards from the output samples of one frame: a same-padded convolution
    widens the needed interval by its reach; a transposed convolution (stride u, kernel k,
    padding (k-u)//2) maps output samples [lo, hi] to inputs [ceil((lo+p-k+1)/u), floor((hi+p)/u)].
    The parallel residual blocks of a stage are averaged, so the widest one counts. Exact, not
    a bound: one frame less on either side changes samples (tests/test_windows.py).
    """
    if len(upsample_rates) != len(upsample_kernel_sizes):
        raise ValueError(
            f"upsample_rates {list(upsample_rates)} and upsample_kernel_sizes "
            f"{list(upsample_kernel_sizes)} must have the same length"
        )
    if len(resblock_kernel_sizes) != len(resblock_dilation_sizes):
        raise ValueError("resblock_kernel_sizes and resblock_dilation_sizes must match in length")
    reaches = [
        _resblock_reach(resblock, k, d)
        for k, d in zip(resblock_kernel_sizes, resblock_dilation_sizes, strict=True)
    ]
    stage = (max(r[0] for r in reaches), max(r[1] for r in reaches))
    hop = math.prod(upsample_rates)
    lo, hi = 0, hop - 1  # output samples of frame 0
    post = _conv_reach(conv_post_kernel)
    lo, hi = lo - post[0], hi + post[1]
    for u, k in reversed(list(zip(upsample_rates, upsample_kernel_sizes, strict=True))):
        if (k - u) % 2 or k < u:
            raise ValueError(
                f"upsampling with rate {u} and kernel {k} does not give exactly {u} samples per "
                "input (kernel - rate must be even and >= 0); no windowed decoding for it"
            )
        lo, hi = lo - stage[0], hi + stage[1]  # the stage's residual blocks
        p = (k - u) // 2
        lo, hi = -((-(lo + p - k + 1)) // u), (hi + p) // u
    pre = _conv_reach(conv_pre_kernel)
    lo, hi = lo - pre[0], hi + pre[1]
    return Context(left=max(0, -lo), right=max(0, hi))


def context_from_config(config: Mapping) -> Context:
    """`vocoder_context` of an upstream config.json (the whole dict, or its "model" part)."""
    m = config.get("model", config)
    try:
        return vocoder_context(
            m["upsample_rates"],
            m["upsample_kernel_sizes"],
            str(m["resblock"]),
            m["resblock_kernel_sizes"],
            m["resblock_dilation_sizes"],
        )
    except KeyError as e:
        raise ValueError(
            f"config has no model.{e.args[0]}: pass an upstream Bert-VITS2 config.json"
        ) from None


def first_window_frames(sample_rate: int, hop_length: int, seconds: float) -> int:
    """Frames holding at least `seconds` of audio (at least one)."""
    if seconds <= 0:
        raise ValueError(f"first window must hold more than 0 s of audio, got {seconds}")
    return max(1, math.ceil(seconds * sample_rate / hop_length))


def later_window(size: int, growth: float, k: int) -> int:
    """Frames kept by later window k (0: the second window of the sentence): size * growth**k,
    rounded down."""
    return max(1, math.floor(size * growth**k))


def plan_windows(
    frames: int, context: Context, first: int, size: int, growth: float = 1.0
) -> list[Window]:
    """Windows covering frames [0, frames): the first keeps `first` frames, the second `size`,
    each later one `growth` times the one before (`later_window`)."""
    if frames < 1:
        raise ValueError(f"a sentence has at least one frame, got {frames}")
    if first < 1 or size < 1:
        raise ValueError(f"window sizes must be >= 1 frame, got first={first}, size={size}")
    if not 1.0 <= growth <= 64.0:  # also refuses NaN
        raise ValueError(f"window growth must be in [1, 64], got {growth}")
    out: list[Window] = []
    start = 0
    while start < frames:
        keep = first if not out else later_window(size, growth, len(out) - 1)
        end = min(frames, start + keep)
        out.append(
            Window(start, end, max(0, start - context.left), min(frames, end + context.right))
        )
        start = end
    return out


@dataclass(frozen=True)
class WindowPlan:
    """How a sentence's frames are decoded in vocoder windows: the one value the stream model,
    the benchmarks and the tests share (`from_config` builds it from a voice's config.json)."""

    hop_length: int
    """Audio samples per frame (the product of the vocoder's upsample rates)."""
    context: Context
    """Frames decoded beside each window so that it equals one pass (`vocoder_context`)."""
    first: int
    """Frames kept from the first window: first audio waits for only this much vocoder work."""
    size: int = WINDOW_FRAMES
    """Frames kept from every later window (each pays the context again)."""
    fixed_shapes: bool = False
    """Pad every window with zeros on the right to one of `widths` (two input shapes only:
    OpenVINO prepares kernels per new shape, TensorRT tunes for one). The lengths mask the
    padding, so the audio is the same; the cost is the padded frames' compute. Later windows
    then keep `size` frames each (growth 1)."""
    growth: float = 1.0
    """Each later window keeps `growth` times the frames of the one before (`later_window`);
    1: every later window keeps `size`."""

    def __post_init__(self) -> None:
        if self.hop_length < 1 or self.first < 1 or self.size < 1:
            raise ValueError(
                f"a window plan needs hop_length, first and size >= 1, got {self.hop_length}, "
                f"{self.first}, {self.size}"
            )
        plan_windows(1, self.context, self.first, self.size, self.growth)  # checks growth
        if self.fixed_shapes and self.growth != 1:
            raise ValueError(
                f"fixed_shapes pads windows to two widths, so later windows cannot grow: "
                f"growth must be 1, got {self.growth}"
            )

    @classmethod
    def from_config(
        cls,
        config: Mapping,
        first_window_seconds: float = FIRST_WINDOW_SECONDS,
        window_frames: int = WINDOW_FRAMES,
        fixed_shapes: bool = False,
        growth: float | None = None,
    ) -> WindowPlan:
        """The plan of an upstream config.json (the whole dict: the sample rate is in "data");
        growth None: `WINDOW_GROWTH`, or 1 with fixed shapes."""
        try:
            rate = int(config["data"]["sampling_rate"])
        except KeyError:
            raise ValueError(
                "config has no data.sampling_rate: pass a whole upstream Bert-VITS2 config.json"
            ) from None
        hop = math.prod(config["model"]["upsample_rates"])
        first = first_window_frames(rate, hop, first_window_seconds)
        if growth is None:
            growth = 1.0 if fixed_shapes else WINDOW_GROWTH
        return cls(hop, context_from_config(config), first, window_frames, fixed_shapes, growth)

    @property
    def widths(self) -> tuple[int, int]:
        """Input frames of the first and of every later window with `fixed_shapes`."""
        c = self.context
        return self.first + c.right, c.left + self.size + c.right

    def windows(self, frames: int) -> list[Window]:
        """The windows of a sentence of `frames` frames (`plan_windows`)."""
        return plan_windows(frames, self.context, self.first, self.size, self.growth)

    def decode(
        self, vocoder: Vocoder, z: np.ndarray, g: np.ndarray, frame_lengths: np.ndarray
    ) -> Iterator[np.ndarray]:
        """Yield audio [B, (end - start) * hop] per window, in order; joined they equal one pass.

        z [B, C, F] is the flow graph's output (zero past each item's frame_lengths), g
        [B, gin, 1] and frame_lengths [B] as for the vocoder graph. Every item's samples past
        its own frame_lengths * hop are zero, as in one pass; windows stop at the longest item.
        Each window hands the vocoder its frames with lengths counted from the window's context
        start, so the vocoder masks the padded items exactly where one pass does.
        """
        z = np.asarray(z, dtype=np.float32)
        lengths = np.asarray(frame_lengths, dtype=np.int64).reshape(-1)
        if z.ndim != 3 or z.shape[0] != lengths.shape[0]:
            raise ValueError(
                f"z must be [B, C, F] with one frame length per item, got z {list(z.shape)} and "
                f"frame_lengths {list(lengths.shape)}"
            )
        if lengths.min() < 1 or lengths.max() > z.shape[2]:
            raise ValueError(
                f"frame_lengths must be in [1, {z.shape[2]}] (z's frames), got {lengths.tolist()}"
            )
        first_width, later_width = self.widths
        for w in self.windows(int(lengths.max())):
            own = np.clip(lengths - w.context_start, 0, w.context_end - w.context_start)
            frames = z[:, :, w.context_start : w.context_end]
            if self.fixed_shapes:
                width = first_width if w.start == 0 else later_width
                frames = np.pad(frames, ((0, 0), (0, 0), (0, width - frames.shape[2])))
            audio = vocoder(frames, g, own)
            keep = (w.start - w.context_start) * self.hop_length
            yield audio[:, keep : keep + (w.end - w.start) * self.hop_length]

    def stream(
        self,
        flow: Callable[[dict[str, np.ndarray]], np.ndarray],
        vocoder: Vocoder,
        feeds: dict[str, np.ndarray],
    ) -> Iterator[np.ndarray]:
        """The decoder graph's work, streamed: the flow on whole sentences, then `decode`.

        feeds: the decoder graph's inputs (docs/graphs.md) for B sentences. Yields audio
        [B, samples] pieces that join to the decoder graph's `audio` (the same seed gives the
        same audio, streamed or not); each row is zero past its own audio_lengths.
        """
        z = flow(feeds)
        yield from self.decode(vocoder, z, feeds["g"], feeds["frame_lengths"])


def session_flow(session) -> Callable[[dict[str, np.ndarray]], np.ndarray]:
    """The flow graph on a `runtime.GraphSession`: decoder feeds -> z."""
    return lambda feeds: session.run(feeds)["z"]


def session_vocoder(session) -> Vocoder:
    """A `Vocoder` running the vocoder graph on a `runtime.GraphSession` (any runtime)."""

    def run(z: np.ndarray, g: np.ndarray, frame_lengths: np.ndarray) -> np.ndarray:
        feeds = {"z": np.ascontiguousarray(z), "g": g, "frame_lengths": frame_lengths}
        return session.run(feeds)["audio"]

    return run


def run_vocoder_rows(
    session,
    requests: Sequence[dict[str, np.ndarray]],
    axes: dict,
    plan,
    context: Context,
    hop: int,
    ranges: dict | None = None,
) -> list[dict[str, np.ndarray] | Exception]:
    """The vocoder graph on requests (z [B, C, W], g, frame_lengths [B]) through a shape plan
    (`tts_runtime.shapes.ShapePlan` on the "frames" axis): each row is cut to its own
    frames; a row longer than the plan's largest size is decoded in windows of at most that
    many input frames, with the context that makes windows exact. Every window of every row
    runs at one of the plan's shapes, so the graph sees a bounded set of shapes whatever the
    sentence lengths. Each request gets audio [B, W * hop] and audio_lengths [B], as one pass
    gives them (zero past each row's frame_lengths * hop); a bad request gets its InputError.
    """
    from tts_runtime.session import InputError, check_request, run_padded

    widest = plan.largest("frames")
    if widest <= context.left + context.right:
        raise ValueError(
            f"the plan's largest window ({widest} frames) must exceed the vocoder's context "
            f"({context.left} + {context.right} frames)"
        )
    windowed = WindowPlan(
        hop, context, first=widest - context.right, size=widest - context.left - context.right
    )
    results: list = [None] * len(requests)
    pieces: list[dict[str, np.ndarray]] = []
    layout: list[tuple[int, int, int, int]] = []  # (request, row, keep from, keep frames)
    for i, req in enumerate(requests):
        try:
            check_request(session, req, axes, ranges)
        except InputError as e:
            results[i] = e
            continue
        for r, n in enumerate(np.asarray(req["frame_lengths"]).reshape(-1).tolist()):
            whole = [Window(0, max(1, n), 0, max(1, n))]  # fits: one piece, no context
            for w in whole if n <= widest else windowed.windows(n):
                own = min(max(n - w.context_start, 0), w.context_end - w.context_start)
                pieces.append(
                    {
                        "z": req["z"][r : r + 1, :, w.context_start : w.context_end],
                        "g": req["g"][r : r + 1],
                        "frame_lengths": np.array([own], np.int64),
                    }
                )
                layout.append((i, r, w.start - w.context_start, w.end - w.start))
    outs = run_padded(session, pieces, axes, {"samples": ("frames", hop)}, plan=plan)
    audio = {
        i: np.zeros((req["z"].shape[0], req["z"].shape[2] * hop), np.float32)
        for i, req in enumerate(requests)
        if results[i] is None
    }
    at: dict[tuple[int, int], int] = {}
    for (i, r, keep_from, keep), out in zip(layout, outs, strict=True):
        if isinstance(out, Exception):
            raise out  # checked above: a failure here is the graph's, not the request's
        start = at.get((i, r), 0)
        span = out["audio"][0, keep_from * hop : (keep_from + keep) * hop]
        audio[i][r, start : start + span.size] = span
        at[(i, r)] = start + span.size
    for i, a in audio.items():
        lengths = np.asarray(requests[i]["frame_lengths"], np.int64).reshape(-1) * hop
        results[i] = {"audio": a, "audio_lengths": lengths}
    return results
