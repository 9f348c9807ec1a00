"""Given phones and tones: Style-Bert-VITS2's `clean_text_with_given_phone_tone`.

SBV2's editor lets a user set a sentence's pronunciation (phones) and accents (tones) by hand;
inference then speaks those instead of what the frontend read. The BERT still reads the text,
so each of its tokens must still own a run of phones (word2ph): where the given phones differ
from the frontend's, SBV2 moves the difference onto the tokens whose phones changed (an
alignment by longest common subsequence), keeps every token at 1 to 6 phones, and refuses what
it cannot align. This module restates that rule; it imports no torch.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["GivenPhonesError", "adjust_word2ph", "apply_given"]

MAX_PHONES_PER_TOKEN = 6
"""SBV2 caps a token's phones at 6 after the adjustment, passing the rest on."""


class GivenPhonesError(ValueError):
    """Given phones/tones that cannot be spoken with the text (the message says why)."""


def _common_pairs(a: Sequence[str], b: Sequence[str]) -> list[tuple[int, int]]:
    """Index pairs of a longest common subsequence of `a` and `b` (ties: drop from `a`)."""
    m, n = len(a), len(b)
    table = [[0] * (n + 1) for _ in range(m + 1)]
    for i in range(1, m + 1):
        for j in range(1, n + 1):
            if a[i - 1] == b[j - 1]:
                table[i][j] = table[i - 1][j - 1] + 1
            else:
                table[i][j] = max(table[i - 1][j], table[i][j - 1])
    pairs, i, j = [], m, n
    while i > 0 and j > 0:
        if a[i - 1] == b[j - 1]:
            pairs.append((i - 1, j - 1))
            i, j = i - 1, j - 1
        elif table[i - 1][j] >= table[i][j - 1]:
            i -= 1
        else:
            j -= 1
    return pairs[::-1]


def _changes(generated: Sequence[str], given: Sequence[str]) -> dict[int, int]:
    """Where the given phones differ: generated index a change starts at -> phones gained
    (+) or lost (-) there. A change at the very end is keyed at the last phone, as SBV2."""
    out: dict[int, int] = {}
    px, py = -1, -1
    for x, y in _common_pairs(generated, given):
        if x - px - 1 or y - py - 1:
            out.setdefault(px + 1, (y - py - 1) - (x - px - 1))
        px, py = x, y
    if px < len(generated) - 1 or py < len(given) - 1:
        # SBV2 slices the tail up to the last element, so the last phone is never in it
        lost = max(len(generated) - 1 - (px + 1), 0)
        gained = max(len(given) - 1 - (py + 1), 0)
        if lost or gained:
            out.setdefault(px + 1, gained - lost)
    return out


def _spread(counts: list[int], index: int, amount: int, limit_low: bool) -> None:
    """Take (limit_low: lift a token below 1 to 1) or pass on (else: cap at 6) `amount`
    phones, nearest tokens to the right first, as SBV2."""
    for k in range(index + 1, len(counts)):
        if limit_low:
            if counts[k] - amount >= 1:
                counts[k] -= amount
                return
            amount -= counts[k] - 1
            counts[k] = 1
        else:
            if counts[k] + amount <= MAX_PHONES_PER_TOKEN:
                counts[k] += amount
                return
            amount -= MAX_PHONES_PER_TOKEN - counts[k]
            counts[k] = MAX_PHONES_PER_TOKEN
        if amount == 0:
            return


def adjust_word2ph(
    word2ph: Sequence[int], generated: Sequence[str], given: Sequence[str]
) -> list[int]:
    """SBV2's `adjust_word2ph`: word2ph (padding entries included) re-spread so its sum is
    len(given) where possible, changes landing on the tokens whose phones changed."""
    inner = list(word2ph[1:-1])
    changes = _changes(list(generated[1:-1]), list(given[1:-1]))
    counts = [0] * len(inner)
    k = 0
    for t, n in enumerate(inner):
        for _ in range(n):
            counts[t] += changes.get(k, 0) + 1
            k += 1
    for t in range(len(counts)):
        if counts[t] < 1:
            amount, counts[t] = 1 - counts[t], 1
            _spread(counts, t, amount, limit_low=True)
    for t in range(len(counts)):
        if counts[t] > MAX_PHONES_PER_TOKEN:
            amount, counts[t] = counts[t] - MAX_PHONES_PER_TOKEN, MAX_PHONES_PER_TOKEN
            _spread(counts, t, amount, limit_low=False)
    return [1, *counts, 1]


def apply_given(
    phones: list[str],
    tones: list[int],
    word2ph: list[int],
    given_phones: Sequence[str] | None,
    given_tones: Sequence[int] | None,
    jp_extra: bool,
) -> tuple[list[str], list[int], list[int]]:
    """(phones, tones, word2ph) of one Japanese text with the given phones and/or tones in
    place of the frontend's (`clean_text_with_given_phone_tone`; "N" is "n" for SBV2's normal
    model). Phones without tones are an error (SBV2 silently ignores them)."""
    if given_phones is not None and given_tones is None:
        raise GivenPhonesError("GIVEN_PHONES needs GIVEN_TONES too: one tone per phone")
    if given_phones is not None:
        given = [p if jp_extra or p != "N" else "n" for p in given_phones]
        if len(given) != len(given_tones):
            raise GivenPhonesError(
                f"GIVEN_PHONES has {len(given)} phones but GIVEN_TONES {len(given_tones)} tones"
            )
        if len(given) != sum(word2ph):
            word2ph = adjust_word2ph(word2ph, phones, given)
            if len(given) != sum(word2ph):
                raise GivenPhonesError(
                    f"GIVEN_PHONES ({len(given)} phones) are too far from the text's reading "
                    f"({sum(word2ph)} phones after aligning them): give phones that read TEXT"
                )
        phones = given
    if given_tones is not None:
        if len(given_tones) != len(phones):
            raise GivenPhonesError(
                f"GIVEN_TONES has {len(given_tones)} tones; the sentence has {len(phones)} "
                "phones (padding included): give one tone per phone"
            )
        tones = list(given_tones)
    return list(phones), tones, list(word2ph)
