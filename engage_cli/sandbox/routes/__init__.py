"""One module per resource; each exports ROUTES, and ALL_ROUTES is what the app serves."""

from __future__ import annotations

from engage_cli.sandbox.routes import accounts, batch, events, lists, posthog, users
from engage_cli.sandbox.web import Route

__all__ = ["ALL_ROUTES"]

ALL_ROUTES: tuple[Route, ...] = (
    *users.ROUTES,
    *events.ROUTES,
    *accounts.ROUTES,
    *lists.ROUTES,
    *batch.ROUTES,
    *posthog.ROUTES,
)
