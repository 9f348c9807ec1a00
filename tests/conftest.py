"""Session fixtures: tiny random-weight BERTs (real architectures and tokenizers) and frontends.

Everything is built locally into pytest's tmp dirs from `../shared/fixtures/bert-configs`;
nothing is downloaded.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures import FIXTURES as FIXTURES_DIR
from tests.fixtures import require as require_fixture

BERT_CONFIGS = FIXTURES_DIR / "bert-configs"
TINY_VOICE = FIXTURES_DIR / "bert-vits2-v2.3-tiny"
JP_TOKENIZER_DIR = BERT_CONFIGS / "deberta-v2-large-japanese-char-wwm"

# The tiny voice and its tritonserver are built once per session and shared by every module.
pytest_plugins = ["tests.triton_fixtures"]


@pytest.fixture(scope="session")
def tiny_bert_dirs(tmp_path_factory) -> dict[str, Path]:
    """ZH / JP / EN -> folder of a 4-layer, hidden-1024 random BERT with the real tokenizer."""
    require_fixture(BERT_CONFIGS)
    from vits2.random_bert import make_random_bert

    root = tmp_path_factory.mktemp("tiny-bert")
    return {
        kind: make_random_bert(kind, root / kind, tiny=True, seed=0) for kind in ("ZH", "JP", "EN")
    }


@pytest.fixture(scope="session")
def en_tokenizer(tiny_bert_dirs):
    from vits2.text.frontend import load_tokenizer

    return load_tokenizer(tiny_bert_dirs["EN"], "EN")


@pytest.fixture(scope="session")
def jp_tokenizer():
    from vits2.text.frontend import load_tokenizer

    return load_tokenizer(require_fixture(JP_TOKENIZER_DIR), "JP")


@pytest.fixture(scope="module")
def tiny_model():
    """The tiny v2.3 fixture voice in PyTorch (one per module: tests may change its state)."""
    import vits2

    return vits2.load_model(require_fixture(TINY_VOICE / "G_tiny.pth"))


@pytest.fixture(scope="session")
def tokenizers(en_tokenizer, jp_tokenizer):
    """Language -> the tokenizer clean_text takes (Chinese g2p needs none)."""
    return {"EN": en_tokenizer, "JP": jp_tokenizer, "ZH": None}


@pytest.fixture(scope="session")
def frontend(tiny_bert_dirs):
    """A Frontend that speaks ZH, JP and EN with the tiny BERTs' tokenizers."""
    from vits2.text.frontend import Frontend

    return Frontend({k: str(v) for k, v in tiny_bert_dirs.items()})
