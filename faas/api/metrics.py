"""GET /metrics: the node's metrics in the Prometheus text format, for a scraper holding a key (or a bearer
token) allowed faas:GetMetrics and nothing else; and the middleware that counts API requests for it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from faas.api.auth import operation
from faas.api.body import OPERATION
from faas.api.context import services
from faas.errors import ResourceNotFound
from faas.metrics import CONTENT_TYPE, Metrics

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _metrics_arn(request: web.Request) -> str:
    settings = services(request).settings
    return f"arn:aws:faas:{settings.region}:{settings.account_id}:metrics"


@operation("faas:GetMetrics", audited=False, resource=_metrics_arn)
async def metrics(request: web.Request) -> web.Response:
    service = services(request).metrics
    if service is None:
        raise ResourceNotFound("Metrics are off on this node (FAAS_METRICS_ENABLED=false)")
    return web.Response(body=await service.exposition(), headers={"Content-Type": CONTENT_TYPE})


def counted(metrics: Metrics):  # type: ignore[no-untyped-def]
    """Middleware, outermost: every request by the operation the guard (or a source's middleware) named,
    and the status it left with, errors included."""

    @web.middleware
    async def count(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            metrics.api_request(request.get(OPERATION, "none"), exc.status)
            raise
        metrics.api_request(request.get(OPERATION, "none"), response.status)
        return response

    return count


def add_routes(app: web.Application) -> None:
    app.router.add_get("/metrics", metrics)
