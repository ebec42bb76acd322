"""Raw-table rules: which packets are untracked, dropped or zoned before conntrack.

``load_rules(paths4, paths6, ipset_paths)`` reads nft rulesets, iptables-save /
ip6tables-save files (or scripts of iptables commands) and ipset save files;
``RuleSet.apply(batch, ifnames)`` sets ``batch['rule']``/``batch['zone']``
vectorised over a PKT_DTYPE batch.  ``emit_nft_notrack`` / ``emit_iptables_notrack``
write NOTRACK remedies that load back.
"""
from .emit import NotrackMatch, emit_iptables_notrack, emit_nft_notrack
from .ruleset import ConntrackUse, RuleSet, load_rules

__all__ = ["load_rules", "RuleSet", "ConntrackUse", "NotrackMatch", "emit_nft_notrack",
           "emit_iptables_notrack"]
