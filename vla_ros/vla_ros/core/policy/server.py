"""A policy server speaking openpi's websocket + msgpack-numpy protocol (any local backend).

Same wire behaviour as openpi's WebsocketPolicyServer, so openpi_client's
WebsocketClientPolicy works against it unchanged: metadata on connect, one answer per
request with `server_timing` ({"infer_ms", "prev_total_ms"}), a text frame carrying the error
before closing with code 1011 on failure, and GET /healthz -> 200. Differences: binds
127.0.0.1 by default, metadata carries the PolicySpec (key "policy_spec"), and inference runs
in a worker thread so /healthz stays responsive while the model thinks.
"""

from __future__ import annotations

import asyncio
import http
import logging
import threading
import time
import traceback
from typing import Any

import numpy as np

from vla_ros.core.policy.backends import RemoteConfig
from vla_ros.core.policy.interface import Policy
from vla_ros.core.policy.remote import SPEC_METADATA_KEY, request_to_observation

LOGGER = logging.getLogger(__name__)


class PolicyServer:
    """Serves one Policy to any number of clients; requests are answered one at a time."""

    def __init__(
        self,
        policy: Policy,
        host: str = "127.0.0.1",
        port: int = 8000,
        metadata: dict[str, Any] | None = None,
        protocol: RemoteConfig | None = None,
    ) -> None:
        self.policy = policy
        self.host = host
        self.port = port
        self.protocol = protocol or RemoteConfig()
        self.metadata = {**(metadata or {}), SPEC_METADATA_KEY: policy.spec.to_dict()}
        self._infer_lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self.bound_port: int | None = None
        self.requests_served = 0

    def _infer(self, request: dict[str, Any]) -> dict[str, Any]:
        observation = request_to_observation(request, self.policy.spec, self.protocol)
        with self._infer_lock:
            chunk = self.policy.infer(observation)
        return {
            self.protocol.actions_key: np.asarray(chunk.actions, dtype=np.float64),
            "action_space": chunk.action_space.value,
            "step_duration_s": chunk.step_duration_s,
            "observation_stamp_s": chunk.observation_stamp_s,
        }

    async def _handler(self, websocket: Any) -> None:
        import websockets
        from openpi_client import msgpack_numpy

        packer = msgpack_numpy.Packer()
        await websocket.send(packer.pack(self.metadata))
        prev_total_s: float | None = None
        while True:
            try:
                start = time.monotonic()
                request = msgpack_numpy.unpackb(await websocket.recv())
                if not isinstance(request, dict):
                    raise ValueError("a request must be a msgpack map of observations")
                infer_start = time.monotonic()
                answer = await asyncio.to_thread(self._infer, request)
                timing = {"infer_ms": (time.monotonic() - infer_start) * 1000.0}
                if prev_total_s is not None:
                    timing["prev_total_ms"] = prev_total_s * 1000.0
                answer["server_timing"] = timing
                await websocket.send(packer.pack(answer))
                self.requests_served += 1
                prev_total_s = time.monotonic() - start
            except websockets.ConnectionClosed:
                break
            except Exception:  # report to the client (openpi behaviour), keep serving others
                LOGGER.exception("policy server: request failed")
                await websocket.send(traceback.format_exc())
                await websocket.close(
                    code=websockets.frames.CloseCode.INTERNAL_ERROR,
                    reason="Internal server error. Traceback included in previous frame.",
                )
                break

    @staticmethod
    def _health_check(connection: Any, request: Any) -> Any:
        if request.path == "/healthz":
            return connection.respond(http.HTTPStatus.OK, "OK\n")
        return None

    async def run(self) -> None:
        """Serve until stop() is called."""
        from websockets.asyncio.server import serve

        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with serve(
            self._handler,
            self.host,
            self.port,
            compression=None,
            max_size=None,
            process_request=self._health_check,
        ) as server:
            self.bound_port = int(next(iter(server.sockets)).getsockname()[1])
            self._ready.set()
            await self._stop.wait()

    def serve_forever(self) -> None:
        """Blocking serve (Ctrl-C to stop)."""
        asyncio.run(self.run())

    def start(self, timeout_s: float = 10.0) -> int:
        """Serve from a background thread; returns the bound port (port 0 picks a free one)."""
        self._thread = threading.Thread(
            target=self.serve_forever, name="policy-server", daemon=True
        )
        self._thread.start()
        if not self._ready.wait(timeout_s):
            raise RuntimeError(f"policy server did not start on {self.host}:{self.port}")
        assert self.bound_port is not None
        return self.bound_port

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop a server started with start()."""
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout_s)
