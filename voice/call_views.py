"""The JSON face of the calls statistic (the admin Voice sessions page and `active_calls` are the others)."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from .calls import calls_summary
from .statistics import CALLS
from .views import staff_json


@staff_json(CALLS)
@require_GET
def calls_json(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"success": True, **calls_summary()})
