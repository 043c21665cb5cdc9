# BPO Ledger: one image for web (gunicorn), worker and beat (Celery).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_ENV=production

# Shared libraries WeasyPrint needs at run time (PDF rendering).
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        libpango-1.0-0 \
        libpangoft2-1.0-0 \
        libharfbuzz0b \
        libffi8 \
        fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*

RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin app

WORKDIR /app

# Dependencies first, so code changes do not reinstall them.
COPY requirements.txt ./
RUN pip install -r requirements.txt

# The code stays owned by root (read-only for the app user); only var/ is writable.
COPY . .
RUN chmod 0755 docker/entrypoint.sh \
    && mkdir -p var/static var/media \
    && chown -R app:app var

USER app

# Collect static files into the image so every container (web, worker, beat) has the
# manifest that CompressedManifestStaticFilesStorage needs. The keys below exist only for
# this build step; they are not stored in the image and real ones come from the environment.
RUN DJANGO_SECRET_KEY=build-only-not-a-secret \
    LOOKUP_HASH_KEY=build-only-not-a-secret \
    FIELD_ENCRYPTION_KEYS="$(python -c 'import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())')" \
    python manage.py collectstatic --noinput --verbosity 0

EXPOSE 8000

ENTRYPOINT ["/app/docker/entrypoint.sh"]
CMD ["gunicorn", "config.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", \
     "--worker-tmp-dir", "/dev/shm", "--access-logfile", "-"]
