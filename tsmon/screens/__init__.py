"""Screens and tabs of the tsmon TUI."""
