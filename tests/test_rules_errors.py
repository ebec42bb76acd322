"""Bad input: one InputError naming file:line and the rule; unsupported expressions
are errors only inside modelled (raw, pre-conntrack) chains."""
from __future__ import annotations

import pytest

from ctscope.errors import InputError
from ctscope.packets.record import empty_batch
from ctscope.rules import load_rules

RAW_HEAD = "*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"


def load_text(tmp_path, text, name="r.rules", **kw):
    p = tmp_path / name
    p.write_text(text)
    return load_rules([str(p)], **kw), str(p)


@pytest.mark.parametrize("rule, expr", [
    ("-A PREROUTING -p tcp -m limit --limit 5/sec -j NOTRACK", "-m limit"),
    ("-A PREROUTING -p tcp -m tcp --dport 80 -j SET --add-set x src", "-j SET"),
    ("-A PREROUTING -m multiport --dports 80,81 -j NOTRACK", "--dports without -p"),
    ("-A OUTPUT -p tcp -m tcp --tcp-option 8 -j NOTRACK", "--tcp-option"),
    ("-A PREROUTING -s not-an-address -j DROP", "-s not-an-address"),
    ("-A PREROUTING -p tcp -j CT --zone-reply 4", "--zone-reply"),
])
def test_iptables_unsupported_in_raw_is_an_error(tmp_path, rule, expr):
    text = RAW_HEAD + "# a comment\n" + rule + "\nCOMMIT\n"
    with pytest.raises(InputError) as ei:
        load_text(tmp_path, text)
    err = ei.value
    assert err.where == f"{tmp_path / 'r.rules'}:5"
    assert f"unsupported expression '{expr}" in err.message
    assert err.message.endswith(f"in rule: {rule}")
    assert str(err).startswith(f"{tmp_path / 'r.rules'}:5: unsupported expression")


def test_same_expression_outside_raw_is_listed(tmp_path):
    rule = "-A INPUT -p tcp -m limit --limit 5/sec -j ACCEPT"
    rs, path = load_text(tmp_path, "*filter\n:INPUT ACCEPT [0:0]\n" + rule + "\nCOMMIT\n")
    assert rs.modelled == [] and rs.not_modelled == [f"{path}:3: [iptables -t filter INPUT] {rule}"]


@pytest.mark.parametrize("rule, expr", [
    ("limit rate 10/second notrack", "limit"),
    ("ip daddr . tcp dport @svc notrack", "."),
    ("tcp dport vmap { 80 : accept }", "vmap"),
    ("meta skuid 0 notrack", "meta skuid"),
    ("ct mark 0x1 notrack", "ct mark"),
    ("tcp dport 80 notrack accept drop", "drop (after the verdict)"),
])
def test_nft_unsupported_in_raw_chain_is_an_error(tmp_path, rule, expr):
    text = ("table inet t {\n set svc { type ipv4_addr . inet_service; }\n"
            " chain pre {\n  type filter hook prerouting priority raw; policy accept;\n"
            f"  {rule}\n }}\n}}\n")
    with pytest.raises(InputError) as ei:
        load_text(tmp_path, text, "r.nft")
    assert ei.value.where == f"{tmp_path / 'r.nft'}:5"
    assert f"unsupported expression '{expr}" in ei.value.message
    assert ei.value.message.endswith(f"in rule: {rule}")


def test_nft_unsupported_in_user_chain_reached_from_raw(tmp_path):
    text = ("table ip t {\n chain pre { type filter hook prerouting priority -300; jump sub; }\n"
            " chain sub {\n  udp dport 53 limit rate 1/second notrack\n }\n"
            " chain unrelated {\n  udp dport 53 limit rate 1/second accept\n }\n}\n")
    with pytest.raises(InputError) as ei:
        load_text(tmp_path, text, "r.nft")
    assert ei.value.where.endswith("r.nft:4")


def test_nft_unreached_user_chain_and_late_priority_are_not_modelled(tmp_path):
    text = ("table ip t {\n chain pre { type filter hook prerouting priority -200; limit rate 1/second notrack; }\n"
            " chain unrelated {\n  udp dport 53 limit rate 1/second accept\n }\n}\n"
            "table netdev n {\n chain ing { type filter hook ingress device \"eth0\" priority -500; drop; }\n}\n")
    rs, _ = load_text(tmp_path, text, "r.nft")
    assert rs.modelled == [] and len(rs.not_modelled) == 3


def test_missing_ipset(tmp_path):
    with pytest.raises(InputError) as ei:
        load_text(tmp_path, RAW_HEAD + "-A PREROUTING -m set --match-set nope src -j NOTRACK\nCOMMIT\n")
    assert "--ipset FILE" in ei.value.message and ei.value.where.endswith(":4")


def test_bad_ipset_file(tmp_path):
    p = tmp_path / "s.ipset"
    p.write_text("create a hash:ip family inet\nadd b 1.2.3.4\n")
    with pytest.raises(InputError) as ei:
        load_rules([], ipset_paths=[str(p)])
    assert ei.value.where == f"{p}:2"


def test_chain_loop(tmp_path):
    text = RAW_HEAD + ":a - [0:0]\n:b - [0:0]\n-A PREROUTING -j a\n-A a -j b\n-A b -j a\nCOMMIT\n"
    with pytest.raises(InputError) as ei:
        load_text(tmp_path, text)
    assert "chain loop" in ei.value.message


def test_not_a_ruleset(tmp_path):
    with pytest.raises(InputError) as ei:
        load_text(tmp_path, "hello world\n")
    assert ei.value.where.endswith("r.rules:1")


def test_unreadable_file(tmp_path):
    with pytest.raises(InputError):
        load_rules([str(tmp_path / "missing.rules")])


def test_nft_syntax_error_names_line(tmp_path):
    with pytest.raises(InputError) as ei:
        load_text(tmp_path, "table ip t {\n chain c {\n  type filter hook prerouting priority raw;\n  udp dport 53 notrack\n", "r.nft")
    assert "r.nft" in str(ei.value)


def test_interface_needed_only_for_packets_reaching_the_rule(tmp_path):
    rs, path = load_text(tmp_path, RAW_HEAD + "-A PREROUTING -p udp -j ACCEPT\n-A PREROUTING -i eth0 -j DROP\nCOMMIT\n")
    assert rs.needs_interfaces
    b = empty_batch(2)
    b["l3"] = 4
    b["proto"] = 17
    b["ifindex"] = 9
    rs.apply(b, {})            # udp packets are accepted before the -i rule: no name needed
    b["proto"] = 6
    with pytest.raises(InputError) as ei:
        rs.apply(b, {})
    assert ei.value.where == f"{path}:5" and "--iface NAME" in ei.value.message


def test_unknown_chain_target(tmp_path):
    with pytest.raises(InputError) as ei:
        load_text(tmp_path, RAW_HEAD + "-A PREROUTING -j NOPE\nCOMMIT\n")
    assert "'-j NOPE'" in ei.value.message
