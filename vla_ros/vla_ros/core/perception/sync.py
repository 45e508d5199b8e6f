"""Approximate-time pairing of several streams by stamp (message_filters is not available)."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Any

import numpy as np


class ApproximateTimeSync:
    """Emits one item per stream whenever every stream has an item within `max_skew_s`.

    Each new item is matched against the nearest-stamped item of every other stream; a match
    consumes it and everything older, so each input is used at most once and frames are
    emitted in stamp order. Queues are bounded: a stream that stops makes the others drop
    their oldest items, never grow.
    """

    def __init__(self, num_streams: int, max_skew_s: float, queue_size: int = 10) -> None:
        if num_streams < 1 or max_skew_s < 0.0 or queue_size < 1:
            raise ValueError("need num_streams >= 1, max_skew_s >= 0 and queue_size >= 1")
        self.max_skew_s = max_skew_s
        self._queues: list[deque[tuple[float, Any]]] = [
            deque(maxlen=queue_size) for _ in range(num_streams)
        ]
        self.dropped = 0  # items that left a queue unmatched

    def add(self, stream: int, stamp_s: float, item: Any) -> tuple[float, Sequence[Any]] | None:
        """Queue `item`; return (stamp of the newest member, items in stream order) on a match."""
        queue = self._queues[stream]
        if queue and stamp_s <= queue[-1][0]:
            if stamp_s < queue[-1][0]:
                # time went backwards (sim reset, bag loop): old items can never match again
                self.dropped += sum(len(q) for q in self._queues)
                for q in self._queues:
                    q.clear()
            else:
                queue.pop()
                self.dropped += 1
        if len(queue) == queue.maxlen:
            self.dropped += 1
        queue.append((stamp_s, item))
        chosen: list[int] = []
        for index, other in enumerate(self._queues):
            if index == stream:
                chosen.append(len(queue) - 1)
                continue
            if not other:
                return None
            best = min(range(len(other)), key=lambda i: abs(other[i][0] - stamp_s))
            chosen.append(best)
        stamps = [self._queues[i][c][0] for i, c in enumerate(chosen)]
        if max(stamps) - min(stamps) > self.max_skew_s:
            return None
        items = [self._queues[i][c][1] for i, c in enumerate(chosen)]
        for q, c in zip(self._queues, chosen, strict=True):
            self.dropped += c  # older items in this queue were never matched
            for _ in range(c + 1):
                q.popleft()
        return max(stamps), items


class StampedVectorBuffer:
    """Recent stamped vectors (joint positions), interpolated at another stream's stamp.

    The camera frame and the joint states are sampled at different instants; taking the
    latest joint state for an image misplaces a moving arm by speed x skew (5 cm at 1 m/s and
    50 ms), and the self-filter then reports the arm's own edge as an intrusion.
    """

    def __init__(self, max_age_s: float = 1.0, max_items: int = 400) -> None:
        if max_age_s <= 0.0 or max_items < 2:
            raise ValueError("need max_age_s > 0 and max_items >= 2")
        self.max_age_s = max_age_s
        self._items: deque[tuple[float, np.ndarray]] = deque(maxlen=max_items)

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        """Forget everything (time went backwards)."""
        self._items.clear()

    def add(self, stamp_s: float, vector: np.ndarray) -> None:
        """Append a sample; an older stamp than the newest clears the buffer (clock reset)."""
        if self._items and stamp_s < self._items[-1][0]:
            self._items.clear()
        self._items.append((stamp_s, np.asarray(vector, dtype=np.float64).copy()))
        while self._items and self._items[-1][0] - self._items[0][0] > self.max_age_s:
            self._items.popleft()

    def at(self, stamp_s: float, max_extrapolation_s: float) -> np.ndarray:
        """Linear interpolation at `stamp_s`; the nearest end within `max_extrapolation_s`.

        ValueError when empty or when the stamp lies farther outside the buffered span.
        """
        if not self._items:
            raise ValueError("no samples buffered")
        first_s, first = self._items[0]
        last_s, last = self._items[-1]
        if stamp_s >= last_s:
            if stamp_s - last_s > max_extrapolation_s:
                raise ValueError(f"newest sample is {stamp_s - last_s:.3f} s older than {stamp_s}")
            return last.copy()
        if stamp_s <= first_s:
            if first_s - stamp_s > max_extrapolation_s:
                raise ValueError(
                    f"oldest sample is {first_s - stamp_s:.3f} s newer than {stamp_s}"
                )
            return first.copy()
        stamps = np.fromiter((s for s, _ in self._items), dtype=np.float64, count=len(self._items))
        hi = int(np.searchsorted(stamps, stamp_s, side="right"))
        (t0, v0), (t1, v1) = self._items[hi - 1], self._items[hi]
        w = 0.0 if t1 <= t0 else (stamp_s - t0) / (t1 - t0)
        return (1.0 - w) * v0 + w * v1
