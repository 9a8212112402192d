"""Model name -> route. Every configured name is resolved once, at start-up."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.config.errors import ConfigError
from gateway.config.models import HUMAN_MODEL, HYBRID_SUFFIX, ModelConfig
from gateway.config.root import Config
from gateway.forward.upstream import Target, Upstream
from gateway.human.work import HumanRoute
from gateway.hybrid.policy import Policy


@dataclass(frozen=True, slots=True)
class ForwardRoute:
    """Relay to an upstream, then to each fallback in turn."""

    chain: tuple[Target, ...]
    kind: str = "forward"


@dataclass(frozen=True, slots=True)
class HybridRoute:
    """Ask the model; bring a person in where the policy says so."""

    chain: tuple[Target, ...]
    human: HumanRoute
    policy: Policy
    kind: str = "hybrid"


Route = ForwardRoute | HumanRoute | HybridRoute


class Router:
    """Resolves the ``model`` a client sends to the route that serves it."""

    def __init__(self, config: Config, upstreams: dict[str, Upstream]) -> None:
        self._config = config
        self._upstreams = upstreams
        self._human = HumanRoute(config.human.timeout_s, config.human.keepalive_s)
        self._routes: dict[str, Route] = {}
        for name, model in config.models.items():
            self._routes[name] = self._build(name, model)
        # Composite names `X+human` and `X+human/human` for every forward model X.
        for name, model in config.models.items():
            if model.kind == "forward":
                for composite in (name + HYBRID_SUFFIX, f"{name}{HYBRID_SUFFIX}/{HUMAN_MODEL}"):
                    policy = Policy(ModelConfig(upstream=model.upstream, human="escalate"))
                    self._routes.setdefault(
                        composite, HybridRoute(self._chain(name, model), self._human, policy)
                    )
        self._routes.setdefault(HUMAN_MODEL, self._human)
        default = config.server.default_upstream
        # Requests that name no model (files, batches) go here; None: nowhere.
        self.default_upstream = upstreams[default] if default else None

    def resolve(self, model: str) -> Route | None:
        """The route for a model name, or ``None`` when nothing serves it."""
        route = self._routes.get(model)
        if route is None and model.startswith(HUMAN_MODEL + "/"):
            return self._human
        return route

    def names(self) -> list[str]:
        """The configured model names, as ``GET /v1/models`` lists them."""
        names = list(self._config.models)
        if HUMAN_MODEL not in names:
            names.append(HUMAN_MODEL)
        return names

    def routed_names(self) -> list[str]:
        """Every name that resolves to a route, composites included (bounded: for metrics)."""
        return list(self._routes)

    def _build(self, name: str, model: ModelConfig) -> Route:
        kind = model.kind
        if kind == "human":
            return self._human_route(model)
        if kind == "hybrid":
            try:
                policy = Policy(model)
            except (ImportError, ValueError) as exc:
                raise ConfigError(f"models.{name}.confidence: {exc}") from None
            return HybridRoute(self._chain(name, model), self._human_route(model), policy)
        return ForwardRoute(self._chain(name, model))

    def _human_route(self, model: ModelConfig) -> HumanRoute:
        return HumanRoute(
            model.timeout_s or self._human.timeout_s,
            model.keepalive_s or self._human.keepalive_s,
            tuple(model.reviewers),
            model.escalate_after_s,
            tuple(model.escalate_to),
        )

    def _chain(self, name: str, model: ModelConfig) -> tuple[Target, ...]:
        chain = [self._target(name, model)]
        for fallback in model.fallbacks:
            chain.append(self._target(fallback, self._config.models[fallback]))
        return tuple(chain)

    def _target(self, name: str, model: ModelConfig) -> Target:
        assert model.upstream is not None
        upstream_model = model.upstream_model or name.removesuffix(HYBRID_SUFFIX)
        return Target(name, self._upstreams[model.upstream], upstream_model)
