from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from infra.health import get_health


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "home.html")


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """200 while Redis answers; 503 with the reason while the site runs on its fallback.

    Anonymous load balancers call this, so it shows state, never key names or values; Redis addresses (the
    current master and replicas) only to staff, counts to everyone.
    """
    report = get_health()
    body = {k: report[k] for k in ("status", "storage", "ping_ms", "reason", "checked_at") if k in report}
    topology = report["redis_topology"]
    if request.user.is_staff:
        body["redis_topology"] = topology
    else:
        body["redis_topology"] = {
            "mode": topology.get("mode"),
            "master": "up" if topology.get("master") and "down" not in topology.get("master_flags", "") else "unknown",
            "replicas": len(topology.get("replicas", [])),
            **({"sentinels_ok": topology["sentinels_ok"]} if "sentinels_ok" in topology else {}),
        }
    return JsonResponse(body, status=200 if report["status"] == "ok" else 503)
