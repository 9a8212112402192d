"""The shared objects every door uses, built once per app.

Handlers are module-level functions: they find these on ``request.app.state``
(``services_of(request)``), where ``gateway.app`` puts them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from starlette.requests import HTTPConnection

from gateway.auth import ClientAuth, ReviewerAuth
from gateway.config.root import Config
from gateway.events.fanout import Events
from gateway.forward.owners import ForwardedResponses
from gateway.forward.upstream import Upstream
from gateway.human.queue import TaskQueue
from gateway.human.service import HumanService
from gateway.human.stats import Stats
from gateway.human.thumbs import Thumbnails
from gateway.hybrid.service import HybridService
from gateway.metrics import Metrics
from gateway.routing import Router


@dataclass
class Services:
    config: Config
    upstreams: dict[str, Upstream]
    router: Router
    client_auth: ClientAuth
    reviewer_auth: ReviewerAuth
    events: Events
    metrics: Metrics
    queue: TaskQueue
    human: HumanService
    hybrid: HybridService
    stats: Stats
    forwarded: ForwardedResponses
    # Reduced screenshots for the dashboard (an LRU cache per app).
    thumbnails: Thumbnails = field(default_factory=Thumbnails)


def services_of(request: HTTPConnection) -> Services:
    """The app's shared objects, for a handler."""
    services: Services = request.app.state.services
    return services
