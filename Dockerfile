# A runnable pgqueue worker image.
#
#   docker build -t pgqueue .
#   docker run --rm -e PGQUEUE_DSN=postgresql://worker@db/noetl pgqueue worker --tools mytools
#
# Your tools: build FROM this image and copy your module in (WORKDIR is on the
# import path), or mount it at /app.

# -- build: the wheel, and nothing else from the checkout --------------------------------
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY pgqueue ./pgqueue
# pgqueue-wheel: the same command tests/acceptance/test_deploy.py runs
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

# -- run: the wheel and its dependencies, as a user without privileges ------------------
FROM python:3.11-slim
RUN useradd --system --uid 10001 --home-dir /app --create-home pgqueue
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER pgqueue
WORKDIR /app
# SIGTERM drains: running commands get --grace, the rest go back at once
STOPSIGNAL SIGTERM
EXPOSE 9100
ENTRYPOINT ["pgqueue"]
CMD ["worker", "--metrics-port", "9100"]
