#!/usr/bin/env bash
# Installs the Debian packages the wizard, its demo and its tests use. Idempotent; needs root.
set -euo pipefail
packages=(
  libncurses-dev     # ncursesw headers and library for the TUI
  libssl-dev         # OpenSSL's headers and libraries: the TLS certificate checks (Sources/CTLS)
  openssl            # the tests make their own CA and certificates with it
  openssh-client     # the ssh transport
  openssh-server     # the tests' real sshd on loopback
  strace             # the canary test traces every execve
  rabbitmq-server    # real nodes for the sandbox and the cluster tests
  nginx-light        # the nginx load balancer ...
  libnginx-mod-stream  # ... with its TCP stream module
  haproxy            # the HAProxy load balancer
  keepalived         # the floating address of a pair of load balancers (VRRP)
  iproute2           # the multi-host test bed: network namespaces, veth, bridge (Tests/netbed)
  tmux               # the wizard screen's end-to-end tests drive it through tmux
)
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: run as root (or with sudo): apt-get install ${packages[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
# The Windows checks without Windows (Tests/tools): Windows command-line splitting (mslex) and
# PowerShell's grammar (tree-sitter-powershell), and an AMQP client independent of the product (pika), from PyPI.
python3 -m pip install --quiet --disable-pip-version-check mslex==1.3.0 tree-sitter==0.26.1 tree-sitter-powershell==0.26.4 pika==1.4.4
# Debian's package may start a node of its own on some machines; the sandbox and tests use their own.
echo "install-deps: ${packages[*]} installed; mslex, tree-sitter-powershell, pika from PyPI"
