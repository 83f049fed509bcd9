"""Read the record of backscatter-traffic.yml: what mx1 answered, what became of each message.

Used by the stock and the hardened tests of the `backscatter` scenario and by
`make demo`, which prints the before/after table:

    python3 backscatter_report.py BEFORE.json [AFTER.json]
"""

import json
import re
import sys

# Where a message that mx1 accepted can end up; victim's sink keeps bounces.
VICTIM_BOX = "victim:sink"


def load(path):
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def split_mbox(text):
    """Messages of an mbox file as (envelope sender, text)."""
    messages = []
    for chunk in re.split(r"(?m)^(?=From \S+ )", text or ""):
        if chunk.startswith("From "):
            messages.append((chunk.split(None, 2)[1], chunk))
    return messages


def _tag(mx, client, case, run):
    return "case=%s-%s-%s run=%s" % (mx, client, case, run)


def hosts_under_test(record):
    return sorted(set(mx for by_mx in record["probes"].values() for mx in by_mx))


def queued_bounces(record, host):
    """Null-sender messages still in a host's queue (postqueue -j lines)."""
    count = 0
    for line in (record["queues"].get(host) or "").splitlines():
        if line.strip() and json.loads(line).get("sender") in ("", "MAILER-DAEMON"):
            count += 1
    return count


def bounces_to_victim(record):
    """Bounces of this run that reached victim, one per case they came from."""
    run = record["run"]
    return [m for sender, m in split_mbox(record["mailboxes"].get(VICTIM_BOX, ""))
            if sender == "MAILER-DAEMON" and ("run=%s" % run) in m]


def rows(record):
    """One row per message sent: host under test, client, case, SMTP outcome, reply, refusing check, fate."""
    run = record["run"]
    boxes = dict((name, split_mbox(text)) for name, text in record["mailboxes"].items())
    bounces = bounces_to_victim(record)
    result = []
    for mx in hosts_under_test(record):
        for client in sorted(record["probes"]):
            for case in record["probes"][client].get(mx) or []:
                tag = _tag(mx, client, case["name"], run)
                delivered = [name for name, messages in boxes.items()
                             if any(tag in text and sender != "MAILER-DAEMON" for sender, text in messages)]
                bounced = any(tag in text for text in bounces)
                if case["outcome"].startswith("rejected_at_"):
                    fate = "refused in the session"
                elif case["outcome"].startswith("error:"):
                    fate = "probe error"
                elif bounced:
                    fate = "bounced to victim"
                elif delivered:
                    fate = "delivered to " + ", ".join(sorted(delivered))
                else:
                    fate = "accepted, not delivered"
                result.append({
                    "mx": mx,
                    "client": client,
                    "case": case["name"],
                    "outcome": case["outcome"],
                    "reply": case.get("reply", ""),
                    "refused_by": case.get("refused_by"),
                    "fate": fate,
                    "bounced": bounced,
                    "delivered": delivered,
                })
    return result


def table(before, after=None):
    """A text table: per case what happened before and, given `after`, what happens now."""
    lines = []
    before_rows = rows(before)
    after_rows = dict(((r["mx"], r["client"], r["case"]), r) for r in rows(after)) if after else {}
    header = ["host", "client", "case", "stock" if after else "result"] + (["hardened", "reply now"] if after else ["reply"])
    body = []
    for row in before_rows:
        now = after_rows.get((row["mx"], row["client"], row["case"]))
        cells = [row["mx"], row["client"], row["case"], _fate(row)]
        if after:
            cells += [_fate(now) if now else "-", _short(now["reply"]) if now else "-"]
        else:
            cells += [_short(row["reply"])]
        body.append(cells)
    widths = [max(len(str(c)) for c in column) for column in zip(header, *body)]
    for cells in [header, ["-" * w for w in widths]] + body:
        lines.append("  ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip())
    lines.append("")
    lines.append("bounces that reached victim: %d%s" % (
        len(bounces_to_victim(before)), (" before, %d after" % len(bounces_to_victim(after))) if after else ""))
    return "\n".join(lines)


def _fate(row):
    if row["fate"] == "refused in the session":
        return "refused %s (%s)" % (row["reply"][:3], row["refused_by"] or "?")
    return row["fate"]


def _short(reply, width=70):
    reply = re.sub(r"\s+", " ", reply or "")
    return reply if len(reply) <= width else reply[:width - 3] + "..."


def main(argv):
    if len(argv) not in (2, 3):
        sys.stderr.write(__doc__)
        return 2
    before = load(argv[1])
    after = load(argv[2]) if len(argv) == 3 else None
    print(table(before, after))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
