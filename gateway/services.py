"""The shared objects every door uses, built once per app."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.auth import ClientAuth, ReviewerAuth
from gateway.config import Config
from gateway.events import Events
from gateway.human.queue import TaskQueue
from gateway.human.serve import HumanService
from gateway.hybrid import HybridService
from gateway.metrics import Metrics
from gateway.routing import Router
from gateway.stats import Stats
from gateway.upstream import Upstream


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
