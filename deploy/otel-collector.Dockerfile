# The OpenTelemetry collector (contrib distribution) on a busybox base. The official image is built
# FROM scratch, so a container health check has nothing to run; busybox adds `wget` for one
# (against the health_check extension on 13133). The collector binary itself is the official one.
ARG OTELCOL_IMAGE=otel/opentelemetry-collector-contrib:0.164.0
ARG BASE_IMAGE=busybox:1.36

FROM ${OTELCOL_IMAGE} AS otelcol

FROM ${BASE_IMAGE}
COPY --from=otelcol /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=otelcol /otelcol-contrib /otelcol-contrib
COPY otel-collector.yaml /etc/otelcol-contrib/config.yaml
USER 10001:10001
EXPOSE 4317 4318 8889 13133
HEALTHCHECK --interval=10s --timeout=3s --retries=6 CMD ["wget", "-q", "-O", "/dev/null", "http://127.0.0.1:13133/"]
ENTRYPOINT ["/otelcol-contrib"]
CMD ["--config=/etc/otelcol-contrib/config.yaml"]
