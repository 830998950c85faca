"""Put on PYTHONPATH, this makes every Python process (a CLI driver, Ray's workers) note each connection it
opens outside loopback into the file named by LIKEABILITY_OUTSIDE_CONNECTIONS: tests then expect none."""

import ipaddress
import os
import sys

_RECORD = os.environ.get("LIKEABILITY_OUTSIDE_CONNECTIONS")


def _note_outside_connections(event: str, args: tuple) -> None:
    if event != "socket.connect" or not _RECORD:
        return
    address = args[1]
    if not isinstance(address, tuple):
        return  # a Unix socket
    try:
        if ipaddress.ip_address(address[0]).is_loopback:
            return
    except ValueError:
        pass  # a name: not loopback as far as this hook can tell
    with open(_RECORD, "a") as record:
        record.write(f"{os.getpid()} {sys.argv[:2]} {address}\n")


sys.addaudithook(_note_outside_connections)
