"""Widgets of the tsmon TUI."""
