#!/usr/bin/env bash
# Installs, from Debian 12's packages, what building and testing the appliance
# needs. Go (>= 1.26.6) is expected at /usr/local/go or on PATH; Debian 12 ships an
# older Go, so it is not installed from apt.
set -euo pipefail
export PATH=/usr/local/go/bin:$PATH
if ! command -v go >/dev/null; then
  echo "install-deps: Go >= 1.26.6 is needed (e.g. unpacked at /usr/local/go)" >&2
  exit 1
fi
need=()
# containerd and runc run pods; iptables and iproute2 build the pod network;
# busybox-static is what the tests build their container image from; tmux runs
# the console in its end-to-end test; kmod's modprobe loads br_netfilter for the
# service rules where the kernel has it as a module.
for pkg in git make ca-certificates openssl containerd runc iptables iproute2 kmod busybox-static tmux; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if ((${#need[@]})); then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
fi
go version
