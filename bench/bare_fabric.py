#!/usr/bin/env python
"""The bare-Fabric peer as a process of its own, for timing it the way a user times a command:

    python bench/bare_fabric.py JOB.json

JOB.json (written by bench/fanout.py): {"probe": "...", "parallel": 50, "key_file": "...",
"known_hosts": "...", "keys": ["hostname", ...], "nodes": [{"host", "port", "user"}, ...]}.

A Fabric thread pool runs the probe once on every node: the client key is loaded once,
known_hosts parsed once and each client refuses any host key but its node's own. It checks
every answer and exits 0 when all nodes answered, 1 otherwise. It imports nothing of Squall.
"""

from __future__ import annotations

import json
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import fabric
import paramiko


def main(job_file: str) -> int:
    with open(job_file, encoding="utf-8") as handle:
        job: dict[str, Any] = json.load(handle)
    key = paramiko.PKey.from_path(job["key_file"])
    host_keys = paramiko.HostKeys(job["known_hosts"])

    def probe(node: dict[str, Any]) -> str | None:
        name = node["host"] if node["port"] == 22 else f"[{node['host']}]:{node['port']}"
        connection = fabric.Connection(
            node["host"],
            port=node["port"],
            user=node["user"],
            connect_kwargs={"pkey": key, "look_for_keys": False, "allow_agent": False},
        )
        known = host_keys.lookup(name)
        if not known:
            return f"{name}: no known_hosts entry"
        for key_type, host_key in known.items():
            connection.client.get_host_keys().add(name, key_type, host_key)
        connection.client.set_missing_host_key_policy(paramiko.RejectPolicy())
        try:
            output = connection.run(job["probe"], hide=True).stdout
        except Exception as exc:  # noqa: BLE001 - reported, and the run fails
            return f"{name}: {exc}"
        finally:
            connection.close()
        answered = {line.partition("=")[0] for line in output.splitlines() if "=" in line}
        missing = [key for key in job["keys"] if key not in answered]
        return f"{name}: missing {missing}" if missing else None

    with ThreadPoolExecutor(job["parallel"]) as pool:
        problems = [problem for problem in pool.map(probe, job["nodes"]) if problem]
    for problem in problems[:5]:
        print(problem, file=sys.stderr)
    print(f"{len(job['nodes']) - len(problems)} of {len(job['nodes'])} nodes answered")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
