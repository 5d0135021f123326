"""Shared, dependency-free building blocks: types, errors, settings."""

from __future__ import annotations
