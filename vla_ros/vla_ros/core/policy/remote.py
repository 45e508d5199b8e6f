"""The `remote` backend: a client of openpi's websocket + msgpack-numpy policy protocol.

Protocol (openpi_client.websocket_client_policy / openpi's WebsocketPolicyServer): after the
websocket handshake the server sends one msgpack message of metadata; then each request is a
msgpack dict of observations answered by a msgpack dict holding the actions and
`server_timing` ({"infer_ms", "prev_total_ms"}); a text frame is a server error (traceback).
`GET /healthz` answers 200 OK. This client adds what the official one lacks for a robot:
timeouts on connect and on each answer, and reconnection with exponential backoff: while the
server is down `infer` fails fast with BackendUnavailableError and the caller holds and retries.
"""

from __future__ import annotations

import contextlib
import http.client
import threading
import time
from typing import Any
from urllib.parse import urlparse

import numpy as np

from vla_ros.core.policy.backends import BackendUnavailableError, RemoteConfig
from vla_ros.core.policy.interface import ActionChunk, Observation, PolicySpec

SPEC_METADATA_KEY = "policy_spec"


def observation_to_request(
    observation: Observation, spec: PolicySpec, config: RemoteConfig
) -> dict[str, Any]:
    """Observation -> request dict (images resized to the policy's size, as openpi clients do)."""
    from vla_ros.core.policy.vla_model import _resize

    height, width = spec.image_size
    request: dict[str, Any] = {
        config.state_key: observation.state_for(spec.observed_joints),
        config.prompt_key: observation.instruction,
        "observation/joint_names": list(spec.observed_joints),
        "observation/stamp_s": float(observation.stamp_s),
    }
    for key in spec.image_keys:
        if key not in observation.images:
            raise ValueError(f"observation has no image '{key}'")
        request[config.image_key_prefix + key] = np.ascontiguousarray(
            _resize(np.asarray(observation.images[key]), height, width)
        )
        if spec.use_depth and key in observation.depth:
            depth = _resize(np.asarray(observation.depth[key]), height, width)
            request[config.depth_key_prefix + key] = np.ascontiguousarray(depth)
    return request


def request_to_observation(
    request: dict[str, Any], spec: PolicySpec, config: RemoteConfig
) -> Observation:
    """Request dict -> Observation (the server side of observation_to_request)."""
    images = {
        key[len(config.image_key_prefix) :]: np.asarray(value)
        for key, value in request.items()
        if isinstance(key, str) and key.startswith(config.image_key_prefix)
    }
    depth = {
        key[len(config.depth_key_prefix) :]: np.asarray(value, dtype=np.float32)
        for key, value in request.items()
        if isinstance(key, str) and key.startswith(config.depth_key_prefix)
    }
    if config.state_key not in request or config.prompt_key not in request:
        raise ValueError(f"request needs '{config.state_key}' and '{config.prompt_key}'")
    names = tuple(request.get("observation/joint_names", spec.joint_names))
    return Observation(
        images=images,
        depth=depth,
        joint_names=names,
        joint_positions=np.asarray(request[config.state_key], dtype=np.float64),
        instruction=str(request[config.prompt_key]),
        stamp_s=float(request.get("observation/stamp_s", 0.0)),
    )


class RemotePolicy:
    """Policy served by a websocket server; reconnects with backoff; thread-safe."""

    def __init__(self, config: RemoteConfig) -> None:
        self.config = config
        uri = config.host if config.host.startswith("ws") else f"ws://{config.host}"
        if urlparse(uri).port is None:
            uri = f"{uri}:{config.port}"
        self.uri = uri
        self._lock = threading.Lock()
        self._conn: Any = None
        self._backoff_s = config.backoff_initial_s
        self._next_attempt_s = 0.0
        self.server_metadata: dict[str, Any] = {}
        self.last_server_timing: dict[str, float] = {}
        self.reconnects = 0
        self._spec: PolicySpec | None = PolicySpec.from_dict(config.spec) if config.spec else None
        try:
            with self._lock:
                self._ensure_connected()
        except BackendUnavailableError:
            if self._spec is None:
                raise
        if self._spec is None:
            raise BackendUnavailableError(
                f"server {self.uri} sent no '{SPEC_METADATA_KEY}' metadata; set the remote "
                "backend's `spec` option"
            )

    @property
    def spec(self) -> PolicySpec:
        """What the served policy consumes and produces."""
        assert self._spec is not None
        return self._spec

    def healthy(self) -> bool:
        """GET /healthz answered 200 within the connect timeout."""
        parsed = urlparse(self.uri)
        try:
            conn = http.client.HTTPConnection(
                parsed.hostname or "127.0.0.1",
                parsed.port or self.config.port,
                timeout=self.config.connect_timeout_s,
            )
            try:
                conn.request("GET", "/healthz")
                return conn.getresponse().status == 200
            finally:
                conn.close()
        except OSError:
            return False

    def _ensure_connected(self) -> None:
        if self._conn is not None:
            return
        now = time.monotonic()
        if now < self._next_attempt_s:
            raise BackendUnavailableError(
                f"policy server {self.uri} unavailable; next attempt in "
                f"{self._next_attempt_s - now:.1f} s"
            )
        import websockets.sync.client
        from openpi_client import msgpack_numpy

        headers = (
            {"Authorization": f"Api-Key {self.config.api_key}"} if self.config.api_key else None
        )
        try:
            conn = websockets.sync.client.connect(
                self.uri,
                compression=None,
                max_size=None,
                open_timeout=self.config.connect_timeout_s,
                additional_headers=headers,
                legacy=True,  # a long-lived connection, closed explicitly by _fail/close
            )
            metadata = msgpack_numpy.unpackb(conn.recv(timeout=self.config.connect_timeout_s))
        except Exception as exc:  # OSError, TimeoutError, websockets errors
            self._fail()
            raise BackendUnavailableError(
                f"cannot connect to policy server {self.uri}: {exc}"
            ) from exc
        self._conn = conn
        self._backoff_s = self.config.backoff_initial_s
        self.server_metadata = metadata if isinstance(metadata, dict) else {}
        if SPEC_METADATA_KEY in self.server_metadata:
            self._spec = PolicySpec.from_dict(self.server_metadata[SPEC_METADATA_KEY])
        self.reconnects += 1

    def _fail(self) -> None:
        """Drop the connection and schedule the next attempt (exponential backoff)."""
        if self._conn is not None:
            # closing a broken socket may raise anything; it is gone anyway
            with contextlib.suppress(Exception):
                self._conn.close()
        self._conn = None
        self._next_attempt_s = time.monotonic() + self._backoff_s
        self._backoff_s = min(2.0 * self._backoff_s, self.config.backoff_max_s)

    def infer(self, observation: Observation) -> ActionChunk:
        """One chunk from the server; BackendUnavailableError while it is down."""
        from openpi_client import msgpack_numpy

        request = observation_to_request(observation, self.spec, self.config)
        with self._lock:
            self._ensure_connected()
            try:
                self._conn.send(msgpack_numpy.packb(request))
                response = self._conn.recv(timeout=self.config.infer_timeout_s)
            except Exception as exc:  # timeout or connection lost: reconnect later
                self._fail()
                raise BackendUnavailableError(f"policy server {self.uri}: {exc}") from exc
        if isinstance(response, str):
            with self._lock:
                self._fail()
            raise RuntimeError(f"error in policy server:\n{response}")
        result = msgpack_numpy.unpackb(response)
        timing = result.get("server_timing", {})
        self.last_server_timing = {k: float(v) for k, v in timing.items()}
        if self.config.actions_key not in result:
            raise ValueError(f"server answer has no '{self.config.actions_key}'")
        actions = np.asarray(result[self.config.actions_key], dtype=np.float64)
        if actions.ndim != 2 or actions.shape[1] != self.spec.action_dim:
            raise ValueError(
                f"server sent actions of shape {actions.shape}, "
                f"expected (H, {self.spec.action_dim})"
            )
        return ActionChunk(
            actions=actions,
            action_space=self.spec.action_space,
            step_duration_s=self.spec.step_duration_s,
            observation_stamp_s=observation.stamp_s,
        )

    def reset(self) -> None:
        """openpi's protocol has no reset message; the served policy keeps its own state."""

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
            self._conn = None
