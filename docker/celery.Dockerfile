# syntax=docker/dockerfile:1
# The SideTrack image plus the `celery` extra (dagster-celery with the Redis client): what the
# Celery workers and the user-code container (where a Celery run is orchestrated) run in
# docker/compose.celery.yaml. Built on top of the `sidetrack` target of docker/Dockerfile, so
# build that one first:
#
#   docker compose --env-file .env -f docker/compose.yaml build
#   docker compose --env-file .env -f docker/compose.yaml -f docker/compose.celery.yaml build
#
# (or: docker build -f docker/celery.Dockerfile --build-arg SIDETRACK_IMAGE=sidetrack:TAG -t sidetrack:TAG-celery .)
ARG SIDETRACK_IMAGE=sidetrack:0.1.0
# (the stage is named like the base image's target, which compose.celery.yaml keeps)
FROM ${SIDETRACK_IMAGE} AS sidetrack
USER 0:0
# The same editable install as the base image, with the extra; constraints.txt pins what it adds
# and keeps everything else where it is.
RUN pip install --no-cache-dir -c constraints.txt -e '.[models,celery]'
USER 10001:10001
CMD ["dagster-celery", "worker", "start", "-A", "dagster_celery.app", "-y", "/opt/dagster/celery.yaml", "-n", "worker", "--", "--pool", "solo"]
