# syntax=docker/dockerfile:1
# One image for every Switchboard process; the argument picks it:
#   switchboard service gateway|auth|billing|messaging|device
# Build: docker build -t REGISTRY/switchboard:VERSION .   (see docs/operations.md)

# Pinned base for both stages (a digest can be appended: python:3.11.11-slim-bookworm@sha256:...).
ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY pyproject.toml ./
COPY kernel/ kernel/
COPY services/ services/
COPY gateway/ gateway/
COPY launcher/ launcher/
COPY proto/ proto/
# EXTRAS="[whatsmeow]" adds the WhatsApp Web transport's dependencies.
ARG EXTRAS=""
RUN pip install ".${EXTRAS}"
# `make proto`, into the virtualenv: code generated from proto/ only, never edited.
RUN site="$(python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" \
 && python -m grpc_tools.protoc -Iproto --python_out="$site" --pyi_out="$site" \
      --grpc_python_out="$site" $(find proto -name '*.proto') \
 && python -m compileall -q "$site/switchboard" \
 && python -c "import gateway.app, kernel.host, launcher.cli, switchboard.auth.v1.auth_pb2_grpc"

FROM ${PYTHON_IMAGE} AS runtime
RUN groupadd --system --gid 10001 switchboard \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/switchboard \
      --create-home --shell /usr/sbin/nologin switchboard
COPY --from=builder /opt/venv /opt/venv
# The whatsmeow extra: neonize loads libmagic (through python-magic), which the slim base
# lacks; installed, then the import is checked here rather than at the first device start.
ARG EXTRAS=""
RUN case "$EXTRAS" in *whatsmeow*) apt-get update \
      && apt-get install -y --no-install-recommends libmagic1 \
      && rm -rf /var/lib/apt/lists/* \
      && /opt/venv/bin/python -c "import services.device.adapters.whatsmeow" ;; esac
# Not `local`: the image listens on every interface, so it refuses to start without real
# keys. Set SWITCHBOARD_JWT_SECRET and SWITCHBOARD_SECRET_PEPPER (e.g. `openssl rand -hex
# 32` each, the same in every process), and for auth SWITCHBOARD_ADMIN_PASSWORD (at least
# 10 characters, not a common one); see docs/operations.md, "Keys and secrets".
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    SWITCHBOARD_ENVIRONMENT=production \
    SWITCHBOARD_HOST=0.0.0.0 \
    SWITCHBOARD_VAR_DIR=/var/lib/switchboard
WORKDIR /var/lib/switchboard
USER 10001:10001
# gateway HTTP, gRPC of auth/billing/messaging/device, their /metrics
EXPOSE 8080 50151 50152 50153 50154 9151 9152 9153 9154
ENTRYPOINT ["switchboard"]
CMD ["service", "gateway"]
