#!/usr/bin/env python3
"""Windows-side checks for the PowerShell wire, run by Tests/ScenarioTests/WindowsRulesTests.swift.

No Windows machine or PowerShell runs here: PyPI's mslex splits command lines by the rules of the
Microsoft C runtimes and of cmd.exe, and tree-sitter-powershell parses PowerShell. Reads one JSON
request on stdin, writes one JSON answer on stdout.

  {"op": "split", "rule": "msvcrt"|"ucrt"|"cmd", "lines": [...]}  -> [[argv...], ...]
  {"op": "parse", "scripts": [...], "trees": bool}                  -> [{"error": bool, "tree": "..." or ""}]
  {"op": "ps51", "scripts": [...]}                                  -> [["line N: what", ...], ...]

"ps51" names what Windows PowerShell 5.1 (Windows Server 2016 to 2022) rejects although
tree-sitter-powershell, a grammar of PowerShell 7, accepts it: pipeline chains (`&&`, `||`), `-AsByteStream`,
the `utf8NoBOM` encoding, `ConvertFrom-Json -AsHashtable` and `-Depth`, `ForEach-Object -Parallel`,
`$IsWindows` and its kin, `Join-Path` with more than one child; and syntax errors, which is how the grammar
shows `??`, `?.` and the ternary operator. Found in the syntax tree, so text inside strings and comments is
never taken for code.
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


PS7_PARAMETERS = {"-asbytestream": "-AsByteStream (PowerShell 6 and later; 5.1 has -Encoding Byte)",
                  "-ashashtable": "-AsHashtable (PowerShell 6 and later)",
                  "-parallel": "ForEach-Object -Parallel (PowerShell 7)"}
PS7_VARIABLES = {"$iswindows", "$islinux", "$ismacos", "$iscoreclr"}


def ps51_problems(parser, script):
    data = script.encode("utf-8")
    tree = parser.parse(data)
    found = []

    def text(node):
        return data[node.start_byte:node.end_byte].decode("utf-8", "replace")

    def say(node, what):
        found.append("line %d: %s" % (node.start_point[0] + 1, what))

    def walk(node):
        if node.type in ("comment", "string_literal"):
            return
        if node.type == "ERROR" or node.is_missing:
            say(node, "syntax error at %r (PowerShell 7 operators such as ??, ?. and ?: show so)" % text(node)[:30])
            return
        if node.type == "pipeline_chain_tail":
            say(node, "pipeline chain %s (PowerShell 7; 5.1 has none)" % text(node).split()[0])
        if node.type == "variable" and text(node).lower() in PS7_VARIABLES:
            say(node, "%s (PowerShell 6 and later)" % text(node))
        if node.type == "command":
            name = next((text(c) for c in node.children if c.type == "command_name"), "").lower()
            elements = next((c for c in node.children if c.type == "command_elements"), None)
            args = [c for c in elements.children if c.type != "command_argument_sep"] if elements else []
            words = [text(a).lower() for a in args]
            for w in words:
                if w in PS7_PARAMETERS:
                    say(node, PS7_PARAMETERS[w])
                if "utf8nobom" in w:
                    say(node, "the utf8NoBOM encoding (PowerShell 6 and later)")
            if name == "convertfrom-json" and "-depth" in words:
                say(node, "ConvertFrom-Json -Depth (PowerShell 6.2 and later)")
            if name == "join-path":
                positional = [w for i, w in enumerate(words) if not w.startswith("-") and not (i > 0 and words[i - 1].startswith("-"))]
                if len(positional) > 2:
                    say(node, "Join-Path with more than one child (PowerShell 6 and later)")
        for child in node.children:
            walk(child)

    walk(tree.root_node)
    return found


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
            answer.append({"error": tree.root_node.has_error, "tree": str(tree.root_node) if request.get("trees", True) else ""})
    elif request["op"] == "ps51":
        import tree_sitter
        import tree_sitter_powershell
        parser = tree_sitter.Parser(tree_sitter.Language(tree_sitter_powershell.language()))
        answer = [ps51_problems(parser, script) for script in request["scripts"]]
    else:
        raise SystemExit("unknown op")
    json.dump(answer, sys.stdout)


main()
