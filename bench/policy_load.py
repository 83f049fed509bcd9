"""A Postfix policy delegation client: requests/s and latency of a policy server.

Speaks the protocol of SMTPD_POLICY_README as Postfix's smtpd does: each of
``--connections`` connections stays open and carries one request after
another (attribute=value lines and an empty line; the server answers
action=... and an empty line), the next one sent when the reply is in. Each
request is the one Postfix 3.7 sends at END-OF-MESSAGE for an authenticated
submission over TLS, with its own queue_id, instance and size, and the
sasl_username rotating over ``--users`` users (u1 .. uN). Every connection
first sends ``--warmup`` requests that are not counted (a prefork server
starts its children then); the clock starts when all are warm. The load
stops after ``--count`` counted requests or ``--max-seconds``. Prints one
JSON object: requests, seconds, requests per second, the count of each reply
action, errors, and latency percentiles of one request (p50, p90, p99, max)
in milliseconds, and the requests sent in all (warm-up included). Only the
Python standard library.

    python3 policy_load.py --host 127.0.0.1 --port 10040 --connections 16 --count 20000 --users 500
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

TEMPLATE = (
    "request=smtpd_access_policy\nprotocol_state=END-OF-MESSAGE\nprotocol_name=ESMTP\n"
    "client_address=10.98.4.12\nclient_name=client.lab.test\nclient_port={port}\nreverse_client_name=client.lab.test\n"
    "server_address=10.98.4.11\nserver_port=587\nhelo_name=client.lab.test\n"
    "sender=bench@mx.lab.test\nrecipient=carol@mx.lab.test\nrecipient_count=1\n"
    "queue_id={queue_id}\ninstance={instance}\nsize={size}\netrn_domain=\nstress=\n"
    "sasl_method=PLAIN\nsasl_username=u{user}\nsasl_sender=\n"
    "ccert_subject=\nccert_issuer=\nccert_fingerprint=\nccert_pubkey_fingerprint=\n"
    "encryption_protocol=TLSv1.3\nencryption_cipher=TLS_AES_256_GCM_SHA384\nencryption_keysize=256\n"
    "policy_context=\ncompatibility_level=3.6\nmail_version=3.7.11\n\n")


class Load:
    def __init__(self, args):
        self.args = args
        self.sequence = 0
        self.counted = 0
        self.latencies = []
        self.actions = {}
        self.errors = {}
        self.warmed = 0
        self.deadline = None

    def request(self):
        self.sequence += 1
        number = self.sequence
        return TEMPLATE.format(port=30000 + number % 30000, queue_id="4B%09X" % number,
                               instance="%x.%x.%x.0" % (1000 + number % 997, int(time.time()), number),
                               size=800 + number % 400, user=number % self.args.users + 1).encode("ascii")

    async def ask(self, reader, writer):
        """One request and its reply; (seconds, action word)."""
        start = time.perf_counter()
        writer.write(self.request())
        await writer.drain()
        answer = await reader.readuntil(b"\n\n")
        elapsed = time.perf_counter() - start
        action = "?"
        for line in answer.decode("ascii", "replace").splitlines():
            if line.startswith("action="):
                action = line[7:].split(" ", 1)[0]
        return elapsed, action

    async def connection(self, warm):
        writer = None
        try:
            reader, writer = await asyncio.open_connection(self.args.host, self.args.port)
            for _index in range(self.args.warmup):
                await asyncio.wait_for(self.ask(reader, writer), self.args.timeout)
            self.warmed += 1
            await warm.wait()
            while self.counted < self.args.count and time.monotonic() < self.deadline:
                self.counted += 1
                elapsed, action = await asyncio.wait_for(self.ask(reader, writer), self.args.timeout)
                self.latencies.append(elapsed)
                self.actions[action] = self.actions.get(action, 0) + 1
        except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError) as exc:
            self.errors[exc.__class__.__name__] = self.errors.get(exc.__class__.__name__, 0) + 1
        finally:
            if writer is not None:
                writer.close()

    async def run(self):
        warm = asyncio.Event()
        tasks = [asyncio.ensure_future(self.connection(warm)) for _index in range(self.args.connections)]
        # The clock starts once every connection has sent its warm-up requests (or failed).
        give_up = time.monotonic() + self.args.max_seconds
        while self.warmed + sum(1 for task in tasks if task.done()) < self.args.connections and time.monotonic() < give_up:
            await asyncio.sleep(0.005)
        start = time.monotonic()
        self.deadline = start + self.args.max_seconds
        warm.set()
        await asyncio.gather(*tasks)
        return time.monotonic() - start


def percentile(ordered, share):
    return round(ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000, 3) if ordered else None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=10040)
    parser.add_argument("--connections", type=int, default=1)
    parser.add_argument("--count", type=int, default=5000, help="counted requests, over all connections")
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=20, help="uncounted requests per connection first")
    parser.add_argument("--timeout", type=float, default=15.0, help="seconds for one reply")
    parser.add_argument("--max-seconds", type=float, default=30.0)
    args = parser.parse_args()
    load = Load(args)
    wall = asyncio.run(load.run())
    ordered = sorted(load.latencies)
    done = len(ordered)
    print(json.dumps({"connections": args.connections, "requests": done, "sent": load.sequence, "seconds": round(wall, 4),
                      "per_second": round(done / wall, 1) if wall else None, "actions": load.actions,
                      "errors": load.errors, "p50_ms": percentile(ordered, 0.5), "p90_ms": percentile(ordered, 0.9),
                      "p99_ms": percentile(ordered, 0.99), "max_ms": round(ordered[-1] * 1000, 3) if ordered else None}))


if __name__ == "__main__":
    main()
