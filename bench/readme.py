#!/usr/bin/env python3
"""Puts the benchmark's result tables into README.md, so that no figure there is typed by hand.

Each table sits between `<!-- from bench/results/NAME.md -->` and `<!-- end of bench/results/NAME.md -->`;
what is between them is replaced by that file, unchanged. `make bench` runs this after bench/bench.py; a
test (Tests/WorkflowTests/ReadmeBenchTests.swift) fails when the README and the files differ.
With --check it changes nothing and exits 1 when the README is not what the files say.
"""
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BLOCK = re.compile(r"(<!-- from (bench/results/[\w.-]+\.md) -->\n)(.*?)(<!-- end of \2 -->)", re.S)


def render(readme):
    def fill(m):
        with open(os.path.join(ROOT, m.group(2))) as f:
            return m.group(1) + f.read() + m.group(4)
    return BLOCK.sub(fill, readme)


def main():
    path = os.path.join(ROOT, "README.md")
    with open(path) as f:
        readme = f.read()
    if not BLOCK.search(readme):
        raise SystemExit("bench/readme.py: README.md has no result blocks")
    new = render(readme)
    if "--check" in sys.argv:
        sys.exit(0 if new == readme else 1)
    with open(path, "w") as f:
        f.write(new)


main()
