"""Tries to reach the network and to write into the dataset mount, then fails on purpose with
a report of what happened, so the test can read it from the stored error."""

import os
import socket

from annbench.adapters.protocol import Adapter

DATA_MOUNT = "/annbench/data"


def _attempt(action) -> str:
    try:
        action()
    except OSError as exc:
        return f"blocked({exc.strerror or exc})"
    return "allowed"


def _write_into_data() -> None:
    with open(os.path.join(DATA_MOUNT, "written-by-adapter"), "w") as out:
        out.write("x")


class Prober(Adapter):
    def build(self, base, ids):
        dns = _attempt(lambda: socket.getaddrinfo("pypi.org", 443))
        interfaces = sorted(os.listdir("/sys/class/net"))
        write = _attempt(_write_into_data)
        raise RuntimeError(f"probe: dns={dns}; interfaces={','.join(interfaces)}; data={write}")

    def search(self, queries, k):
        raise AssertionError("never reached")
