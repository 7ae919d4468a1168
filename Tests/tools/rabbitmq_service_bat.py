#!/usr/bin/env python3
"""rabbitmq-service.bat on a simulated Windows server, as its verbs behave (windows_services.service_bat).

argv: DRIVES, the rabbitmq_server-* folder it belongs to (a Windows path), then the script's own arguments.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import windows_services  # noqa: E402

code, out, err = windows_services.service_bat(sys.argv[1], sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else "")
for line in out:
    sys.stdout.write(line + "\r\n")
for line in err:
    sys.stderr.write(line + "\r\n")
sys.exit(code)
