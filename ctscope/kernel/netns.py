"""The test topology: an injector netns and a "firewall" netns joined by two veth pairs.

::

    ctsc-<pid>-<n>-inj                     ctsc-<pid>-<n>-fw
      c1 02:00:0c:00:00:02 ===veth=== c0 02:00:0c:00:00:01   ip rule iif c0 -> table 100 (-> s0)
      s1 02:00:05:00:00:02 ===veth=== s0 02:00:05:00:00:01   ip rule iif s0 -> table 200 (-> c0)

The firewall has no addresses; it routes by input interface to fake gateways that
have permanent neighbour entries (the injector's MACs), so any addresses work and
there is never ARP or ND.  ``addr_gen_mode=1`` gives no link-local address (no
DAD/MLD noise); the injector has IPv6 off and no addresses, so it just sinks what
the firewall forwards (its AF_PACKET sockets still see it).

``Topology`` guarantees cleanup: ``close()`` (also via ``with``), an ``atexit`` hook
and SIGTERM/SIGHUP handlers turned into ``SystemExit`` so ``finally`` blocks run.
"""
from __future__ import annotations

import atexit
import itertools
import os
import signal
import threading
import weakref

from ..errors import InputError
from . import nsutil
from .ruleset import ruleset

MAC = {"c0": "02:00:0c:00:00:01", "c1": "02:00:0c:00:00:02",
       "s0": "02:00:05:00:00:01", "s1": "02:00:05:00:00:02"}
GW4 = {"c": "198.18.255.254", "s": "198.19.255.254"}   # fake neighbours behind c0 / s0
GW6 = {"c": "fe80::c", "s": "fe80::5"}

# Pinned per-netns conntrack knobs (everything the model reads); callers override.
PINNED = {
    "nf_conntrack_acct": 1, "nf_conntrack_checksum": 1, "nf_conntrack_tcp_loose": 1,
    "nf_conntrack_tcp_be_liberal": 0, "nf_conntrack_tcp_ignore_invalid_rst": 0,
    "nf_conntrack_tcp_max_retrans": 3, "nf_conntrack_timestamp": 0, "nf_conntrack_events": 1,
    "nf_conntrack_tcp_timeout_syn_sent": 120, "nf_conntrack_tcp_timeout_syn_recv": 60,
    "nf_conntrack_tcp_timeout_established": 432000, "nf_conntrack_tcp_timeout_fin_wait": 120,
    "nf_conntrack_tcp_timeout_close_wait": 60, "nf_conntrack_tcp_timeout_last_ack": 30,
    "nf_conntrack_tcp_timeout_time_wait": 120, "nf_conntrack_tcp_timeout_close": 10,
    "nf_conntrack_tcp_timeout_max_retrans": 300, "nf_conntrack_tcp_timeout_unacknowledged": 300,
    "nf_conntrack_udp_timeout": 30, "nf_conntrack_udp_timeout_stream": 120,
    "nf_conntrack_icmp_timeout": 30, "nf_conntrack_icmpv6_timeout": 30,
    "nf_conntrack_generic_timeout": 600, "nf_conntrack_gre_timeout": 30,
    "nf_conntrack_gre_timeout_stream": 180,
}

_counter = itertools.count(1)
_OWNER_PID = os.getpid()
_live: "weakref.WeakSet[Topology]" = weakref.WeakSet()
_hooks_installed = False


def _cleanup_all() -> None:
    for topo in list(_live):
        topo.close()


def _on_signal(signum, _frame):
    if os.getpid() != _OWNER_PID:
        # a forked child (pyroute2 forks to open sockets in a netns) inherits this
        # handler: it must die as it would have, without touching our namespaces
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        return
    _cleanup_all()
    raise SystemExit(128 + signum)


def _install_hooks() -> None:
    global _hooks_installed, _OWNER_PID
    if _hooks_installed:
        return
    _hooks_installed = True
    _OWNER_PID = os.getpid()
    atexit.register(_cleanup_all)
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGHUP):
            if signal.getsignal(sig) in (signal.SIG_DFL, None):
                signal.signal(sig, _on_signal)


def _setting_name(key: str) -> str:
    key = key.strip()
    for p in ("net.netfilter.", "net."):
        if key.startswith(p) and key[len(p):].startswith("nf_"):
            key = key[len(p):]
    return key


class Topology:
    """Create the two namespaces, links, routes, sysctls and the ruleset."""

    def __init__(self, settings: dict | None = None, rules_nft: str | None = None,
                 rules_ipt4: str | None = None, rules_ipt6: str | None = None, tag: str | None = None):
        _install_hooks()
        nsutil.sweep_leftovers()          # namespaces of processes that died (SIGKILL ...)
        base = f"{nsutil.PREFIX}{os.getpid()}-{tag or next(_counter)}"
        self.fw, self.inj = f"{base}-fw", f"{base}-inj"
        self.owner_pid = os.getpid()
        self.closed = False
        self.settings = self._check_settings(settings or {})
        _live.add(self)
        try:
            self._build(rules_nft, rules_ipt4, rules_ipt6)
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------ settings
    @staticmethod
    def _check_settings(settings: dict) -> dict:
        out = dict(PINNED)
        for k, v in settings.items():
            name = _setting_name(k)
            if name in nsutil.GLOBAL_SYSCTLS:
                with open(f"/proc/sys/net/netfilter/{name}") as f:   # read-only look
                    cur = int(f.read())
                if int(v) != cur:
                    raise InputError(f"{name} is global (host value {cur}); it cannot be set "
                                     f"for a test namespace", where="settings")
                continue
            if not name.startswith("nf_conntrack_") or "/" in name:
                raise InputError(f"unknown conntrack setting {k!r}", where="settings")
            out[name] = int(v)
        return out

    # ------------------------------------------------------------ build
    def _build(self, rules_nft, rules_ipt4, rules_ipt6) -> None:
        fw, inj = self.fw, self.inj
        nsutil.create(fw)
        nsutil.create(inj)
        w = nsutil.write_sysctl
        for k in ("default", "all"):
            w(fw, f"net.ipv6.conf.{k}.addr_gen_mode", 1)
            w(inj, f"net.ipv6.conf.{k}.disable_ipv6", 1)
        nsutil.run(["ip", "-n", fw, "link", "add", "c0", "address", MAC["c0"], "type", "veth",
                    "peer", "name", "c1", "address", MAC["c1"], "netns", inj])
        nsutil.run(["ip", "-n", fw, "link", "add", "s0", "address", MAC["s0"], "type", "veth",
                    "peer", "name", "s1", "address", MAC["s1"], "netns", inj])
        w(fw, "net.ipv4.ip_forward", 1)
        w(fw, "net.ipv6.conf.all.forwarding", 1)
        for dev in ("all", "default", "c0", "s0"):
            w(fw, f"net.ipv4.conf.{dev}.rp_filter", 0)
            w(fw, f"net.ipv4.conf.{dev}.send_redirects", 0)
        for dev in ("c0", "s0"):
            w(fw, f"net.ipv6.conf.{dev}.addr_gen_mode", 1)
            w(fw, f"net.ipv6.conf.{dev}.accept_ra", 0)
            w(fw, f"net.ipv6.conf.{dev}.forwarding", 1)
        w(inj, "net.ipv4.ip_forward", 0)
        for dev in ("c1", "s1"):
            w(inj, f"net.ipv6.conf.{dev}.disable_ipv6", 1)
        for name, value in self.settings.items():
            try:
                w(fw, f"net.netfilter.{name}", value)
            except OSError as e:
                raise InputError(f"cannot set {name}={value} in a test namespace: {e.strerror}",
                                 where="settings") from None
        batch4 = ["link set lo up", "link set c0 up", "link set s0 up"]
        batch6 = []
        for side, dev, peer in (("c", "c0", "c1"), ("s", "s0", "s1")):
            batch4 += [f"neigh add {GW4[side]} lladdr {MAC[peer]} dev {dev} nud permanent",
                       f"route add {GW4[side]}/32 dev {dev}"]
            batch6 += [f"neigh add {GW6[side]} lladdr {MAC[peer]} dev {dev} nud permanent",
                       f"route add {GW6[side]}/128 dev {dev}"]
        for table, side, dev in ((100, "s", "s0"), (200, "c", "c0")):
            batch4.append(f"route add default via {GW4[side]} dev {dev} onlink table {table}")
            batch6.append(f"route add default via {GW6[side]} dev {dev} table {table}")
        rules = ["rule add iif c0 lookup 100 pref 100", "rule add iif s0 lookup 200 pref 200"]
        nsutil.run(["ip", "-n", fw, "-batch", "-"], input="\n".join(batch4 + rules) + "\n")
        nsutil.run(["ip", "-n", fw, "-6", "-batch", "-"], input="\n".join(batch6 + rules) + "\n")
        nsutil.run(["ip", "-n", inj, "-batch", "-"], input="link set lo up\nlink set c1 up\nlink set s1 up\n")
        self.load_nft(ruleset({"c": ("c0", GW4["c"], GW6["c"]), "s": ("s0", GW4["s"], GW6["s"])},
                              rules_nft))
        if rules_ipt4:
            self.load_ipt(rules_ipt4, v6=False)
        if rules_ipt6:
            self.load_ipt(rules_ipt6, v6=True)

    def load_nft(self, text: str) -> None:
        """Load nft text into the firewall netns (``nft -f -``)."""
        nsutil.ns_exec(self.fw, ["nft", "-f", "-"], input=text)

    def load_ipt(self, text: str, v6: bool = False) -> None:
        """Load iptables-restore (or ip6tables-restore) input into the firewall netns."""
        tool = "ip6tables-restore" if v6 else "iptables-restore"
        if not text.endswith("\n"):
            text += "\n"
        nsutil.ns_exec(self.fw, [tool, "--noflush"], input=text)

    # ------------------------------------------------------------ teardown
    def close(self) -> None:
        """Delete both namespaces (idempotent; a no-op in forked children, which
        inherit the atexit hook and signal handlers but do not own the namespaces)."""
        if self.closed or os.getpid() != self.owner_pid:
            return
        self.closed = True
        for name in (self.fw, self.inj):
            try:
                nsutil.delete(name)
            except Exception:   # keep deleting the other one
                pass
        _live.discard(self)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()


def sweep_leftovers(include_live: bool = False) -> list[str]:
    """Remove ``ctsc-`` namespaces left behind by processes that are gone."""
    return nsutil.sweep_leftovers(include_live)
