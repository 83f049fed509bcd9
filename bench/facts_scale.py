#!/usr/bin/env python
"""How postfix_facts scales with the size of the alias and virtual tables.

Replays a real Debian 12 configuration (tests/fixtures/postconf/debian12) with
synthetic ``postalias -s`` / ``postmap -s`` listings of 1,000 to 100,000
entries, a third of them forwarding off-site, and a queue of as many bounces.
Reports, as ratios taken in the same run:

* ``ceiling_ratio``: gather time at 100,000 entries / 60 s (the promise is
  "well under a minute"; 0.01 means one hundredth of it);
* ``linearity``: (time per entry at the largest size) / (time per entry at
  the smallest); about 1 means linear, 10 would mean quadratic growth;
* ``vs_json_parse``: gather time / time for ``json.loads`` of the same number
  of queue lines, a floor no parser of this data beats by much.

Nothing here asserts a time; the numbers are written to
bench/results/facts_scale.json and printed.

    python bench/facts_scale.py [--sizes 1000,10000,100000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "unit", "plugins", "module_utils"))
sys.path.insert(0, os.path.join(ROOT, ".build", "collections"))
sys.path.insert(0, HERE)

from fake_postfix import FakeCommands, FakeReader  # noqa: E402

import benchlab  # noqa: E402

from ansible_collections.mailguard.postfix.plugins.module_utils import facts  # noqa: E402


def listings(size):
    aliases = []
    virtual = []
    queue = []
    for i in range(size):
        target = "user%d@ext.test" % i if i % 3 == 0 else "local%d" % i
        aliases.append("alias%d:\t%s" % (i, target))
        virtual.append("v%d@virt.test\t%s" % (i, target if "@" in target else target + "@example.test"))
        queue.append(json.dumps({"queue_name": "deferred", "queue_id": "Q%X" % i, "sender": "",
                                 "recipients": [{"address": "forged%d@victim.test" % i,
                                                 "delay_reason": "connection refused"}]}))
    return "\n".join(aliases) + "\n", "\n".join(virtual) + "\n", "\n".join(queue) + "\n"


def best_of(repeat, func):
    best = None
    for _round in range(repeat):
        start = time.perf_counter()
        func()
        elapsed = time.perf_counter() - start
        best = elapsed if best is None else min(best, elapsed)
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    rows = []
    for size in sizes:
        alias_text, virtual_text, queue_text = listings(size)

        def run():
            cmds = FakeCommands(
                "debian12",
                main={"virtual_alias_domains": "virt.test", "virtual_alias_maps": "hash:/etc/postfix/virtual"},
                tables={"hash:/etc/aliases": alias_text, "hash:/etc/postfix/virtual": virtual_text},
                queue=queue_text)
            result = facts.gather(cmds, FakeReader())
            assert result["forwarding"]["aliases"]["entries"] == size
            assert result["queue"]["bounces_to_remote"] == size

        gather_s = best_of(args.repeat, run)
        json_s = best_of(args.repeat, lambda: [json.loads(line) for line in queue_text.splitlines()])
        rows.append({"entries": size, "gather_seconds": round(gather_s, 4),
                     "per_entry_us": round(gather_s / size * 1e6, 3),
                     "vs_json_parse": round(gather_s / json_s, 2)})

    benchlab.write_result(
        "facts_scale", "postfix_facts gather vs table size (synthetic)", {"rows": rows},
        [benchlab.ratio("gather time at %d entries / 60 s" % rows[-1]["entries"], rows[-1]["gather_seconds"] / 60.0, 1.0,
                        higher_is_better=False, note="the README promises well under a minute"),
         benchlab.ratio("time per entry, largest / smallest size", rows[-1]["per_entry_us"] / rows[0]["per_entry_us"],
                        note="about 1 is linear"),
         benchlab.ratio("gather / json.loads of the queue lines at %d entries" % rows[-1]["entries"], rows[-1]["vs_json_parse"])],
        "%d cores; the Debian 12 fixture replayed with synthetic postalias/postmap listings and queues of %s entries, "
        "best of %d." % (os.cpu_count(), ", ".join("{:,}".format(size) for size in sizes), args.repeat))


if __name__ == "__main__":
    main()
