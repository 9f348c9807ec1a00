"""The BERT tokenizers give what upstream's era gave (transformers 4.36.2, sentencepiece 0.2.0).

tests/data/tokenizers-tf4.jsonl (make_tokenizer_goldens.py, run in a scratch environment with
transformers 4.36.2) holds the tokens and ids of every golden text with each tokenizer a voice
can have. The project installs transformers 5.25.0 (scripts/constraints.txt), which equals
4.36.2 on all of them; 5.24.0 did not (it skipped the ku-nlp tokenizer's nmt_nfkc normaliser).
English is read by `SentencePieceTokenizer` (4.36's slow DebertaV2Tokenizer restated).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

import vits2
from vits2.text.frontend import load_tokenizer

GOLDEN = Path(__file__).parent / "data" / "tokenizers-tf4.jsonl"
CONFIGS = Path(vits2.__file__).parent / "bert-configs"


def _rows() -> tuple[dict, list[dict]]:
    lines = GOLDEN.read_text(encoding="utf-8").splitlines()
    return json.loads(lines[0]), [json.loads(x) for x in lines[1:]]


@pytest.fixture(scope="module")
def tokenizers(tiny_bert_dirs, jp_tokenizer):
    return {
        "ZH": load_tokenizer(CONFIGS / "chinese-roberta-wwm-ext-large", "ZH"),
        "JP": jp_tokenizer,
        "JP20": load_tokenizer(CONFIGS / "deberta-v2-large-japanese", "JP"),
        "EN": load_tokenizer(tiny_bert_dirs["EN"], "EN"),
    }


def test_english_tokenizer_is_the_goldens(tiny_bert_dirs):
    import sentencepiece as spm

    header, _ = _rows()
    sp = spm.SentencePieceProcessor(model_file=str(tiny_bert_dirs["EN"] / "spm.model"))
    pieces = "\n".join(
        f"{sp.id_to_piece(i)}\t{sp.get_score(i)!r}" for i in range(sp.get_piece_size())
    )
    assert hashlib.sha256(pieces.encode()).hexdigest() == header["en_tokenizer_pieces_sha256"]
    assert header["versions"]["sentencepiece"] == spm.__version__


@pytest.mark.parametrize("kind", ["ZH", "JP", "JP20", "EN"])
def test_tokenizer_equals_transformers_4_36(kind, tokenizers):
    tok = tokenizers[kind]
    _, rows = _rows()
    differ = [
        r["text"]
        for r in rows
        if [tok.tokenize(r["text"]), list(tok(r["text"])["input_ids"])] != r[kind]
    ]
    assert not differ, f"{len(differ)} of {len(rows)} texts differ, e.g. {differ[:3]}"


def test_english_tokenizer_api(tokenizers, tmp_path):
    """What the frontend, the BERT check and the random stand-ins use of it."""
    tok = tokenizers["EN"]
    enc = tok("Hello world.")
    assert enc["input_ids"][0] == tok.cls_token_id and enc["input_ids"][-1] == tok.sep_token_id
    assert enc["token_type_ids"] == [0] * len(enc["input_ids"]) == [0] * len(enc["attention_mask"])
    assert tok("Hello", return_tensors="np")["input_ids"].shape == (
        1,
        len(tok("Hello")["input_ids"]),
    )
    assert tok.convert_tokens_to_ids(tok.tokenize("Hello")) == tok("Hello")["input_ids"][1:-1]
    tok.save_pretrained(tmp_path)
    again = load_tokenizer(tmp_path, "EN")
    assert again("Hmm... ok!")["input_ids"] == tok("Hmm... ok!")["input_ids"]
