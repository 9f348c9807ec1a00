"""A real tritonserver on 127.0.0.1 serving the tiny fixture voice (session-scoped).

Built once per test session: tiny random BERTs, `tts-export onnx` of the upstream tiny
checkpoint, `tts-export repository --runtime python`, and the pip-bundled tritonserver with
free ports. `reference(...)` gives the in-process PyTorch result for the same request.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from tests.fixtures import TINY, require

VOICE = "tiny"


class ServedAddresses:
    """The addresses of a fixture's tritonserver (``self.server``)."""

    server: object

    @property
    def http_url(self) -> str:
        return self.server.http_address

    @property
    def grpc_url(self) -> str:
        return self.server.grpc_url


@dataclass
class TritonVoice(ServedAddresses):
    server: object
    voice: str
    voice_dir: Path
    repository: Path
    bert_dirs: dict[str, Path]

    def reference(
        self,
        text: str,
        speaker: str = "",
        language: str = "ZH",
        sdp_ratio: float | None = None,
        noise_scale: float | None = None,
        noise_scale_w: float | None = None,
        length_scale: float | None = None,
        seed: int = 0,
        **request_fields,
    ):
        """In-process PyTorch reference (model + BERT) -> (audio, durations per sentence);
        None scales take the voice's speaker defaults, as the server does."""
        from vits2.synthesize import cached_synthesizer

        synth = cached_synthesizer(TINY / "G_tiny.pth", self.bert_dirs, voice_dir=self.voice_dir)
        res = synth(
            text,
            speaker,
            language,
            sdp_ratio,
            noise_scale,
            noise_scale_w,
            length_scale,
            seed,
            **request_fields,
        )
        return res.audio, res.durations


def build_tiny_voice(
    root: Path, berts: dict[str, Path], name: str = VOICE
) -> tuple[Path, dict[str, Path]]:
    """`tts-export onnx` (the real CLI) of the upstream tiny checkpoint with tiny BERTs."""
    from typer.testing import CliRunner

    from tts_export.cli import app

    args = [
        "onnx",
        "--checkpoint",
        str(require(TINY / "G_tiny.pth")),
        "--out",
        str(root / name),
        "--name",
        name,
        "--no-simplify",
    ]
    for lang, path in berts.items():
        args += ["--bert", f"{lang}={path}"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return root / name, berts


@contextlib.contextmanager
def running_triton(repo: Path, log_path: Path, ready_s: float) -> Iterator[object]:
    """A tritonserver on free 127.0.0.1 ports serving every model of ``repo`` (explicit model
    control), ready within ``ready_s`` seconds; stopped on exit."""
    from tts_server.tritonserver import TritonServer

    server = TritonServer(repo, model_control="explicit", load_models=["*"], log_path=log_path)
    server.start()
    try:
        server.wait_ready(ready_s)
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def tiny_voice_dir(tmp_path_factory, tiny_bert_dirs) -> tuple[Path, dict[str, Path]]:
    return build_tiny_voice(tmp_path_factory.mktemp("voice"), tiny_bert_dirs)


@pytest.fixture(scope="session")
def triton_voice(tmp_path_factory, tiny_voice_dir):
    from tts_export.repository import write_repository

    voice_dir, berts = tiny_voice_dir
    repo = tmp_path_factory.mktemp("repo")
    write_repository(voice_dir, repo)
    with running_triton(repo, repo.parent / "tritonserver.log", 300) as server:
        yield TritonVoice(server, VOICE, voice_dir, repo, berts)


_WIRE_TYPES = {
    str: ("BYTES", object),
    bytes: ("BYTES", object),
    float: ("FP32", np.float32),
    int: ("INT64", np.int64),
}
"""Python value type -> (Triton type, numpy dtype) of a one-element request input."""


def _tensors(module, inputs: dict) -> list:
    tensors = []
    for name, value in inputs.items():
        dt, np_type = _WIRE_TYPES[type(value)]
        t = module.InferInput(name, [1], dt)
        t.set_data_from_numpy(
            np.array([value.encode() if isinstance(value, str) else value], np_type)
        )
        tensors.append(t)
    return tensors


def infer_http(url: str, model: str, text: str, **inputs):
    """One ensemble request over HTTP with the given optional inputs (name -> value)."""
    import tritonclient.http as http

    client = http.InferenceServerClient(url)
    try:
        return client.infer(model, _tensors(http, {"TEXT": text, **inputs}))
    finally:
        client.close()


def stream_results(url: str, model: str, inputs: dict, arrivals: list | None = None) -> list:
    """Every response with outputs of one decoupled request over gRPC, in order (the
    request's inputs: name -> value); ``arrivals`` gets each one's time.perf_counter()."""
    import queue
    import time

    import tritonclient.grpc as grpc

    results: queue.Queue = queue.Queue()
    client = grpc.InferenceServerClient(url)
    out = []
    try:
        client.start_stream(callback=lambda result, error: results.put((result, error)))
        client.async_stream_infer(model, _tensors(grpc, inputs), enable_empty_final_response=True)
        while True:
            result, error = results.get(timeout=120)
            assert error is None, error
            response = result.get_response()
            if response.outputs:
                out.append(result)
                if arrivals is not None:
                    arrivals.append(time.perf_counter())
            final = response.parameters.get("triton_final_response")
            if final is not None and final.bool_param:
                break
        client.stop_stream()
    finally:
        client.close()
    return out


def wait_unloaded(url: str, models: list[str], timeout: float = 120.0) -> None:
    """Until none of `models` is loading, ready or unloading and the server is ready again.

    Triton's unload call returns before the model is gone; a test that unloads must wait, or
    the next test finds the server not ready (strict readiness) while stubs shut down.
    """
    import time

    import tritonclient.http as http

    client = http.InferenceServerClient(url)
    try:
        deadline = time.monotonic() + timeout
        while True:
            busy = [
                m["name"]
                for m in client.get_model_repository_index()
                if m["name"] in models and m.get("state") in ("READY", "LOADING", "UNLOADING")
            ]
            if not busy and client.is_server_ready():
                return
            assert time.monotonic() < deadline, f"still loaded after {timeout:.0f} s: {busy}"
            time.sleep(0.2)
    finally:
        client.close()


# -- one server for every other release (issues 15 and 19) -----------------------------------
RELEASE_VOICES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    # voice -> (fixture folder, checkpoint served, languages); built in this order so that each
    # BERT graph is exported once and copied into the later voices (ExportOptions.bert_from)
    "v20": ("bert-vits2-v2.0-tiny", "G_tiny.pth", ("ZH",)),
    "sbv2": ("style-bert-vits2-tiny", "model.safetensors", ("JP",)),
    "v21": ("bert-vits2-v2.1-tiny", "G_tiny.pth", ("ZH",)),
    "v22": ("bert-vits2-v2.2-tiny", "G_tiny.pth", ("ZH",)),
    "jpextra": ("style-bert-vits2-jp-extra-tiny", "model.safetensors", ("JP",)),
}
"""Tiny voices of the releases other than 2.3, one language each (the other languages' BERT
slots are still filled, as each release did). Style-Bert-VITS2 voices are served from their
model.safetensors; the tests compare them with the reference from the .pth as well."""


@dataclass
class ReleaseVoices(ServedAddresses):
    server: object
    voice_dirs: dict[str, Path]
    repository: Path
    bert_dirs: dict[str, Path]

    def checkpoint(self, voice: str, file: str | None = None) -> Path:
        folder, served, _ = RELEASE_VOICES[voice]
        return require(TINY.parent / folder / (file or served))

    def reference(self, voice: str, text: str, checkpoint: str | None = None, **fields):
        """The PyTorch reference of `voice` (from `checkpoint`, default the served one) for one
        request (`Synthesizer` keywords: language, seed, style, emotion_id, ...)."""
        from vits2.synthesize import cached_synthesizer

        langs = RELEASE_VOICES[voice][2]
        synth = cached_synthesizer(
            self.checkpoint(voice, checkpoint),
            {lang: self.bert_dirs[lang] for lang in langs},
            voice_dir=self.voice_dirs[voice],
        )
        return synth(text, **{"language": langs[0], **fields})


def build_release_voices(root: Path, berts: dict[str, Path]) -> dict[str, Path]:
    """Every voice of `RELEASE_VOICES` exported (encoder + decoder; no stream halves: the
    stream model decodes whole sentences) into root/<voice>; v21 with a wav2vec2 emotion
    graph, v22 with CLAP's graphs."""
    from tts_export.voice import ExportOptions, export_voice

    dirs: dict[str, Path] = {}
    for voice, (_, checkpoint, langs) in RELEASE_VOICES.items():
        source = next((dirs[v] for v in dirs if set(langs) & set(RELEASE_VOICES[v][2])), None)
        export_voice(
            require(TINY.parent / RELEASE_VOICES[voice][0] / checkpoint),
            root / voice,
            {lang: berts[lang] for lang in langs},
            options=ExportOptions(name=voice, stream_graphs=False, bert_from=source),
            progress=lambda _: None,
        )
        dirs[voice] = root / voice
    from tts_export.emotion import add_emotion_models
    from vits2.random_emotion import make_tiny_clap, make_tiny_wav2vec2

    # tiny random emotion models: 2.1 REFERENCE_AUDIO through wav2vec2, 2.2 EMOTION through CLAP
    wav2vec2 = make_tiny_wav2vec2(root / "wav2vec2")
    add_emotion_models(dirs["v21"], wav2vec2=wav2vec2, progress=lambda _: None)
    add_emotion_models(dirs["v22"], make_tiny_clap(root / "clap"), progress=lambda _: None)
    return dirs


@pytest.fixture(scope="session")
def release_voices(tmp_path_factory, tiny_bert_dirs):
    """A real tritonserver serving every voice of `RELEASE_VOICES` from one repository."""
    from tts_export.repository import write_repository

    dirs = build_release_voices(tmp_path_factory.mktemp("release-voices"), tiny_bert_dirs)
    repo = tmp_path_factory.mktemp("release-repo")
    for voice_dir in dirs.values():
        write_repository(voice_dir, repo)
    with running_triton(repo, repo.parent / "releases.log", 600) as server:
        yield ReleaseVoices(server, dirs, repo, tiny_bert_dirs)


# -- a Style-Bert-VITS2 JP-Extra voice with the decoder's halves (issue 28) --------------------
@dataclass
class JapaneseVoice(ServedAddresses):
    """The tiny JP-Extra voice served with its stream model decoding in vocoder windows."""

    server: object
    voice: str
    voice_dir: Path
    repository: Path
    bert_dirs: dict[str, Path]

    def reference(self, text: str, **fields):
        """The PyTorch reference of this voice for one request (`Synthesizer` keywords)."""
        from vits2.synthesize import cached_synthesizer

        checkpoint = require(TINY.parent / RELEASE_VOICES["jpextra"][0] / "model.safetensors")
        synth = cached_synthesizer(checkpoint, {"JP": self.bert_dirs["JP"]},
                                   voice_dir=self.voice_dir)  # fmt: skip
        return synth(text, **{"language": "JP", **fields})


@pytest.fixture(scope="session")
def jp_voice(tmp_path_factory, tiny_bert_dirs):
    """A real tritonserver serving the tiny Style-Bert-VITS2 JP-Extra voice (model.safetensors,
    with flow and vocoder graphs, so its stream model decodes in windows): shared by the
    timestamps and VOICEVOX tests."""
    from tts_export.repository import write_repository
    from tts_export.voice import ExportOptions, export_voice

    root = tmp_path_factory.mktemp("jp-voice")
    folder = RELEASE_VOICES["jpextra"][0]
    voice_dir = root / "jpx"
    export_voice(
        require(TINY.parent / folder / "model.safetensors"),
        voice_dir,
        {"JP": tiny_bert_dirs["JP"]},
        options=ExportOptions(name="jpx"),
        progress=lambda _: None,
    )
    repo = root / "repo"
    write_repository(voice_dir, repo)
    with running_triton(repo, root / "tritonserver.log", 300) as server:
        yield JapaneseVoice(server, "jpx", voice_dir, repo, tiny_bert_dirs)
