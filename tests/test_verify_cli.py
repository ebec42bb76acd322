"""``ctscope verify`` option handling (no kernel needed: all these stop before the harness)."""
from __future__ import annotations

import pytest

from ctscope.cli import main
from ctscope.craft import Scenario, eth, ipv4, udp, write_pcap


@pytest.fixture(autouse=True)
def as_root_with_fixed_limits(monkeypatch):
    """These checks come before any kernel work: pretend to be root, fix the limits."""
    monkeypatch.setattr("os.geteuid", lambda: 0)
    monkeypatch.setattr("ctscope.verify.engine.host_limits",
                        lambda: {"nf_conntrack_max": 262144, "nf_conntrack_buckets": 262144})


@pytest.fixture()
def pcap(tmp_path):
    p = tmp_path / "c.pcap"
    write_pcap(Scenario("x", frames=[(0.0, None, eth(ipv4("198.18.0.1", "198.19.0.1", udp(1, 2, b"q"))))]), str(p))
    return str(p)


@pytest.mark.parametrize("args,msg", [
    (["--set", "nf_conntrack_max=1000"], "nf_conntrack_max is global"),
    (["--set", "net.netfilter.nf_conntrack_buckets=1024"], "is global"),
    (["--local", "198.18.0.1"], "--local"),
    (["--ipset", "x"], "--ipset"),
    (["--iface", "eth0"], "c0 (client side)"),
    (["--max-gap", "0"], "--max-gap"),
    (["--set", "nf_conntrack_udp_timeout=abc"], "not an integer"),
])
def test_options_verify_cannot_honour_are_one_line_errors(pcap, args, msg, capsys):
    assert main(["verify", pcap, *args]) == 2
    err = capsys.readouterr().err.strip()
    assert msg in err and len(err.splitlines()) == 1


def test_without_root_one_clear_line_and_exit_2(pcap, monkeypatch, capsys):
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    assert main(["verify", pcap, "--set", "nf_conntrack_udp_timeout=20"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "needs root" in err[0]


def test_rules_files_are_sorted_into_nft_and_iptables(tmp_path, monkeypatch):
    from ctscope.cli import build_parser
    from ctscope.commands.verify import _config
    nft = tmp_path / "r.nft"
    nft.write_text("flush ruleset\ntable inet t {\n chain c {\n  type filter hook prerouting priority raw;\n"
                   "  udp dport 53 notrack\n }\n}\n")
    ipt = tmp_path / "r.ipt"
    ipt.write_text("*raw\n-A PREROUTING -p udp --dport 5353 -j NOTRACK\nCOMMIT\n")
    args = build_parser().parse_args(["verify", "x.pcap", "--rules", str(nft), "--rules", str(ipt),
                                      "--set", "nf_conntrack_tcp_loose=0", "--max-gap", "0.5"])
    config, limits = _config(args)
    assert "flush ruleset" not in config.nft_ruleset and "udp dport 53 notrack" in config.nft_ruleset
    assert config.rules_ipt4.startswith("*raw") and config.rules_ipt6 is None
    assert dict(config.settings) == {"nf_conntrack_tcp_loose": 0}
    assert config.realtime and config.max_gap == 0.5 and limits["nf_conntrack_max"] == 262144
    rules = config.engine_rules()
    assert len(rules.modelled) == 2
