"""A bare TCP relay: uvloop protocols passing bytes through, no HTTP, no hashing, no copies of
its own. It is the cheapest user-space hop a Python process can put between a client and S3,
so curl through it is the control for Depot's streaming scenarios: what any proxy in front
of S3 costs on this machine, whatever else it does.

``python -m bench.relay LISTEN_PORT UPSTREAM_PORT`` (both on loopback)."""

import asyncio
import sys

import uvloop

LOOPBACK = "127.0.0.1"


class Side(asyncio.Protocol):
    """One connection; what it receives is written to its peer, with back-pressure both ways."""

    peer: "Side | None" = None
    transport: asyncio.Transport

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.peer.transport.write(data)

    def pause_writing(self) -> None:
        self.peer.transport.pause_reading()

    def resume_writing(self) -> None:
        self.peer.transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.peer is not None:
            self.peer.transport.close()


class Accepted(Side):
    """A client connection: held still (what already arrived is kept) until its upstream is open."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.early: list[bytes] = []

    def data_received(self, data: bytes) -> None:
        if self.peer is None:
            self.early.append(data)
        else:
            self.peer.transport.write(data)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        transport.pause_reading()  # type: ignore[attr-defined]
        asyncio.get_running_loop().create_task(self.connect())

    async def connect(self) -> None:
        try:
            _, upstream = await asyncio.get_running_loop().create_connection(Side, LOOPBACK, self.upstream_port)
        except OSError:
            self.transport.close()
            return
        upstream.peer, self.peer = self, upstream
        upstream.transport.writelines(self.early)
        self.early = []
        self.transport.resume_reading()


async def serve(listen_port: int, upstream_port: int) -> None:
    server = await asyncio.get_running_loop().create_server(
        lambda: Accepted(upstream_port), LOOPBACK, listen_port)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    uvloop.run(serve(int(sys.argv[1]), int(sys.argv[2])))
