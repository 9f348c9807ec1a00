"""Text -> model inputs: sentences of language segments with ids and BERT token spreads.

Used by the PyTorch reference (`vits2.synthesize`) and by the Triton frontend model, so it
imports no torch itself. One `Frontend` call turns a text into `Sentence`s, each one
utterance for the acoustic model:

- paragraphs (newlines) and sentences (terminal punctuation) become separate utterances with
  silence between them (upstream webui: 0.2 s between sentences, 1 s between paragraphs);
- an utterance that would need a BERT call over `max_tokens` tokens or more than
  `max_phones` phones (after add_blank) is split again, at clause punctuation, then spaces,
  then anywhere, with no silence between the parts;
- language "MIX" reads `[ZH]...[EN]...[JP]...` (or `<zh>` ...) markup, "AUTO" detects the
  language of each run of text by script and a bundled language-ID model; a sentence with
  several languages becomes one utterance whose segments are concatenated as upstream
  `infer_multilang` does (later segments drop their first 3 ids, earlier ones their last 2).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

from tts_contract.request import LANGUAGE_MODES
from vits2.text import clean_text
from vits2.text.profiles import DEFAULT_PROFILE, PROFILE_NAMES, Profile, get_profile
from vits2.text.sentences import (
    Chars,
    detect_runs,
    parse_mix,
    pieces,
    split_point,
    split_sentences,
)
from vits2.text.symbols import (
    LANGUAGES,
    PAD,
    PUNCTUATION,
    SPECIAL,
    add_blank,
    cleaned_text_to_sequence,
)
from vits2.text.tokenizers import load_tokenizer

__all__ = [
    "DEFAULT_PROFILE",
    "FRONTEND_LANGUAGES",
    "PROFILE_NAMES",
    "Frontend",
    "Segment",
    "Sentence",
    "detect_runs",
    "load_tokenizer",
    "parse_mix",
    "split_sentences",
]

log = logging.getLogger(__name__)

FRONTEND_LANGUAGES = ("ZH", "JP", "EN", *LANGUAGE_MODES)
"""What `Frontend.__call__` accepts as `language`."""


@dataclass
class Segment:
    """One language's stretch of an utterance, with everything the models need."""

    language: str
    """ZH, JP or EN."""
    text: str
    """The raw text of the segment."""
    norm_text: str
    """Normalised text: what g2p read and what the BERT tokenizer sees."""
    phones: list[str]
    tones: list[int]
    """Language-local tones (no offset), as `clean_text` returns them."""
    word2ph: list[int]
    """Phones per BERT token ([CLS] and [SEP] included), before add_blank."""
    phone_ids: list[int]
    """Symbol ids after add_blank."""
    tone_ids: list[int]
    """Tone ids with the language offset, after add_blank."""
    language_ids: list[int]
    blank_word2ph: list[int]
    """word2ph after add_blank (doubled, first +1): sums to len(phone_ids)."""
    input_ids: list[int]
    attention_mask: list[int]
    token_type_ids: list[int] | None
    """None where the tokenizer gives none (the Japanese DeBERTa)."""
    phone_to_token: list[int]
    """For each id in phone_ids, the BERT token whose feature it takes."""
    trim_start: int = 0
    """Ids dropped at the start when the segment joins an utterance (3 after the first; the
    profile's `join_trim`)."""
    trim_end: int = 0
    """Ids dropped at the end (2 before the last)."""

    @property
    def kept(self) -> slice:
        """The part of phone_ids (and of the phone-level BERT) the utterance uses."""
        return slice(self.trim_start, len(self.phone_ids) - self.trim_end)


@dataclass
class Sentence:
    """One utterance: its segments and their concatenated ids."""

    segments: list[Segment]
    phone_ids: list[int] = field(default_factory=list)
    tone_ids: list[int] = field(default_factory=list)
    language_ids: list[int] = field(default_factory=list)
    pause_after: float = 0.0
    """Seconds of silence to put after this utterance's audio."""

    @classmethod
    def join(
        cls, segments: list[Segment], pause_after: float = 0.0, trim: tuple[int, int] = (3, 2)
    ) -> Sentence:
        """Concatenate segments, each later one dropping `trim[0]` ids at its start and each
        earlier one `trim[1]` at its end (the profile's `join_trim`: 2.1 trims 1 and 1)."""
        for i, seg in enumerate(segments):
            seg.trim_start = trim[0] if i > 0 else 0
            seg.trim_end = trim[1] if i < len(segments) - 1 else 0
        sent = cls(segments=segments, pause_after=pause_after)
        for seg in segments:
            sent.phone_ids += seg.phone_ids[seg.kept]
            sent.tone_ids += seg.tone_ids[seg.kept]
            sent.language_ids += seg.language_ids[seg.kept]
        return sent

    @property
    def text(self) -> str:
        return "".join(s.text for s in self.segments)

    @property
    def languages(self) -> list[str]:
        return [s.language for s in self.segments]


_SILENT = {*PUNCTUATION, *SPECIAL, PAD}
"""Phones that say nothing: a segment of only these is dropped."""


class Frontend:
    """Text -> list of `Sentence`s, given each language's BERT tokenizer.

    `tokenizers` maps "ZH" / "JP" / "EN" to a transformers tokenizer or a local model folder;
    only the languages given can be spoken. `max_tokens` bounds each BERT call (content
    tokens, [CLS]/[SEP] not counted); `max_phones` bounds an utterance's ids after add_blank.
    `profile` is the frontend the voice was trained with (`PROFILE_NAMES`, default
    "improved"); a call may override it (`frontend(text, lang, profile="upstream-2.3")`).
    `user_dict` is the voice's compiled OpenJTalk user dictionary (Japanese only).
    """

    def __init__(
        self,
        tokenizers: dict[str, object],
        sentence_pause: float = 0.2,
        paragraph_pause: float = 1.0,
        max_tokens: int = 510,
        max_phones: int = 800,
        split_sentences: bool = True,
        profile: str | Profile | None = None,
        user_dict: str | os.PathLike | None = None,
    ) -> None:
        self.profile = get_profile(profile)
        self.user_dict = str(user_dict) if user_dict else None
        self.tokenizers = {k.upper().replace("JA", "JP"): v for k, v in tokenizers.items()}
        unknown = sorted(set(self.tokenizers) - set(LANGUAGES))
        if unknown:
            raise ValueError(f"tokenizers for unknown languages {unknown}; allowed: ZH, JP, EN")
        if not self.tokenizers:
            raise ValueError("Frontend needs a tokenizer for at least one of ZH, JP, EN")
        if sentence_pause < 0 or paragraph_pause < 0:
            raise ValueError("sentence_pause and paragraph_pause must be >= 0 seconds")
        if not 1 <= max_tokens <= 510:
            raise ValueError(f"max_tokens must be in 1..510 (BERT takes 512), got {max_tokens}")
        if max_phones < 16:
            raise ValueError(f"max_phones must be at least 16, got {max_phones}")
        self.sentence_pause = sentence_pause
        self.paragraph_pause = paragraph_pause
        self.max_tokens = max_tokens
        self.max_phones = max_phones
        self.split_sentences = split_sentences

    @property
    def languages(self) -> list[str]:
        return [lang for lang in LANGUAGES if lang in self.tokenizers]

    def ja_dictionary(self, profile: str | Profile | None = None) -> str | None:
        """The compiled OpenJTalk user dictionary Japanese is read with under `profile`."""
        from vits2.text.openjtalk import dictionary_for

        return dictionary_for(self.profile if profile is None else profile, self.user_dict)

    def tokenizer(self, language: str):
        if language not in self.tokenizers:
            raise ValueError(
                f"no BERT tokenizer configured for language {language}; this frontend speaks "
                f"{', '.join(self.languages)}"
            )
        tok = self.tokenizers[language]
        if isinstance(tok, (str, os.PathLike)):
            tok = self.tokenizers[language] = load_tokenizer(tok, language)
        return tok

    def __call__(
        self,
        text: str,
        language: str,
        profile: str | Profile | None = None,
        clause_chars: int = 0,
    ) -> list[Sentence]:
        """Text -> utterances; `profile` overrides the frontend's own for this call;
        `clause_chars` > 0 cuts sentences longer than that at their clause marks, each piece
        an utterance of its own with no pause after it (CLAUSE_CHARS)."""
        prof = self.profile if profile is None else get_profile(profile)
        if not isinstance(text, str):
            raise ValueError(f"text must be a string, got {type(text).__name__}")
        lang = str(language).upper().replace("JA", "JP")
        if lang not in FRONTEND_LANGUAGES:
            raise ValueError(
                f"unknown language {language!r}; allowed: {', '.join(FRONTEND_LANGUAGES)}"
            )
        if lang in LANGUAGES:
            self.tokenizer(lang)  # fail early, before any work
        if not text.strip():
            raise ValueError("text is empty")
        runs = parse_mix(text) if lang == "MIX" else [(lang, text)]
        chars: Chars = [(c, run_lang) for run_lang, t in runs for c in t]
        sentences = split_sentences(chars, clause_chars)
        if not self.split_sentences:
            sentences = self._paragraphs(sentences)
        out: list[Sentence] = []
        for sent_chars, kind in sentences:
            pause = self.paragraph_pause if kind == "paragraph" else self.sentence_pause
            if kind in ("end", "clause"):
                pause = 0.0
            out += self._fit(self._detect(sent_chars), pause, prof)
        if not out:
            raise ValueError(
                "text is empty after cleaning: nothing in it can be spoken in "
                f"{lang} (languages configured: {', '.join(self.languages)})"
            )
        return out

    @staticmethod
    def _paragraphs(sentences: list[tuple[Chars, str]]) -> list[tuple[Chars, str]]:
        """Merge sentences back into paragraphs (when not splitting by sentence)."""
        out: list[tuple[Chars, str]] = []
        cur: Chars = []
        for chars, kind in sentences:
            cur = cur + ([(" ", chars[0][1])] if cur else []) + chars
            if kind != "sentence":
                out.append((cur, kind))
                cur = []
        if cur:
            out.append((cur, "end"))
        return out

    def _detect(self, chars: Chars) -> Chars:
        """Resolve "AUTO" characters to languages, one detection per sentence stretch."""
        if all(lang != "AUTO" for _, lang in chars):
            return chars
        out: Chars = []
        i = 0
        while i < len(chars):
            if chars[i][1] != "AUTO":
                out.append(chars[i])
                i += 1
                continue
            j = i
            while j < len(chars) and chars[j][1] == "AUTO":
                j += 1
            stretch = "".join(c for c, _ in chars[i:j])
            for run_lang, run_text in detect_runs(stretch, self.languages):
                out += [(c, run_lang) for c in run_text]
            i = j
        return out

    def warmup(self) -> None:
        """Load dictionaries, models and tokenizers now (seconds on first use otherwise)."""
        samples = {
            "ZH": "你好，世界。",
            "JP": "こんにちは、世界。",
            "EN": "Hello 1st world, blorptastic.",
        }
        for lang in self.languages:
            self.segment(samples[lang], lang)
        if "ZH" in self.languages and "JP" in self.languages:
            detect_runs("你好", self.languages)

    def _fit(self, chars: Chars, pause: float, prof: Profile) -> list[Sentence]:
        """Build the utterance for `chars`; halve it while it is over the limits."""
        if len(chars) > 4 * self.max_tokens:
            # certainly over the BERT limit (a token spans at most a few characters in
            # practice): cut before running g2p on all of it
            cut = split_point(chars)
            return self._fit(chars[:cut], 0.0, prof) + self._fit(chars[cut:], pause, prof)
        sentence = self._build(chars, pause, prof)
        if sentence is None:
            return []
        too_long = len(sentence.phone_ids) > self.max_phones or any(
            len(s.input_ids) - 2 > self.max_tokens for s in sentence.segments
        )
        if not too_long or len(chars) < 2:
            return [sentence]
        cut = split_point(chars)
        return self._fit(chars[:cut], 0.0, prof) + self._fit(chars[cut:], pause, prof)

    def _build(self, chars: Chars, pause: float, prof: Profile) -> Sentence | None:
        segments = []
        for lang, piece in pieces(chars):
            seg = self.segment(piece, lang, prof)
            if seg is not None:
                segments.append(seg)
        return Sentence.join(segments, pause, prof.join_trim) if segments else None

    def segment(
        self, text: str, language: str, profile: str | Profile | None = None
    ) -> Segment | None:
        """One piece of text in one language -> Segment; None if nothing in it is spoken."""
        prof = self.profile if profile is None else get_profile(profile)
        tok = self.tokenizer(language)
        norm_text, phones, tones, word2ph = clean_text(
            text.strip(), language, tok, prof, self.user_dict
        )
        if not norm_text.strip() or all(p in _SILENT for p in phones):
            return None  # only padding, punctuation or unknown phones: nothing to say
        return self._segment(text, language, prof, norm_text, phones, tones, word2ph)

    def with_given(
        self,
        segment: Segment,
        given_phones: list[str] | None,
        given_tones: list[int] | None,
        profile: str | Profile | None = None,
    ) -> Segment:
        """`segment` (Japanese) with phones and/or tones set by hand, as Style-Bert-VITS2's
        given_phone / given_tone (`vits2.text.given.apply_given`; ValueError if they cannot
        be spoken with its text)."""
        from vits2.text.given import apply_given

        prof = self.profile if profile is None else get_profile(profile)
        phones, tones, word2ph = apply_given(
            segment.phones,
            segment.tones,
            segment.word2ph,
            given_phones,
            given_tones,
            jp_extra=prof.ja_g2p == "sbv2-jp-extra",
        )
        return self._segment(
            segment.text, segment.language, prof, segment.norm_text, phones, tones, word2ph
        )

    def _segment(
        self,
        text: str,
        language: str,
        prof: Profile,
        norm_text: str,
        phones: list[str],
        tones: list[int],
        word2ph: list[int],
    ) -> Segment:
        """The segment of cleaned text: ids, add_blank, BERT tokens and their spread."""
        tok = self.tokenizer(language)
        phone_ids, tone_ids, language_ids = cleaned_text_to_sequence(phones, tones, language)
        phone_ids, tone_ids, language_ids, blank_w2p = add_blank(
            phone_ids, tone_ids, language_ids, word2ph
        )
        enc = tok(norm_text)
        input_ids = list(enc["input_ids"])
        token_type_ids = enc.get("token_type_ids")
        if language == "JP" and prof.ja_normalize == "2.0":
            # the 2.0 BERT reads [CLS] + each pyopenjtalk word's tokens + [SEP], all type 0
            from vits2.text.japanese import bert_input_ids_v20

            input_ids = bert_input_ids_v20(norm_text, tok, self.ja_dictionary(prof))
            enc = {"attention_mask": [1] * len(input_ids)}
            token_type_ids = [0] * len(input_ids)
        by_position = language == "EN" and prof.en_words == "split-2.0"
        if len(input_ids) != len(word2ph) and not by_position:
            log.warning(
                "%s: %d BERT tokens but word2ph has %d entries for %r; spreading by position",
                language,
                len(input_ids),
                len(word2ph),
                norm_text,
            )
        # word i takes token i's feature; 2.0's English BERT is indexed so by design
        last = len(input_ids) - 1
        phone_to_token = [min(i, last) for i, n in enumerate(blank_w2p) for _ in range(n)]
        return Segment(
            language=language,
            text=text,
            norm_text=norm_text,
            phones=phones,
            tones=tones,
            word2ph=word2ph,
            phone_ids=phone_ids,
            tone_ids=tone_ids,
            language_ids=language_ids,
            blank_word2ph=blank_w2p,
            input_ids=input_ids,
            attention_mask=list(enc["attention_mask"]),
            token_type_ids=list(token_type_ids) if token_type_ids is not None else None,
            phone_to_token=phone_to_token,
        )
