"""Helpers for the end-to-end suite: start/stop a real server, talk AdCP to it, check schemas."""
