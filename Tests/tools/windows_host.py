#!/usr/bin/env python3
"""A Windows host as the PowerShell dialect meets it, behind a real sshd (ForceCommand).

What it checks, on the wire exactly as Win32-OpenSSH would hand it over:
  - the command line: the cmd.exe DefaultShell path (`cmd.exe /c "<line>"`, split by mslex like cmd and
    the C runtime) must give powershell.exe the constant argv, and -EncodedCommand must decode (UTF-16LE)
    to the bootstrap the wizard says it sends (argv[2] of this script, a file);
  - stdin: line 1 the per-call script (base64 UTF-8), line 2 the input (base64, maybe empty), then EOF;
  - the script is the library (argv[3], a file), the functions of the command's module if it carries one,
    then exactly one line, `Complete-Call { NAME 'ARG' ... }`, whose NAME the library or the module defines
    and whose verbatim arguments match the function's parameters; the whole script parses with
    tree-sitter-powershell.
Then it carries out that one call's meaning in Python (not PowerShell: none runs here), against a folder
standing in for the drives (argv[4]: `C:\\a\\b` is `DRIVES/C/a/b`). Modes stand in for ACLs: 600 private,
400 private and ReadOnly, 644 inherited. A program is a Linux one standing in for the Windows one (a
drive path is mapped, anything else is run as named), its arguments split by the MSVCRT rules (drive paths
among them mapped too). The answer
has Windows PowerShell's CLIXML noise on stderr and ends with the sentinel carrying the exit code.

argv[1]: a folder where each call's command line is appended to `commands.txt`, its environment to
`environments.txt` and its script's last line to `calls.txt` (the tests read them).
"""
import base64
import hashlib
import json
import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
import threading

import mslex

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import windows_services  # noqa: E402

LITERAL = r"'((?:[^'\u2018\u2019\u201a\u201b]|['\u2018\u2019\u201a\u201b]{2})*)'"


def fail(message):
    sys.stderr.write("windows-host: " + message + "\n")
    sys.exit(1)


def unquote(text):
    return re.sub(r"(['\u2018\u2019\u201a\u201b])\1", r"\1", text)


class Host:
    def __init__(self, drives, given):
        self.drives = drives
        self.given = given
        self.out = bytearray()
        self.err = bytearray()

    def path(self, p):
        m = re.match(r"^([A-Za-z]):\\(.*)$", p)
        if not m:
            return p
        return os.path.join(self.drives, m.group(1).upper(), *[s for s in m.group(2).split("\\") if s])

    def write(self, text):
        self.out += text.encode("utf-8")

    @staticmethod
    def mode(real):
        bits = os.stat(real).st_mode & 0o777
        return {0o400: "400", 0o600: "600"}.get(bits, "644")

    @staticmethod
    def set_mode(real, mode):
        os.chmod(real, {"400": 0o400, "600": 0o600}.get(mode, 0o644))

    @staticmethod
    def sha256(real):
        with open(real, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()

    def temp(self, real):
        d, b = os.path.split(real)
        return os.path.join(d, "." + b + ".rabbit-wizard." + os.urandom(8).hex())

    def copy_kept(self, src, dst):
        """Copy-Kept: the bytes, the access list and (Set-Owner) the owner, a file's uid standing for it."""
        tmp = self.temp(dst)
        try:
            shutil.copy2(src, tmp)
            st = os.stat(src)
            os.chown(tmp, st.st_uid, st.st_gid)
            os.replace(tmp, dst)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    # The library's functions, by name: each returns its exit code.
    def observe_file(self, path, limit, want):
        real = self.path(path)
        if os.path.islink(real):
            seen = {"kind": "symlink"}
        elif not os.path.exists(real):
            seen = {"kind": "missing"}
        elif not os.path.isfile(real):
            seen = {"kind": "other"}
        else:
            size = os.path.getsize(real)
            seen = {"kind": "regular", "mode": self.mode(real), "owner": pwd.getpwuid(os.stat(real).st_uid).pw_name, "size": size,
                    "sha256": self.sha256(real)}
            if want == "bytes":
                if size > int(limit):
                    seen["tooLarge"] = True
                else:
                    with open(real, "rb") as f:
                        seen["bytes"] = base64.b64encode(f.read()).decode()
        self.write(json.dumps(seen) + "\n")
        return 0

    def write_file_atomic(self, path, mode, backup):
        real = self.path(path)
        # The replaced file's owner is kept (Set-Owner after File.Replace).
        owner = (os.stat(real).st_uid, os.stat(real).st_gid) if os.path.isfile(real) else None
        tmp = self.temp(real)
        try:
            with open(tmp, "xb") as f:
                f.write(self.given)
                f.flush()
                os.fsync(f.fileno())
            if mode != "644":
                os.chmod(tmp, 0o600)
            if backup and os.path.isfile(real) and not os.path.exists(self.path(backup)):
                self.copy_kept(real, self.path(backup))
            os.replace(tmp, real)
            self.set_mode(real, mode)
            if owner:
                os.chown(real, *owner)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        self.write(self.sha256(real) + "\n")
        return 0

    def restore_file(self, path, backup):
        if not os.path.isfile(self.path(backup)):
            self.err += ("the backup %s is missing\n" % backup).encode()
            return 3
        self.copy_kept(self.path(backup), self.path(path))
        return 0

    def swap_file(self, path, expect, change):
        """Swap-File: the library holds a machine-wide mutex around the look and the change; a flock on the
        folder stands in for it here."""
        import fcntl
        import time
        real = self.path(path)
        fd = os.open(os.path.dirname(real), os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            if os.path.islink(real) or (os.path.exists(real) and not os.path.isfile(real)):
                self.err += ("%s is not a regular file\n" % path).encode()
                return 3
            if os.path.isfile(real):
                have = self.sha256(real)
                age = int(time.time() - os.path.getmtime(real))
                with open(real, "rb") as f:
                    self.write("found %s %d\n%s\n" % (have, age, base64.b64encode(f.read()).decode()))
            else:
                have = "absent"
                self.write("absent\n\n")
            if change == "read" or have != expect:
                self.write("kept\n")
                return 0
            if change == "remove":
                self.remove_file(path)
                self.write("removed\n")
                return 0
            self.write("put ")
            return self.write_file_atomic(path, "600", "")
        finally:
            os.close(fd)

    def remove_file(self, path):
        if os.path.isfile(self.path(path)):
            os.unlink(self.path(path))
        return 0

    def find_files(self, *patterns):
        for prefix, suffix in zip(patterns[0::2], patterns[1::2]):
            real = self.path(prefix)
            d = os.path.dirname(real)
            if not os.path.isdir(d):
                continue
            start = os.path.basename(real)
            for name in sorted(os.listdir(d)):
                full = os.path.join(d, name)
                if os.path.islink(full) or not os.path.isfile(full) or not name.startswith(start) or not name.endswith(suffix):
                    continue
                if len(name) < len(start) + len(suffix):
                    continue
                self.write("%d\t%s%s\n" % (os.path.getsize(full), prefix, name[len(start):]))
        return 0

    def remove_files(self, *paths):
        for p in paths:
            self.remove_file(p)
        return 0

    def find_program(self, name):
        return 0 if shutil.which(name) else 1

    def read_secret(self, path):
        with open(self.path(path), "rb") as f:
            self.out += f.read()
        return 0

    def read_tail(self, path, count):
        with open(self.path(path), "rb") as f:
            f.seek(0, 2)
            n = min(int(count), f.tell())
            f.seek(-n, 2)
            self.out += f.read()
        return 0

    def test_ports(self, mode, *endpoints):
        answers = {}

        def probe(hp):
            host, port = hp.rsplit(":", 1)
            try:
                with socket.create_connection((host, int(port)), timeout=3) as s:
                    if mode == "amqp":
                        s.sendall(b"AMQP\0\0\x09\x01")
                        answers[hp] = s.recv(1)[:1] == b"\x01"
                    else:
                        answers[hp] = True
            except OSError:
                answers[hp] = False

        threads = [threading.Thread(target=probe, args=(hp,)) for hp in endpoints]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for hp in endpoints:
            self.write(("ok " if answers.get(hp) else "no ") + hp + "\n")
        return 0

    def get_rabbit_layout(self, service_name):
        """The discovery answer the test recorded for this server (`DRIVES/layout.json`)."""
        with open(os.path.join(self.drives, "layout.json")) as f:
            self.write(json.dumps(json.load(f)) + "\n")
        return 0

    def set_rabbit_service(self, name, want):
        code, answer = windows_services.set_rabbit_service(self.drives, name, want)
        self.write(answer + "\n")
        return code

    def stop_rabbit_process(self, pid):
        code, error = windows_services.stop_emulator(self.drives, pid)
        self.err += (error + "\n").encode() if error else b""
        return code

    def invoke_native(self, cookie, status, program, arguments, cwd, *environment):
        if cookie and not os.path.isfile(self.path(cookie)):
            self.err += ("rabbit-wizard: no Erlang cookie at %s\n" % cookie).encode()
            return int(status)
        env = dict(os.environ)
        env.update(zip(environment[0::2], environment[1::2]))
        try:
            # A drive path among the arguments names the file the Windows program would open: here, under DRIVES.
            argv = [self.path(program)] + [self.path(a) for a in mslex.split(arguments, like_cmd=False)]
            done = subprocess.run(argv, input=self.given, capture_output=True,
                                  env=env, cwd=self.path(cwd) if cwd else None)
        except OSError as e:
            self.err += ("rabbit-wizard: cannot start %s: %s\n" % (program, e)).encode()
            return 127
        self.out += done.stdout
        self.err += done.stderr
        return done.returncode


def read_mode(log_dir, name):
    try:
        with open(os.path.join(log_dir, name)) as f:
            return f.read()
    except FileNotFoundError:
        return ""


def clixml_error(message, category, error_id):
    """An error record as Windows PowerShell serializes it on a redirected stderr (PowerShell#5912)."""
    def s(text):
        return '<S S="Error">' + text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") + "_x000D__x000A_</S>"
    return ('<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04">' + s(message)
            + s("    + CategoryInfo          : %s: (:) [], ParentContainsErrorRecordException" % category)
            + s("    + FullyQualifiedErrorId : %s" % error_id) + s(" ") + "</Objs>")


def parameters(library):
    """NAME -> number of declared parameters, or None for a function that takes `$args`."""
    found = {}
    for m in re.finditer(r"^function ([A-Za-z-]+)(?:\(([^)]*)\))? \{", library, re.M):
        found[m.group(1)] = len(m.group(2).split(",")) if m.group(2) else 0
    for name in ("Find-Files", "Remove-Files"):
        found[name] = None
    found["Test-Ports"] = None
    found["Invoke-Native"] = None
    return found


def main():
    log_dir, bootstrap_file, library_file, drives = sys.argv[1:5]
    line = os.environ.get("SSH_ORIGINAL_COMMAND", "")
    with open(os.path.join(log_dir, "commands.txt"), "a") as f:
        f.write(line + "\n")
    with open(os.path.join(log_dir, "environments.txt"), "a") as f:
        f.write(json.dumps(dict(os.environ)) + "\n")
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

    with open(library_file) as f:
        library = f.read()
    if not script.startswith(library):
        fail("the script does not start with the library")
    # What follows the library: the functions of the command's module (RabbitSetup's, when the call needs
    # them: CommandSpec.powershellModule), then the call, the last line.
    rest = script[len(library):]
    cut = rest.rfind("\n", 0, len(rest) - 1) + 1
    module, call = rest[:cut], rest[cut:]
    with open(os.path.join(log_dir, "calls.txt"), "a") as f:
        f.write(call)
    m = re.fullmatch(r"Complete-Call \{ ([A-Za-z-]+)((?: " + LITERAL + r")*) \}\n", call)
    if not m:
        fail("the script does not end with one call: %r" % call[:200])
    name = m.group(1)
    args = [unquote(a) for a in re.findall(LITERAL, m.group(2))]
    declared = parameters(library + module)
    if name not in declared:
        fail("neither the library nor the module has a function " + name)
    if declared[name] is not None and declared[name] != len(args):
        fail("%s takes %d arguments, the call gives %d" % (name, declared[name], len(args)))
    if name == "Invoke-Native" and (len(args) < 5 or len(args) % 2 == 0):
        fail("Invoke-Native takes 5 arguments and name/value pairs, the call gives %d" % len(args))

    import tree_sitter
    import tree_sitter_powershell
    parser = tree_sitter.Parser(tree_sitter.Language(tree_sitter_powershell.language()))
    if parser.parse(script.encode("utf-8")).root_node.has_error:
        fail("the script does not parse")

    # What the server's setup makes PowerShell do before the library runs (files the test writes in argv[1]):
    # `blocked` names a refusal (amsi, clm) that PowerShell reports as a CLIXML error record on stderr, exit
    # 1, nothing run; `profile` is text an outer PowerShell (DefaultShell=powershell, which loads profiles)
    # prints before the answer.
    blocked = read_mode(log_dir, "blocked")
    if blocked:
        record = {
            "amsi": ("This script contains malicious content and has been blocked by your antivirus software.", "ParserError", "ScriptContainedMaliciousContent"),
            "clm": ("Cannot create type. Only core types are supported in this language mode.", "PermissionDenied", "CannotCreateTypeConstrainedLanguage"),
        }[blocked]
        sys.stderr.buffer.write(b"#< CLIXML\r\n" + clixml_error(*record).encode("utf-8") + b"\r\n")
        sys.exit(1)
    sys.stdout.buffer.write(read_mode(log_dir, "profile").encode("utf-8"))

    host = Host(drives, given)
    function = getattr(host, re.sub(r"(?<=[a-z])(?=[A-Z])", "_", name.replace("-", "_")).lower())
    try:
        code = function(*args)
    except Exception as e:  # Complete-Call's catch: the message, exit 1
        host.err += ("rabbit-wizard: %s\n" % e).encode()
        code = 1
    sys.stdout.buffer.write(b"##rabbit-wizard-begin\n")
    sys.stdout.buffer.write(bytes(host.out))
    sys.stderr.buffer.write(b'#< CLIXML\r\n<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04"><Obj S="progress" RefId="0"></Obj></Objs>\r\n')
    sys.stderr.buffer.write(bytes(host.err))
    sys.stdout.buffer.write(b"\n##rabbit-wizard-exit %d\n" % code)
    sys.stdout.flush()
    sys.exit(code if 0 <= code < 256 else 1)


main()
