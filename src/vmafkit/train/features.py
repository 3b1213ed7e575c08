"""Model inputs: the standardised features of the corpus's feature set (v0.6.1's canonical-6, or
VMAF v1's 14) and the 14-wide codec block after them.

Everything that is *fitted* (mean/std, the cq range of `crf_norm`) is fitted on the rows it is
given, which for LOSO is the training fold only; `FeatureSpec` carries the fitted numbers so the
same transform is applied to held-out rows, exported into sidecars, and re-applied by `predict`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from vmafkit.corpus.schema import CANONICAL6, Corpus
from vmafkit.media.encoders import X26X_PRESETS

if TYPE_CHECKING:
    from vmafkit.train.recipe import Recipe

ENCODER_VOCAB = (
    "libx264",
    "libx265",
    "libsvtav1",
    "libvvenc",
    "libvpx-vp9",
    "h264_nvenc",
    "hevc_nvenc",
    "av1_nvenc",
    "h264_qsv",
    "hevc_qsv",
    "av1_qsv",
    "unknown",
)
ENCODER_VOCAB_VERSION = "encoder-vocab-v1-12slot"
NUM_CODECS = len(ENCODER_VOCAB) + 2  # one-hot + preset_norm + crf_norm = 14
NUM_FEATURES = len(CANONICAL6)
INPUT_WIDTH = NUM_FEATURES + NUM_CODECS  # 20: a canonical-6 model's; a v1 model's is 14 + 14 = 28


def input_width(n_features: int) -> int:
    """The width of a model's input row: its features, then the codec block."""
    return int(n_features) + NUM_CODECS


def feature_count(x: np.ndarray) -> int:
    """How many feature columns precede the codec block in model inputs `x` [n, k + 14]."""
    return int(x.shape[1]) - NUM_CODECS


# Preset ladders, fastest first; preset_norm is the position on the ladder scaled to [0, 1].
_X26X_LADDER = X26X_PRESETS  # the x264/x265 adapter's presets, fastest first
_NVENC_LADDER = ("p1", "p2", "p3", "p4", "p5", "p6", "p7")
_QSV_LADDER = ("veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")


def preset_norm(encoder: str, preset: str) -> float:
    """Map a preset to [0, 1] (0 = fastest, 1 = slowest); unknown presets map to 0.5."""
    preset = str(preset).strip().lower()
    if preset.lstrip("-").isdigit():
        value = int(preset)
        if encoder == "libsvtav1":  # svt-av1: 0 slowest .. 13 fastest
            return float(np.clip((13 - value) / 13.0, 0.0, 1.0))
        if encoder in ("libaom-av1", "libvpx-vp9"):  # cpu-used: 0 slowest .. 8 fastest
            return float(np.clip((8 - value) / 8.0, 0.0, 1.0))
        return 0.5
    for ladder in (_X26X_LADDER, _NVENC_LADDER, _QSV_LADDER):
        if preset in ladder and (ladder is not _QSV_LADDER or encoder.endswith("_qsv")):
            return ladder.index(preset) / (len(ladder) - 1)
    if preset in _X26X_LADDER:
        return _X26X_LADDER.index(preset) / (len(_X26X_LADDER) - 1)
    return 0.5


UNKNOWN_ENCODER = "unknown"
# What the codec block holds for a label that is not given: the "unknown" one-hot slot, and the
# middle of [0, 1] for preset_norm / crf_norm. The robust recipe trains on rows whose labels were
# replaced by these, so a prediction without --encoder/--preset/--cq is inside what was trained.
UNKNOWN_PRESET_NORM = 0.5
UNKNOWN_CRF_NORM = 0.5
# Positions inside the codec block (add the feature count for a column of the model inputs).
ONEHOT_OFFSETS = slice(0, len(ENCODER_VOCAB))
PRESET_OFFSET = len(ENCODER_VOCAB)
CRF_OFFSET = PRESET_OFFSET + 1


def encoder_slot(encoder: str) -> int:
    name = str(encoder)
    return ENCODER_VOCAB.index(name) if name in ENCODER_VOCAB else ENCODER_VOCAB.index(UNKNOWN_ENCODER)


def _codec_view(out: np.ndarray) -> np.ndarray:
    """The codec block of model inputs (a view: writing it writes `out`)."""
    return out[:, feature_count(out) :]


def mask_labels(x: np.ndarray, rate: float, rng: np.random.Generator) -> np.ndarray:
    """A copy of model inputs `x` [n, k + 14] where, with probability `rate`, all of a row's encoder,
    preset and cq labels are replaced by the "not given" values above, and otherwise each label
    alone with probability `rate / 2` (what predict sees without any label, and with some).

    The teacher (libvmaf v0.6.1) is a function of the six features alone; masking teaches the
    network that the labels carry no information it needs, so leaving them out (or giving a
    label it never saw together with these features) cannot move the answer far."""
    out = np.array(x, dtype=np.float32, copy=True)
    if rate <= 0:
        return out
    n: int = out.shape[0]
    drop_all = rng.random(n) < rate
    drop = (rng.random((n, 3)) < rate / 2) | drop_all[:, None]
    rows = np.flatnonzero(drop[:, 0])
    codec = _codec_view(out)
    codec[rows, ONEHOT_OFFSETS] = 0.0
    codec[rows, encoder_slot(UNKNOWN_ENCODER)] = 1.0
    codec[drop[:, 1], PRESET_OFFSET] = UNKNOWN_PRESET_NORM
    codec[drop[:, 2], CRF_OFFSET] = UNKNOWN_CRF_NORM
    return out


def unlabelled(x: np.ndarray) -> np.ndarray:
    """`x` with every row's labels replaced by the "not given" values (what predict feeds when
    neither --encoder, --preset nor --cq is known)."""
    out = np.array(x, dtype=np.float32, copy=True)
    codec = _codec_view(out)
    codec[:, ONEHOT_OFFSETS] = 0.0
    codec[:, encoder_slot(UNKNOWN_ENCODER)] = 1.0
    codec[:, PRESET_OFFSET] = UNKNOWN_PRESET_NORM
    codec[:, CRF_OFFSET] = UNKNOWN_CRF_NORM
    return out


def with_encoder(x: np.ndarray, encoder: str) -> np.ndarray:
    """`x` with every row's encoder one-hot set to `encoder` (preset and cq kept)."""
    out = np.array(x, dtype=np.float32, copy=True)
    codec = _codec_view(out)
    codec[:, ONEHOT_OFFSETS] = 0.0
    codec[:, encoder_slot(encoder)] = 1.0
    return out


@dataclass(frozen=True)
class FeatureSpec:
    """The fitted transform: standardisation of the features (`feature_order`: the corpus's feature
    set) and the cq range of crf_norm."""

    mean: tuple[float, ...]
    std: tuple[float, ...]
    cq_min: float
    cq_max: float
    feature_order: tuple[str, ...] = CANONICAL6
    encoder_vocab: tuple[str, ...] = ENCODER_VOCAB
    encoder_vocab_version: str = ENCODER_VOCAB_VERSION

    @classmethod
    def fit(cls, features: np.ndarray, cq: np.ndarray, feature_order: Sequence[str] = CANONICAL6) -> FeatureSpec:
        features = np.asarray(features, dtype=np.float64)
        if features.ndim != 2 or features.shape[1] != len(feature_order):
            raise ValueError(f"features are {list(features.shape)}, expected [n, {len(feature_order)}]")
        mean = features.mean(axis=0)
        std = features.std(axis=0)
        std = np.where(std > 1e-12, std, 1.0)  # a constant feature (e.g. motion2 of a still) stays 0
        cq = np.asarray(cq, dtype=np.float64)
        return cls(
            tuple(map(float, mean)),
            tuple(map(float, std)),
            float(cq.min()),
            float(cq.max()),
            feature_order=tuple(feature_order),
        )

    @classmethod
    def fit_corpus(cls, corpus: Corpus, rows: np.ndarray | slice = slice(None)) -> FeatureSpec:
        """Fitted on the corpus's `rows` (its training fold), in the corpus's feature order."""
        return cls.fit(corpus.features[rows], corpus.cq[rows], corpus.feature_order)

    @property
    def width(self) -> int:
        """The width of the model inputs this spec makes."""
        return input_width(len(self.feature_order))

    def standardise(self, features: np.ndarray) -> np.ndarray:
        return (np.asarray(features, dtype=np.float64) - np.array(self.mean)) / np.array(self.std)

    def crf_norm(self, cq: np.ndarray) -> np.ndarray:
        """cq scaled by the fitted range; a NaN cq (not given) maps to UNKNOWN_CRF_NORM."""
        span = self.cq_max - self.cq_min
        cq = np.asarray(cq, dtype=np.float64)
        norm = np.zeros_like(cq) if span <= 0 else (cq - self.cq_min) / span
        return np.where(np.isnan(cq), UNKNOWN_CRF_NORM, norm)

    def codec_block(
        self, encoder: Sequence[str] | np.ndarray, preset: Sequence[str] | np.ndarray, cq: np.ndarray
    ) -> np.ndarray:
        """[N, 14]: 12-slot encoder one-hot, preset_norm, crf_norm. A label that is not given is
        encoder "unknown", preset "" (UNKNOWN_PRESET_NORM) or cq NaN (UNKNOWN_CRF_NORM)."""
        encoders = np.asarray(encoder)
        presets = np.asarray(preset)
        n = len(encoders)
        block = np.zeros((n, NUM_CODECS), dtype=np.float64)
        # Unique (encoder, preset) pairs are few: map them once rather than per row.
        pairs, inverse = np.unique(
            np.stack([encoders.astype(str), presets.astype(str)], axis=1), axis=0, return_inverse=True
        )
        slots = np.array([encoder_slot(e) for e, _ in pairs], dtype=np.int64)[inverse.reshape(-1)]
        norms = np.array([preset_norm(e, p) for e, p in pairs], dtype=np.float64)[inverse.reshape(-1)]
        block[np.arange(n), slots] = 1.0
        block[:, len(ENCODER_VOCAB)] = norms
        block[:, len(ENCODER_VOCAB) + 1] = self.crf_norm(cq)
        return block

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FeatureSpec:
        return cls(
            mean=tuple(data["mean"]),
            std=tuple(data["std"]),
            cq_min=float(data["cq_min"]),
            cq_max=float(data["cq_max"]),
            feature_order=tuple(data.get("feature_order", CANONICAL6)),
            encoder_vocab=tuple(data.get("encoder_vocab", ENCODER_VOCAB)),
            encoder_vocab_version=data.get("encoder_vocab_version", ENCODER_VOCAB_VERSION),
        )


def input_schema(feature_order: Sequence[str] = CANONICAL6) -> dict[str, Any]:
    """What a model's inputs mean; its hash guards against loading weights of another layout (a
    canonical-6 model's schema is what it was before feature sets, so its hash is unchanged)."""
    return {
        "feature_order": list(feature_order),
        "encoder_vocab": list(ENCODER_VOCAB),
        "encoder_vocab_version": ENCODER_VOCAB_VERSION,
        "codec_layout": ["onehot:12", "preset_norm", "crf_norm"],
        "inputs": {"features": [None, len(feature_order)], "codec_onehot": [None, NUM_CODECS]},
    }


def input_schema_hash(feature_order: Sequence[str] = CANONICAL6) -> str:
    text = json.dumps(input_schema(feature_order), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def model_inputs(corpus: Corpus, rows: np.ndarray, spec: FeatureSpec) -> np.ndarray:
    """[n, k + 14] float32: the standardised features then the codec block, for the given rows."""
    std = spec.standardise(corpus.features[rows])
    codec = spec.codec_block(corpus.encoder[rows], corpus.preset[rows], corpus.cq[rows])
    return np.concatenate([std, codec], axis=1).astype(np.float32)


def fold_inputs(x_train: np.ndarray, recipe: Recipe, salt: int) -> np.ndarray:
    """A fold's training inputs with labels masked as the recipe says, from a stream fixed by the
    fold (`salt`), so re-runs are identical. One array for all the seeds of the fold: the
    batched trainer keeps one copy of it (per-member copies made a run 1.6-2x slower)."""
    if recipe.label_mask_rate <= 0:
        return x_train
    rng = np.random.default_rng([int(salt), 0x1ABE1])
    return mask_labels(x_train, recipe.label_mask_rate, rng)
