"""The request path, declared once: the steps from a request to its audio and the tensors
that flow between them.

The path is per voice (`steps_for(manifest)`): releases differ only in the encoder's inputs
(voice.json ``encoder_inputs``: JP-Extra has no bert_zh / bert_en; 2.1 adds emo and emo_id, 2.2
emo, Style-Bert-VITS2 style_vec), which the frontend step produces. `REQUEST_PATH` is 2.3's.

Values live in one flat namespace per request: the request inputs (TEXT, ...), then what each
step adds (the frontend's encoder inputs, the encoder's ``durations``, ...). Every name is
produced by exactly one step. From this declaration:
- `tts-export repository` writes the ensemble's steps (input_map/output_map by these names),
- the decoupled stream model, the in-process runner and the PyTorch reference call
  `run_steps` with their own way of running a graph step (BLS, onnxruntime/OpenVINO, torch),
- the noise and join steps are the functions below, wherever they run.
Adding a request input means: the contract (`tts_contract.request`), the step that uses it
(here and in its implementation), and tests.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from tts_contract.manifest import (
    DECODER_INPUTS,
    DECODER_OUTPUTS,
    ENCODER_INPUTS,
    ENCODER_OUTPUTS,
    FLOW_OUTPUTS,
    VOCODER_INPUTS,
    VOCODER_OUTPUTS,
    VoiceManifest,
)
from tts_contract.request import ADJUST_SCALES, OUTPUTS, REQUEST_INPUTS, RequestError
from vits2.serving import noise
from vits2.serving.assemble import trim_and_join

BERT_SLOTS = ("bert_zh", "bert_ja", "bert_en")
"""Encoder inputs a release may lack (JP-Extra has bert_ja only)."""

Values = dict[str, np.ndarray]
StepRunner = Callable[[str, Values], Mapping[str, np.ndarray]]
"""(step name, its inputs by name) -> its outputs by name."""


@dataclass(frozen=True)
class Step:
    name: str
    """Also the suffix of its Triton model (``V_encoder``)."""
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    per_sentence: tuple[str, ...] = ()
    """Outputs holding one value per sentence ([S]; Triton carries them as [S, 1])."""


PER_SENTENCE_INPUTS = (
    "phone_lengths",
    "sid",
    "sdp_ratio",
    "noise_scale_w",
    "length_scale",
    "emo_id",
)
"""Encoder inputs holding one value per sentence ([S]; Triton carries them as [S, 1])."""


ADJUST_OUTPUTS = tuple(s.name for s in ADJUST_SCALES)
"""pitch_scale, intonation_scale: per sentence from the frontend, applied by the join step to
the whole waveform (`vits2.serving.pitch`)."""


def frontend_outputs(encoder_inputs: Sequence[str] = ENCODER_INPUTS) -> tuple[str, ...]:
    """The frontend step's outputs for a voice whose encoder takes ``encoder_inputs`` (voice.json
    ``encoder_inputs``): those inputs for every sentence of the request, plus what later steps
    need."""
    return (*encoder_inputs, *ADJUST_OUTPUTS, "noise_scale", "seeds", "pause_after", "alignment")


ALIGNMENT = "alignment"
"""The frontend step's per-sentence BYTES output: with WITH_TIMESTAMPS 1, what each id of the
sentence is (`vits2.serving.alignment`, JSON), else empty; the join step makes TIMESTAMPS
from it and the encoder's durations."""

FRONTEND_OUTPUTS = frontend_outputs()
"""The frontend step's outputs for a 2.3 voice."""


def request_path(encoder_inputs: Sequence[str] = ENCODER_INPUTS) -> tuple[Step, ...]:
    """The request path of a voice whose encoder graph takes ``encoder_inputs`` (in graph order:
    2.3's inputs less the BERT slots its release lacks, plus its conditioning inputs emo,
    emo_id, style_vec). Only the frontend's outputs and the encoder's inputs depend on it."""
    encoder_inputs = tuple(encoder_inputs)
    missing = [n for n in ENCODER_INPUTS if n not in BERT_SLOTS and n not in encoder_inputs]
    if missing:
        raise ValueError(
            f"encoder inputs {list(encoder_inputs)} lack {missing}; every release's encoder "
            "takes them (re-export the voice with `tts-export onnx`)"
        )
    per_sentence = tuple(n for n in PER_SENTENCE_INPUTS if n in encoder_inputs)
    return (
        Step(
            "frontend",
            tuple(i.name for i in REQUEST_INPUTS),
            frontend_outputs(encoder_inputs),
            per_sentence=(
                *per_sentence,
                *ADJUST_OUTPUTS,
                "noise_scale",
                "seeds",
                "pause_after",
                ALIGNMENT,
            ),
        ),
        Step("encoder", encoder_inputs, tuple(ENCODER_OUTPUTS), per_sentence=("frame_lengths",)),
        Step("noise", ("frame_lengths", "seeds"), ("noise_z",)),
        Step(
            "decoder",
            tuple(DECODER_INPUTS),
            tuple(DECODER_OUTPUTS),
            per_sentence=("audio_lengths",),
        ),
        Step(
            "join",
            ("audio", "audio_lengths", "pause_after", *ADJUST_OUTPUTS, "durations", ALIGNMENT),
            OUTPUTS,
        ),
    )


def release_encoder_inputs(bert_inputs: Sequence[str], extra_inputs: Sequence[str]) -> list[str]:
    """A release's encoder graph inputs (`vits2.config.ModelParts` ``bert_inputs`` and
    ``extra_inputs``): 2.3's less the BERT slots it lacks, plus its conditioning inputs."""
    return [n for n in ENCODER_INPUTS if n not in BERT_SLOTS or n in bert_inputs] + list(
        extra_inputs
    )


def steps_for(manifest: VoiceManifest) -> tuple[Step, ...]:
    """The request path of the voice described by ``manifest`` (its ``encoder_inputs``)."""
    return request_path(manifest.encoder_inputs)


REQUEST_PATH: tuple[Step, ...] = request_path()
"""The request path of a 2.3 (and 2.0) voice."""
DECODER_HALVES: tuple[Step, ...] = (
    Step("flow", tuple(DECODER_INPUTS), tuple(FLOW_OUTPUTS)),
    Step("vocoder", tuple(VOCODER_INPUTS), tuple(VOCODER_OUTPUTS), per_sentence=("audio_lengths",)),
)
"""The decoder step in two halves (docs/graphs.md: flow, vocoder), for voices that have them:
the decoupled stream model runs the flow on a whole sentence, then the vocoder in windows
(`tts_runtime.windows`). Not part of the request path: the ensemble keeps the
one-pass decoder."""
STEPS = {s.name: s for s in (*REQUEST_PATH, *DECODER_HALVES)}
"""The 2.3 path's steps by name; `steps_for` gives a voice's own (the encoder differs)."""


def run_steps(
    values: Values,
    run: StepRunner,
    start: str = "encoder",
    stop: str = "join",
    path: Sequence[Step] = REQUEST_PATH,
) -> Values:
    """Run ``path``'s steps (the voice's, `steps_for`) from ``start`` to ``stop`` (inclusive) on
    ``values`` (which must hold what those steps take); returns ``values`` with every step's
    outputs added."""
    names = [s.name for s in path]
    for step in path[names.index(start) : names.index(stop) + 1]:
        out = run(step.name, {n: values[n] for n in step.inputs})
        values.update({n: np.asarray(out[n]) for n in step.outputs})
    return values


def per_sentence(values: Mapping[str, np.ndarray], name: str) -> np.ndarray:
    """A per-sentence value as [S], whether it came as [S] or Triton's [S, 1]."""
    return np.asarray(values[name]).reshape(-1)


# -- the two steps that are not graphs ----------------------------------------------------
def noise_step(feeds: Mapping[str, np.ndarray], channels: int, max_frames: int) -> Values:
    """frame_lengths [S], seeds [S] -> noise_z [S, C, F]: each sentence's prior noise from its
    seed (`vits2.serving.noise`), drawn once the encoder has fixed the frame counts."""
    frames, seeds = per_sentence(feeds, "frame_lengths"), per_sentence(feeds, "seeds")
    if frames.size == 0 or frames.size != seeds.size:
        raise RequestError(
            f"frame_lengths and seeds must have the same number of rows (>= 1), "
            f"got {frames.size} and {seeds.size}"
        )
    if frames.min() < 1:
        raise RequestError(f"frame_lengths must be >= 1, got {frames.min()}")
    if seeds.min() < 0:
        raise RequestError(f"seeds must be in [0, {noise.MAX_SEED}], got {seeds.min()}")
    f = int(frames.max())
    if f > max_frames:
        raise RequestError(
            f"a sentence needs {f} frames; at most {max_frames} per sentence "
            "(lower LENGTH_SCALE or split the text)"
        )
    return {"noise_z": np.stack([noise.frame_noise(int(s), channels, f) for s in seeds])}


def given_durations_step(values: Values, spans: Sequence[tuple[int, int]], given) -> Values:
    """DURATIONS in place of the encoder's: one sentence's ``durations`` [1, P] re-spread so
    each phone (its ids ``spans``, `vits2.serving.alignment.phone_spans`) has its given frames
    (`vits2.serving.timestamps.spread_durations`), and ``frame_lengths`` their sum. Runs
    between the encoder and noise steps of a path that takes DURATIONS (the stream model, the
    reference); m_p and logs_p do not depend on the durations, and the flow and vocoder take
    them as they are (docs/graphs.md), so no graph changes."""
    from vits2.serving.timestamps import spread_durations

    durations = np.array(values["durations"], copy=True)
    if durations.shape[0] != 1:
        raise RequestError(f"DURATIONS sets one sentence's lengths, got {durations.shape[0]}")
    row = spread_durations(durations[0], spans, given)
    durations[0, :] = 0
    durations[0, : len(row)] = row
    frames = np.asarray(values["frame_lengths"])
    out = {"durations": durations.astype(np.asarray(values["durations"]).dtype),
           "frame_lengths": np.full(frames.shape, max(int(row.sum()), 1), frames.dtype)}  # fmt: skip
    values.update(out)
    return values


MAX_PAUSE_S = 10.0


def join_step(feeds: Mapping[str, np.ndarray], sample_rate: int) -> Values:
    """audio [S, N], audio_lengths [S], pause_after [S], pitch_scale [S], intonation_scale [S]
    -> AUDIO [N'] (sentences with their pauses, none after the last; F0 moved as the scales
    say, over the whole waveform) and SAMPLE_RATE [1]."""
    audio = np.asarray(feeds["audio"])
    lengths = per_sentence(feeds, "audio_lengths")
    pauses = per_sentence(feeds, "pause_after")
    if audio.ndim != 2 or audio.shape[0] < 1 or not (audio.shape[0] == lengths.size == pauses.size):
        raise RequestError(
            f"audio [S, N], audio_lengths [S] and pause_after [S] must agree, got "
            f"{list(audio.shape)}, {lengths.size}, {pauses.size}"
        )
    if lengths.min() < 0 or lengths.max() > audio.shape[1]:
        raise RequestError(f"audio_lengths must be in [0, {audio.shape[1]}]")
    if not np.isfinite(pauses).all() or pauses.min() < 0 or pauses.max() > MAX_PAUSE_S:
        raise RequestError(f"pause_after must be in [0, {MAX_PAUSE_S}] seconds")
    if not np.isfinite(audio).all():
        raise RequestError("audio holds NaN or inf")
    joined = trim_and_join(audio, lengths, pauses, sample_rate)
    scales = []
    for scale in ADJUST_SCALES:  # one value per request (the frontend repeats it per sentence)
        given = per_sentence(feeds, scale.name) if scale.name in feeds else np.ones(1)
        value = scale.check(float(given[0])) if given.size else scale.default
        if (scale.name in feeds and given.size != lengths.size) or np.any(given != value):
            raise RequestError(f"{scale.name} must hold one value per sentence, all the same")
        scales.append(value)
    stamps = _timestamps(feeds, lengths, pauses, sample_rate)
    if scales != [s.default for s in ADJUST_SCALES]:
        from vits2.serving.pitch import adjust_voice

        joined = adjust_voice(joined, sample_rate, *scales)
    return {
        "AUDIO": joined,
        "SAMPLE_RATE": np.array([sample_rate], np.int32),
        "TIMESTAMPS": np.array([stamps], np.object_),
    }


def _timestamps(feeds: Mapping[str, np.ndarray], lengths, pauses, sample_rate: int) -> bytes:
    """The TIMESTAMPS output: from the sentences' alignments and durations where the request
    asked (its alignments are not empty), else empty."""
    if ALIGNMENT not in feeds:
        return b""
    raw = [
        bytes(a) if not isinstance(a, str) else a.encode() for a in per_sentence(feeds, ALIGNMENT)
    ]
    if not any(raw):
        return b""
    import json

    from vits2.serving.timestamps import encode, request_timestamps

    if "durations" not in feeds or len(raw) != lengths.size:
        raise RequestError("TIMESTAMPS needs one alignment and one row of durations per sentence")
    alignments = [json.loads(a) for a in raw]
    stamps = request_timestamps(alignments, np.asarray(feeds["durations"]), lengths, pauses,
                                int(alignments[0]["hop_length"]), sample_rate)  # fmt: skip
    return encode(stamps)
