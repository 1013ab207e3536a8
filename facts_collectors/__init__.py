"""Collectors: turn node state (a facts dump, and later live nodes and bundles) into facts.

Collectors know formats and file layouts, never rules or causes.
"""
