#!/usr/bin/env python3
"""CPU per message by crate, from `perf record -F HZ` profiles of
`meshtrace-bench-nats`: where a configuration's client CPU goes.

    perf record -F 2000 -o untraced.data -- meshtrace-bench-nats \\
        --rounds 3 --messages 50000 --configs untraced
    perf record -F 2000 -o propagated.data -- meshtrace-bench-nats \\
        --rounds 3 --messages 50000 --configs propagated
    bench/scripts/perf_by_crate.py --hz 2000 --messages 150000 \\
        untraced.data propagated.data

Each cpu-clock sample is 1/HZ s of CPU, so a group's µs per message is
its samples × 10⁶ / HZ / messages. Samples are grouped by the crate of
the sampled (self) function: the first path segment of a Rust symbol
(`<A as B>::f` counts for A), the allocator (glibc's malloc and free),
the kernel, or `other`. Only the benchmark process counts (its main
thread and Tokio workers), not nats-server or the OTLP sink's threads;
setup before the first round (the SDK's batch queue allocation) counts
too, and is the `std`/`alloc` share that a longer run dilutes.
The last column is the difference of the last file against the first.
"""

import argparse
import collections
import re
import subprocess
import sys

CLIENT_COMMS = ("tokio-rt-worker", "meshtrace-bench")
ALLOCATOR = re.compile(
    r"^(_int_malloc|_int_free|_int_realloc|malloc|cfree|free|realloc|"
    r"malloc_consolidate|unlink_chunk|__libc_|tcache|__GI___libc)"
)


def group_of(symbol: str, dso: str) -> str:
    if dso.startswith("[kernel"):
        return "kernel"
    if ALLOCATOR.match(symbol):
        return "allocator (glibc)"
    if symbol.startswith("__mem") or symbol.startswith("__memmove"):
        return "memcpy/memmove"
    rust = symbol.lstrip("<&*")
    rust = re.sub(r"^(mut |dyn )", "", rust)
    head = re.split(r"::|<| as ", rust, maxsplit=1)[0]
    if head in ("core", "alloc", "std"):
        inner = re.match(r"<([a-z_0-9]+)::", symbol)
        if inner and inner.group(1) not in ("core", "alloc", "std"):
            return inner.group(1)
    return head if re.fullmatch(r"[a-z_][a-z_0-9]*", head) else "other"


def samples_by_group(path: str) -> collections.Counter:
    out = subprocess.run(
        ["perf", "script", "-i", path, "-F", "comm,ip,sym,dso", "-G"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    counts: collections.Counter = collections.Counter()
    line_re = re.compile(r"^\s*(\S+)\s+[0-9a-f]+\s+(.+?)\s+\(([^()]+)\)\s*$")
    for line in out.splitlines():
        m = line_re.match(line)
        if not m:
            continue
        comm, symbol, dso = m.group(1), m.group(2), m.group(3)
        if not comm.startswith(CLIENT_COMMS):
            continue
        counts[group_of(symbol, dso)] += 1
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hz", type=float, required=True)
    parser.add_argument("--messages", type=int, required=True)
    parser.add_argument("files", nargs="+")
    args = parser.parse_args()
    per = [samples_by_group(f) for f in args.files]
    scale = 1e6 / args.hz / args.messages
    groups = sorted(
        set().union(*per), key=lambda g: -max(p[g] for p in per)
    )
    names = [f.rsplit("/", 1)[-1] for f in args.files]
    header = "| group | " + " | ".join(f"{n} µs/msg" for n in names)
    header += " | last − first |" if len(per) > 1 else " |"
    print(header)
    print("|---" + "|--:" * (len(per) + (len(per) > 1)) + "|")
    for g in groups:
        cells = [f"{p[g] * scale:.2f}" for p in per]
        row = f"| {g} | " + " | ".join(cells)
        if len(per) > 1:
            row += f" | {(per[-1][g] - per[0][g]) * scale:+.2f}"
        print(row + " |")
    totals = [sum(p.values()) * scale for p in per]
    row = "| **total** | " + " | ".join(f"**{t:.2f}**" for t in totals)
    if len(per) > 1:
        row += f" | **{totals[-1] - totals[0]:+.2f}**"
    print(row + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
