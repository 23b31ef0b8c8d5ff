"""The generated mail the ingest benches push: messages from the hosting's senders, and the
X-Rspamd-* headers Rspamd's metadata_exporter sends with each."""

from __future__ import annotations

import json
import random


def corpus(rng: random.Random, senders: list[str], count: int, spam_ratio: float) -> list[dict]:
    from django.utils import timezone

    from demo.sample_mail import sample_message

    sizes = [800, 1500, 3000, 6000, 12000, 30000, 80000]
    weights = [20, 25, 20, 15, 10, 7, 3]
    items = []
    for n in range(count):
        sender = rng.choice(senders)
        spam = rng.random() < spam_ratio
        sample = sample_message(
            rng,
            sender=sender,
            spam=spam,
            when=timezone.now(),
            size_hint=rng.choices(sizes, weights)[0],
        )
        raw = sample.raw
        if rng.random() < 0.1:  # a website form, through PHP's mail()
            raw = b"X-PHP-Originating-Script: 33:contact.php\r\n" + raw
        items.append({"sender": sender, "rcpt": sample.recipients, "raw": raw, "n": n})
    return items


def push_headers(item: dict, verdict: dict, prefix: str) -> dict[str, str]:
    symbols = [
        {"name": name, "score": s["score"], "options": s.get("options", [])}
        for name, s in verdict["symbols"].items()
    ]
    return {
        "X-Rspamd-from": item["sender"],
        "X-Rspamd-user": item["sender"],
        "X-Rspamd-qid": f"{prefix}{item['n']:07d}",
        "X-Rspamd-rcpt": json.dumps(item["rcpt"]),
        "X-Rspamd-score": f"{verdict['score']:.2f}",
        "X-Rspamd-action": verdict["action"],
        "X-Rspamd-symbols": json.dumps(symbols),
        "X-Rspamd-subject": "x",
        "X-Rspamd-ip": "203.0.113.9",
        "X-Rspamd-rspamd_server": "bench-rspamd",
    }
