"""gunicorn as deployed: the configuration `make bench-ingest` measures and the sizing in
docs/performance.md rests on. `gunicorn lwsmail.wsgi` run in this folder reads it by itself (the
Dockerfile names it); GUNICORN_CMD_ARGS changes any setting at run time, e.g.
GUNICORN_CMD_ARGS="--workers 4" on a host with more cores."""

# Threads, not sync workers: three sync workers spent more CPU per push than two
# processes of four threads (bench-ingest's push/scan ratio 0.75 and 0.73 against 0.83
# and 0.81, runs alternated), and a sync worker keeps no connection alive between
# Rspamd's pushes.
worker_class = "gthread"
workers = 2
threads = 4
accesslog = "-"
