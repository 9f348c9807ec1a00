"""Make tests/data/tokenizers-tf4.jsonl: the BERT tokenizers as upstream's era ran them.

Not a test and not imported by the project. Bert-VITS2 and Style-Bert-VITS2 never pinned
transformers; their voices were trained on 4.3x. This writes what transformers 4.36.2 (with
tokenizers 0.15.2 and sentencepiece 0.2.0) gives for every text of the frontend goldens (raw,
normalised and BERT texts) plus edge cases, with each tokenizer a voice can have:

- ZH: chinese-roberta-wwm-ext-large (`vits2/bert-configs`, BertTokenizerFast);
- JP: deberta-v2-large-japanese-char-wwm (shared fixtures, BertJapaneseTokenizer);
- JP20: 2.0's ku-nlp/deberta-v2-large-japanese (`vits2/bert-configs`, DebertaV2 fast);
- EN: the tiny English spm the tests train, with upstream's slow `DebertaV2Tokenizer`
  (Style-Bert-VITS2 loads the fast one; the header counts the texts where they differ).

Run in the scratch environment of make_frontend_goldens.py (never the project's venv), with
`./bert/` as described there:

    python make_tokenizer_goldens.py /path/to/repo out.jsonl

tests/test_tokenizers.py checks that the project's `load_tokenizer` gives exactly this.
"""

import glob
import hashlib
import json
import os
import sys
from importlib.metadata import version

EDGE = [
    "…",
    "……",
    "‥",
    "〜",
    "～",
    "ｈｅｌｌｏ",
    "①②",
    "㍍",
    "ｶﾀｶﾅ",
    "!?",
    "！？",
    "—",
    "「」『』",
    "\u3000",
    "Hmm...",
    "Wait... what",
    "ＡＢＣ１２３",
    "café naïve",
    "",
]


def texts(repo: str) -> list[str]:
    out = set(EDGE)
    files = glob.glob(os.path.join(repo, "tests/data/frontend-*.jsonl"))
    for f in sorted(files):
        for line in open(f, encoding="utf-8").read().splitlines()[1:]:
            row = json.loads(line)
            for seg in row.get("segments", [row]):
                for key in ("text", "norm_text", "bert_text"):
                    if isinstance(seg.get(key), str):
                        out.add(seg[key])
    return sorted(out)


def main(repo: str, out: str) -> None:
    import sentencepiece as spm
    from transformers import AutoTokenizer, DebertaV2Tokenizer, DebertaV2TokenizerFast

    configs = os.path.join(repo, "vits2", "bert-configs")
    toks = {
        "ZH": AutoTokenizer.from_pretrained(os.path.join(configs, "chinese-roberta-wwm-ext-large")),
        "JP": AutoTokenizer.from_pretrained("bert/deberta-v2-large-japanese-char-wwm"),
        "JP20": AutoTokenizer.from_pretrained(os.path.join(configs, "deberta-v2-large-japanese")),
        "EN": DebertaV2Tokenizer.from_pretrained("bert/deberta-v3-large"),
    }
    en_fast = DebertaV2TokenizerFast.from_pretrained("bert/deberta-v3-large")
    sp = spm.SentencePieceProcessor(model_file="bert/deberta-v3-large/spm.model")
    pieces = "\n".join(
        f"{sp.id_to_piece(i)}\t{sp.get_score(i)!r}" for i in range(sp.get_piece_size())
    )
    rows = []
    fast_differs = 0
    for text in texts(repo):
        row = {"text": text}
        for name, tok in toks.items():
            row[name] = [tok.tokenize(text), tok(text)["input_ids"]]
        fast_differs += [en_fast.tokenize(text), en_fast(text)["input_ids"]] != row["EN"]
        rows.append(row)
    header = {
        "versions": {n: version(n) for n in ("transformers", "tokenizers", "sentencepiece")},
        "classes": {k: type(v).__name__ for k, v in toks.items()},
        "en_tokenizer_pieces_sha256": hashlib.sha256(pieces.encode()).hexdigest(),
        "en_fast_differs_on": fast_differs,
        "made_by": "tests/data/make_tokenizer_goldens.py",
    }
    with open(out, "w", encoding="utf-8") as f:
        for r in [header, *rows]:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(len(rows), "texts ->", out, f"(EN fast differs from slow on {fast_differs})")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
