"""A night's worth of changes for the benchmark's re-sync: change a share
of the contacts and soft-delete a smaller share, through the fake org's
control surface.

    nightly_changes.py --url URL --catalog catalog.db --seed N \
        [--changed 0.01] [--deleted 0.001]

The ids come from sfsync's catalog (what the last sync saw); the sample is
the same for the same seed. Trusts REQUESTS_CA_BUNDLE for https.
"""

import argparse
import random
import sqlite3

import requests


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--catalog", required=True)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--changed", type=float, default=0.01)
    parser.add_argument("--deleted", type=float, default=0.001)
    args = parser.parse_args()

    db = sqlite3.connect(args.catalog)
    ids = [row[0] for row in db.execute(
        "SELECT sf_object_id FROM items WHERE type = 'Contact' "
        "ORDER BY sf_object_id")]
    db.close()
    rng = random.Random(args.seed)
    changed = round(len(ids) * args.changed)
    deleted = round(len(ids) * args.deleted)
    picked = rng.sample(ids, changed + deleted)

    http = requests.Session()
    base = args.url + "/__fake/records/Contact/"
    for n, sf_id in enumerate(picked[:changed]):
        title = f"Changed night {args.seed} #{n}"
        http.patch(base + sf_id, json={"Title": title}).raise_for_status()
    for sf_id in picked[changed:]:
        http.delete(base + sf_id).raise_for_status()
    print(f"{changed} changed, {deleted} deleted of {len(ids)}")


if __name__ == "__main__":
    main()
