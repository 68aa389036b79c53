# ev-cp-engine: one charging point engine in a minimal, non-root container.
#
#   docker build -t ev-cp-engine:0.1.0 .
#   docker run --rm -p 5100:5100 -e CP_ID=CP_001 -e KAFKA_BROKER=kafka:9092 ev-cp-engine:0.1.0
#
# Build stage: compiles the single-file binary for the architecture of the image being built
# (deno compile downloads its runtime here, so this stage needs network).
FROM denoland/deno:debian-2.9.6 AS build
WORKDIR /build
COPY deno.json deno.lock main.ts ./
COPY src ./src
COPY tools ./tools
RUN deno install --frozen \
  && deno task compile native \
  && mkdir -p /out/state \
  && mv dist/ev-cp-engine-* /out/ev-cp-engine

# Final stage: glibc and nothing else (no shell, no package manager), user nonroot (65532).
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build --chown=0:0 --chmod=0755 /out/ev-cp-engine /usr/local/bin/ev-cp-engine
# The binary may read and write only ./state (baked-in permission), so the working directory
# is where the state directory lives.
WORKDIR /home/nonroot
COPY --from=build --chown=65532:65532 /out/state /home/nonroot/state

# The settings of docs/configuration.md; a flag after the image name beats these.
ENV CP_ID=CP_001 \
    LOCATION="Unknown Location" \
    MAX_POWER=22 \
    TARIFF=0.3 \
    HEALTH_HOST=0.0.0.0 \
    HEALTH_PORT=5100 \
    KAFKA_BROKER=localhost:9092 \
    PROGRESS_INTERVAL=1 \
    POWER_RAMP=0 \
    MONITOR_WAIT=20 \
    CP_EVENTS_TOPIC=cp-events \
    CENTRAL_EVENTS_TOPIC=central-events \
    TIME_SCALE=1 \
    LOG_LEVEL=info \
    LOG_FORMAT=text \
    MONITOR_TIMEOUT=5 \
    COMMAND_MAX_AGE=30 \
    PLUG_IN=auto \
    PLUG_IN_TIMEOUT=60 \
    STATE_DIR=./state

VOLUME ["/home/nonroot/state"]
EXPOSE 5100
# nonroot, by number, so that runtimes enforcing non-root users can verify it.
USER 65532:65532
STOPSIGNAL SIGTERM
# Exec form (distroless has no shell): exit 0 on OK, 1 on KO, 2 on no answer; the port is
# HEALTH_PORT from the environment.
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
  CMD ["/usr/local/bin/ev-cp-engine", "probe", "--timeout", "2"]
ENTRYPOINT ["/usr/local/bin/ev-cp-engine"]
