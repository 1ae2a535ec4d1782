# hunt worker image: `docker build -t hunt:0.1.0 .`
#
# Two stages: `build` installs hunt and its dependencies into a virtualenv;
# the runtime stage copies only that virtualenv onto the same slim base, so no
# compiler, pip cache, tests or broker (the local Kafka of `hunt broker` is for
# development only) reach the image. The base is pinned to a patch release;
# pin it further by digest in your registry mirror (see docs/deploy.md).

FROM python:3.11.14-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY pyproject.toml README.md constraints.txt ./
COPY hunt ./hunt
# Every dependency at the exact version in constraints.txt, as `make install` and CI
# install it; the worker refuses to start on other Faust/mode/aiokafka/rocksdict versions.
# hadolint ignore=DL3013
RUN pip install --no-cache-dir -c constraints.txt pip \
 && pip install --no-cache-dir -c constraints.txt . \
 && python -m compileall -q /opt/venv

FROM python:3.11.14-slim-bookworm AS runtime
# A fixed numeric uid/gid (> 10000) so Kubernetes' runAsNonRoot can verify it.
RUN groupadd --system --gid 10001 hunt \
 && useradd --system --uid 10001 --gid 10001 --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin hunt \
 && mkdir -p /var/lib/hunt \
 && chown 10001:10001 /var/lib/hunt
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HUNT_DATA_DIR=/var/lib/hunt \
    HUNT_WEB_HOST=0.0.0.0 \
    HUNT_WEB_PORT=6066
USER 10001:10001
WORKDIR /var/lib/hunt
EXPOSE 6066
# `hunt worker` runs as PID 1 and handles SIGTERM itself (commit, flush, close
# stores); it starts no child processes, so no init is needed to reap zombies.
STOPSIGNAL SIGTERM
ENTRYPOINT ["hunt"]
CMD ["worker"]
