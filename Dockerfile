FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends gettext \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --system --home /app lwsmail

COPY pyproject.toml README.md ./
COPY lwsmail lwsmail
COPY abuse abuse
COPY tracking tracking
RUN pip install .
COPY . .
# collectstatic needs settings that import; the real key comes from the environment at run time.
RUN DJANGO_SECRET_KEY=build-only-not-secret python manage.py collectstatic --noinput \
    && DJANGO_SECRET_KEY=build-only-not-secret python manage.py compilemessages

USER lwsmail
EXPOSE 8000
CMD ["gunicorn", "lwsmail.wsgi", "--config", "gunicorn.conf.py", "--bind", "0.0.0.0:8000"]
