"""The common routes (see common.py) as Django views."""

from __future__ import annotations

import json

from django.http import FileResponse, HttpResponse, HttpResponseRedirect, JsonResponse, StreamingHttpResponse
from django.urls import reverse

import common

FRAMEWORK = "django"


def index(request):
    return HttpResponse(f"index {FRAMEWORK}", content_type="text/plain")


def item(request, item_id: int, name: str):
    resp = JsonResponse({"item_id": item_id, "name": name, "q": request.GET.getlist("q")})
    resp["X-Framework"] = FRAMEWORK
    return resp


def form(request):
    return JsonResponse({key: request.POST.getlist(key) for key in request.POST})


def json_post(request):
    return JsonResponse({"received": json.loads(request.body), "framework": FRAMEWORK}, status=201)


def cookies_set(request):
    resp = HttpResponse("cookies set", content_type="text/plain")
    resp.set_cookie("session", "abc123", httponly=True, samesite="Lax")
    resp.set_cookie("theme", "dark", path="/")
    return resp


def cookies_read(request):
    return JsonResponse(dict(request.COOKIES))


def to_elsewhere(request):
    return HttpResponseRedirect(common.REDIRECT_TARGET)


def upload(request):
    f = request.FILES["file"]
    return JsonResponse(common.upload_summary(f.name, f.read(), f.content_type, request.POST["note"]))


def stream(request):
    n, size = int(request.GET.get("n", 5)), int(request.GET.get("size", 100))
    resp = StreamingHttpResponse(common.stream_pieces(n, size), content_type="text/plain")
    resp["X-Streamed"] = "yes"
    return resp


def file(request):
    return FileResponse(open(common.FILE_PATH, "rb"))


def info(request):
    return JsonResponse({"method": request.method, "path": request.path_info,
                         "query": request.META.get("QUERY_STRING", ""),
                         "root_path": request.META.get("SCRIPT_NAME", ""),
                         "scheme": request.scheme, "host": request.get_host(),
                         "link": reverse("item", kwargs={"item_id": 3, "name": "n"})})
