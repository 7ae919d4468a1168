#!/usr/bin/env python3
"""A Windows host as the PowerShell dialect meets it, behind a real sshd (ForceCommand).

What it checks, on the wire exactly as Win32-OpenSSH would hand it over:
  - the command line: the cmd.exe DefaultShell path (`cmd.exe /c "<line>"`, split by mslex like cmd and
    the C runtime) must give powershell.exe the constant argv, and -EncodedCommand must decode (UTF-16LE)
    to the bootstrap the wizard says it sends (argv[2] of this script, a file);
  - stdin: line 1 the per-call script (base64 UTF-8), line 2 the input (base64, maybe empty), then EOF;
  - the script parses with tree-sitter-powershell (no error node).
Then it does what the script's last part does: starts $psi.FileName with $psi.Arguments split by the
MSVCRT rules (the program is a Linux one standing in for the Windows one), feeds it the input, and
writes its output, Windows PowerShell's CLIXML noise on stderr, and the sentinel with its exit code.

argv[1]: a folder where each call's command line is appended to `commands.txt` (the test reads it).
argv[2]: the file holding the expected bootstrap.
"""
import base64
import os
import re
import subprocess
import sys

import mslex


def fail(message):
    sys.stderr.write("windows-host: " + message + "\n")
    sys.exit(1)


def literal(script, name):
    """The value of `$psi.NAME = '...'` (a PowerShell verbatim string), or None."""
    m = re.search(r"^\$psi\." + name + r" = '((?:[^'\u2018\u2019\u201a\u201b]|['\u2018\u2019\u201a\u201b]{2})*)'$", script, re.M)
    if not m:
        return None
    return re.sub(r"(['\u2018\u2019\u201a\u201b])\1", r"\1", m.group(1))


def main():
    log_dir, bootstrap_file = sys.argv[1], sys.argv[2]
    line = os.environ.get("SSH_ORIGINAL_COMMAND", "")
    with open(os.path.join(log_dir, "commands.txt"), "a") as f:
        f.write(line + "\n")
    # sshd runs `"C:\Windows\system32\cmd.exe" /c "<line>"`; with no quote inside <line>, cmd strips the
    # outer pair and runs <line>: its metacharacters as cmd reads them, then the C runtime's split.
    if '"' in line:
        fail("a quote in the command line: cmd.exe would not strip the outer pair the same way")
    argv = mslex.split(line, like_cmd=True)
    if argv[:-1] != ["powershell.exe", "-NoLogo", "-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass", "-EncodedCommand"]:
        fail("unexpected command line: %r" % argv)
    with open(bootstrap_file) as f:
        expected = f.read()
    if base64.b64decode(argv[-1]).decode("utf-16-le") != expected:
        fail("-EncodedCommand is not the bootstrap")

    data = sys.stdin.buffer.read()  # to EOF: the controller must close stdin
    lines = data.split(b"\n")
    if len(lines) != 3 or lines[2] != b"":
        fail("stdin must be two lines then EOF, got %d parts" % len(lines))
    script = base64.b64decode(lines[0]).decode("utf-8")
    given = base64.b64decode(lines[1]) if lines[1] else b""

    import tree_sitter
    import tree_sitter_powershell
    parser = tree_sitter.Parser(tree_sitter.Language(tree_sitter_powershell.language()))
    if parser.parse(script.encode("utf-8")).root_node.has_error:
        fail("the script does not parse")

    program = literal(script, "FileName")
    arguments = literal(script, "Arguments")
    if program is None or arguments is None:
        fail("no FileName/Arguments in the script")
    env = dict(os.environ)
    for m in re.finditer(r"^\$psi\.EnvironmentVariables\['([^']*)'\] = '((?:[^']|'')*)'$", script, re.M):
        env[m.group(1)] = m.group(2).replace("''", "'")
    cwd = literal(script, "WorkingDirectory")
    try:
        done = subprocess.run([program] + mslex.split(arguments, like_cmd=False), input=given, capture_output=True, env=env, cwd=cwd)
        out, err, code = done.stdout, done.stderr, done.returncode
    except OSError as e:
        out, err, code = b"", ("rabbit-wizard: cannot start %s: %s\n" % (program, e)).encode(), 127
    sys.stdout.buffer.write(out)
    sys.stderr.buffer.write(b'#< CLIXML\r\n<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04"><Obj S="progress" RefId="0"></Obj></Objs>\r\n')
    sys.stderr.buffer.write(err)
    sys.stdout.buffer.write(b"\n##rabbit-wizard-exit %d\n" % code)
    sys.stdout.flush()
    sys.exit(code if code < 256 else 1)


main()
