#!/usr/bin/env python3
"""Windows-side checks for the PowerShell wire, run by Tests/ExecutorTests/PowerShellWireTests.swift.

No Windows machine or PowerShell runs here: PyPI's mslex splits command lines by the rules of the
Microsoft C runtimes and of cmd.exe, and tree-sitter-powershell parses PowerShell. Reads one JSON
request on stdin, writes one JSON answer on stdout.

  {"op": "split", "rule": "msvcrt"|"ucrt"|"cmd", "lines": [...]}  -> [[argv...], ...]
  {"op": "parse", "scripts": [...]}                                 -> [{"error": bool, "tree": "..."}]
"""
import json
import sys

import mslex


def split(rule, line):
    if rule == "msvcrt":
        return mslex.split(line, like_cmd=False, ucrt=False)
    if rule == "ucrt":
        return mslex.split(line, like_cmd=False, ucrt=True)
    if rule == "cmd":
        return mslex.split(line, like_cmd=True)
    raise SystemExit("unknown rule " + rule)


def main():
    request = json.load(sys.stdin)
    if request["op"] == "split":
        answer = [split(request["rule"], line) for line in request["lines"]]
    elif request["op"] == "parse":
        import tree_sitter
        import tree_sitter_powershell
        parser = tree_sitter.Parser(tree_sitter.Language(tree_sitter_powershell.language()))
        answer = []
        for script in request["scripts"]:
            tree = parser.parse(script.encode("utf-8"))
            answer.append({"error": tree.root_node.has_error, "tree": str(tree.root_node)})
    else:
        raise SystemExit("unknown op")
    json.dump(answer, sys.stdout)


main()
