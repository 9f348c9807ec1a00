"""What the benchmarks run on: fixed texts, fixed seeds, and the voices they speak with.

Two voices, both random-weight stand-ins (their audio is noise, but their shapes, frame counts
and compute are those of real ones):

- `full`: the upstream v2.3 default config (`vits2.random_voice.FULL_SIZE_V23`, 50 M acoustic
  parameters) with full-size random BERTs of the real architectures (Chinese RoBERTa-wwm-ext-large,
  English DeBERTa-v3-large). Built once into the cache folder (several minutes), then reused.
- `tiny`: the small test config and 4-layer BERTs, for `--quick` (about half a minute to build).

Only the ZH and EN BERTs are built: every text here is Chinese or English.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

Progress = Callable[[str], None]

SEED = 1234
"""The first request's seed; request k of a run uses SEED + k (`Requests`)."""

VOICE_SEED = 0
"""Seed of the random weights of the voice and its BERTs."""


@dataclass(frozen=True)
class Text:
    name: str
    """Text-set id, `<language>-<size>` (zh-medium)."""
    language: str
    """LANGUAGE input: ZH, EN or JP."""
    text: str


TEXTS: dict[str, Text] = {
    t.name: t
    for t in (
        Text("zh-short", "ZH", "你好，欢迎使用语音合成服务。"),
        Text(
            "zh-medium",
            "ZH",
            "今天天气很好，我们一起去公园散步吧。路边的花开得正艳，孩子们在草地上追逐嬉戏，"
            "远处传来阵阵笑声。",
        ),
        Text(
            "zh-long",
            "ZH",
            "语音合成技术近年来发展迅速，已经广泛应用于导航、客服、有声读物和辅助阅读等场景。"
            "一个好的合成系统不仅要发音准确，还要语调自然、节奏流畅。"
            "为了在服务器上高效地运行模型，我们把文本前端、语言模型、编码器和声码器拆分成独立的计算图，"
            "并通过动态批处理把多个请求合并在一起执行。"
            "这样既能降低单个请求的延迟，又能在高并发时保持较高的吞吐量。",
        ),
        Text("en-short", "EN", "Hello, and welcome to the speech service."),
        Text(
            "en-medium",
            "EN",
            "The weather is lovely today, so let's take a walk in the park. "
            "Flowers are blooming along the path, and children are playing on the grass.",
        ),
        Text(
            "en-long",
            "EN",
            "Speech synthesis has advanced quickly in recent years and is now used in navigation, "
            "customer service, audio books and reading assistance. A good system must not only "
            "pronounce every word correctly, it should also sound natural and keep a steady "
            "rhythm. To run the model efficiently on a server, we split the text frontend, the "
            "language model, the encoder and the vocoder into separate graphs, and batch many "
            "requests together. This keeps the latency of each request low while the throughput "
            "stays high under heavy load.",
        ),
        Text("ja-short", "JP", "こんにちは、音声合成サービスへようこそ。"),
        Text(
            "ja-medium",
            "JP",
            "今日はとても良い天気なので、一緒に公園を散歩しましょう。道端には花が咲き、"
            "子どもたちが芝生の上で楽しそうに遊んでいます。",
        ),
        Text(
            "ja-long",
            "JP",
            "音声合成の技術は近年急速に進歩し、ナビゲーションやカスタマーサービス、"
            "オーディオブックなど、さまざまな場面で使われるようになりました。"
            "良いシステムは、すべての言葉を正しく発音するだけでなく、自然な抑揚と"
            "安定したリズムを保つ必要があります。サーバーで効率よく動かすために、"
            "テキスト処理、言語モデル、エンコーダー、ボコーダーを別々の計算グラフに分け、"
            "多くのリクエストをまとめて実行します。",
        ),
    )
}
"""Fixed text sets; `zh-medium` is the one the targets and the concurrency sweep use; the
`ja-*` sets are for Japanese-only voices (Style-Bert-VITS2 JP-Extra)."""

DEFAULT_TEXTS = tuple(name for name, t in TEXTS.items() if t.language in ("ZH", "EN"))
"""What a run measures when it is not told: the sets the default (ZH + EN) voice speaks."""
QUICK_TEXTS = ("zh-short", "en-short")
SWEEP_TEXT = "zh-medium"


class Requests:
    """Where each request of a run gets its text and seed (thread-safe, shared by every phase
    of a run, so no two requests of a run are the same).

    Fresh (the default workload, as real traffic): request k is a sentence the server has
    not seen: the text set's text less its last (k mod n) characters before the final mark,
    n a quarter of its length, with seed SEED + k, so its frame count (and mostly its token
    and phone counts) is new. Repeated (`--repeated`, the figure beside it): the text itself
    with SEED every time, so every shape is one the server has prepared already. Both ways a
    request's result depends only on its position in the run, so runs are comparable."""

    def __init__(self, fresh: bool = True) -> None:
        import itertools
        import threading

        self.fresh = fresh
        self._count = itertools.count()
        self._lock = threading.Lock()

    @property
    def label(self) -> str:
        return "new sentences (every request unseen)" if self.fresh else "repeated sentences"

    def next(self, text: Text) -> tuple[Text, int]:
        """(text, seed) of the next request of `text`'s set."""
        if not self.fresh:
            return text, SEED
        with self._lock:
            k = next(self._count)
        body, mark = text.text[:-1], text.text[-1:]
        cut = k % max(1, len(body) // 4)
        variant = body[: len(body) - cut] + mark if cut else text.text
        return Text(text.name, text.language, variant), SEED + k


def pick_texts(names: list[str] | None, quick: bool) -> list[Text]:
    """Text sets by name (all of them, or the quick pair, when `names` is empty)."""
    if not names:
        names = list(QUICK_TEXTS if quick else DEFAULT_TEXTS)
    unknown = [n for n in names if n not in TEXTS]
    if unknown:
        raise ValueError(f"unknown text set(s) {unknown}; known: {', '.join(TEXTS)}")
    return [TEXTS[n] for n in names]


@dataclass
class Voice:
    """A built voice: checkpoint + BERT folders (PyTorch) and the exported ONNX folder."""

    kind: str
    """full or tiny."""
    name: str
    """Voice (ensemble) name."""
    checkpoint: Path
    config: Path
    bert_dirs: dict[str, Path]
    voice_dir: Path
    """The `tts-export onnx` folder (voice.json, encoder/decoder/bert_*.onnx, tokenizers)."""
    speaker: str
    build_s: float = 0.0
    """Seconds the build took (0 when it came from the cache)."""

    def to_json(self) -> dict:
        d = asdict(self)
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in d.items()} | {
            "bert_dirs": {k: str(v) for k, v in self.bert_dirs.items()}
        }


_MARKER = "built.json"
_BUILD_VERSION = 2  # 2: polyphase upsampling in the decoder graph
"""Bump when what a cached build holds changes, so old caches are rebuilt."""


def build_voice(cache: Path, kind: str, progress: Progress = print) -> Voice:
    """The `kind` voice from `cache/<kind>-v23`, built there first when missing or stale."""
    if kind not in ("full", "tiny"):
        raise ValueError(f"voice kind must be 'full' or 'tiny', got {kind!r}")
    root = Path(cache) / f"{kind}-v23"
    name = f"bench_{kind}"
    voice = Voice(
        kind=kind,
        name=name,
        checkpoint=root / "checkpoint" / "G_0.pth",
        config=root / "checkpoint" / "config.json",
        bert_dirs={lang: root / "bert" / lang for lang in ("ZH", "EN")},
        voice_dir=root / name,
        speaker="demo_a",
    )
    marker = root / _MARKER
    spec = {"version": _BUILD_VERSION, "kind": kind, "seed": VOICE_SEED}
    if marker.is_file() and json.loads(marker.read_text()).get("spec") == spec:
        progress(f"voice {kind}: cached in {root}")
        return voice
    if root.exists():
        progress(f"voice {kind}: cache {root} is incomplete or stale; rebuilding")
        shutil.rmtree(root)
    t0 = time.perf_counter()
    _build(voice, progress)
    voice.build_s = time.perf_counter() - t0
    marker.write_text(json.dumps({"spec": spec, "build_s": voice.build_s}, indent=2) + "\n")
    progress(f"voice {kind}: built in {voice.build_s:.0f} s ({root})")
    return voice


def _build(voice: Voice, progress: Progress) -> None:
    from tts_export.voice import ExportOptions, export_voice
    from vits2.random_bert import make_random_bert
    from vits2.random_voice import FULL_SIZE_V23, make_random_voice, tiny_config

    tiny = voice.kind == "tiny"
    config = tiny_config() if tiny else FULL_SIZE_V23
    progress(f"voice {voice.kind}: random v2.3 checkpoint")
    make_random_voice(voice.checkpoint.parent, config, seed=VOICE_SEED)
    for lang, folder in voice.bert_dirs.items():
        progress(f"voice {voice.kind}: random {'tiny' if tiny else 'full-size'} BERT {lang}")
        make_random_bert(lang, folder, tiny=tiny, seed=VOICE_SEED)
    # The full voice is exported the way a user's deploy is (onnxslim on); the tiny one skips
    # it to stay fast.
    export_voice(
        voice.checkpoint,
        voice.voice_dir,
        voice.bert_dirs,
        voice.config,
        ExportOptions(name=voice.name, simplify=not tiny),
        progress=lambda m: progress(f"voice {voice.kind}: {m}"),
    )


def voice_from_folder(voice_dir: str | Path) -> Voice:
    """An existing `tts-export onnx` folder (e.g. a user's real voice) as a benchmark voice.

    Its `source.json` (written by the export) names the checkpoint and BERT folders that the
    PyTorch subject needs; the speaker is the voice's first one.
    """
    voice_dir = Path(voice_dir)
    meta_file = voice_dir / "voice.json"
    if not meta_file.is_file():
        raise FileNotFoundError(
            f"{voice_dir} has no voice.json; give a folder from `tts-export onnx`"
        )
    meta = json.loads(meta_file.read_text(encoding="utf-8"))
    source_file = voice_dir / "source.json"
    source = json.loads(source_file.read_text()) if source_file.is_file() else {}
    speakers = meta.get("speakers", {})
    return Voice(
        kind="given",
        name=meta["name"],
        checkpoint=Path(source.get("checkpoint", "")),
        config=voice_dir / "config.json",
        bert_dirs={k: Path(v) for k, v in source.get("bert", {}).items()},
        voice_dir=voice_dir,
        speaker=min(speakers, key=speakers.get) if speakers else "",
    )
