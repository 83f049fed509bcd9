"""The floor of a policy service: a Postfix policy server that always answers DUNNO.

It reads each request (attribute=value lines up to an empty line) and
answers "action=DUNNO" without looking at it, on as many connections as
clients open, each kept open for request after request as Postfix's smtpd
keeps it. One process with asyncio: no policy server can answer much faster,
so bench/policy_overhead.py compares postfwd with it. Only the Python
standard library.

    python3 policy_floor.py --listen 127.0.0.1:10041
"""

from __future__ import annotations

import argparse
import asyncio

REPLY = b"action=DUNNO\n\n"


async def serve(reader, writer):
    try:
        while True:
            await reader.readuntil(b"\n\n")
            writer.write(REPLY)
            await writer.drain()
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
        pass
    finally:
        writer.close()


async def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--listen", default="127.0.0.1:10041")
    args = parser.parse_args()
    host, port = args.listen.rsplit(":", 1)
    server = await asyncio.start_server(serve, host, int(port), backlog=128)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
