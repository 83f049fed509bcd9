"""A DNS forwarder that answers after a fixed delay, like a distant DNS server.

Runs inside a bench container in front of the lab's unbound (the real DNS
server): each UDP query is passed to the upstream at once and its answer held
back until ``--delay-ms`` after the query arrived. Queries are independent, so
a slow one never holds up another. Only the Python standard library.

    python3 dns_delay.py --listen 0.0.0.0:53 --upstream 127.0.0.1:5353 --delay-ms 50
"""

from __future__ import annotations

import argparse
import asyncio


class Upstream(asyncio.DatagramProtocol):
    """One socket to the upstream per query: its answer goes back to the client."""

    def __init__(self, query, server, client, sent_at, delay):
        self.query = query
        self.server = server
        self.client = client
        self.sent_at = sent_at
        self.delay = delay
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport
        transport.sendto(self.query)
        # An upstream that never answers must not keep the socket open.
        asyncio.get_running_loop().call_later(10, transport.close)

    def datagram_received(self, data, addr):
        loop = asyncio.get_running_loop()
        wait = max(0.0, self.sent_at + self.delay - loop.time())
        loop.call_later(wait, self.server.sendto, data, self.client)
        self.transport.close()


class Listener(asyncio.DatagramProtocol):
    def __init__(self, upstream, delay):
        self.upstream = upstream
        self.delay = delay
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        loop = asyncio.get_running_loop()
        sent_at = loop.time()
        loop.create_task(loop.create_datagram_endpoint(
            lambda: Upstream(data, self.transport, addr, sent_at, self.delay), remote_addr=self.upstream))


def address(text):
    host, port = text.rsplit(":", 1)
    return host, int(port)


async def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--listen", type=address, required=True)
    parser.add_argument("--upstream", type=address, required=True)
    parser.add_argument("--delay-ms", type=float, default=50.0)
    args = parser.parse_args()
    loop = asyncio.get_running_loop()
    await loop.create_datagram_endpoint(lambda: Listener(args.upstream, args.delay_ms / 1000.0), local_addr=args.listen)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
