#!/bin/sh
# Container entrypoint. With RUN_MIGRATIONS=1 (the web service only) it applies database
# migrations and collects static files first. Then it execs the command, which replaces
# this shell and so receives the stop signals directly.
set -eu

if [ "${RUN_MIGRATIONS:-0}" = "1" ]; then
    echo "entrypoint: applying database migrations"
    python manage.py migrate --noinput
    echo "entrypoint: collecting static files"
    python manage.py collectstatic --noinput --verbosity 1
fi

exec "$@"
