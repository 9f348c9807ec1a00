"""Japanese g2p as upstream Bert-VITS2: pyopenjtalk readings, accent-derived tones.

- `text_normalize`: NFKC, numbers to kanji words with num2words(lang="ja") as upstream
  (profile rule `ja-decimals-as-written` reads decimals digit by digit as written),
  punctuation onto the 7 marks, everything that is not kana, kanji or punctuation removed.
- `g2p`: pyopenjtalk's words and pronunciations (`text2sep_kata`), katakana -> phones, by the
  profile's release: the v2.3 tag passes each reading through `pyopenjtalk.g2p`; master
  (January 2024 on) maps hiragana through its `hiragana2p` table (long vowels repeat the vowel,
  "ん" is "n", "っ" is "q"). Tones 0/1 come from the full-context labels' accent fields
  (`get_accent` + `align_tones`), each word's phones spread over its characters' tokens
  (`distribute_phone`).

The engine is OpenJTalk 1.11 with naist-jdic 1.11 (`vits2.text.openjtalk`, what every
release's voices learned); `dictionary` arguments name a compiled user dictionary (None:
none). Imports no torch.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from vits2.text import openjtalk
from vits2.text.ja_normalize import convert_numbers_to_words, number_to_kanji
from vits2.text.profiles import Profile, get_profile
from vits2.text.punctuation import REPLACE_MAP, REPLACE_MAP_20, replace_marks
from vits2.text.symbols import PUNCTUATION, SYMBOL_TO_ID
from vits2.text.tokenizers import distribute_phone, load_tokenizer

__all__ = ["g2p", "number_to_kanji", "text_normalize", "text2sep_kata"]

_DROP_RE = re.compile(
    r"[^\u3040-\u309F\u30A0-\u30FF\u4E00-\u9FFF\u3400-\u4DBF\u3005"
    + re.escape("".join(PUNCTUATION))
    + r"]+"
)
_SYMBOL_TOKENS = set("・、。？！")
_NO_YOMI_TOKENS = set("「」『』―（）［］[]")
# A pronunciation that starts with a mark (not a letter, digit, kana or kanji) is punctuation.
_MARKS = re.compile(
    r"[^A-Za-z\d\u3005\u3040-\u30ff\u4e00-\u9fff\uff11-\uff19\uff21-\uff3a\uff41-\uff5a\uff66-\uff9d]"
)

# Hiragana -> phones (upstream `hiragana2p`, a modification of jaconv's hiragana2julius):
# longest match first; ":" lengthens the letter before it.
_KANA_RULES = """
う゛ぁ v a|う゛ぃ v i|う゛ぇ v e|う゛ぉ v o|う゛ゅ by u|ぅ゛ v u|ゔぁ v a|ゔぃ v i|ゔぇ v e|ゔぉ v o
ゔゅ by u|あぁ a a|いぃ i i|いぇ i e|いゃ y a|うぅ u:|えぇ e e|おぉ o:|かぁ k a:|きぃ k i:|くぅ k u:
くゃ ky a|くゅ ky u|くょ ky o|けぇ k e:|こぉ k o:|がぁ g a:|ぎぃ g i:|ぐぅ g u:|ぐゃ gy a|ぐゅ gy u
ぐょ gy o|げぇ g e:|ごぉ g o:|さぁ s a:|しぃ sh i:|すぅ s u:|すゃ sh a|すゅ sh u|すょ sh o|せぇ s e:
そぉ s o:|ざぁ z a:|じぃ j i:|ずぅ z u:|ずゃ zy a|ずゅ zy u|ずょ zy o|ぜぇ z e:|ぞぉ z o:|たぁ t a:
ちぃ ch i:|つぁ ts a|つぃ ts i|つぅ ts u:|つゃ ch a|つゅ ch u|つょ ch o|つぇ ts e|つぉ ts o|てぇ t e:
とぉ t o:|だぁ d a:|ぢぃ j i:|づぅ d u:|づゃ zy a|づゅ zy u|づょ zy o|でぇ d e:|どぉ d o:|なぁ n a:
にぃ n i:|ぬぅ n u:|ぬゃ ny a|ぬゅ ny u|ぬょ ny o|ねぇ n e:|のぉ n o:|はぁ h a:|ひぃ h i:|ふぅ f u:
ふゃ hy a|ふゅ hy u|ふょ hy o|へぇ h e:|ほぉ h o:|ばぁ b a:|びぃ b i:|ぶぅ b u:|ぶゅ by u|べぇ b e:
ぼぉ b o:|ぱぁ p a:|ぴぃ p i:|ぷぅ p u:|ぷゃ py a|ぷゅ py u|ぷょ py o|ぺぇ p e:|ぽぉ p o:|まぁ m a:
みぃ m i:|むぅ m u:|むゃ my a|むゅ my u|むょ my o|めぇ m e:|もぉ m o:|やぁ y a:|ゆぅ y u:|ゆゃ y a:
ゆゅ y u:|ゆょ y o:|よぉ y o:|らぁ r a:|りぃ r i:|るぅ r u:|るゃ ry a|るゅ ry u|るょ ry o|れぇ r e:
ろぉ r o:|わぁ w a:|をぉ o:|う゛ b u|でぃ d i|でゃ dy a|でゅ dy u|でょ dy o|てぃ t i|てゃ ty a
てゅ ty u|てょ ty o|すぃ s i|ずぁ z u a|ずぃ z i|ずぇ z e|ずぉ z o|きゃ ky a|きゅ ky u|きょ ky o
しゃ sh a|しゅ sh u|しぇ sh e|しょ sh o|ちゃ ch a|ちゅ ch u|ちぇ ch e|ちょ ch o|とぅ t u|とゃ ty a
とゅ ty u|とょ ty o|どぁ d o a|どぅ d u|どゃ dy a|どゅ dy u|どょ dy o|にゃ ny a|にゅ ny u|にょ ny o
ひゃ hy a|ひゅ hy u|ひょ hy o|みゃ my a|みゅ my u|みょ my o|りゃ ry a|りゅ ry u|りょ ry o|ぎゃ gy a
ぎゅ gy u|ぎょ gy o|ぢぇ j e|ぢゃ j a|ぢゅ j u|ぢょ j o|じぇ j e|じゃ j a|じゅ j u|じょ j o|びゃ by a
びゅ by u|びょ by o|ぴゃ py a|ぴゅ py u|ぴょ py o|うぁ u a|うぃ w i|うぇ w e|うぉ w o|ふぁ f a
ふぃ f i|ふぇ f e|ふぉ f o|あ a|い i|う u|ゔ v u|え e|お o|か k a|き k i|く k u|け k e|こ k o
さ s a|し sh i|す s u|せ s e|そ s o|た t a|ち ch i|つ ts u|て t e|と t o|な n a|に n i|ぬ n u
ね n e|の n o|は h a|ひ h i|ふ f u|へ h e|ほ h o|ま m a|み m i|む m u|め m e|も m o|ら r a
り r i|る r u|れ r e|ろ r o|が g a|ぎ g i|ぐ g u|げ g e|ご g o|ざ z a|じ j i|ず z u|ぜ z e
ぞ z o|だ d a|ぢ j i|づ z u|で d e|ど d o|ば b a|び b i|ぶ b u|べ b e|ぼ b o|ぱ p a|ぴ p i
ぷ p u|ぺ p e|ぽ p o|や y a|ゆ y u|よ y o|わ w a|ゐ i|ゑ e|ん N|っ q|ぁ a|ぃ i|ぅ u|ぇ e|ぉ o
ゎ w a|を o|ゃ y a|ゅ y u|ょ y o|ー :|〜 :|− :|- :
"""
_KANA_MAP: dict[str, str] = {
    # a lengthening mark joins the letter before it; everything else starts a new phone
    rule.split(" ", 1)[0]: ("" if rule.split(" ", 1)[1] == ":" else " ") + rule.split(" ", 1)[1]
    for rule in _KANA_RULES.replace("\n", "|").split("|")
    if rule.strip()
}
_LONG_RE = re.compile(r"(\w)(:*)")
# Master's table drops the small vowel in these five (upstream's own entries); rule
# `ja-small-vowel-kana` keeps the entries above, which lengthen or add the vowel.
_MASTER_ENTRIES = {
    "しぃ": " sh i",
    "ちぃ": " ch i",
    "つぅ": " ts u",
    "ずぁ": " z u",
    "どぁ": " d o",
}
_KANA_MAP_MASTER = {**_KANA_MAP, **_MASTER_ENTRIES}


def kata_to_hira(text: str) -> str:
    """Katakana ァ..ヶ ヽ ヾ -> hiragana ぁ..ゖ ゝ ゞ (ヴ -> ゔ), as jaconv.kata2hira; everything
    else unchanged."""
    return "".join(
        chr(ord(c) - 0x60) if "\u30a1" <= c <= "\u30f6" or c in "ヽヾ" else c for c in text
    )


def hira_to_kata(text: str) -> str:
    """Hiragana ぁ..ゖ ゝ ゞ -> katakana ァ..ヶ ヽ ヾ (ゔ -> ヴ), as jaconv.hira2kata; everything
    else unchanged."""
    return "".join(
        chr(ord(c) + 0x60) if "\u3041" <= c <= "\u3096" or c in "ゝゞ" else c for c in text
    )


def hiragana_to_phones(text: str, small_vowels: bool = True) -> list[str]:
    """Hiragana -> phones: "きょうー" -> ["ky", "o", "u", "u"]; "ん" -> "n"; unknown chars dropped.

    `small_vowels` False uses master's five entries that drop a small vowel (しぃ -> sh i).
    """
    table = _KANA_MAP if small_vowels else _KANA_MAP_MASTER
    out: list[str] = []
    i = 0
    while i < len(text):
        for length in (3, 2, 1):
            rule = table.get(text[i : i + length])
            if rule is not None:
                out.append(rule)
                i += length
                break
        else:
            i += 1
    joined = "".join(out).strip()
    joined = _LONG_RE.sub(lambda m: m.group(1) + (" " + m.group(1)) * len(m.group(2)), joined)
    return [p for p in joined.replace("N", "n").split(" ") if p]


def replace_punctuation(text: str, v20: bool = False) -> str:
    """Map punctuation onto the 7 marks and drop everything but kana, kanji and marks
    (`v20`: Bert-VITS2 2.0's map)."""
    return _DROP_RE.sub("", replace_marks(text, v20))


def text_normalize(
    text: str, profile: str | Profile | None = None, dictionary: str | None = None
) -> str:
    """Upstream's Japanese `text_normalize`, then the text pyopenjtalk's words spell.

    The last step makes the text the BERT sees the same as upstream's BERT input
    (`"".join(text2sep_kata(text)[0])`), so word2ph matches its tokens one to one.
    """
    v20 = get_profile(profile).ja_normalize == "2.0"
    res = unicodedata.normalize("NFKC", text)
    res = convert_numbers_to_words(res, profile)
    res = replace_punctuation(res, v20)
    if not v20:  # 2.0 kept the dakuten marks
        res = res.replace("\u3099", "").replace("\u309b", "")
    if not res:
        return res
    return "".join(text2sep_kata(res, v20, dictionary)[0])


def text2sep_kata(
    text: str, v20: bool = False, dictionary: str | None = None
) -> tuple[list[str], list[str], list[tuple[str, int]]]:
    """pyopenjtalk words of `text`: (surface strings, katakana readings, (phone, accent));
    `v20` maps each word's marks as Bert-VITS2 2.0 did."""
    words, readings, accents = _text2sep_kata(text, v20, dictionary)
    return list(words), list(readings), list(accents)


def bert_input_ids_v20(norm_text: str, tokenizer, dictionary: str | None = None) -> list[int]:
    """What the 2.0 Japanese BERT (ku-nlp/deberta-v2-large-japanese) reads: 2 ([CLS]), the ids
    of each pyopenjtalk word's tokens, 3 ([SEP]); upstream writes the two ids as literals."""
    words = text2sep_kata(norm_text, True, dictionary)[0]
    ids = [i for w in words for i in tokenizer.convert_tokens_to_ids(tokenizer.tokenize(w))]
    return [2, *ids, 3]


def run_openjtalk(text: str, dictionary: str | None = None) -> tuple[list[dict], list[str]]:
    """OpenJTalk 1.11's per-word analysis (NJD features: string, pron, ...) and full-context
    labels of `text` (`vits2.text.openjtalk.run`)."""
    return openjtalk.run(text, dictionary)


@lru_cache(maxsize=256)  # text_normalize and g2p both parse the same normalised text
def _text2sep_kata(
    text: str, v20: bool, dictionary: str | None
) -> tuple[tuple[str, ...], tuple[str, ...], tuple]:
    parsed, labels = run_openjtalk(text, dictionary)
    words: list[str] = []
    readings: list[str] = []
    marks = REPLACE_MAP_20 if v20 else REPLACE_MAP
    for part in parsed:
        word = replace_punctuation(part["string"], v20)
        yomi = part["pron"].replace("’", "")
        if yomi:
            if _MARKS.match(yomi):
                if len(word) > 1:
                    chars = [replace_punctuation(c, v20) for c in word]
                    readings += chars
                    words += chars
                    continue
                if word not in marks and word not in marks.values():
                    word = ","
                yomi = word
            readings.append(yomi)
        elif word in _SYMBOL_TOKENS:
            readings.append(word)
        elif word in ("っ", "ッ"):
            readings.append("ッ")
        elif word not in _NO_YOMI_TOKENS:
            readings.append(word)
        else:
            readings.append("")  # keep words and readings aligned (upstream skips it)
        words.append(word)
    return tuple(words), tuple(readings), tuple(_accents(labels))


_PHONE_RE = re.compile(r"\-([^\+]*)\+")
_A1_RE = re.compile(r"/A:(\-?[0-9]+)\+")
_A2_RE = re.compile(r"\+(\d+)\+")
_EMPTY = re.match("(.*)", "sil")


def _field(regex: re.Pattern, label: str, default: int) -> int:
    m = regex.search(label)
    return int(m.group(1)) if m else default  # "xx" where the label has no accent phrase


def _accents(labels: list[str]) -> list[tuple[str, int]]:
    """(phone, accent move) per phone: -1 falls after it, +1 rises after it, else 0."""
    phones = [(_PHONE_RE.search(label) or _EMPTY).group(1) for label in labels]
    out: list[tuple[str, int]] = []
    for n, (phone, label) in enumerate(zip(phones, labels, strict=True)):
        if phone in ("sil", "pau"):
            continue
        a1 = _field(_A1_RE, label, 0)
        a2 = _field(_A2_RE, label, 0)
        if n + 1 >= len(labels) or phones[n + 1] in ("sil", "pau"):
            a2_next = -1
        else:
            a2_next = _field(_A2_RE, labels[n + 1], -1)
        if a1 == 0 and a2_next == a2 + 1:
            move = -1
        elif a2 == 1 and a2_next == 2:
            move = 1
        else:
            move = 0
        out.append((phone.replace("cl", "q").lower(), move))
    return out


def _openjtalk_g2p(katakana: str, dictionary: str | None = None) -> list[str]:
    """The v2.3 tag's reading -> phones: `pyopenjtalk.g2p`, lower-cased, "cl" -> "q"."""
    phones = openjtalk.g2p(katakana, dictionary)
    return [p for p in phones.lower().replace("cl", "q").split(" ") if p]


def kata2phoneme(
    text: str, profile: str | Profile | None = None, dictionary: str | None = None
) -> list[str]:
    """Katakana reading (or a punctuation mark) -> phones; a leading "ー" is kept for
    `handle_long` to resolve from the previous word. Marks at the start are phones of their
    own; a "ー" after them is dropped (upstream's loop); the rest is read as the profile's
    release reads it."""
    profile = get_profile(profile)
    text = text.strip()
    if text == "ー":
        return ["ー"]
    if text.startswith("ー"):
        return ["ー"] + kata2phoneme(text[1:], profile, dictionary)
    out: list[str] = []
    while text and (_MARKS.match(text) or text.startswith("ー")):
        if _MARKS.match(text):
            out.append(text[0])
        text = text[1:]
    if not text:
        return out
    if profile.ja_kana == "openjtalk":
        return out + _openjtalk_g2p(hira_to_kata(text), dictionary)
    return out + hiragana_to_phones(
        kata_to_hira(text), small_vowels=profile.has("ja-small-vowel-kana")
    )


def handle_long(sep_phonemes: list[list[str]]) -> list[list[str]]:
    """Replace a stray "ー" by the last letter of the phone before it."""
    for i, phones in enumerate(sep_phonemes):
        for j, ph in enumerate(phones):
            if ph != "ー":
                continue
            if j > 0:
                phones[j] = phones[j - 1][-1]
            else:
                prev = next((p for p in reversed(sep_phonemes[:i]) if p), None)
                phones[j] = prev[-1] if prev else "ー"
    return [[p for p in phones if p != "ー"] for phones in sep_phonemes]


def align_tones(sep_phonemes: list[list[str]], accents: list[tuple[str, int]]) -> list[int]:
    """Upstream `align_tones`: walk each word's phones against the label phones, sum the
    accent moves, shift by one phone (a move takes effect after its phone), and lift words
    that fall so tones are 0 (low) or 1 (high). Out-of-range values are clipped to 0/1."""
    pos = 0
    out: list[int] = []
    for phones in sep_phonemes:
        temp = [0] * len(phones)
        for idx, p in enumerate(phones):
            if pos >= len(accents):
                break
            if p == accents[pos][0]:
                temp[idx] = accents[pos][1] + (temp[idx - 1] if idx > 0 else 0)
                pos += 1
        temp = ([0] + temp)[:-1] if temp else temp
        if -1 in temp:
            temp = [t + 1 for t in temp]
        out += [min(max(t, 0), 1) for t in temp]
    return out


def g2p(
    norm_text: str,
    tokenizer=None,
    profile: str | Profile | None = None,
    dictionary: str | None = None,
) -> tuple[list[str], list[int], list[int]]:
    """(phones, tones 0/1, word2ph) of normalised Japanese text; "_" padding at both ends.

    `tokenizer` is the voice's Japanese BERT tokenizer (character level) or the path of a
    local model folder; word2ph has one entry per token of `tokenizer(norm_text)`.
    """
    tok = load_tokenizer(tokenizer, "JP")
    profile = get_profile(profile)
    v20 = profile.ja_normalize == "2.0"
    words, readings, accents = text2sep_kata(norm_text, v20, dictionary)
    pairs = list(zip(words, readings, strict=True))
    sep_phonemes = handle_long([kata2phoneme(r, profile, dictionary) for _, r in pairs])
    sep_phonemes = [[p if p in SYMBOL_TO_ID else "UNK" for p in ph] for ph in sep_phonemes]
    tones = align_tones(sep_phonemes, accents)

    phones: list[str] = []
    out_tones: list[int] = []
    word2ph: list[int] = []
    k = 0
    for (word, _), ph in zip(pairs, sep_phonemes, strict=True):
        # 2.1 on: a mark is one token of its own; 2.0 tokenized marks like words
        n_tok = 1 if word in PUNCTUATION and not v20 else len(tok.tokenize(word)) if word else 0
        t = tones[k : k + len(ph)]
        k += len(ph)
        if n_tok == 0:
            continue  # nothing of it reaches the BERT input: drop its phones too
        phones += ph
        out_tones += t
        word2ph += distribute_phone(len(ph), n_tok)

    if v20:
        n_tokens = len(bert_input_ids_v20(norm_text, tok, dictionary)) - 2
    else:
        n_tokens = len(tok.tokenize(norm_text))
    if len(word2ph) != n_tokens:
        # pyopenjtalk's words did not spell norm_text: spread all phones over its tokens.
        word2ph = distribute_phone(len(phones), n_tokens) if n_tokens else []
        if not n_tokens:
            phones, out_tones = [], []
    return ["_"] + phones + ["_"], [0] + out_tones + [0], [1] + word2ph + [1]
