"""The script a user would write instead of sfsync: simple-salesforce's
query_all_iter into sqlite3, inserted with executemany in batches.

    salesforce_script.py --login-url URL --db FILE --soql "SELECT ... FROM Contact"

Logs in with the OAuth password flow (SFSYNC_CLIENT_SECRET and
SFSYNC_PASSWORD in the environment, as for sfsync), hands the session id to
simple-salesforce, and writes one row per record into a table named after
the sobject, one column per selected field (parent paths like Account.Name
become Account_Name). Trusts REQUESTS_CA_BUNDLE for https.
"""

import argparse
import os
import re
import sqlite3

import requests
from simple_salesforce import Salesforce

BATCH = 2000


def log_in(login_url):
    """Password grant against the token endpoint; returns the session."""
    answer = requests.post(
        login_url + "/services/oauth2/token",
        data={
            "grant_type": "password",
            "client_id": "fake-client-id",
            "client_secret": os.environ["SFSYNC_CLIENT_SECRET"],
            "username": "integration@example.com",
            "password": os.environ["SFSYNC_PASSWORD"],
        },
        timeout=60,
    )
    answer.raise_for_status()
    token = answer.json()
    return Salesforce(
        instance_url=token["instance_url"],
        session_id=token["access_token"],
        version="62.0",
    )


def selected_fields(soql):
    """The field paths of `SELECT a, b.c FROM X`, in order."""
    match = re.match(r"\s*SELECT\s+(.*?)\s+FROM\s+(\w+)", soql, re.I | re.S)
    fields = [f.strip() for f in match.group(1).split(",")]
    return fields, match.group(2)


def value(record, path):
    """A field's value, following parent relationships; None past a null."""
    for part in path.split("."):
        if record is None:
            return None
        record = record.get(part)
    if isinstance(record, bool):
        return int(record)
    return record


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--login-url", required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("--soql", required=True)
    args = parser.parse_args()

    fields, sobject = selected_fields(args.soql)
    columns = [f.replace(".", "_") for f in fields]
    db = sqlite3.connect(args.db)
    db.execute(
        f"CREATE TABLE IF NOT EXISTS {sobject} "
        f"({', '.join(columns)}, PRIMARY KEY ({columns[0]}))"
    )
    insert = (
        f"INSERT OR REPLACE INTO {sobject} VALUES "
        f"({', '.join('?' for _ in columns)})"
    )

    sf = log_in(args.login_url)
    batch, total = [], 0
    for record in sf.query_all_iter(args.soql):
        batch.append(tuple(value(record, f) for f in fields))
        if len(batch) >= BATCH:
            db.executemany(insert, batch)
            total += len(batch)
            batch.clear()
    db.executemany(insert, batch)
    total += len(batch)
    db.commit()
    db.close()
    print(f"{total} records")


if __name__ == "__main__":
    main()
