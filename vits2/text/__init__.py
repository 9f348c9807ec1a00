"""Text frontend of Bert-VITS2: text -> phones, tones, word2ph, ids, BERT token spreads.

One profile per release (`profiles`); per language a normaliser and a g2p (`chinese`,
`japanese` and Style-Bert-VITS2's `ja_sbv2`, `english` and the pre-2.3 `en_releases` over the
shared `en_lexicon`), OpenJTalk and user dictionaries (`openjtalk`), the BERT tokenizers
(`tokenizers`), and `frontend`, which turns a whole text into the encoder's sentences.

Imports no torch and of the project only the contract: the Triton frontend model loads it.
The PyTorch BERT reference lives in `vits2.bert`.
"""

from __future__ import annotations

from vits2.text.profiles import DEFAULT_PROFILE, PROFILE_NAMES, Profile, get_profile
from vits2.text.symbols import (
    LANGUAGE_ID,
    LANGUAGES,
    NUM_LANGUAGES,
    NUM_TONES,
    SYMBOL_TO_ID,
    SYMBOLS,
    TONE_OFFSET,
    add_blank,
    cleaned_text_to_sequence,
    intersperse,
)

__all__ = [
    "DEFAULT_PROFILE",
    "LANGUAGES",
    "LANGUAGE_ID",
    "NUM_LANGUAGES",
    "NUM_TONES",
    "PROFILE_NAMES",
    "SYMBOLS",
    "SYMBOL_TO_ID",
    "TONE_OFFSET",
    "add_blank",
    "clean_text",
    "cleaned_text_to_sequence",
    "get_profile",
    "intersperse",
]


def clean_text(
    text: str,
    language: str,
    tokenizer=None,
    profile: str | Profile | None = None,
    user_dict: str | None = None,
) -> tuple[str, list[str], list[int], list[int]]:
    """Upstream `clean_text`: (norm_text, phones, tones local to the language, word2ph).

    Phones include the leading and trailing padding phone "_"; word2ph has one entry per BERT
    token of `norm_text` including [CLS]/[SEP] (for Chinese: per character + 2). English and
    Japanese need the BERT tokenizer (a transformers tokenizer or a local model folder) because
    their word2ph follows its tokens. `profile` names the frontend (`PROFILE_NAMES`; default
    "improved"): "upstream-*" reproduce those Bert-VITS2 releases, "sbv2" / "sbv2-jp-extra"
    Style-Bert-VITS2 (`profiles.profile_for_release` maps a release to its profile). Japanese
    `norm_text` is the text the release's BERT reads; "upstream-2.0" English word2ph has one
    entry per word (its BERT took word i's feature from token i). `user_dict` is the voice's
    compiled OpenJTalk user dictionary (`vits2.text.openjtalk.dictionary_for`).
    """
    prof = get_profile(profile)
    language = language.upper()
    if language == "ZH":
        from vits2.text import chinese

        norm_text = chinese.text_normalize(text, prof)
        phones, tones, word2ph = chinese.g2p(norm_text)
    elif language == "EN":
        from vits2.text import english

        norm_text = english.text_normalize(text, prof)
        phones, tones, word2ph = english.g2p(norm_text, tokenizer=tokenizer, profile=prof)
    elif language == "JP" and prof.ja_g2p in ("sbv2", "sbv2-jp-extra"):
        from vits2.text import ja_sbv2, openjtalk

        dic = openjtalk.dictionary_for(prof, user_dict)
        return ja_sbv2.clean_text(text, tokenizer, prof.ja_g2p == "sbv2-jp-extra", dic)
    elif language == "JP":
        from vits2.text import japanese, openjtalk

        dic = openjtalk.dictionary_for(prof, user_dict)
        norm_text = japanese.text_normalize(text, prof, dic)
        phones, tones, word2ph = japanese.g2p(norm_text, tokenizer, prof, dic)
    else:
        raise ValueError(f"unknown language {language!r}; allowed: ZH, JP, EN")
    return norm_text, phones, tones, word2ph
