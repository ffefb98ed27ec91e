"""The `dpseg` command. Importing it must not import torch (see tests/cli/test_help.py)."""
