# syntax=docker/dockerfile:1
# The image of the collector CronJob and the dashboard Deployment (deploy/, docs/deploy.md):
#   docker build -t registry.example.com/platform/capacity:0.1.0 .
#   docker run --rm -e CAPACITY_DATABASE_URL=postgresql://... IMAGE db upgrade
# It runs as UID 10001 and needs nothing writable but /tmp (HOME), so it runs with a
# read-only root filesystem.

ARG PYTHON_IMAGE=python:3.11-slim

# Build: the project and every runtime dependency as wheels (no dev extras), at the versions
# CI tested (constraints.txt).
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md constraints.txt ./
COPY capacity/ capacity/
COPY collectors/ collectors/
COPY dashboard/ dashboard/
RUN pip wheel --constraint constraints.txt --wheel-dir /wheels .

# Runtime: the wheels installed offline from the build stage; no compiler, no source tree,
# no pip cache. The wheels are bind-mounted, so they are not a layer of the image.
FROM ${PYTHON_IMAGE}
RUN groupadd --gid 10001 capacity \
 && useradd --uid 10001 --gid 10001 --home-dir /nonexistent --no-create-home \
        --shell /usr/sbin/nologin capacity \
 && install -d -o 10001 -g 10001 /data
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links=/wheels --root-user-action=ignore capacity
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    STREAMLIT_SERVER_HEADLESS=true \
    STREAMLIT_BROWSER_GATHER_USAGE_STATS=false \
    STREAMLIT_SERVER_FILE_WATCHER_TYPE=none
# The default SQLite file (no CAPACITY_DATABASE_URL) lands here: mount a volume on it.
WORKDIR /data
USER 10001:10001
EXPOSE 8501
ENTRYPOINT ["capacity"]
CMD ["--help"]
