"""Operations: liveness and readiness, request ids, the log line and Prometheus metrics."""
