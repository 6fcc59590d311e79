"""WSGI entry point, as ``django-admin startproject`` writes it, inside wsgiref's validator (wsgi_check.py)."""

import os

from django.core.wsgi import get_wsgi_application

from wsgi_check import validated

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "djproject.settings")

application = validated(get_wsgi_application())
