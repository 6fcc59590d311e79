from django.urls import path
from django.views.decorators.http import require_safe, require_POST

from . import views

urlpatterns = [
    path("", require_safe(views.index)),
    path("items/<int:item_id>/<str:name>", require_safe(views.item), name="item"),
    path("form", require_POST(views.form)),
    path("json", require_POST(views.json_post)),
    path("cookies/set", require_safe(views.cookies_set)),
    path("cookies/read", require_safe(views.cookies_read)),
    path("redirect", require_safe(views.to_elsewhere)),
    path("upload", require_POST(views.upload)),
    path("stream", require_safe(views.stream)),
    path("info", require_safe(views.info)),
    path("file", require_safe(views.file)),
]
