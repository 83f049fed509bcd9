"""A steady stream of legitimate mail to a few lab hosts, with a log of every attempt.

    python3 mail_stream.py --target mx1=10.88.0.5 --target mx2=10.88.0.6 \
        --sender stream@client.test --recipient stream@example.test \
        --helo client.lab.test --rate 1 --max-messages 3000 --max-seconds 1800 \
        --log /var/log/mail-stream.jsonl

Each target gets --rate messages per second (one SMTP session each). A
message refused with a 4xx, or whose session fails (connection refused
during a restart, a dropped connection), is tried again after --retry-after
seconds until it is accepted; a 5xx is final. On SIGTERM the stream stops
starting new messages, keeps retrying the ones not yet accepted for up to
--drain-seconds, and then writes a last "stopped" record.

`python3 mail_stream.py probe --target ... --sender S --recipient R --helo H` instead
tries one session per target up to RCPT, sends no DATA, and prints
{target: {"stage", "code", "text"}} of the reply that decided.

The log has one JSON object per line: {"event": "attempt", "id", "target",
"attempt", "code", "text", "time"} for every try, where code is the SMTP
reply that decided (250 when accepted) or 0 when the session failed before
a reply; and {"event": "stopped", "pending": [ids never accepted]} at the end.
Every message carries its id in an X-Stream-Id header, so that a test can
find it in the recipient's mailbox.
"""

import argparse
import collections
import json
import signal
import smtplib
import socket
import sys
import threading
import time
import uuid


def _parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--target", action="append", required=True, metavar="NAME=ADDRESS")
    parser.add_argument("--port", type=int, default=25)
    parser.add_argument("--sender", required=True)
    parser.add_argument("--recipient", required=True)
    parser.add_argument("--helo", required=True)
    parser.add_argument("--rate", type=float, default=1.0, help="messages per second and target")
    parser.add_argument("--max-messages", type=int, default=3000, help="new messages in all, at most")
    parser.add_argument("--max-seconds", type=float, default=1800, help="stop starting messages after this")
    parser.add_argument("--retry-after", type=float, default=2.0)
    parser.add_argument("--drain-seconds", type=float, default=120)
    parser.add_argument("--timeout", type=float, default=20)
    parser.add_argument("--log", required=True)
    args = parser.parse_args(argv)
    targets = []
    for item in args.target:
        name, sep, address = item.partition("=")
        if not sep or not name or not address:
            parser.error("--target wants NAME=ADDRESS, not %r" % item)
        targets.append((name, address))
    args.targets = targets
    return args


def session(address, port, args, body=None):
    """One SMTP session up to RCPT, then DATA with ``body`` when given.

    Returns {stage, code, text} of the first refusal, or of the last stage
    when all were accepted; code 0 when the session failed before a reply.
    """
    client = smtplib.SMTP(timeout=args.timeout)
    steps = [("connect", lambda: client.connect(address, port)),
             ("helo", lambda: client.ehlo(args.helo)),
             ("mail", lambda: client.mail(args.sender)),
             ("rcpt", lambda: client.rcpt(args.recipient))]
    if body is not None:
        steps.append(("data", lambda: client.data(body.encode("ascii"))))
    stage, code, text = "connect", 0, ""
    try:
        for stage, step in steps:
            code, text = step()
            if code >= 400:
                break
    except (OSError, smtplib.SMTPException) as exc:
        code, text = 0, "%s: %s" % (type(exc).__name__, exc)
    finally:
        try:
            client.quit()
        except (OSError, smtplib.SMTPException):
            client.close()
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return {"stage": stage, "code": code, "text": str(text)}


def message(args, message_id, target_name):
    """The stream's message, with its id in X-Stream-Id."""
    return ("From: <%s>\r\nTo: <%s>\r\nSubject: stream %s\r\nMessage-ID: <%s@client.test>\r\n"
            "X-Stream-Id: %s\r\n\r\nA legitimate message of the lab's stream to %s.\r\n"
            % (args.sender, args.recipient, message_id, message_id, message_id, target_name))


class Stream(object):
    """One sender thread per target, each with its own queue of retries."""

    def __init__(self, args):
        self.args = args
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.started = 0
        self.pending = {}
        self.log = open(args.log, "a", buffering=1, encoding="utf-8")

    def record(self, entry):
        entry["time"] = round(time.time(), 3)
        with self.lock:
            self.log.write(json.dumps(entry, sort_keys=True) + "\n")

    def new_id(self, name):
        with self.lock:
            if self.started >= self.args.max_messages:
                return None
            self.started += 1
        return "%s-%s" % (name, uuid.uuid4().hex[:12])

    def run_target(self, name, address, deadline):
        retries = collections.deque()
        interval = 1.0 / self.args.rate
        next_new = time.monotonic()
        while True:
            now = time.monotonic()
            starting = not self.stopping.is_set() and now < deadline
            drain_over = self.stopping.is_set() and now >= self.drain_deadline
            if drain_over or (not starting and not retries):
                break
            if retries and retries[0][0] <= now:
                _due, message_id, attempt = retries.popleft()
            elif starting and now >= next_new:
                message_id = self.new_id(name)
                next_new = now + interval
                if message_id is None:
                    deadline = now
                    continue
                attempt = 0
                with self.lock:
                    self.pending[message_id] = name
            else:
                time.sleep(0.05)
                continue
            attempt += 1
            reply = session(address, self.args.port, self.args, message(self.args, message_id, name))
            code = reply["code"]
            self.record({"event": "attempt", "id": message_id, "target": name, "attempt": attempt,
                         "code": code, "text": reply["text"][:200]})
            if 200 <= code < 300 or 500 <= code < 600:
                with self.lock:
                    self.pending.pop(message_id, None)
            else:
                retries.append((time.monotonic() + self.args.retry_after, message_id, attempt))

    def run(self):
        deadline = time.monotonic() + self.args.max_seconds
        self.drain_deadline = float("inf")
        threads = [threading.Thread(target=self.run_target, args=(name, address, deadline), daemon=True)
                   for name, address in self.args.targets]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        with self.lock:
            pending = sorted(self.pending)
        self.record({"event": "stopped", "pending": pending, "started": self.started})

    def stop(self, *_args):
        self.drain_deadline = time.monotonic() + self.args.drain_seconds
        self.stopping.set()


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    probing = bool(argv) and argv[0] == "probe"
    if probing:
        argv = argv[1:] + ["--log", "/dev/null"]
    args = _parse_args(argv)
    socket.setdefaulttimeout(args.timeout)
    if probing:
        print(json.dumps({name: session(address, args.port, args) for name, address in args.targets},
                         sort_keys=True))
        return 0
    stream = Stream(args)
    signal.signal(signal.SIGTERM, stream.stop)
    signal.signal(signal.SIGINT, stream.stop)
    stream.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
