#!/usr/bin/env bash
# Install a pgqueue worker service on a systemd host, as root:
#
#   sudo deploy/systemd/install.sh                   # noetl-pgqueue from PyPI
#   sudo deploy/systemd/install.sh ./dist/noetl_pgqueue-0.1.0-py3-none-any.whl
#   sudo deploy/systemd/install.sh /path/to/checkout # or a checkout
#
# It makes (and on a second run keeps, upgrading the package):
#   - the system user `pgqueue` (no login shell);
#   - a virtualenv at /opt/pgqueue with the package, so the unit's ExecStart,
#     /opt/pgqueue/bin/pgqueue, exists;
#   - /srv/pgqueue, the worker's working directory: put your tools module there
#     (`--tools mytools`, or PGQUEUE_TOOLS=mytools, imports it from there);
#   - /etc/pgqueue/worker.env (mode 0600, root's), the worker's settings: a
#     template on the first run, never overwritten;
#   - the unit, /etc/systemd/system/pgqueue-worker@.service.
# Then: edit /etc/pgqueue/worker.env, `systemctl enable --now pgqueue-worker@1`.
set -euo pipefail

package="${1:-noetl-pgqueue}"
here="$(cd "$(dirname "$0")" && pwd)"
prefix=/opt/pgqueue
python="${PYTHON:-python3}"

if [ "$(id -u)" -ne 0 ]; then
    echo "install.sh: run it as root (it makes a system user and writes /opt, /srv, /etc)" >&2
    exit 2
fi

# the user the unit runs as
if ! id pgqueue >/dev/null 2>&1; then
    useradd --system --home-dir /srv/pgqueue --no-create-home --shell /usr/sbin/nologin pgqueue
fi

# the virtualenv the unit's ExecStart points at
"$python" -m venv "$prefix"
"$prefix/bin/pip" install --quiet --upgrade pip
"$prefix/bin/pip" install --quiet --upgrade "$package"

# the tools' place: the unit's WorkingDirectory, on the worker's import path
install -d -o pgqueue -g pgqueue -m 0750 /srv/pgqueue

# the settings: secrets in here, so root's and 0600 (systemd reads it as root)
install -d -m 0755 /etc/pgqueue
if [ ! -e /etc/pgqueue/worker.env ]; then
    install -m 0600 /dev/null /etc/pgqueue/worker.env
    cat > /etc/pgqueue/worker.env <<'ENV'
# pgqueue worker settings: every flag has its PGQUEUE_* variable (README: configuration)
PGQUEUE_DSN=postgresql://worker@db.internal/noetl
# your tools module, in /srv/pgqueue
#PGQUEUE_TOOLS=mytools
PGQUEUE_CONCURRENCY=10
#PGQUEUE_METRICS_PORT=9100
ENV
fi

install -m 0644 "$here/pgqueue-worker@.service" /etc/systemd/system/pgqueue-worker@.service
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload
fi

echo "installed $("$prefix/bin/pgqueue" --version) at $prefix"
echo "next: edit /etc/pgqueue/worker.env, put your tools in /srv/pgqueue, then"
echo "      systemctl enable --now pgqueue-worker@1"
