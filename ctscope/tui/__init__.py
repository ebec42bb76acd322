"""Terminal user interfaces (textual): ``top.TopApp`` for ``ctscope top``."""
