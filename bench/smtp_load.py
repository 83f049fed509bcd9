"""An SMTP load generator that keeps going when the server refuses.

Postfix's smtp-source stops at the first 5xx reply to RCPT ("fatal: recipient
rejected"), so it cannot drive a load the server is meant to refuse. This
client runs ``--sessions`` connections side by side until ``--count``
messages were tried, one message per connection (connect, EHLO, optional
STARTTLS and EHLO again, optional AUTH PLAIN, MAIL, RCPT, DATA when RCPT was
accepted, QUIT; ``--stop-after`` ends a session early), and prints one JSON
object: messages tried, wall seconds, messages per second, the count of
each outcome ("250", "550@rcpt", "450@mail", "refused@connect", ...) and the
latency percentiles of a whole session. Only the Python standard library
(3.11 or later, for StreamWriter.start_tls), so it runs in any lab container.

    python3 smtp_load.py --host 10.98.1.11 --port 25 --sessions 10 --count 1000 \\
        --sender forged@victim.test --rcpt nobody@example.test
    python3 smtp_load.py --host 10.98.4.11 --port 587 --starttls --user 'u{u}' --users 100 \\
        --password secret --sender bench@mx.lab.test --rcpt carol@mx.lab.test
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import ssl
import time


async def reply(reader):
    """Read one (possibly multi-line) reply; its code as an int."""
    while True:
        line = await reader.readline()
        if not line:
            raise ConnectionError("connection closed")
        if line[3:4] != b"-":
            return int(line[:3])


async def command(reader, writer, text):
    writer.write(text.encode("ascii") + b"\r\n")
    await writer.drain()
    return await reply(reader)


TLS_CONTEXTS = []


def tls_context():
    """STARTTLS without checking the certificate: the lab's is Debian's self-signed one.

    One context for every session, and no CA store loaded: a context per
    session would make the client, not the server, the bottleneck.
    """
    if not TLS_CONTEXTS:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        TLS_CONTEXTS.append(context)
    return TLS_CONTEXTS[0]


async def session(args, number):
    """One message over one connection; its outcome as a string."""
    local = (args.sources[number % len(args.sources)], 0) if args.sources else None
    reader, writer = await asyncio.open_connection(args.host, args.port, local_addr=local)
    try:
        code = await reply(reader)
        if code != 220:
            return "%d@connect" % code
        code = await command(reader, writer, "EHLO " + args.helo)
        if code != 250:
            return "%d@ehlo" % code
        if args.stop_after == "ehlo":
            return "%d@ehlo" % code
        if args.starttls:
            code = await command(reader, writer, "STARTTLS")
            if code != 220:
                return "%d@starttls" % code
            await writer.start_tls(tls_context())
            code = await command(reader, writer, "EHLO " + args.helo)
            if code != 250:
                return "%d@ehlo-tls" % code
        if args.user:
            user = args.user.replace("{u}", str(number % args.users + 1))
            token = base64.b64encode(("\0%s\0%s" % (user, args.password)).encode()).decode()
            code = await command(reader, writer, "AUTH PLAIN " + token)
            if code != 235:
                return "%d@auth" % code
        code = await command(reader, writer, "MAIL FROM:<%s>" % args.sender.replace("{n}", str(number)))
        if code != 250:
            return "%d@mail" % code
        rcpt = args.rcpt.replace("{n}", str(number))
        code = await command(reader, writer, "RCPT TO:<%s>" % rcpt)
        if code not in (250, 251) or args.stop_after == "rcpt":
            return "%d@rcpt" % code
        code = await command(reader, writer, "DATA")
        if code != 354:
            return "%d@data" % code
        body = ("From: <%s>\r\nTo: <%s>\r\nSubject: bench %d\r\nMessage-ID: <bench-%d-%d@%s>\r\n\r\n%s\r\n.\r\n" % (
            args.sender.replace("{n}", str(number)), rcpt, number, number, time.time_ns(), args.helo, "x" * args.size))
        writer.write(body.encode("ascii"))
        await writer.drain()
        code = await reply(reader)
        return "%d" % code if code == 250 else "%d@dot" % code
    finally:
        try:
            writer.write(b"QUIT\r\n")
            await writer.drain()
            await asyncio.wait_for(reader.read(), 5)
        except (OSError, asyncio.TimeoutError, ConnectionError, ssl.SSLError):
            pass
        writer.close()


async def worker(args, numbers, outcomes, latencies, deadline):
    while numbers and time.monotonic() < deadline:
        number = numbers.pop()
        start = time.monotonic()
        try:
            outcome = await asyncio.wait_for(session(args, number), args.timeout)
        except asyncio.TimeoutError:
            outcome = "timeout"
        except ssl.SSLError:
            outcome = "tls-error"
        except (OSError, ConnectionError):
            outcome = "refused@connect"
        latencies.append(time.monotonic() - start)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1


def percentile(values, share):
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, default=25)
    parser.add_argument("--sessions", type=int, default=10)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--sender", required=True, help="{n} is replaced by the message's number")
    parser.add_argument("--sources", type=lambda text: text.split(","), default=[],
                        help="source addresses to connect from, in turn (comma-separated)")
    parser.add_argument("--rcpt", required=True, help="{n} is replaced by the message's number")
    parser.add_argument("--helo", default="client.lab.test")
    parser.add_argument("--starttls", action="store_true", help="STARTTLS after EHLO (and EHLO again)")
    parser.add_argument("--user", default="", help="AUTH PLAIN as this user; {u} is replaced by 1 .. --users in turn")
    parser.add_argument("--users", type=int, default=1)
    parser.add_argument("--password", default="")
    parser.add_argument("--stop-after", choices=["ehlo", "rcpt"], default="",
                        help="quit after this command instead of sending the message")
    parser.add_argument("--size", type=int, default=200, help="body bytes")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds for one session")
    parser.add_argument("--max-seconds", type=float, default=300.0, help="stop starting sessions after this long")
    args = parser.parse_args()
    numbers = list(range(args.count, 0, -1))
    outcomes = {}
    latencies = []
    start = time.monotonic()
    deadline = start + args.max_seconds
    await asyncio.gather(*(worker(args, numbers, outcomes, latencies, deadline) for _session in range(args.sessions)))
    wall = time.monotonic() - start
    tried = sum(outcomes.values())
    print(json.dumps({"tried": tried, "seconds": round(wall, 4), "per_second": round(tried / wall, 2) if wall else None,
                      "accepted": outcomes.get("250", 0), "outcomes": outcomes, "sessions": args.sessions,
                      "p50_ms": round(percentile(latencies, 0.5) * 1000, 2) if latencies else None,
                      "p99_ms": round(percentile(latencies, 0.99) * 1000, 2) if latencies else None}))


if __name__ == "__main__":
    asyncio.run(main())
