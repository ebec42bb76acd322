"""Fuzz harnesses for ctscope's parsers (see fuzz/README.md)."""
