"""Shared library of the prodcat platform.

It has no entrypoints: the stages live in their own workspace members."""

__version__ = "0.1.0"
