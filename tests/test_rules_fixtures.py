"""Real-world rulesets (tests/data/rules/): Docker, kube-proxy (iptables and nft
mode, with NodeLocal DNSCache's raw NOTRACK rules), Calico (iptables + ipset, nft),
the seed's commands; and the ordering of several raw base chains on one hook.

The iptables-save and nft fixtures were produced by loading the rules into a
throw-away network namespace and dumping them with iptables-save / nft list ruleset
(Calico's iptables dump by hand: its ipsets cannot be created without the ipset tool).
"""
from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from ctscope.errors import InputError
from ctscope.packets.record import (ROUTE_FORWARD, ROUTE_LOCAL_IN, ROUTE_LOCAL_OUT, RULE_DROP,
                                    RULE_NONE, RULE_NOTRACK, empty_batch)
from ctscope.rules import load_rules

DATA = Path(__file__).parent / "data" / "rules"


def pkts(*specs):
    """specs: dicts with src, dst, proto, sport, dport, route, ifindex."""
    b = empty_batch(len(specs))
    for i, s in enumerate(specs):
        for key in ("src", "dst"):
            a = ipaddress.ip_address(s.get(key, "192.0.2.1"))
            b["l3"][i] = a.version
            v = int(a)
            b[f"{key}_hi"][i], b[f"{key}_lo"][i] = v >> 64, v & ((1 << 64) - 1)
        b["proto"][i] = s.get("proto", 6)
        b["sport"][i] = s.get("sport", 40000)
        b["dport"][i] = s.get("dport", 80)
        b["route"][i] = s.get("route", ROUTE_LOCAL_IN)
        b["ifindex"][i] = s.get("ifindex", 1)
    return b


IFN = {1: "eth0", 2: "docker0", 3: "cali5d2e9a1", 4: "br-5c1d2b6a3f70"}


def test_docker_iptables_direct_access_drop():
    rs = load_rules([str(DATA / "docker-iptables.save")])
    assert len(rs.modelled) == 2 and rs.needs_interfaces
    assert all("[iptables -t raw PREROUTING]" in d for d in rs.modelled)
    b = pkts(dict(dst="172.17.0.2", ifindex=1), dict(dst="172.17.0.2", ifindex=2),
             dict(dst="172.17.0.3", ifindex=1), dict(dst="172.17.0.2", route=ROUTE_LOCAL_OUT),
             dict(dst="172.18.0.3", ifindex=2, route=ROUTE_FORWARD), dict(dst="172.18.0.3", ifindex=4))
    rs.apply(b, IFN)
    assert b["rule"].tolist() == [RULE_DROP, RULE_NONE, RULE_NONE, RULE_NONE, RULE_DROP, RULE_NONE]
    reasons = {u.reason for u in rs.conntrack_users()}
    assert any("conntrack match" in r for r in reasons) and any("NAT" in r for r in reasons)
    texts = [u.text for u in rs.conntrack_users()]
    assert any("--ctstate RELATED,ESTABLISHED" in t for t in texts)
    assert any("-j MASQUERADE" in t for t in texts) and any("-j DNAT" in t for t in texts)
    # every conntrack user names its file:line
    assert all(u.where.startswith(str(DATA / "docker-iptables.save") + ":") for u in rs.conntrack_users())


def test_docker_nft_same_verdicts_as_iptables():
    rs_nft = load_rules([str(DATA / "docker.nft")])
    rs_ipt = load_rules([str(DATA / "docker-iptables.save")])
    assert len(rs_nft.modelled) == 1 and "DROP DIRECT ACCESS" in rs_nft.modelled[0]
    specs = [dict(dst="172.17.0.2", ifindex=i, route=r) for i in (1, 2, 3) for r in (ROUTE_LOCAL_IN, ROUTE_FORWARD, ROUTE_LOCAL_OUT)]
    a, b = pkts(*specs), pkts(*specs)
    rs_nft.apply(a, IFN)
    rs_ipt.apply(b, IFN)
    assert (a["rule"] == b["rule"]).all() and (a["rule"] == RULE_DROP).sum() == 4
    assert any(u.reason == "NAT statement" for u in rs_nft.conntrack_users())
    assert any("nat chain" == u.reason for u in rs_nft.conntrack_users())


def test_kube_proxy_iptables_with_nodelocal_dns():
    rs = load_rules([str(DATA / "kube-proxy-iptables.save")])
    assert len(rs.modelled) == 8 and not rs.needs_interfaces
    b = pkts(dict(dst="169.254.20.10", proto=17, dport=53),
             dict(dst="169.254.20.10", proto=6, dport=53, route=ROUTE_FORWARD),
             dict(dst="169.254.20.10", proto=17, dport=54),
             dict(src="169.254.20.10", proto=17, sport=53, route=ROUTE_LOCAL_OUT),
             dict(src="169.254.20.10", proto=17, sport=53),            # PREROUTING: no rule
             dict(dst="10.96.0.10", proto=17, dport=53))
    rs.apply(b, {})                                                      # no interface needed
    assert b["rule"].tolist() == [RULE_NOTRACK, RULE_NOTRACK, RULE_NONE, RULE_NOTRACK, RULE_NONE, RULE_NONE]
    users = rs.conntrack_users()
    assert any("--ctstate INVALID" in u.text for u in users)
    assert any("MASQUERADE --random-fully" in u.text for u in users)
    assert any(u.reason.startswith("nat table") for u in users)
    assert any("KUBE-MARK-MASQ -j MARK" in d for d in rs.not_modelled)


def test_kube_proxy_nft_mode_loads_and_nothing_is_modelled():
    rs = load_rules([str(DATA / "kube-proxy.nft")])
    assert rs.modelled == [] and rs.empty
    # priority dstnat - 10 = -110 is after conntrack: listed, not modelled
    assert any("[table ip kube-proxy filter-prerouting] ct state new jump firewall-check" in d
               for d in rs.not_modelled)
    assert any("vmap @service-ips" in d for d in rs.not_modelled)
    reasons = [u.reason for u in rs.conntrack_users()]
    assert reasons.count("nat chain") == 3 and "NAT statement" in reasons and "ct expression" in reasons
    b = pkts(dict(dst="10.96.0.10", proto=17, dport=53))
    rs.apply(b, {})
    assert b["rule"].tolist() == [RULE_NONE]


CALICO_SPECS = [
    dict(src="10.65.1.1", dst="192.168.49.2", dport=11211, ifindex=1),              # memcache client: untracked
    dict(src="192.168.10.7", dst="192.168.49.2", dport=11211, ifindex=1),           # single-address member
    dict(src="10.66.1.1", dst="192.168.49.2", dport=11211, ifindex=1),              # not a client
    dict(src="10.65.1.1", dst="192.168.49.2", dport=11212, ifindex=1),              # other port
    dict(src="10.65.1.1", dst="192.168.49.2", dport=11211, ifindex=2),              # not the host endpoint
    dict(src="192.168.49.3", dst="192.168.49.2", proto=17, dport=4789, ifindex=1),  # VXLAN
    dict(src="10.244.0.5", dst="10.96.0.10", proto=17, dport=53, ifindex=3),        # workload (cali*)
    dict(src="192.168.49.2", dst="10.65.1.1", sport=11211, dport=40000, ifindex=1, route=ROUTE_LOCAL_OUT),
    dict(src="192.168.49.2", dst="10.66.1.1", sport=11211, dport=40000, ifindex=1, route=ROUTE_LOCAL_OUT),
    dict(src="192.168.49.2", dst="192.168.49.3", proto=17, dport=4789, ifindex=1, route=ROUTE_LOCAL_OUT),
]
CALICO_WANT = [RULE_NOTRACK, RULE_NOTRACK, RULE_NONE, RULE_NONE, RULE_NONE, RULE_NOTRACK, RULE_NONE,
               RULE_NOTRACK, RULE_NONE, RULE_NOTRACK]


def test_calico_iptables_untracked_policy_marks_goto_return():
    rs = load_rules([str(DATA / "calico-iptables.save")], ipset_paths=[str(DATA / "calico.ipset")])
    assert rs.needs_interfaces and rs.notes == ["rpfilter: captured packets assumed to pass"]
    assert len(rs.modelled) == 27
    b = pkts(*CALICO_SPECS)
    rs.apply(b, IFN)
    assert b["rule"].tolist() == CALICO_WANT
    # ipset 'nomatch' entry: 10.65.9.0/24 is carved out of 10.65.0.0/16
    b = pkts(dict(src="10.65.9.9", dst="192.168.49.2", dport=11211), dict(src="10.65.10.9", dst="192.168.49.2", dport=11211))
    rs.apply(b, IFN)
    assert b["rule"].tolist() == [RULE_NONE, RULE_NOTRACK]


def test_calico_nft_same_verdicts():
    rs = load_rules([str(DATA / "calico.nft")])
    b = pkts(*CALICO_SPECS)
    rs.apply(b, IFN)
    assert b["rule"].tolist() == CALICO_WANT


def test_calico_needs_interface_names():
    rs = load_rules([str(DATA / "calico.nft")])
    b = pkts(dict(src="10.65.1.1", dst="192.168.49.2", dport=11211, ifindex=7))
    with pytest.raises(InputError) as ei:
        rs.apply(b, IFN)
    assert "--iface NAME" in str(ei.value) and "--ifname 7=NAME" in str(ei.value)
    assert ei.value.where.startswith(str(DATA / "calico.nft") + ":")


def test_seed_commands(tmp_path):
    seed = tmp_path / "seed.sh"
    seed.write_text(
        "$ sudo iptables -A FORWARD -m state --state UNTRACKED -j ACCEPT\n"
        "$ sudo iptables -t raw -A PREROUTING -p tcp -m multiport --dport 80,81,82 -j NOTRACK\n"
        "$ sudo iptables -t raw -A PREROUTING -p tcp -m multiport --sport 80,81,82 -j NOTRACK\n")
    rs = load_rules([str(seed)])
    assert len(rs.modelled) == 2 and len(rs.not_modelled) == 1
    users = rs.conntrack_users()
    assert len(users) == 1 and users[0].where == f"{seed}:1" and "state match" in users[0].reason
    b = pkts(dict(dport=81), dict(dport=83, sport=82, route=ROUTE_FORWARD), dict(dport=83),
             dict(dport=81, proto=17), dict(dport=81, route=ROUTE_LOCAL_OUT))
    rs.apply(b, {})
    assert b["rule"].tolist() == [RULE_NOTRACK, RULE_NOTRACK, RULE_NONE, RULE_NONE, RULE_NONE]


def test_base_chain_priority_order_and_zone_notrack_interplay(tmp_path):
    """nft at -350 sets a zone template -> the iptables NOTRACK at -300 is ignored
    (xt_CT skips a packet with something attached); nft 'ct zone set' at -250
    replaces an untracked marker; a chain at mangle priority is not modelled."""
    ipt = tmp_path / "raw.save"
    ipt.write_text("*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
                   "-A PREROUTING -p udp -j NOTRACK\nCOMMIT\n")
    nft = tmp_path / "zones.nft"
    nft.write_text("table ip z {\n"
                   " chain early { type filter hook prerouting priority raw - 50; udp dport 53 ct zone set 3; }\n"
                   " chain late { type filter hook prerouting priority -250; udp dport 123 ct zone set 4; }\n"
                   " chain mangle { type filter hook prerouting priority mangle; notrack; }\n"
                   "}\n")
    rs = load_rules([str(nft), str(ipt)])
    assert [b.priority for b in rs.bases["prerouting"]] == [-350, -300, -250]
    assert any("[table ip z mangle] notrack" in d for d in rs.not_modelled)
    b = pkts(dict(proto=17, dport=53), dict(proto=17, dport=123), dict(proto=17, dport=5), dict(proto=6, dport=53))
    rs.apply(b, {})
    assert b["rule"].tolist() == [RULE_NONE, RULE_NONE, RULE_NOTRACK, RULE_NONE]
    assert b["zone"].tolist() == [3, 4, 0, 0]


def test_ip6tables_file_applies_to_ipv6_only(tmp_path):
    p6 = tmp_path / "r6.save"
    p6.write_text("*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
                  "-A PREROUTING -d 2001:db8::/32 -p udp -m udp --dport 53 -j CT --notrack\nCOMMIT\n")
    p4 = tmp_path / "r4.save"
    p4.write_text("*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
                  "-A PREROUTING -p udp -m udp --dport 53 -j CT --zone 9\nCOMMIT\n")
    rs = load_rules([str(p4)], [str(p6)])
    b = pkts(dict(src="2001:db8::1", dst="2001:db8::53", proto=17, dport=53),
             dict(src="2001:db9::1", dst="2001:db9::53", proto=17, dport=53),
             dict(dst="10.0.0.53", proto=17, dport=53))
    rs.apply(b, {})
    assert b["rule"].tolist() == [RULE_NOTRACK, RULE_NONE, RULE_NONE]
    assert b["zone"].tolist() == [0, 0, 9]


def test_skipped_and_non_ip_packets_untouched():
    rs = load_rules([str(DATA / "kube-proxy-iptables.save")])
    b = pkts(dict(dst="169.254.20.10", proto=17, dport=53), dict(dst="169.254.20.10", proto=17, dport=53))
    b["skip"][0] = 2
    b["rule"] = 7
    b["zone"] = 5
    rs.apply(b, {})
    assert b["rule"].tolist() == [RULE_NONE, RULE_NOTRACK] and b["zone"].tolist() == [0, 0]


def test_nft_command_forms_define_insert_and_icmp(tmp_path):
    p = tmp_path / "cmds.nft"
    p.write_text("flush ruleset\n"
                 "define ECHO = echo-request\n"
                 "table ip6 t {\n}\n"
                 "add chain ip6 t pre { type filter hook prerouting priority raw ; policy accept ; }\n"
                 "add rule ip6 t pre icmpv6 type { $ECHO, nd-neighbor-solicit } notrack\n"
                 "insert rule ip6 t pre icmpv6 type != echo-reply meta l4proto icmpv6 ct zone set 2\n"
                 "add table ip gone\ndelete table ip gone\n")
    s = tmp_path / "icmp.save"
    s.write_text("*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
                 "[3:180] -A PREROUTING -p icmp -m icmp --icmp-type 8 -j NOTRACK\n"
                 "[0:0] -A PREROUTING -p icmp -m icmp --icmp-type 3/4 -j DROP\nCOMMIT\n")
    rs = load_rules([str(p), str(s)])
    assert [d.split(": ", 1)[0] for d in rs.modelled] == [f"{p}:6", f"{p}:7", f"{s}:4", f"{s}:5"]
    b = empty_batch(6)
    b["l3"] = [4, 4, 4, 6, 6, 6]
    b["proto"] = [1, 1, 1, 58, 58, 58]
    b["dport"] = [8 << 8, 3 << 8 | 4, 3 << 8, 128 << 8, 129 << 8, 135 << 8]   # type << 8 | code
    rs.apply(b, {})
    # inserted rule runs first: zone template, then the notrack is ignored (kernel: ct attached)
    assert b["rule"].tolist() == [RULE_NOTRACK, RULE_DROP, RULE_NONE, RULE_NONE, RULE_NONE, RULE_NONE]
    assert b["zone"].tolist() == [0, 0, 0, 2, 0, 2]


def test_iptables_script_with_user_chain_policy_and_syn(tmp_path):
    p = tmp_path / "fw.sh"
    p.write_text("#!/bin/sh\n"
                 "iptables -w -t raw -N SYNS\n"
                 "iptables -t raw -A PREROUTING -i eth0 -p tcp --syn -j SYNS\n"
                 "iptables -t raw -A SYNS -p tcp -m tcp --dport 443 -j CT --notrack\n"
                 "iptables -t raw -A SYNS -j RETURN\n"
                 "iptables -t raw -A PREROUTING -p tcp -m tcp --tcp-flags SYN,ACK SYN,ACK -j ACCEPT\n"
                 "iptables -t raw -P OUTPUT DROP\n"
                 "ip6tables -t raw -A PREROUTING -p udp --dport 53 -j NOTRACK\n")
    rs = load_rules([str(p)])
    assert len(rs.modelled) == 5
    b = empty_batch(6)
    b["l3"] = [4, 4, 4, 4, 6, 4]
    b["proto"] = [6, 6, 6, 6, 17, 17]
    b["tcpflags"] = [0x02, 0x12, 0x02, 0x10, 0, 0]
    b["dport"] = [443, 443, 80, 443, 53, 53]
    b["ifindex"] = 1
    b["route"] = [ROUTE_LOCAL_IN] * 5 + [ROUTE_LOCAL_OUT]
    rs.apply(b, {1: "eth0"})
    assert b["rule"].tolist() == [RULE_NOTRACK, RULE_NONE, RULE_NONE, RULE_NONE, RULE_NOTRACK, RULE_DROP]


def test_goto_returns_to_the_callers_caller(tmp_path):
    p = tmp_path / "goto.save"
    p.write_text(RAW_GOTO)
    rs = load_rules([str(p)])
    b = pkts(dict(proto=17, dport=53), dict(proto=17, dport=54), dict(proto=6, dport=53))
    rs.apply(b, {})
    # udp/53: goto A, A falls off -> back to PREROUTING's caller (the policy): the
    # NOTRACK after the goto is skipped; udp/54: jump B returns, NOTRACK applies
    assert b["rule"].tolist() == [RULE_NONE, RULE_NOTRACK, RULE_NONE]


RAW_GOTO = """*raw
:PREROUTING ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:A - [0:0]
:B - [0:0]
-A PREROUTING -p udp -m udp --dport 53 -g A
-A PREROUTING -p udp -m udp --dport 54 -j B
-A PREROUTING -p udp -j NOTRACK
-A A -p tcp -j DROP
-A B -p tcp -j DROP
COMMIT
"""


def test_iptables_nft_listing_deduplicated_against_iptables_save(tmp_path):
    """On an iptables-nft host 'nft list ruleset' shows the iptables tables again
    (fixture dumped from a namespace); given with the iptables-save dump, each rule is
    modelled once.  Alone, the listing models the same verdicts, except for xt
    extensions nft cannot show (here '-j CT --zone 6' -> 'xt target CT')."""
    nft, save, save6 = (str(DATA / f) for f in ("iptables-nft-host.nft", "iptables-nft-host.save",
                                                 "iptables-nft-host6.save"))
    both = load_rules([nft, save], [save6])
    only = load_rules([save], [save6])
    assert len(both.modelled) == len(only.modelled) == 29
    assert len(both.conntrack_users()) == len(only.conntrack_users())
    assert sum("iptables-nft's copy" in n for n in both.notes) == 4
    with pytest.raises(InputError) as ei:
        load_rules([nft])
    assert "'xt target CT'" in ei.value.message and "iptables-save" in ei.value.message
    assert ei.value.where == f"{nft}:14"
    # without the untranslatable rule, the listing alone gives the iptables-save verdicts
    lines = Path(nft).read_text().splitlines()
    assert "xt target CT" in lines[13]
    stripped = tmp_path / "listing.nft"
    stripped.write_text("\n".join(lines[:13] + lines[14:]) + "\n")
    save_wo = tmp_path / "save"
    save_wo.write_text("".join(l for l in Path(save).read_text().splitlines(True) if "--zone 6" not in l))
    a, b = load_rules([str(stripped)]), load_rules([str(save_wo)], [save6])
    specs = CALICO_SPECS + [dict(dst="172.17.0.2", ifindex=1), dict(dport=81), dict(dport=81, route=ROUTE_LOCAL_OUT),
                            dict(src="2001:db8::1", dst="2001:db8::2", proto=17, dport=53),
                            dict(dst="169.254.20.10", proto=17, dport=53, ifindex=2)]
    x, y = pkts(*specs), pkts(*specs)
    a.apply(x, IFN)
    b.apply(y, IFN)
    assert x["rule"].tolist() == y["rule"].tolist()
    assert (x["rule"] == RULE_NOTRACK).sum() == 5 and (x["rule"] == RULE_DROP).sum() == 1
