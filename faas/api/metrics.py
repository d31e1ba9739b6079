"""GET /metrics: the node's metrics in the Prometheus text format, for a scraper holding a key (or a bearer
token) allowed faas:GetMetrics and nothing else; and the count of API requests by operation and status."""

from __future__ import annotations

from aiohttp import web

from faas.api.auth import operation
from faas.api.body import OPERATION
from faas.api.context import services
from faas.errors import ResourceNotFound
from faas.metrics import CONTENT_TYPE, Metrics


def _metrics_arn(request: web.Request) -> str:
    settings = services(request).settings
    return f"arn:aws:faas:{settings.region}:{settings.account_id}:metrics"


@operation("faas:GetMetrics", audited=False, resource=_metrics_arn)
async def metrics(request: web.Request) -> web.Response:
    service = services(request).metrics
    if service is None:
        raise ResourceNotFound("Metrics are off on this node (FAAS_METRICS_ENABLED=false)")
    return web.Response(body=await service.exposition(), headers={"Content-Type": CONTENT_TYPE})


def count_requests(app: web.Application, metrics: Metrics) -> None:
    """Count every response as it is sent, errors included, by the operation the guard (or a source's
    middleware) named and its status: a response signal rather than one more middleware, which costs
    every request a layer of calls (measured in docs/BENCHMARKS.md)."""

    async def count(request: web.Request, response: web.StreamResponse) -> None:
        metrics.api_request(request.get(OPERATION, "none"), response.status)

    app.on_response_prepare.append(count)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/metrics", metrics)
