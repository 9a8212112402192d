"""The shared objects every door uses, built once per app."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.auth import ClientAuth, ReviewerAuth
from gateway.config import Config
from gateway.events.fanout import Events
from gateway.forward.owners import ForwardedResponses
from gateway.forward.upstream import Upstream
from gateway.human.queue import TaskQueue
from gateway.human.service import HumanService
from gateway.human.stats import Stats
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
