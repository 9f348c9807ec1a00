"""Frontend profiles: which text frontend produces a voice's phones.

A voice learned the phone sequences of the frontend it was trained with; a profile picks that
frontend. Profiles differ only where the frontends differ, through two kinds of switches:

- *variants*: how one step is done, where upstream releases differ (Chinese number reading,
  Japanese kana -> phones). Each upstream profile names the variant its release used.
- *rules*: named deviations from upstream, each correcting an output upstream gets wrong for a
  listener (`IMPROVED_RULES` says what each does). Only `improved` switches rules on.

`upstream-2.3` is the `v2.3` release tag of fishaudio/Bert-VITS2, `upstream-master` its later
master (what its `infer.py` runs for version 2.3 today); `improved` is `upstream-master` plus
every rule, and is the default. `upstream-2.0`/`-2.1`/`-2.2` are the older release tags,
`sbv2`/`sbv2-jp-extra` Style-Bert-VITS2 2.7.0; `profile_for_release` names a release's default.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from tts_contract import request as contract

__all__ = [
    "DEFAULT_PROFILE",
    "IMPROVED_RULES",
    "PROFILES",
    "PROFILE_NAMES",
    "Profile",
    "RELEASE_PROFILES",
    "get_profile",
    "profile_for_release",
]

IMPROVED_RULES: dict[str, str] = {
    "zh-fullwidth-digits": "full-width digits and ％ are read as numbers (upstream drops them)",
    "zh-iso-date": '"2024-05-01", "2024/5/1" read as dates (upstream: minus signs, fractions)',
    "zh-phone-number": "phone numbers (138-1234-5678, 010-12345678) read digit by digit",
    "zh-thousands": '"1,200" read as one number (upstream: 一,二百 with a pause)',
    "zh-clock": '"15:30" read as 十五点三十分 (upstream drops the colon: 十五三十)',
    "zh-celsius": '"-3.5℃" read as 零下三点五摄氏度 (upstream leaves the minus sign and dot)',
    "zh-leading-zero": '"007" read digit by digit (upstream: 七)',
    "zh-long-digits": "digit runs over 16 digits read digit by digit (upstream deletes them)",
    "zh-range": '"3-5人" read as 三到五人 (upstream: 三负五人, "three minus five")',
    "en-abbreviations": '"Dr." "St." "Capt." ... expanded (upstream spells the letters)',
    "en-clock": '"3:30" read three thirty, "3:05" three oh five (upstream: three:thirty)',
    "en-percent": '"100%" read one hundred percent (upstream: the sign is silent)',
    "en-negative": '"-5" read minus five (upstream reads the minus as a pause)',
    "ja-date": '"2024/05/01" read 二千二十四年五月一日 (upstream: three numbers run together)',
    "ja-clock": '"15:30" read 十五時三十分 (upstream: 十五 三十, the colon lost)',
    "ja-percent": '"50%" read 五十パーセント (upstream drops the sign: 五十)',
    "ja-range": '"1〜2時間" read 一から二時間 (upstream: 十二時間, twelve hours)',
    "ja-negative": '"-5度" read マイナス五度 (upstream reads the minus as a pause)',
    "ja-fraction": '"3/4" read 四分の三 (upstream: 三四)',
    "ja-decimals-as-written": '"1.0" read 一点零 and "12.30" 十二点三零 (upstream: 一, 十二点三)',
    "ja-small-vowel-kana": "しぃ ちぃ つぅ lengthen and ずぁ どぁ keep their vowel "
    "(upstream-master drops the small vowel)",
}
"""Every rule `improved` applies on top of upstream-master, with what it changes."""


@dataclass(frozen=True)
class Profile:
    """One frontend: the variant of each step that differs between releases, plus rules."""

    name: str
    description: str
    zh_numbers: str
    """"an2cn-each": each number through cn2an.an2cn (v2.3 tag); "cn2an-transform": the whole
    text through cn2an.transform(text, "an2cn") (master, when WeTextProcessing is absent)."""
    ja_kana: str
    """"openjtalk": each reading through pyopenjtalk.g2p (v2.3 tag); "table": the hiragana
    table of master's `hiragana2p` (January 2024)."""
    rules: frozenset[str] = frozenset()
    """Names from IMPROVED_RULES that this profile applies."""
    en_words: str = "tokens"
    """"tokens": words are DeBERTa tokens grouped at "▁", each piece read (v2.3 on); "split":
    words split at spaces and , ; . ? !, each whole word read, its phones spread over its own
    tokens, consonant tone 0 (2.1, 2.2); "split-2.0": as "split" but also at "-", without the
    punctuation mapping, word2ph one entry per word (2.0: its BERT is indexed by word number)."""
    ja_normalize: str = "2.1"
    """"2.1": "…" -> "...", '"' -> "'", dakuten marks dropped (2.1 on); "2.0": "..." -> "…",
    '"' dropped, dakuten kept, and punctuation words tokenized like any word (the 2.0 BERT)."""
    ja_g2p: str = "bert-vits2"
    """"bert-vits2": katakana per word as `ja_kana` says; "sbv2" / "sbv2-jp-extra":
    Style-Bert-VITS2's normaliser and mora g2p ("ん" is "n" for the normal model, "N" for
    JP-Extra), vits2.text.ja_sbv2."""
    join_trim: tuple[int, int] = (3, 2)
    """Ids a segment drops at the start / end when languages are joined in one utterance
    (2.2 on: 3 and 2; 2.1: 1 and 1)."""

    def has(self, rule: str) -> bool:
        if rule not in IMPROVED_RULES:
            raise KeyError(f"unknown frontend rule {rule!r}; known: {', '.join(IMPROVED_RULES)}")
        return rule in self.rules


_RELEASE_TAG = {"zh_numbers": "an2cn-each", "ja_kana": "openjtalk"}
"""How every release tag (2.0-2.3) and Style-Bert-VITS2 read numbers and kana; upstream's later
master (and `improved`, built on it) changed both."""
_UPSTREAM_22 = Profile(
    name="upstream-2.2",
    description="fishaudio/Bert-VITS2 release tag v2.2 (English g2p by whole words)",
    **_RELEASE_TAG,
    en_words="split",
)
_UPSTREAM_21 = replace(
    _UPSTREAM_22,
    name="upstream-2.1",
    description="fishaudio/Bert-VITS2 release tag 2.1 (as 2.2; joins trim 1 id)",
    join_trim=(1, 1),
)
"""The releases before 2.3, each as the one after it but where it differs."""

_PROFILES = (
    Profile(
        name="improved",
        description="upstream-master plus the named rules in IMPROVED_RULES (default)",
        zh_numbers="cn2an-transform",
        ja_kana="table",
        rules=frozenset(IMPROVED_RULES),
    ),
    Profile(
        name="upstream-2.3",
        description="fishaudio/Bert-VITS2 release tag v2.3 (December 2023), quirks included",
        **_RELEASE_TAG,
    ),
    Profile(
        name="upstream-master",
        description="fishaudio/Bert-VITS2 master after v2.3 (2024 on), quirks included",
        zh_numbers="cn2an-transform",
        ja_kana="table",
    ),
    _UPSTREAM_22,
    _UPSTREAM_21,
    replace(
        _UPSTREAM_21,
        name="upstream-2.0",
        description="fishaudio/Bert-VITS2 release tag v2.0.2.1 (= 2.0.1): word-level English, "
        "the ku-nlp/deberta-v2-large-japanese BERT",
        en_words="split-2.0",
        ja_normalize="2.0",
    ),
    Profile(
        name="sbv2",
        description="litagin02/Style-Bert-VITS2 2.7.0, normal model: its Japanese normaliser "
        "and mora g2p; Chinese and English as upstream v2.3",
        **_RELEASE_TAG,
        ja_g2p="sbv2",
    ),
    Profile(
        name="sbv2-jp-extra",
        description="litagin02/Style-Bert-VITS2 2.7.0, JP-Extra model (Japanese only): as sbv2 "
        'but "ん" is the phone "N"',
        **_RELEASE_TAG,
        ja_g2p="sbv2-jp-extra",
    ),
)

PROFILES: dict[str, Profile] = {p.name: p for p in _PROFILES}
PROFILE_NAMES: tuple[str, ...] = contract.PROFILE_NAMES
"""Every profile name `clean_text`, `Frontend` and voice.json accept (the request contract's
PROFILE values)."""
DEFAULT_PROFILE = contract.DEFAULT_PROFILE
if tuple(PROFILES) != PROFILE_NAMES:  # the contract names them; this module defines them
    raise RuntimeError(
        f"frontend profiles {tuple(PROFILES)} differ from the contract's PROFILE_NAMES "
        f"{PROFILE_NAMES}: update tts_contract.request with the profile"
    )


RELEASE_PROFILES: dict[str, str] = {
    "2.0": "upstream-2.0",
    "2.0.1": "upstream-2.0",
    "2.0.2-fix": "upstream-2.0",
    "2.1": "upstream-2.1",
    "2.2": "upstream-2.2",
    "2.3": DEFAULT_PROFILE,
    "sbv2": "sbv2",
    "sbv2-jp-extra": "sbv2-jp-extra",
}
"""Release -> the default profile of its voices (2.3 keeps `improved`: it corrects upstream
2.3's readings without changing any phone a 2.3 voice did not learn)."""


def profile_for_release(release: str) -> str:
    """The default frontend profile of a voice trained with `release` ("2.0", "2.0.1",
    "2.0.2-fix", "2.1", "2.2", "2.3", "sbv2", "sbv2-jp-extra"); voice.json's frontend_profile."""
    key = str(release).strip().lower()
    if key not in RELEASE_PROFILES:
        raise ValueError(
            f"no frontend profile for release {release!r}; known releases: "
            f"{', '.join(RELEASE_PROFILES)} (pass a profile name from PROFILE_NAMES instead)"
        )
    return RELEASE_PROFILES[key]


def get_profile(profile: str | Profile | None) -> Profile:
    """The Profile named `profile` (None: the default); a Profile is returned as is."""
    if isinstance(profile, Profile):
        return profile
    name = DEFAULT_PROFILE if profile is None else str(profile).strip().lower()
    if name not in PROFILES:
        raise ValueError(
            f"unknown frontend profile {profile!r}; allowed: {', '.join(PROFILE_NAMES)} "
            f"(default {DEFAULT_PROFILE}; upstream-* reproduce a release's frontend exactly)"
        )
    return PROFILES[name]
