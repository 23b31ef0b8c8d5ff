"""Server time of the tracking page at 10^4 and at 10^6 messages in one hosting.

Requests go through the whole Django stack in-process (middleware, view, template,
PostgreSQL), so the time measured is the server's. Scenarios: the first page, a deep page
(keyset cursor thousands of rows down), filters (spam only + one address), and a text
search in subjects and recipients. Prints p50/p95 per scenario and the p95 ratio.

    make bench-tracking        # or: python bench/tracking.py --small 10000 --rows 1000000
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from common import DEFAULT_DB, fill_history, quantile, recreate_database, setup_django


def measure(client, url: str, params: dict, repeat: int) -> list[float]:
    client.get(url, params)  # warm the plan cache and the buffers
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.get(url, params)
        timings.append(time.perf_counter() - started)
        if response.status_code != 200:
            raise RuntimeError(f"{url} {params}: {response.status_code}")
    return timings


def scenarios(client, url: str, box_id: int) -> dict[str, dict]:
    first = client.get(url).context["next_cursor"]
    cursor = first
    for _ in range(100):  # 5,000 rows down
        cursor = client.get(url, {"after": cursor}).context["next_cursor"]
    return {
        "first page": {},
        "deep page (5,000 rows down)": {"after": cursor},
        "spam only, one address": {"spam": "on", "mailbox": box_id},
        "text in subject or recipient": {"q": "History 4242"},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", "--rows", dest="large", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=40)
    parser.add_argument("--database", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB))
    args = parser.parse_args()
    if not 6_000 <= args.small < args.large or args.repeat < 5:
        parser.error("need 6,000 <= --small < --large and --repeat >= 5")

    recreate_database(args.database)
    setup_django(args.database, DJANGO_ALLOWED_HOSTS="testserver", LOG_LEVEL="WARNING")
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.test.utils import setup_test_environment
    from django.urls import reverse

    from hosting.models import CustomerAccount, Domain, Hosting, Mailbox

    setup_test_environment()  # the test client's response.context
    user = get_user_model().objects.create_user("bench", password="x")
    customer = CustomerAccount.objects.create(name="bench", contact_email="b@example.net")
    customer.users.add(user)
    hosting = Hosting.objects.create(customer=customer, name="big")
    domain = Domain.objects.create(hosting=hosting, name="big.example")
    boxes = [
        Mailbox.objects.create(domain=domain, address=f"box{i}@big.example") for i in range(20)
    ]
    ids = [b.pk for b in boxes]
    client = Client()
    client.force_login(user)
    url = reverse("tracking", args=[hosting.pk])

    results: dict[int, dict[str, list[float]]] = {}
    loaded = 0
    for size in (args.small, args.large):
        fill_history(
            mailbox_ids=ids,
            domain_id=domain.pk,
            hosting_id=hosting.pk,
            rows=size - loaded,
            start=loaded + 1,
        )
        loaded = size
        results[size] = {
            name: measure(client, url, params, args.repeat)
            for name, params in scenarios(client, url, ids[3]).items()
        }

    print(f"tracking list, server time in ms ({args.repeat} requests each)")
    header = f"{'scenario':<32}{'':>4}{args.small:>10,} p50/p95{args.large:>12,} p50/p95"
    print(f"{header}{'p95 ratio':>11}")
    worst = 0.0
    for name in results[args.small]:
        small, large = results[args.small][name], results[args.large][name]
        ratio = quantile(large, 95) / quantile(small, 95)
        worst = max(worst, ratio)
        print(
            f"{name:<32}{statistics.median(small) * 1e3:>10.1f}/{quantile(small, 95) * 1e3:<8.1f}"
            f"{statistics.median(large) * 1e3:>10.1f}/{quantile(large, 95) * 1e3:<8.1f}"
            f"{ratio:>11.2f}"
        )
    print(f"worst p95 ratio ({args.large:,} / {args.small:,}): {worst:.2f}")


if __name__ == "__main__":
    main()
