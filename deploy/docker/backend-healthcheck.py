#!/usr/bin/python3
"""Exit 0 when the tandem backend is attached to its frontend, else 1.

    tandem-backend-healthcheck [PID]        (default: 1, the container's main process)

"Attached" means that the process or one of its descendants (the workers of a
`--workers` parent) holds a connected stream Unix socket whose peer is outside
that process tree: the connection to the frontend's backend socket.  The event
loop's socketpairs and a parent's pipes to its workers are connected too, but
both of their ends are inside the tree.  A backend that is still waiting for the
socket to appear, was refused by the frontend's peer-credential check, or lost
its frontend holds no such socket, and one whose frontend has shut the
connection shows it shut down.

The peers come from the kernel's sock_diag netlink interface (what `ss -x` reads),
which needs no privileges and no package beyond python3; /proc/net/unix does not
show them.  The check runs as the same user as the backend (docker exec and
Kubernetes exec probes do), so the processes' /proc/PID/fd are readable.
"""

from __future__ import annotations

import os
import socket
import struct
import sys

NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
NLM_F_REQUEST = 0x1
NLM_F_DUMP = 0x300
NLMSG_ERROR = 2
NLMSG_DONE = 3
TCP_ESTABLISHED = 1
UDIAG_SHOW_PEER = 0x4
UNIX_DIAG_PEER = 2
UNIX_DIAG_SHUTDOWN = 7


def process_tree(root: int) -> list[int]:
    """root and every process descending from it."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue  # gone meanwhile
        # The command name, in parentheses, may hold spaces: the ppid follows the last ")".
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def process_socket_inodes(pid: int) -> set[int]:
    """The inodes of every socket the process has open."""
    inodes = set()
    fd_dir = f"/proc/{pid}/fd"
    try:
        fds = os.listdir(fd_dir)
    except FileNotFoundError:
        return inodes  # gone meanwhile
    for fd in fds:
        try:
            target = os.readlink(os.path.join(fd_dir, fd))
        except OSError:
            continue  # closed meanwhile
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes


def connected_unix_streams() -> dict[int, tuple[int, int]]:
    """inode -> (peer inode, shutdown bits) of every connected stream Unix socket
    in this network namespace."""
    # struct unix_diag_req: family, protocol, pad, states, ino, show, cookie[2]
    req = struct.pack("=BBHIIIII", socket.AF_UNIX, 0, 0, 1 << TCP_ESTABLISHED, 0,
                      UDIAG_SHOW_PEER, 0xFFFFFFFF, 0xFFFFFFFF)
    msg = struct.pack("=IHHII", 16 + len(req), SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST | NLM_F_DUMP, 1, 0) + req
    found: dict[int, tuple[int, int]] = {}
    with socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_SOCK_DIAG) as nl:
        nl.settimeout(5)
        nl.sendto(msg, (0, 0))
        while True:
            data = nl.recv(65536)
            off = 0
            while off + 16 <= len(data):
                length, kind, _flags, _seq, _pid = struct.unpack_from("=IHHII", data, off)
                if kind == NLMSG_DONE:
                    return found
                if kind == NLMSG_ERROR:
                    raise OSError("sock_diag answered an error")
                # struct unix_diag_msg: family, type, state, pad, ino, cookie[2]
                _family, stype, state, _pad, ino = struct.unpack_from("=BBBBI", data, off + 16)
                peer = shutdown = 0
                attr = off + 16 + 16
                while attr + 4 <= off + length:
                    alen, atype = struct.unpack_from("=HH", data, attr)
                    if alen < 4:
                        break
                    if atype == UNIX_DIAG_PEER:
                        (peer,) = struct.unpack_from("=I", data, attr + 4)
                    elif atype == UNIX_DIAG_SHUTDOWN:
                        shutdown = data[attr + 4]
                    attr += (alen + 3) & ~3
                if stype == socket.SOCK_STREAM and state == TCP_ESTABLISHED:
                    found[ino] = (peer, shutdown)
                off += (length + 3) & ~3
            if off == 0:
                return found


def attached(pid: int) -> int:
    """How many connections to a frontend the process tree of pid holds."""
    if not os.path.isdir(f"/proc/{pid}"):
        raise OSError(f"no process {pid}")
    ours: set[int] = set()
    for p in process_tree(pid):
        ours |= process_socket_inodes(p)
    streams = connected_unix_streams()
    return sum(1 for ino, (peer, shutdown) in streams.items()
               if ino in ours and peer != 0 and peer not in ours and shutdown == 0)


def main(argv: list[str]) -> int:
    pid = int(argv[1]) if len(argv) > 1 else 1
    try:
        count = attached(pid)
    except OSError as exc:
        print(f"tandem-backend-healthcheck: {exc}", file=sys.stderr)
        return 1
    if count == 0:
        print(f"tandem-backend-healthcheck: process {pid} is not attached to a frontend", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
