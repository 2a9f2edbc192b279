# annbench's base image: Python, the worker and what it needs (numpy, h5py, psutil,
# threadpoolctl). Each adapter's image starts from it and adds one library.
#
# BASE_IMAGE: any Debian-like image; python:3.11-slim by default. An image without python3
# (for example a debootstrap'd Debian) gets it from apt.
# extra-ca.crt: an extra CA bundle for pip, for networks behind a TLS-inspecting proxy;
# `annbench images build --ca-bundle FILE` puts it here (empty when not given).
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}
COPY extra-ca.crt /etc/annbench/extra-ca.crt
RUN set -eux; \
    if ! command -v python3 >/dev/null 2>&1; then \
        apt-get update; \
        apt-get install -y --no-install-recommends python3 python3-venv ca-certificates; \
        rm -rf /var/lib/apt/lists/*; \
    fi; \
    python3 -m venv /opt/venv; \
    if [ -s /etc/annbench/extra-ca.crt ]; then \
        /opt/venv/bin/pip config --global set global.cert /etc/annbench/extra-ca.crt; \
    fi
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HNSWLIB_NO_NATIVE=1
RUN pip install --no-cache-dir numpy h5py psutil threadpoolctl pyyaml
COPY annbench-src /opt/annbench-src
RUN pip install --no-cache-dir --no-deps /opt/annbench-src && rm -rf /opt/annbench-src
WORKDIR /tmp
