"""Phone-level BERT features, the PyTorch reference (upstream `get_bert_feature` + `get_text`).

Bert-VITS2 v2.3 feeds each language's BERT `hidden_states[-3]` (the output of the third-last
layer) repeated per phone. `BertFeatureExtractor` keeps only the layers that output needs, so
the last two layers never run. `utterance_bert` fills the three BERT slots of an utterance the
way v2.3 inference does: the segment's own language from BERT, the other two with standard
normal noise.
"""

from __future__ import annotations

import copy
import threading
from pathlib import Path

import torch

from vits2.text.frontend import Segment, Sentence
from vits2.text.symbols import LANGUAGES

__all__ = ["BERT_DIM", "BertFeatureExtractor", "segment_bert", "utterance_bert"]

BERT_DIM = 1024
"""Feature size every v2.3 voice expects."""

HIDDEN_LAYER = -3
"""Upstream takes `hidden_states[-3]` (embeddings count as hidden_states[0])."""


class BertFeatureExtractor:
    """A local transformers model folder -> [1024, P] phone-level features.

    Never downloads (`local_files_only=True`). The encoder is cut after the layer whose output
    is `hidden_states[-3]`, which gives the same numbers with two layers (and the pooler) less.
    """

    def __init__(self, model_dir: str | Path, device: str | torch.device = "cpu") -> None:
        from transformers import AutoModel

        self.model_dir = Path(model_dir)
        if not (self.model_dir / "config.json").is_file():
            raise FileNotFoundError(
                f"{self.model_dir} is not a BERT model folder (no config.json); point it at the "
                "local folder of the voice's BERT (e.g. chinese-roberta-wwm-ext-large)"
            )
        model = AutoModel.from_pretrained(str(self.model_dir), local_files_only=True)
        self.truncated = _truncate(model)
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self._lock = threading.Lock()
        hidden = getattr(model.config, "hidden_size", None)
        if hidden != BERT_DIM:
            raise ValueError(f"{self.model_dir}: hidden_size {hidden}, a voice needs {BERT_DIM}")

    @torch.inference_mode()
    def hidden(self, input_ids, attention_mask, token_type_ids=None) -> torch.Tensor:
        """Token-level `hidden_states[-3]` of one sequence: [T, 1024] float32."""
        inputs = {
            "input_ids": _as_batch(input_ids, self.device),
            "attention_mask": _as_batch(attention_mask, self.device),
        }
        if token_type_ids is not None:
            inputs["token_type_ids"] = _as_batch(token_type_ids, self.device)
        with self._lock:
            if self.truncated:
                out = self.model(**inputs).last_hidden_state
            else:
                out = self.model(**inputs, output_hidden_states=True).hidden_states[HIDDEN_LAYER]
        return out[0].float()

    def features(self, input_ids, attention_mask, token_type_ids, phone_to_token) -> torch.Tensor:
        """[1024, P]: each phone takes the feature of token `phone_to_token[p]`."""
        hidden = self.hidden(input_ids, attention_mask, token_type_ids)
        index = torch.as_tensor(phone_to_token, dtype=torch.long, device=hidden.device)
        if index.numel() and int(index.max()) >= hidden.size(0):
            raise ValueError(
                f"phone_to_token points at token {int(index.max())} but there are only "
                f"{hidden.size(0)} tokens"
            )
        return hidden.index_select(0, index).T.contiguous()


def _as_batch(values, device) -> torch.Tensor:
    t = torch.as_tensor(values, dtype=torch.long)
    return (t if t.dim() == 2 else t.unsqueeze(0)).to(device)


def _truncate(model) -> bool:
    """Drop the last two encoder layers and the pooler when the model's layout allows it."""
    encoder = getattr(model, "encoder", None)
    layers = getattr(encoder, "layer", None)
    if not isinstance(layers, torch.nn.ModuleList) or len(layers) < 2:
        return False
    keep = len(layers) + 1 + HIDDEN_LAYER  # hidden_states[k] is the output of layer k
    encoder.layer = torch.nn.ModuleList(list(layers)[:keep])
    model.config = copy.copy(model.config)
    model.config.num_hidden_layers = keep
    if getattr(model, "pooler", None) is not None:
        model.pooler = None
    return True


def segment_bert(segment: Segment, extractor: BertFeatureExtractor) -> torch.Tensor:
    """The segment's own-language features over all its phone_ids: [1024, len(phone_ids)]."""
    return extractor.features(
        segment.input_ids, segment.attention_mask, segment.token_type_ids, segment.phone_to_token
    )


def utterance_bert(
    sentence: Sentence,
    extractors: dict[str, BertFeatureExtractor],
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(bert_zh, bert_ja, bert_en), each [1024, len(sentence.phone_ids)].

    Per segment as upstream v2.3 `get_text`: its own language's slot from BERT, the other two
    `torch.randn(1024, P)` drawn in slot order (ZH, JP, EN) from `generator` (CPU); segments
    are then trimmed and concatenated along phones as upstream `infer_multilang`.
    """
    slots: dict[str, list[torch.Tensor]] = {lang: [] for lang in LANGUAGES}
    device = None
    for seg in sentence.segments:
        if seg.language not in extractors:
            raise ValueError(
                f"no BERT for language {seg.language}; given: {', '.join(sorted(extractors))}"
            )
        own = segment_bert(seg, extractors[seg.language])
        device = own.device
        p = len(seg.phone_ids)
        for lang in LANGUAGES:
            if lang == seg.language:
                feat = own
            else:
                feat = torch.randn(BERT_DIM, p, generator=generator).to(device)
            slots[lang].append(feat[:, seg.kept])
    if device is None:
        raise ValueError("sentence has no segments")
    zh, ja, en = (torch.cat(slots[lang], dim=1) for lang in LANGUAGES)
    return zh, ja, en
