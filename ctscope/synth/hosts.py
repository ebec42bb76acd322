"""Address plans and client port allocation.

Clients live in 10.0.0.0/8 and fd00::/16, servers in the documentation ranges
(192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32).
"""
from __future__ import annotations

import numpy as np

V4_SERVER_NETS = np.array([0xCB007100, 0xC6336400, 0xC0000200], dtype=np.uint64)  # 203.0.113, 198.51.100, 192.0.2
EPHEMERAL_LO, EPHEMERAL_N = 32768, 28232          # net.ipv4.ip_local_port_range 32768 60999


def client_v4(i) -> np.ndarray:
    i = np.asarray(i, dtype=np.uint64)
    return np.uint64(0x0A000000) + (i // np.uint64(254)) * np.uint64(256) + i % np.uint64(254) + np.uint64(1)


def client_v6(i) -> tuple[np.ndarray, np.ndarray]:
    i = np.asarray(i, dtype=np.uint64)
    return np.uint64(0xFD00000000000000) + np.uint64(1) + i // np.uint64(4096), np.uint64(0x100) + i


def server_v4(i) -> np.ndarray:
    i = np.asarray(i, dtype=np.uint64)
    return V4_SERVER_NETS[(i % np.uint64(3)).astype(np.int64)] + np.uint64(1) + (i // np.uint64(3)) % np.uint64(253)


def server_v6(i) -> tuple[np.ndarray, np.ndarray]:
    i = np.asarray(i, dtype=np.uint64)
    return np.uint64(0x20010DB800000000) + i // np.uint64(1000), np.uint64(1) + i


def place(s: np.ndarray, client: np.ndarray, server: np.ndarray) -> None:
    """Fill the session table's addresses from client/server indices (by ``s['l3']``)."""
    v6 = s["l3"] == 6
    chi, clo = client_v6(client)
    shi, slo = server_v6(server)
    s["c_hi"] = np.where(v6, chi, 0)
    s["c_lo"] = np.where(v6, clo, client_v4(client))
    s["s_hi"] = np.where(v6, shi, 0)
    s["s_lo"] = np.where(v6, slo, server_v4(server))


def place_server(s: np.ndarray, server: np.ndarray) -> None:
    v6 = s["l3"] == 6
    shi, slo = server_v6(server)
    s["s_hi"] = np.where(v6, shi, 0)
    s["s_lo"] = np.where(v6, slo, server_v4(server))


def client_ports(client: np.ndarray, t0: np.ndarray) -> np.ndarray:
    """Ephemeral ports: each client hands out consecutive ports in time order from its own
    starting point, so no two sessions of a client share a port until 28,232 later."""
    order = np.lexsort((t0, client))
    c = client[order]
    first = np.r_[True, c[1:] != c[:-1]]
    start = np.maximum.accumulate(np.where(first, np.arange(len(c)), 0))
    rank = np.empty(len(c), dtype=np.int64)
    rank[order] = np.arange(len(c)) - start
    base = (client.astype(np.int64) * 7919) % EPHEMERAL_N
    return (EPHEMERAL_LO + (base + rank) % EPHEMERAL_N).astype(np.uint16)
