"""Where action code may connect: the ``--deny-net`` list of the worker processes.

Deno matches the deny list against the address a connection really goes to (after DNS,
for ``fetch``, ``Deno.connect``, ``node:net`` and ``node:http`` alike) and accepts IPv4
ranges with an optional port, but only exact IPv6 addresses. docs/runtime.md lists what
each mode denies and what was measured.
"""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path

MODES = ("internet", "public", "off")

# Everything that is not a public unicast IPv4 address (IANA special-purpose registry).
NON_PUBLIC_V4 = (
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.0.2.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "224.0.0.0/4",
    "240.0.0.0/4",
)
# The IPv6 forms of "this host"; IPv4-mapped forms (::ffff:a.b.c.d) Deno checks as IPv4.
SELF_V6 = ("::1", "::")
# Deno takes no IPv6 ranges, but exact addresses: the cloud metadata services' IPv6
# addresses (AWS, Google Cloud) and 169.254.169.254 and loopback behind NAT64's prefix.
METADATA_V6 = ("fd00:ec2::254", "fd20:ce::254", "64:ff9b::a9fe:a9fe", "64:ff9b::7f00:1")


def local_addresses() -> tuple[list[str], list[str]]:
    """This machine's own IPv4 and IPv6 addresses (Linux /proc; a name lookup elsewhere)."""
    v4: set[str] = set()
    v6: set[str] = set()
    trie = Path("/proc/net/fib_trie")
    if trie.exists():
        last = ""
        for line in trie.read_text().splitlines():
            stripped = line.strip()
            if stripped.startswith("|--"):
                last = stripped[3:].strip()
            elif stripped == "/32 host LOCAL" and last:
                v4.add(last)
    inet6 = Path("/proc/net/if_inet6")
    if inet6.exists():
        for line in inet6.read_text().splitlines():
            raw = line.split()[0]
            v6.add(str(ipaddress.IPv6Address(int(raw, 16))))
    try:
        for info in socket.getaddrinfo(socket.gethostname(), None):
            address = str(info[4][0]).split("%")[0]
            (v6 if ":" in address else v4).add(address)
    except OSError:
        pass
    return sorted(v4), sorted(v6)


def deny_list(mode: str, ports: list[int]) -> list[str]:
    """``--deny-net`` entries. ``internet``: the server's own ports on every address of
    this host. ``public``: every non-public IPv4 range, this host's IPv6 addresses and
    the metadata services' IPv6 addresses, on every port."""
    v4, v6 = local_addresses()
    v6 = sorted({*v6, *SELF_V6})
    if mode == "public":
        return [*NON_PUBLIC_V4, *v4, *(f"[{a}]" for a in (*v6, *METADATA_V6))]
    hosts = ["127.0.0.0/8", "0.0.0.0/8", *v4]
    entries = [f"{h}:{p}" for p in ports for h in hosts]
    entries += [f"[{a}]:{p}" for p in ports for a in v6]
    # Listening on every interface is refused in every mode (0.0.0.0 and [::], any port).
    return [*entries, "0.0.0.0", "[::]"]
