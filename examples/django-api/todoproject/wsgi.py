"""WSGI entry point: `gunicorn --bind 127.0.0.1:8000 todoproject.wsgi`."""
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "todoproject.settings")
application = get_wsgi_application()
