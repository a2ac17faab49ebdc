"""Offline tools: bags, drives, the demo, pictures and plots."""
