"""The peers the suite measures ctscope against; each runs as ``python -m bench.peers.NAME FILE``."""
