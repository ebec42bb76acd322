"""Format-neutral containers for what the parsers read, before modelling."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class RawRule:
    tokens: list
    where: str
    text: str


@dataclass
class ChainDef:
    name: str
    where: str
    rules: list = field(default_factory=list)
    policy: str = "accept"
    hook: str | None = None        # base chains: prerouting, output, input, ...
    priority: int | None = None
    ctype: str | None = None       # nft chain type (filter, nat, route)
    header: str = ""               # the declaration text (for listings)


@dataclass
class TableDef:
    kind: str                       # "iptables" | "nft"
    family: str                     # iptables: "ipv4"/"ipv6"; nft: ip, ip6, inet, arp, bridge, netdev
    name: str
    where: str
    chains: dict = field(default_factory=dict)
    sets: dict = field(default_factory=dict)      # nft named sets: name -> (type tokens, element tokens, where)
    path: str = ""

    @property
    def families(self) -> frozenset:
        return {"ipv4": frozenset({4}), "ip": frozenset({4}), "ipv6": frozenset({6}),
                "ip6": frozenset({6}), "inet": frozenset({4, 6})}.get(self.family, frozenset())

    @property
    def label(self) -> str:
        if self.kind == "iptables":
            return f"{'ip6tables' if self.family == 'ipv6' else 'iptables'} -t {self.name}"
        return f"table {self.family} {self.name}"
