"""Multi-person tracker: nearest-neighbour association, constant-velocity Kalman filter."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TrackerConfig:
    """Association gate, filter noise, and track birth/death."""

    gate_m: float = 0.6  # a measurement farther than this from a track's prediction is new
    process_accel_m_s2: float = 2.0  # white-noise acceleration (people change pace quickly)
    measurement_sigma_m: float = 0.05  # default 1-sigma position noise of a measurement
    max_speed_m_s: float = 3.0  # velocity estimates are clipped to this (ISO 13855: 1.6 walking)
    confirm_hits: int = 2  # hits before a track's velocity is trusted
    max_missed_s: float = 0.5  # a track unseen for longer is deleted
    max_dt_s: float = 1.0  # a gap longer than this re-initialises the velocity

    def __post_init__(self) -> None:
        positive = ("gate_m", "process_accel_m_s2", "measurement_sigma_m", "max_speed_m_s")
        for name in positive:
            if getattr(self, name) <= 0.0:
                raise ValueError(f"{name} must be > 0")
        if self.confirm_hits < 1 or self.max_missed_s < 0.0 or self.max_dt_s <= 0.0:
            raise ValueError("confirm_hits >= 1, max_missed_s >= 0 and max_dt_s > 0 are required")


@dataclass(frozen=True)
class TrackEstimate:
    """A measurement with the identity and velocity the tracker gave it."""

    track_id: int  # stable while the track lives; ids are never reused
    position_m: np.ndarray  # (3,) filtered position
    velocity_m_s: np.ndarray  # (3,) filtered velocity (zero until confirmed)
    position_sigma_m: float  # 1-sigma radius of the filtered position
    confirmed: bool  # enough hits for the velocity to mean something


class _Track:
    def __init__(self, track_id: int, position: np.ndarray, sigma: float, stamp_s: float) -> None:
        self.track_id = track_id
        self.x = np.concatenate([position, np.zeros(3)])
        self.p = np.diag([sigma**2] * 3 + [1.0] * 3)  # velocity unknown: ~1 m/s 1-sigma
        self.last_stamp_s = stamp_s
        self.hits = 1

    def predict(self, dt: float, accel: float) -> None:
        f = np.eye(6)
        f[:3, 3:] = np.eye(3) * dt
        g = np.concatenate([np.eye(3) * 0.5 * dt * dt, np.eye(3) * dt])
        self.x = f @ self.x
        self.p = f @ self.p @ f.T + g @ g.T * accel**2

    def correct(self, z: np.ndarray, sigma: float) -> None:
        h = np.hstack([np.eye(3), np.zeros((3, 3))])
        s = h @ self.p @ h.T + np.eye(3) * sigma**2
        k = self.p @ h.T @ np.linalg.inv(s)
        self.x = self.x + k @ (z - h @ self.x)
        self.p = (np.eye(6) - k @ h) @ self.p


class PersonTracker:
    """Gives detections stable ids and velocities; one update per camera frame."""

    def __init__(self, config: TrackerConfig | None = None) -> None:
        self.config = config or TrackerConfig()
        self._tracks: list[_Track] = []
        self._next_id = 1
        self._last_stamp_s: float | None = None

    @property
    def num_tracks(self) -> int:
        """Live tracks."""
        return len(self._tracks)

    def reset(self) -> None:
        """Drop all tracks (ids keep increasing)."""
        self._tracks.clear()
        self._last_stamp_s = None

    def update(
        self, stamp_s: float, positions_m: np.ndarray, sigmas_m: np.ndarray | None = None
    ) -> list[TrackEstimate]:
        """Associate (N, 3) measurements taken at `stamp_s`; one estimate per measurement."""
        cfg = self.config
        z_all = np.asarray(positions_m, dtype=np.float64).reshape(-1, 3)
        if not np.all(np.isfinite(z_all)) or not np.isfinite(stamp_s):
            raise ValueError("tracker measurements and stamp must be finite")
        sig = (
            np.full(z_all.shape[0], cfg.measurement_sigma_m)
            if sigmas_m is None
            else np.maximum(np.asarray(sigmas_m, dtype=np.float64).reshape(-1), 1e-3)
        )
        if self._last_stamp_s is not None and stamp_s < self._last_stamp_s:
            self.reset()  # time went backwards (bag loop, sim reset): start over
        self._last_stamp_s = stamp_s
        for track in self._tracks:
            dt = stamp_s - track.last_stamp_s
            if dt > cfg.max_dt_s:
                track.x[3:] = 0.0
                track.p[3:, 3:] = np.eye(3)
                dt = 0.0
            track.predict(max(dt, 0.0), cfg.process_accel_m_s2)
        # greedy global nearest neighbour: the closest (track, measurement) pair first
        assigned: dict[int, int] = {}
        if self._tracks and z_all.shape[0]:
            predicted = np.stack([t.x[:3] for t in self._tracks])
            dist = np.linalg.norm(z_all[:, None, :] - predicted[None, :, :], axis=2)
            for flat in np.argsort(dist, axis=None):
                m, t = np.unravel_index(flat, dist.shape)
                if dist[m, t] > cfg.gate_m:
                    break
                if int(m) in assigned or int(t) in assigned.values():
                    continue
                assigned[int(m)] = int(t)
        out = []
        for m in range(z_all.shape[0]):
            if m in assigned:
                track = self._tracks[assigned[m]]
                track.correct(z_all[m], float(sig[m]))
                track.hits += 1
            else:
                track = _Track(self._next_id, z_all[m], float(sig[m]), stamp_s)
                self._next_id += 1
                self._tracks.append(track)
            track.last_stamp_s = stamp_s
            speed = float(np.linalg.norm(track.x[3:]))
            if speed > cfg.max_speed_m_s:
                track.x[3:] *= cfg.max_speed_m_s / speed
            confirmed = track.hits >= cfg.confirm_hits
            out.append(
                TrackEstimate(
                    track_id=track.track_id,
                    position_m=track.x[:3].copy(),
                    velocity_m_s=track.x[3:].copy() if confirmed else np.zeros(3),
                    position_sigma_m=float(np.sqrt(np.trace(track.p[:3, :3]) / 3.0)),
                    confirmed=confirmed,
                )
            )
        self._tracks = [t for t in self._tracks if stamp_s - t.last_stamp_s <= cfg.max_missed_s]
        return out
