"""ctscope: Linux nf_conntrack in userspace -- replay, plan, diagnose, verify."""
__version__ = "0.1.0"
