"""The voices' BERT tokenizers, loaded once per folder (`load_tokenizer`), and the English
DeBERTa-v3 tokenizer exactly as the voices learned it: sentencepiece, no more.

Upstream Bert-VITS2 (2.1 on) and Style-Bert-VITS2 load their English tokenizer with
`DebertaV2Tokenizer.from_pretrained(folder)`, the *slow* tokenizer of transformers 4.3x: it
calls the sentencepiece library on the folder's `spm.model` (`spm.encode(text,
out_type=str)`, the model's own nmt_nfkc normaliser included; `split_by_punct` off, no lower
casing) and puts the [CLS] / [SEP] ids around the pieces' ids.

transformers 5 has no slow tokenizer: it converts spm.model into a `tokenizers` pipeline,
which needs a protobuf newer than tritonclient allows, and a tokenizer built from the vocab
alone leaves out the normaliser ("Hmm..." and full-width "！" then tokenize differently on
45 of 618 golden texts). This class is the 4.3x behaviour restated on sentencepiece alone;
tests/data/tokenizers-tf4.jsonl (made with transformers 4.36.2) holds it.

Imports no torch and no transformers.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from pathlib import Path

__all__ = ["SentencePieceTokenizer", "distribute_phone", "load_tokenizer", "spm_tokenizer"]

SPECIAL_TOKENS = {
    "pad_token": "[PAD]",
    "cls_token": "[CLS]",
    "sep_token": "[SEP]",
    "unk_token": "[UNK]",
    "mask_token": "[MASK]",
}
"""DeBERTa-v3's special tokens; [MASK] is added after the pieces where spm.model lacks it."""


class SentencePieceTokenizer:
    """A DeBERTa-v2/v3 tokenizer on `spm.model`: `tokenize`, `__call__` -> input_ids,
    token_type_ids (all 0), attention_mask (all 1), `convert_tokens_to_ids`, `save_pretrained`.

    Only single, unpadded texts: that is all the frontend and the BERT graphs feed.
    """

    def __init__(self, spm_file: str | os.PathLike) -> None:
        import sentencepiece as spm

        self.spm_file = Path(spm_file)
        if not self.spm_file.is_file():
            raise ValueError(f"sentencepiece model {self.spm_file} does not exist")
        self.sp = spm.SentencePieceProcessor(model_file=str(self.spm_file))
        n = self.sp.get_piece_size()
        # as transformers 4.3x: a special token missing from the pieces is added after them
        self._added = {}
        for name, token in SPECIAL_TOKENS.items():
            setattr(self, name, token)
            if self.sp.piece_to_id(token) == self.sp.unk_id() and token != "[UNK]":
                self._added[token] = n + len(self._added)
        self.cls_token_id = self.convert_tokens_to_ids(self.cls_token)
        self.sep_token_id = self.convert_tokens_to_ids(self.sep_token)
        self.pad_token_id = self.convert_tokens_to_ids(self.pad_token)
        self.unk_token_id = self.convert_tokens_to_ids(self.unk_token)
        self.mask_token_id = self.convert_tokens_to_ids(self.mask_token)

    def __len__(self) -> int:
        return self.sp.get_piece_size() + len(self._added)

    @property
    def vocab_size(self) -> int:
        return self.sp.get_piece_size()

    def tokenize(self, text: str) -> list[str]:
        """The pieces of `text` (sentencepiece's normaliser applied), no [CLS]/[SEP]."""
        if not text:
            return []
        return list(self.sp.encode(text, out_type=str))

    def convert_tokens_to_ids(self, tokens: str | list[str]) -> int | list[int]:
        if isinstance(tokens, str):
            return self._added.get(tokens, self.sp.piece_to_id(tokens))
        return [self.convert_tokens_to_ids(t) for t in tokens]

    def convert_ids_to_tokens(self, ids: int | list[int]) -> str | list[str]:
        if isinstance(ids, int):
            added = {i: t for t, i in self._added.items()}
            return added[ids] if ids in added else self.sp.id_to_piece(ids)
        return [self.convert_ids_to_tokens(i) for i in ids]

    def __call__(self, text: str, return_tensors: str | None = None) -> dict:
        """{"input_ids": [CLS] + piece ids + [SEP], "token_type_ids", "attention_mask"};
        `return_tensors="np"` gives int64 arrays of shape [1, T]."""
        if not isinstance(text, str):
            raise ValueError(f"text must be a string, got {type(text).__name__}")
        ids = [
            self.cls_token_id,
            *self.convert_tokens_to_ids(self.tokenize(text)),
            self.sep_token_id,
        ]
        enc = {"input_ids": ids, "token_type_ids": [0] * len(ids), "attention_mask": [1] * len(ids)}
        if return_tensors == "np":
            import numpy as np

            return {k: np.asarray([v], dtype=np.int64) for k, v in enc.items()}
        if return_tensors is not None:
            raise ValueError(f"return_tensors must be None or 'np', got {return_tensors!r}")
        return enc

    def save_pretrained(self, folder: str | os.PathLike) -> tuple[str, ...]:
        """spm.model and a tokenizer_config.json, as a user's deberta-v3-large folder holds."""
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        if (out / "spm.model").resolve() != self.spm_file.resolve():
            shutil.copy2(self.spm_file, out / "spm.model")
        config = {
            "tokenizer_class": "DebertaV2Tokenizer",
            "do_lower_case": False,
            "split_by_punct": False,
            "vocab_type": "spm",
            **SPECIAL_TOKENS,
        }
        (out / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n")
        return str(out / "spm.model"), str(out / "tokenizer_config.json")


_tok_lock = threading.Lock()
_tokenizers: dict[str, object] = {}


def load_tokenizer(tokenizer, language: str = ""):
    """A tokenizer as given, or loaded once per path from a local model folder.

    An English folder with `spm.model` is read as upstream read it (transformers 4.3x's slow
    DebertaV2Tokenizer): `SentencePieceTokenizer`, whatever else the folder holds. Other
    folders load with transformers' AutoTokenizer."""
    if tokenizer is None:
        raise ValueError(
            f"{language or 'this language'} g2p needs the BERT tokenizer of the voice: pass a "
            "transformers tokenizer or the path of a local BERT model folder"
        )
    if not isinstance(tokenizer, (str, os.PathLike)):
        return tokenizer
    path = Path(tokenizer).expanduser().resolve()
    key = str(path)
    with _tok_lock:
        if key not in _tokenizers:
            if not path.is_dir():
                raise ValueError(f"BERT tokenizer folder {path} does not exist")
            if (path / "spm.model").is_file() and language.upper() == "EN":
                _tokenizers[key] = spm_tokenizer(path / "spm.model")
            else:
                from transformers import AutoTokenizer

                _tokenizers[key] = AutoTokenizer.from_pretrained(key, local_files_only=True)
        return _tokenizers[key]


def spm_tokenizer(spm_file: str | os.PathLike):
    """The DeBERTa-v3 tokenizer of a sentencepiece model, exactly as upstream's era ran it
    (`SentencePieceTokenizer`; no transformers, no protobuf conversion)."""
    return SentencePieceTokenizer(spm_file)


def distribute_phone(n_phone: int, n_word: int) -> list[int]:
    """Spread n_phone phones over n_word tokens as evenly as possible, earlier tokens first
    (upstream's `distribute_phone`; every language's word2ph over BERT tokens uses it)."""
    base, extra = divmod(n_phone, n_word)
    return [base + 1 if i < extra else base for i in range(n_word)]
