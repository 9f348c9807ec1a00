"""VOICEVOX's user-dictionary routes, backed by the voices' own OpenJTalk dictionaries.

``GET /user_dict``, ``POST /user_dict_word``, ``PUT`` / ``DELETE /user_dict_word/{word_uuid}``,
``POST /import_user_dict`` keep VOICEVOX's ``UserDictWord`` objects in the repository
(``voicevox_user_dict.json``) and compile them, after each Japanese voice's own words (its
``user_dict``; Style-Bert-VITS2's default words for an SBV2 voice, as its export does), into the
dictionary that voice's frontend and stream models read (the Japanese issue's user dictionaries,
`vits2.text.openjtalk.compile_user_dict`), then reload those two models. The gateway needs the
repository (``tts-gateway --repository``); without it the changing routes are refused. The
compiler is the full project's (`vits2.text.openjtalk`, imported when a word changes): with the
gateway extra alone the changing routes answer 501 saying what to install.
"""

from __future__ import annotations

import json
import re
import tempfile
import threading
import uuid
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request, Response

from tts_gateway.backend import ApiError, Backend, full_project_missing, json_object

__all__ = ["WORD_TYPES", "csv_line", "make_word", "router"]

STORE = "voicevox_user_dict.json"
"""The words, in the repository's top folder (Triton reads only model folders there)."""
COMPILED = "voicevox_user_dict.dic"
BASE = "voice.voicevox-base.json"
"""A voice's voice.json as exported, kept beside the one that names the compiled words."""
WORD_TYPES = {
    "PROPER_NOUN": ("名詞", "固有名詞", "一般", "*", 1348),
    "COMMON_NOUN": ("名詞", "一般", "*", "*", 1345),
    "VERB": ("動詞", "自立", "*", "*", 642),
    "ADJECTIVE": ("形容詞", "自立", "*", "*", 20),
    "SUFFIX": ("名詞", "接尾", "一般", "*", 1358),
}
"""VOICEVOX's word types -> naist-jdic parts of speech and context id (its own table)."""
_KATAKANA = re.compile(r"[ァ-ヴー]+")
_SMALL = set("ァィゥェォャュョヮ")


def _moras(pronunciation: str) -> int:
    return sum(1 for c in pronunciation if c not in _SMALL)


def make_word(surface: str, pronunciation: str, accent_type: int, word_type: str | None,
              priority: int | None) -> dict:  # fmt: skip
    """A VOICEVOX ``UserDictWord`` (its schema's fields), checked; a bad field is a 422."""
    surface = "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in surface.strip())
    if not surface or any(c in surface for c in ',"\n\x00'):
        raise ApiError(422, 21, "surface must be a word without commas, quotes or newlines",
                       "surface")  # fmt: skip
    if not _KATAKANA.fullmatch(pronunciation or ""):
        raise ApiError(422, 21, f"pronunciation must be katakana, got {pronunciation!r}",
                       "pronunciation")  # fmt: skip
    moras = _moras(pronunciation)
    if not 0 <= accent_type <= moras:
        raise ApiError(422, 21, f"accent_type must be in [0, {moras}] (its moras), got "
                       f"{accent_type}", "accent_type")  # fmt: skip
    kind = word_type or "PROPER_NOUN"
    if kind not in WORD_TYPES:
        raise ApiError(422, 21, f"word_type must be one of {', '.join(WORD_TYPES)}", "word_type")
    level = 5 if priority is None else priority
    if not 0 <= level <= 10:
        raise ApiError(422, 21, f"priority must be in [0, 10], got {level}", "priority")
    pos, pos1, pos2, pos3, context = WORD_TYPES[kind]
    return {"surface": surface, "priority": level, "context_id": context,
            "part_of_speech": pos, "part_of_speech_detail_1": pos1,
            "part_of_speech_detail_2": pos2, "part_of_speech_detail_3": pos3,
            "inflectional_type": "*", "inflectional_form": "*", "stem": "*",
            "yomi": pronunciation, "pronunciation": pronunciation, "accent_type": accent_type,
            "mora_count": moras, "accent_associative_rule": "*"}  # fmt: skip


def csv_line(word: dict) -> str:
    """The word as a MeCab user-dictionary line (Style-Bert-VITS2's CSV, the Japanese issue's
    format); priority 0-10 maps linearly onto the cost, 5 -> 8609 as in SBV2's default words."""
    cost = 8609 - (int(word["priority"]) - 5) * 1500
    ctx = str(word["context_id"])
    fields = [word["surface"], ctx, ctx, str(cost), word["part_of_speech"],
              word["part_of_speech_detail_1"], word["part_of_speech_detail_2"],
              word["part_of_speech_detail_3"], word["inflectional_type"],
              word["inflectional_form"], word["stem"], word["yomi"], word["pronunciation"],
              f"{word['accent_type']}/{word['mora_count']}", word["accent_associative_rule"]]  # fmt: skip
    return ",".join(fields)


class UserDict:
    """The words and the voices' dictionaries compiled from them (one change at a time)."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self._lock = threading.Lock()

    @property
    def repository(self) -> Path | None:
        return self.backend.cfg.repository

    def words(self) -> dict[str, dict]:
        repo = self.repository
        path = repo / STORE if repo else None
        return json.loads(path.read_text(encoding="utf-8")) if path and path.is_file() else {}

    def change(self, fn) -> Any:
        """``fn(words)`` edits the words in place; they are then saved and applied."""
        if self.repository is None:
            raise ApiError(403, 31, "the user dictionary needs the model repository: start the "
                           "gateway with --repository DIR", "repository")  # fmt: skip
        with self._lock:
            words = self.words()
            out = fn(words)
            self._apply(words)
            (self.repository / STORE).write_text(
                json.dumps(words, ensure_ascii=False, indent=1), encoding="utf-8"
            )
            return out

    def _apply(self, words: dict[str, dict]) -> None:
        try:  # the full project's Japanese frontend compiles (MAY_IMPORT in tests/layering.py)
            from vits2.text.openjtalk import SBV2_DEFAULT_CSV, compile_user_dict
        except ImportError as e:
            raise full_project_missing("user_dict", "the VOICEVOX user dictionary", e) from e

        lines = [csv_line(w) for w in words.values()]
        for voice_json in sorted(self.repository.glob("*_frontend/1/voice/voice.json")):
            base = json.loads(_base(voice_json).read_text(encoding="utf-8"))
            if "JP" not in base.get("languages", []):
                continue
            name = voice_json.parents[2].name.removesuffix("_frontend")
            folders = [voice_json.parent, self.repository / f"{name}_stream" / "1" / "voice"]
            for folder in [f for f in folders if (f / "voice.json").is_file()]:
                _compile(folder, base, lines, SBV2_DEFAULT_CSV, compile_user_dict)
            for model in (f"{name}_frontend", f"{name}_stream"):
                if (self.repository / model).is_dir():
                    self.backend.call(self.backend.tts._call, "load_model", model, model=model)


def _base(voice_json: Path) -> Path:
    base = voice_json.parent / BASE
    if not base.is_file():
        base.write_bytes(voice_json.read_bytes())
    return base


def _compile(folder: Path, base: dict, lines: list[str], sbv2_csv: Path, compile_fn) -> None:
    """The folder's voice.json naming its words plus ``lines`` compiled (none: as exported)."""
    _base(folder / "voice.json")
    if not lines:
        (folder / "voice.json").write_text(json.dumps(base, ensure_ascii=False, indent=2),
                                           encoding="utf-8")  # fmt: skip
        return
    csvs: list[Path] = []
    own = base.get("user_dict") or ""
    if own and (folder / own).with_suffix(".csv").is_file():
        csvs.append((folder / own).with_suffix(".csv"))
    if str(base.get("release", "")).startswith("sbv2"):
        csvs.insert(0, sbv2_csv)
    with tempfile.TemporaryDirectory() as tmp:
        words_csv = Path(tmp) / "voicevox.csv"
        words_csv.write_text("\n".join(lines) + "\n", encoding="utf-8")
        compile_fn([*csvs, words_csv], folder / COMPILED)
    (folder / "voice.json").write_text(
        json.dumps({**base, "user_dict": COMPILED}, ensure_ascii=False, indent=2), encoding="utf-8"
    )


def router(backend: Backend) -> APIRouter:
    api = APIRouter(tags=["voicevox"])
    store = UserDict(backend)

    def word(params: dict[str, str]) -> dict:
        try:
            accent = int(params.get("accent_type", ""))
            priority = int(params["priority"]) if params.get("priority") not in (None, "") else None
        except ValueError:
            raise ApiError(422, 21, "accent_type and priority must be integers",
                           "accent_type") from None  # fmt: skip
        return make_word(params.get("surface", ""), params.get("pronunciation", ""), accent,
                         params.get("word_type") or None, priority)  # fmt: skip

    @api.get("/user_dict")
    def user_dict() -> dict[str, dict]:
        return store.words()

    @api.post("/user_dict_word")
    def add_word(request: Request) -> str:
        new = word(dict(request.query_params))
        key = str(uuid.uuid4())
        return store.change(lambda words: (words.__setitem__(key, new), key)[1])

    @api.put("/user_dict_word/{word_uuid}", status_code=204)
    def rewrite_word(word_uuid: str, request: Request) -> Response:
        new = word(dict(request.query_params))

        def edit(words: dict) -> None:
            if word_uuid not in words:
                raise ApiError(422, 21, f"no word {word_uuid} in the user dictionary", "word_uuid")
            words[word_uuid] = new

        store.change(edit)
        return Response(status_code=204)

    @api.delete("/user_dict_word/{word_uuid}", status_code=204)
    def delete_word(word_uuid: str) -> Response:
        def edit(words: dict) -> None:
            if words.pop(word_uuid, None) is None:
                raise ApiError(422, 21, f"no word {word_uuid} in the user dictionary", "word_uuid")

        store.change(edit)
        return Response(status_code=204)

    @api.post("/import_user_dict", status_code=204)
    async def import_words(request: Request, override: bool) -> Response:
        from starlette.concurrency import run_in_threadpool

        body = await json_object(request, "word uuid -> UserDictWord")
        new = {}
        for key, w in body.items():
            if not isinstance(w, dict):
                raise ApiError(422, 21, f"{key}: must be a UserDictWord object", key)
            kind = next((k for k, v in WORD_TYPES.items() if v[4] == w.get("context_id")), None)
            try:
                accent, priority = int(w.get("accent_type", -1)), int(w.get("priority", 5))
            except (TypeError, ValueError):
                raise ApiError(422, 21, f"{key}: accent_type and priority must be integers",
                               key) from None  # fmt: skip
            new[str(key)] = make_word(str(w.get("surface", "")), str(w.get("pronunciation", "")),
                                      accent, kind, priority)  # fmt: skip

        def edit(words: dict) -> None:
            for key, w in new.items():
                if override or key not in words:
                    words[key] = w

        await run_in_threadpool(store.change, edit)
        return Response(status_code=204)

    return api
