# A runnable pgqueue worker image.
#
#   docker build -t noetl-pgqueue .
#   docker run --rm -e PGQUEUE_DSN=postgresql://worker@db/noetl noetl-pgqueue worker --tools mytools
#
# What the image relies on comes from environment variables (every worker flag
# has its PGQUEUE_* variable), so a command line of your own keeps it: the
# metrics port above is PGQUEUE_METRICS_PORT, not a flag in CMD.
#
# Your tools: build FROM this image and copy your module in (WORKDIR is on the
# import path), or mount it at /app.

# -- build: the wheel, and nothing else from the checkout --------------------------------
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY pgqueue ./pgqueue
# pgqueue-wheel: the same command tests/acceptance/test_deploy.py runs
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

# -- run: the wheel and its dependencies, as a user without privileges ------------------
FROM python:3.11-slim
# a numeric user: Kubernetes' runAsNonRoot can only check a numeric USER
RUN groupadd --system --gid 10001 pgqueue \
    && useradd --system --uid 10001 --gid 10001 --home-dir /app --create-home pgqueue
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER 10001:10001
WORKDIR /app
# SIGTERM drains: running commands get --grace, the rest go back at once
STOPSIGNAL SIGTERM
ENV PGQUEUE_METRICS_PORT=9100
EXPOSE 9100
ENTRYPOINT ["pgqueue"]
CMD ["worker"]
