"""The admin index as a dashboard (filled in by the operations-pages issue)."""

from __future__ import annotations


def environment_badge(request) -> list[str]:
    return ["primary + replicas", "info"]


def dashboard_callback(request, context: dict) -> dict:
    return context
