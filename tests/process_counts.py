"""What a served app holds, read from /proc: its open file descriptors and its TCP sockets to a
given port, by state. Counts, for tests that assert a service holds no more after hours of
traffic than after minutes (a leak), never timings."""

import os
from collections import Counter
from pathlib import Path

# /proc/net/tcp's state codes (include/net/tcp_states.h).
TCP_STATES = {"01": "ESTABLISHED", "06": "TIME_WAIT", "08": "CLOSE_WAIT", "0A": "LISTEN"}


def _tcp_table(pid: int) -> list[tuple[int, int, str, str]]:
    """(local port, remote port, state, inode) of each TCP socket in `pid`'s network namespace."""
    rows = []
    for name in ("tcp", "tcp6"):
        path = Path(f"/proc/{pid}/net/{name}")
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            local, remote, state, inode = fields[1], fields[2], fields[3], fields[9]
            local_port = int(local.rsplit(":", 1)[1], 16)
            remote_port = int(remote.rsplit(":", 1)[1], 16)
            rows.append((local_port, remote_port, TCP_STATES.get(state, state), inode))
    return rows


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except FileNotFoundError:  # closed meanwhile
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    return inodes


def pid_listening_on(port: int) -> int:
    """The process that listens on `port` (the lowest pid, if its children inherited it)."""
    listening = {
        inode
        for local, _, state, inode in _tcp_table(os.getpid())
        if local == port and state == "LISTEN"
    }
    assert listening, f"nothing listens on port {port}"
    holders = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if _socket_inodes(int(entry)) & listening:
                    holders.append(int(entry))
            except (FileNotFoundError, PermissionError):
                continue
    assert holders, f"no process of ours holds port {port}"
    return min(holders)


def listening_ports(pid: int) -> list[int]:
    """The TCP ports `pid` listens on."""
    inodes = _socket_inodes(pid)
    return [
        local for local, _, state, inode in _tcp_table(pid) if state == "LISTEN" and inode in inodes
    ]


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def sockets_to(pid: int, remote_port: int) -> Counter[str]:
    """`pid`'s TCP sockets connected to `remote_port`, counted by state."""
    inodes = _socket_inodes(pid)
    return Counter(
        state
        for _, remote, state, inode in _tcp_table(pid)
        if remote == remote_port and inode in inodes
    )


def threads(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))
