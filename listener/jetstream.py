"""The bus over NATS JetStream: collectors publish from one process, any number of `earful worker`s consume.

- The stream is durable (file storage) and created if missing; each mention is one message, JSON, with
  `Nats-Msg-Id: <network>:<native id>` so JetStream itself drops a mention published twice within its duplicate
  window (a backfill overlapping the stream).
- Workers share one durable pull consumer with explicit acks. A batch is acked only after every mention in it is
  confirmed in the store after the commit (or kept aside in quarantine); a worker that dies mid-batch never acks,
  and JetStream redelivers those messages to another worker after `ack_wait`. Redelivery is harmless: the store
  is idempotent on (network, native id), against any number of concurrent writers.
- `publish` is called from collector threads and returns only once JetStream has acknowledged the message (it is
  on disk), so a collector never advances past a mention the bus might lose.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from listener.bus import Batch
from store.incoming import NewMention
from store.urls import redact, safe_url

log = logging.getLogger(__name__)


class BusSettings(BaseModel):
    # "memory": the in-process queue (one process does everything). "jetstream": NATS JetStream.
    kind: str = Field(default="memory", pattern="^(memory|jetstream)$")
    url: str = "nats://127.0.0.1:4222"
    stream: str = Field(default="EARFUL_MENTIONS", pattern=r"^[A-Za-z0-9_-]+$")
    subject: str = "earful.mentions"
    durable: str = Field(default="earful-workers", pattern=r"^[A-Za-z0-9_-]+$")
    # How long a worker may hold a batch before JetStream gives it to another worker.
    ack_wait_seconds: float = Field(default=60.0, gt=0)
    # `earful serve` with JetStream: also classify and store in the serving process (False: workers do it).
    serve_consumes: bool = False
    publish_timeout_seconds: float = Field(default=30.0, gt=0)


class JetStreamBus:
    def __init__(self, loop: asyncio.AbstractEventLoop, settings: BusSettings, *, consume: bool) -> None:
        self._loop = loop
        self.settings = settings
        self.consume = consume
        self.published = 0
        self.redelivered = 0
        self._nc: Any = None
        self._js: Any = None
        self._sub: Any = None
        self._closed = asyncio.Event()

    async def start(self) -> None:
        import nats
        from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StreamConfig
        from nats.js.errors import BadRequestError

        s = self.settings
        self._nc = nats.NATS()
        try:
            # Once connected, reconnect forever (a NATS restart is routine); the first connect gets 15 s, or the
            # command would hang on a wrong URL.
            await asyncio.wait_for(
                self._nc.connect(s.url, connect_timeout=5, max_reconnect_attempts=-1, reconnect_time_wait=1),
                timeout=15,
            )
        except Exception as exc:
            await self._nc.close()
            raise ConnectionError(
                f"cannot reach NATS at {safe_url(s.url)} ({redact(str(exc) or type(exc).__name__, s.url)}); "
                "start nats-server with -js, "
                'or set bus.kind = "memory"'
            ) from exc
        self._js = self._nc.jetstream()
        config = StreamConfig(name=s.stream, subjects=[s.subject], duplicate_window=120.0)
        try:
            await self._js.add_stream(config)
        except BadRequestError:
            await self._js.update_stream(config)
        if self.consume:
            self._sub = await self._js.pull_subscribe(
                s.subject,
                durable=s.durable,
                stream=s.stream,
                config=ConsumerConfig(
                    ack_policy=AckPolicy.EXPLICIT,
                    deliver_policy=DeliverPolicy.ALL,
                    ack_wait=s.ack_wait_seconds,
                    max_ack_pending=10_000,
                ),
            )

    # -- producer side (collector threads) --------------------------------------------------------------------

    def publish(self, mention: NewMention) -> None:
        if self._loop.is_closed() or self._js is None:
            raise RuntimeError("the JetStream bus is not running; mention not accepted")
        future = asyncio.run_coroutine_threadsafe(self._publish(mention), self._loop)
        future.result(timeout=self.settings.publish_timeout_seconds)
        self.published += 1

    async def _publish(self, mention: NewMention) -> None:
        await self._js.publish(
            self.settings.subject,
            mention.model_dump_json().encode(),
            headers={"Nats-Msg-Id": f"{mention.network}:{mention.native_id}"},
            timeout=self.settings.publish_timeout_seconds,
        )

    # -- consumer side ----------------------------------------------------------------------------------------

    async def next_batch(self, *, max_items: int, max_wait: float) -> Batch:
        from nats.errors import TimeoutError as NatsTimeout

        while not self._closed.is_set():
            try:
                # Waits up to a second for the first message, then JetStream hands over what it has.
                msgs = await self._sub.fetch(batch=max_items, timeout=max(1.0, max_wait))
            except (NatsTimeout, TimeoutError):
                continue
            return self._batch(msgs)
        return Batch([], ended=True)

    def _batch(self, msgs: list[Any]) -> Batch:
        mentions: list[NewMention] = []
        rejected: list[tuple[str, bytes]] = []
        for msg in msgs:
            if msg.metadata.num_delivered > 1:
                self.redelivered += 1
            try:
                mentions.append(NewMention.model_validate_json(msg.data))
            except ValidationError as exc:
                rejected.append(
                    (f"not a mention on {self.settings.subject}: {exc.errors()[0]['msg']}", msg.data)
                )

        async def ack() -> None:
            await asyncio.gather(*(msg.ack() for msg in msgs))

        async def nak() -> None:
            await asyncio.gather(*(msg.nak() for msg in msgs), return_exceptions=True)

        return Batch(mentions, ack=ack, nak=nak, rejected=rejected)

    async def close(self) -> None:
        # Stop fetching; what JetStream still holds waits for the other workers or the next start.
        self._closed.set()

    async def disconnect(self) -> None:
        if self._nc is None or self._nc.is_closed:
            return
        try:
            # Acks are fire-and-forget: make sure the last batch's reach the server. (A drain would wait out
            # the pull request still open on the server; there is nothing left to receive.)
            await self._nc.flush(timeout=5)
        except Exception as exc:  # closing must not hide what stopped the process
            log.warning("flushing the NATS connection: %s", exc)
        await self._nc.close()
