"""The buffering front: a slow client can never hold a web worker.

gunicorn's sync workers (the fast path for pages, API and webhooks) serve one request at a time
and read it from the client themselves, so a handful of clients that send their request slowly
hold every worker, and every webhook behind them times out. This front does what nginx's
``proxy_request_buffering`` does, in the product itself so the demo, the tests and a plain
production install run the same topology:

- it reads each request **completely** — head within ``--header-timeout`` seconds, body within
  ``--body-timeout`` seconds and at most ``--max-body`` bytes — on an asyncio event loop, where a
  slow or idle client costs a few kilobytes, not a worker; a client too slow gets ``408``, a body
  too large ``413``, a request that is not HTTP ``400``, and the connection is closed;
- only then does it hand the request to an upstream worker (``--upstream``, gunicorn), at most
  ``--upstream-concurrency`` at a time (the rest wait in the front, in order), and it reads the
  whole answer back before writing it to the client, so a slow reader cannot hold a worker
  either (answers larger than ``--max-response`` are streamed);
- websocket upgrades (``Upgrade: websocket``) are tunnelled as they are to ``--ws-upstream``
  (daphne, which is asynchronous itself).

It adds ``X-Forwarded-For`` and ``X-Forwarded-Proto`` (``--proto``, for TLS terminated in front
of it) and speaks HTTP/1.1 with keep-alive to clients; to the upstream it sends one request per
connection with ``Connection: close``. Run it as
``python -m controltower.front --listen 127.0.0.1:8000 --upstream 127.0.0.1:8001
--ws-upstream 127.0.0.1:8002`` (``docs/deploy.md``). A production site may use nginx instead with
the same buffering; this front is what the demo and the tests run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
from dataclasses import dataclass

import h11

logger = logging.getLogger("controltower.front")

HOP_BY_HOP = {
    b"connection",
    b"keep-alive",
    b"proxy-connection",
    b"te",
    b"trailer",
    b"transfer-encoding",
    b"upgrade",
    b"content-length",
    b"x-forwarded-for",
    b"x-forwarded-proto",
}
READ_CHUNK = 65536


@dataclass(frozen=True)
class Config:
    upstream: tuple[str, int]
    ws_upstream: tuple[str, int] | None
    header_timeout_s: float = 5.0
    body_timeout_s: float = 15.0
    upstream_timeout_s: float = 60.0
    write_timeout_s: float = 30.0
    idle_timeout_s: float = 15.0
    max_body: int = 10 * 1024 * 1024
    max_response: int = 16 * 1024 * 1024
    upstream_concurrency: int = 8
    proto: str = "http"


class ClientError(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def _error_bytes(status: int, detail: str) -> bytes:
    body = ('{"detail": "' + detail.replace('"', "'") + '"}').encode()
    reason = {
        400: "Bad Request",
        408: "Request Timeout",
        413: "Content Too Large",
        431: "Request Header Fields Too Large",
        502: "Bad Gateway",
    }.get(status, "Error")
    return (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode() + body


class Front:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.slots = asyncio.Semaphore(config.upstream_concurrency)

    # --- one client connection -----------------------------------------------------------------
    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        client_ip = peer[0] if isinstance(peer, tuple) else "unix"
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=64 * 1024)
        first = True
        try:
            while True:
                timeout = self.config.header_timeout_s if first else self.config.idle_timeout_s
                try:
                    request, body = await self._read_request(conn, reader, writer, timeout)
                except TimeoutError:
                    if conn.their_state is h11.IDLE and not first:
                        return  # an idle kept-alive connection: just close it
                    raise ClientError(408, "request not received in time") from None
                if request is None:
                    return
                first = False
                if _is_websocket(request) and self.config.ws_upstream is not None:
                    await self._tunnel(request, reader, writer, client_ip)
                    return
                keep_alive = await self._forward(request, body, writer, client_ip, conn)
                if not keep_alive:
                    return
                conn.start_next_cycle()
        except ClientError as exc:
            with contextlib.suppress(Exception):
                writer.write(_error_bytes(exc.status, exc.detail))
                await asyncio.wait_for(writer.drain(), self.config.write_timeout_s)
        except (ConnectionError, h11.LocalProtocolError, TimeoutError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    async def _read_request(
        self,
        conn: h11.Connection,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        head_timeout: float,
    ) -> tuple[h11.Request | None, bytes]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + head_timeout
        request: h11.Request | None = None
        body = bytearray()
        while True:
            try:
                event = conn.next_event()
            except h11.RemoteProtocolError as exc:
                status = exc.error_status_hint
                raise ClientError(
                    431 if status == 431 else 400, f"malformed request: {exc}"
                ) from None
            if event is h11.NEED_DATA:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise TimeoutError
                data = await asyncio.wait_for(reader.read(READ_CHUNK), remaining)
                if not data and request is None and conn.their_state is h11.IDLE:
                    return None, b""  # closed between requests
                conn.receive_data(data)
                continue
            if isinstance(event, h11.Request):
                request = event
                if _is_websocket(event):
                    return request, b""
                length = _content_length(event)
                if length is not None and length > self.config.max_body:
                    raise ClientError(413, f"body larger than {self.config.max_body} bytes")
                if conn.they_are_waiting_for_100_continue:
                    writer.write(conn.send(h11.InformationalResponse(status_code=100, headers=[])))
                deadline = loop.time() + self.config.body_timeout_s  # the body has its own clock
                continue
            if isinstance(event, h11.Data):
                body += event.data
                if len(body) > self.config.max_body:
                    raise ClientError(413, f"body larger than {self.config.max_body} bytes")
                continue
            if isinstance(event, h11.EndOfMessage):
                return request, bytes(body)
            if isinstance(event, h11.ConnectionClosed):
                return None, b""

    # --- to the upstream and back --------------------------------------------------------------
    def _upstream_head(self, request: h11.Request, body: bytes, client_ip: str) -> bytes:
        lines = [b"%s %s HTTP/1.1" % (request.method, request.target)]
        for name, value in request.headers:
            if name.lower() not in HOP_BY_HOP:
                lines.append(name + b": " + value)
        forwarded = [v for n, v in request.headers if n.lower() == b"x-forwarded-for"]
        chain = b", ".join([*forwarded, client_ip.encode()]) if forwarded else client_ip.encode()
        lines += [
            b"X-Forwarded-For: " + chain,
            b"X-Forwarded-Proto: " + self.config.proto.encode(),
            b"Content-Length: " + str(len(body)).encode(),
            b"Connection: close",
        ]
        return b"\r\n".join(lines) + b"\r\n\r\n" + body

    async def _forward(
        self,
        request: h11.Request,
        body: bytes,
        writer: asyncio.StreamWriter,
        client_ip: str,
        conn: h11.Connection,
    ) -> bool:
        host, port = self.config.upstream
        async with self.slots:
            try:
                up_reader, up_writer = await asyncio.wait_for(
                    asyncio.open_connection(host, port), 5.0
                )
            except (OSError, TimeoutError):
                raise ClientError(502, "the web workers are not reachable") from None
            try:
                up_writer.write(self._upstream_head(request, body, client_ip))
                await up_writer.drain()
                answer = await asyncio.wait_for(
                    _read_all(up_reader, self.config.max_response), self.config.upstream_timeout_s
                )
            except TimeoutError:
                raise ClientError(502, "the web workers did not answer in time") from None
            finally:
                up_writer.close()
        status, headers, content = _parse_answer(answer)
        keep_alive = _wants_keep_alive(request)
        headers.append((b"Content-Length", str(len(content)).encode()))
        if not keep_alive:
            headers.append((b"Connection", b"close"))
        data = conn.send(h11.Response(status_code=status, headers=headers))
        if request.method != b"HEAD":
            data += conn.send(h11.Data(data=content)) if content else b""
        data += conn.send(h11.EndOfMessage())
        writer.write(data)
        await asyncio.wait_for(writer.drain(), self.config.write_timeout_s)
        return keep_alive and conn.our_state is h11.DONE and conn.their_state is h11.DONE

    async def _tunnel(
        self,
        request: h11.Request,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        client_ip: str,
    ) -> None:
        assert self.config.ws_upstream is not None
        host, port = self.config.ws_upstream
        up_reader, up_writer = await asyncio.open_connection(host, port)
        lines = [b"%s %s HTTP/1.1" % (request.method, request.target)]
        lines += [n + b": " + v for n, v in request.headers if n.lower() != b"x-forwarded-for"]
        lines.append(b"X-Forwarded-For: " + client_ip.encode())
        up_writer.write(b"\r\n".join(lines) + b"\r\n\r\n")
        await up_writer.drain()

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError, TimeoutError):
                while data := await src.read(READ_CHUNK):
                    dst.write(data)
                    await dst.drain()
            with contextlib.suppress(Exception):
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


async def _read_all(reader: asyncio.StreamReader, limit: int) -> bytes:
    chunks = bytearray()
    while data := await reader.read(READ_CHUNK):
        chunks += data
        if len(chunks) > limit:
            raise ClientError(502, "answer too large for the front")
    return bytes(chunks)


def _parse_answer(answer: bytes) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """The upstream's answer (``Connection: close``, read to EOF): status, end-to-end headers and
    the whole body (de-chunked), to be re-framed for the client."""
    head, sep, body = answer.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    try:
        status = int(lines[0].split(b" ", 2)[1])
    except (IndexError, ValueError):
        status = 0
    if not sep or not 100 <= status <= 599:
        raise ClientError(502, "the web workers sent no complete answer")
    headers: list[tuple[bytes, bytes]] = []
    chunked = False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        lowered = name.strip().lower()
        if lowered == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
            continue
        if lowered in (b"connection", b"keep-alive", b"content-length"):
            continue
        headers.append((name.strip(), value.strip()))
    return status, headers, _dechunk(body) if chunked else body


def _dechunk(body: bytes) -> bytes:
    out = bytearray()
    rest = body
    while rest:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out += rest[:size]
        rest = rest[size + 2 :]
    return bytes(out)


def _content_length(request: h11.Request) -> int | None:
    for name, value in request.headers:
        if name == b"content-length":
            return int(value)
    return None


def _is_websocket(request: h11.Request) -> bool:
    return any(n == b"upgrade" and v.lower() == b"websocket" for n, v in request.headers)


def _wants_keep_alive(request: h11.Request) -> bool:
    return not any(n == b"connection" and b"close" in v.lower() for n, v in request.headers)


def _address(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    return host or "127.0.0.1", int(port)


async def run(listen: tuple[str, int], config: Config) -> None:
    front = Front(config)
    server = await asyncio.start_server(front.serve, listen[0], listen[1], backlog=2048)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    logger.info("front on %s:%s → %s:%s", *listen, *config.upstream)
    async with server:
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m controltower.front", description=__doc__)
    parser.add_argument("--listen", default="127.0.0.1:8000")
    parser.add_argument("--upstream", required=True, help="host:port of gunicorn")
    parser.add_argument("--ws-upstream", default=None, help="host:port of daphne (websockets)")
    parser.add_argument("--header-timeout", type=float, default=5.0)
    parser.add_argument("--body-timeout", type=float, default=15.0)
    parser.add_argument("--upstream-timeout", type=float, default=60.0)
    parser.add_argument("--max-body", type=int, default=10 * 1024 * 1024)
    parser.add_argument("--upstream-concurrency", type=int, default=8)
    parser.add_argument("--proto", default="http", choices=("http", "https"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s front %(message)s")
    config = Config(
        upstream=_address(args.upstream),
        ws_upstream=_address(args.ws_upstream) if args.ws_upstream else None,
        header_timeout_s=args.header_timeout,
        body_timeout_s=args.body_timeout,
        upstream_timeout_s=args.upstream_timeout,
        max_body=args.max_body,
        upstream_concurrency=args.upstream_concurrency,
        proto=args.proto,
    )
    asyncio.run(run(_address(args.listen), config))


if __name__ == "__main__":
    main()
